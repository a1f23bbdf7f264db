"""Sign-in, sign-out and contributor sign-up."""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from collection.accounts import Role, SignupData
from collection.errors import EmailTaken, InvalidCredentials, LoginThrottled, WeakPassword
from webapp.access import public, signed_in
from webapp.auth import SessionUser
from webapp.blueprints.auth.forms import LoginForm, SignupForm
from webapp.db import get_session
from webapp.security import start_session
from webapp.services import accounts, clock

bp = Blueprint("auth", __name__)

DASHBOARDS = {
    Role.CONTRIBUTOR: "contribute.dashboard",
    Role.OPERATOR: "operate.dashboard",
    Role.COMPLIANCE: "comply.dashboard",
    Role.ADMIN: "admin.dashboard",
}


def _safe_next(default: str) -> str:
    target = request.args.get("next", "")
    return target if target.startswith("/") and not target.startswith("//") else default


@bp.route("/login", methods=["GET", "POST"])
@public
def login() -> Response | str:
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = accounts().authenticate(form.email.data, form.password.data, request.remote_addr or "")
        except LoginThrottled as exc:
            get_session().commit()
            form.email.errors.append(_("Too many failed sign-ins. Try again in %(n)d minutes.", n=exc.minutes))
        except InvalidCredentials:
            get_session().commit()
            form.password.errors.append(_("Wrong email or password."))
        else:
            get_session().commit()
            session.clear()
            login_user(SessionUser(user))
            start_session(user.role.is_staff)
            session["lang"] = user.locale
            return redirect(_safe_next(url_for(DASHBOARDS[user.role])))
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@signed_in
def logout() -> Response:
    logout_user()
    session.clear()
    flash(_("You are signed out."), "info")
    return redirect(url_for("public.home"))


@bp.route("/signup", methods=["GET", "POST"])
@public
def signup() -> Response | str:
    form = SignupForm()
    if form.validate_on_submit():
        data = SignupData(
            form.email.data, form.password.data, form.display_name.data.strip(), form.birth_date.data, form.locale.data
        )
        try:
            user = accounts().sign_up(data)
        except EmailTaken:
            form.email.errors.append(_("An account already uses this email. Sign in instead."))
        except WeakPassword as exc:
            form.password.errors.append(_("Use at least %(n)d characters.", n=exc.min_length))
        else:
            user.last_login_at = clock().now()  # signing up signs in (the account's own record says so)
            get_session().commit()
            session.clear()
            login_user(SessionUser(user))
            start_session(False)
            session["lang"] = user.locale
            flash(_("Welcome! Your account is ready."), "success")
            return redirect(_safe_next(url_for("contribute.dashboard")))
    return render_template("auth/signup.html", form=form)


@bp.get("/me")
@signed_in
def me() -> Response:
    return redirect(url_for(DASHBOARDS[current_user.role]))
