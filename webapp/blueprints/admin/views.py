"""Administration: staff accounts."""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, url_for
from flask_babel import gettext as _

from collection.accounts import Role
from collection.errors import EmailTaken, WeakPassword
from webapp.access import allow
from webapp.blueprints.admin.forms import StaffForm
from webapp.db import get_session
from webapp.services import accounts

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.get("/")
@allow(Role.ADMIN)
def dashboard() -> str:
    return render_template("admin/dashboard.html", users=accounts().list_users(), form=StaffForm())


@bp.post("/users")
@allow(Role.ADMIN)
def create_user() -> Response | tuple[str, int]:
    form = StaffForm()
    if form.validate_on_submit():
        try:
            accounts().create_staff(
                form.email.data,
                form.password.data,
                Role(form.role.data),
                form.display_name.data.strip(),
                form.locale.data,
            )
        except EmailTaken:
            form.email.errors.append(_("An account already uses this email."))
        except WeakPassword as exc:
            form.password.errors.append(_("Use at least %(n)d characters.", n=exc.min_length))
        else:
            get_session().commit()
            flash(_("Staff account created."), "success")
            return redirect(url_for("admin.dashboard"))
    return render_template("admin/dashboard.html", users=accounts().list_users(), form=form), 400
