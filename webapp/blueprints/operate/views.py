"""The operator's pages: campaigns (list, create, edit, open, close, dashboard)."""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from collection.accounts import Role
from collection.errors import InvalidTransition
from webapp.access import allow
from webapp.blueprints.operate.forms import CampaignForm
from webapp.db import get_session
from webapp.services import campaigns, consent

bp = Blueprint("operate", __name__, url_prefix="/operate")
OPERATORS = (Role.OPERATOR, Role.ADMIN)


@bp.get("/")
@allow(*OPERATORS)
def dashboard() -> str:
    return render_template("operate/dashboard.html", campaigns=campaigns().all())


@bp.route("/campaigns/new", methods=["GET", "POST"])
@allow(*OPERATORS)
def new_campaign() -> Response | str:
    form = CampaignForm()
    if form.validate_on_submit():
        try:
            campaign = campaigns().create(current_user.user, form.values())
        except InvalidTransition as exc:
            form.slug.errors.append(str(exc))
        except ValueError as exc:
            form.brackets.errors.append(str(exc))
        else:
            get_session().commit()
            flash(_("Campaign created as a draft. Write its consent document next."), "success")
            return redirect(url_for("operate.campaign", slug=campaign.slug))
    return render_template("operate/campaign_form.html", form=form, campaign=None)


@bp.get("/campaigns/<slug>")
@allow(*OPERATORS)
def campaign(slug: str) -> str:
    c = campaigns().by_slug(slug)
    return render_template(
        "operate/campaign.html", campaign=c, stats=campaigns().dashboard(c), notice=consent().current_version(c.id)
    )


@bp.route("/campaigns/<slug>/edit", methods=["GET", "POST"])
@allow(*OPERATORS)
def edit_campaign(slug: str) -> Response | str:
    c = campaigns().by_slug(slug)
    form = CampaignForm()
    if not form.is_submitted():
        form.fill(c)
    elif form.validate():
        values = form.values()
        values.pop("slug")
        try:
            campaigns().update(current_user.user, c, values)
        except InvalidTransition as exc:
            flash(str(exc), "error")
        except ValueError as exc:
            form.brackets.errors.append(str(exc))
        else:
            get_session().commit()
            flash(_("Saved."), "success")
            return redirect(url_for("operate.campaign", slug=slug))
    return render_template("operate/campaign_form.html", form=form, campaign=c)


@bp.post("/campaigns/<slug>/open")
@allow(*OPERATORS)
def open_campaign(slug: str) -> Response:
    c = campaigns().by_slug(slug)
    try:
        campaigns().open(current_user.user, c, consent().current_version(c.id) is not None)
    except InvalidTransition as exc:
        flash(str(exc), "error")
    else:
        get_session().commit()
        flash(_("The campaign is open."), "success")
    return redirect(url_for("operate.campaign", slug=slug))


@bp.post("/campaigns/<slug>/close")
@allow(*OPERATORS)
def close_campaign(slug: str) -> Response:
    c = campaigns().by_slug(slug)
    try:
        campaigns().close(current_user.user, c)
    except InvalidTransition as exc:
        flash(str(exc), "error")
    else:
        get_session().commit()
        flash(_("The campaign is closed. Retention runs from today."), "success")
    return redirect(url_for("operate.campaign", slug=slug))
