"""The contributor's rights page: one form to ask for access/export, correction, deletion or suspension of
processing - for one campaign or every one - and the state of each request with the compliance officer's note.
Withdrawing consent stays on the consent pages (it is quicker, and takes effect at once)."""

from __future__ import annotations

from flask import Response, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from wtforms import SelectChoice

from collection.accounts import Role
from collection.campaigns import Campaign
from collection.compliance import RIGHTS_SLA, RightsKind, RightsRequestError
from collection.contributions.models import Enrollment
from webapp.access import allow
from webapp.blueprints.comply.compliance_forms import ButtonForm
from webapp.blueprints.comply.rights_views import refusal_message
from webapp.blueprints.contribute.rights_forms import ACCOUNT_WIDE, KIND_LABELS, RightsRequestForm
from webapp.blueprints.contribute.views import bp
from webapp.compliance_services import rights
from webapp.db import get_session


def _form() -> RightsRequestForm:
    form = RightsRequestForm()
    joined = select(Enrollment.campaign_id).where(Enrollment.user_id == current_user.id)  # one per campaign
    campaigns = get_session().scalars(select(Campaign).where(Campaign.id.in_(joined)).order_by(Campaign.slug))
    form.scope.choices = [SelectChoice(ACCOUNT_WIDE, _("Every campaign and my account"))] + [
        SelectChoice(c.id, c.title(current_user.locale)) for c in campaigns
    ]
    return form


def _page(form: RightsRequestForm, status: int = 200) -> tuple[str, int]:
    campaigns = {c.id: c for c in get_session().scalars(select(Campaign))}
    html = render_template(
        "contribute/rights.html",
        form=form,
        requests=rights().for_user(current_user.user),
        campaigns=campaigns,
        suspended=rights().own_suspensions(current_user.user),
        resume_form=ButtonForm(),
        kinds=KIND_LABELS,
        sla_days=RIGHTS_SLA.days,
    )
    return html, status


@bp.get("/rights")
@allow(Role.CONTRIBUTOR)
def rights_page() -> tuple[str, int]:
    return _page(_form())


@bp.post("/rights")
@allow(Role.CONTRIBUTOR)
def rights_submit() -> Response | tuple[str, int]:
    form = _form()
    if not form.validate_on_submit():
        return _page(form, 400)
    scope = None if form.scope.data == ACCOUNT_WIDE else form.scope.data
    try:
        rights().submit(current_user.user, RightsKind(form.kind.data), scope, form.details.data or "")
    except RightsRequestError as exc:
        flash(refusal_message(exc), "error")
        return _page(form, 409)
    get_session().commit()
    flash(_("Your request was sent. We answer within %(days)d days.", days=RIGHTS_SLA.days), "success")
    return redirect(url_for("contribute.rights_page"))


@bp.post("/rights/suspensions/<enrollment_id>/resume")
@allow(Role.CONTRIBUTOR)
def rights_resume(enrollment_id: str) -> Response:
    """End a processing suspension the contributor asked for: the checks that waited run now."""
    if ButtonForm().validate_on_submit() and rights().resume_own(current_user.user, enrollment_id):
        get_session().commit()
        flash(_("Processing of your data has resumed. Photos and recordings that waited are checked now."), "success")
    return redirect(url_for("contribute.rights_page"))
