"""The compliance officer's rights-request pages: every request with its 10-day timer (overdue first), one
request with the contributor's consent history and the actions - start, complete (which carries out the request:
erasure, suspension, pointing to the export) or refuse, each with a note - and lifting a suspension. A correction
request has a form for the sealed name, birth date and a photo's age; a deletion request lists what it affects
(unpaid payments, releases, sets in review), and an account-wide one is completed only with a ticked
confirmation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from collection.accounts import User
from collection.campaigns import Campaign
from collection.compliance import (
    Correction,
    CorrectionRefused,
    ProcessingSuspension,
    RightsKind,
    RightsRequest,
    RightsRequestError,
    RightsService,
)
from collection.compliance.rights import timer
from collection.contributions.models import Photo
from collection.payments.models import PayoutBatch
from consent.clock import KOREA
from webapp.access import allow
from webapp.blueprints.comply.compliance_forms import (
    ButtonForm,
    CloseRequestForm,
    ConfirmDeletionForm,
    CorrectionForm,
)
from webapp.blueprints.comply.registry_views import OFFICERS
from webapp.blueprints.comply.views import bp
from webapp.compliance_services import rights
from webapp.compliance_words import corrected_text, correction_refusal, outcome_lines, step_message
from webapp.db import get_session
from webapp.gate_messages import set_state_label
from webapp.services import clock


def refusal_message(exc: RightsRequestError) -> str:
    return {
        "not_enrolled": _("You have not taken part in this campaign."),
        "already_open": _("The same request is already being handled."),
        "invalid_state": _("This step is not possible in the request's current state."),
    }.get(exc.code, _("The request was refused."))


@bp.get("/rights")
@allow(*OFFICERS)
def rights_requests() -> str:
    return render_template("comply/rights.html", timers=rights().timers(include_closed=True))


@bp.get("/rights/<request_id>")
@allow(*OFFICERS)
def rights_request(request_id: str) -> str:
    req = rights().get(request_id)
    return render_template("comply/rights_request.html", **_request_page(req))


def _request_page(
    req: RightsRequest, correction_form: CorrectionForm | None = None, close_form: CloseRequestForm | None = None
) -> dict[str, object]:
    session = get_session()
    campaign = session.get(Campaign, req.campaign_id) if req.campaign_id else None
    suspensions = session.scalars(select(ProcessingSuspension).where(ProcessingSuspension.request_id == req.id)).all()
    return {
        "req": req,
        "timer": timer(req, clock().now()),
        "campaign": campaign,
        "suspensions": suspensions,
        "outcome": outcome_lines(req.kind.value, req.outcome, account_wide=req.campaign_id is None),
        "close_form": close_form or (ConfirmDeletionForm() if _account_wide_deletion(req) else CloseRequestForm()),
        "button": ButtonForm(),
        **_correction_page(req, correction_form),
        **_deletion_page(req),
    }


def _account_wide_deletion(req: RightsRequest) -> bool:
    return req.kind is RightsKind.DELETION and req.campaign_id is None and not req.closed


def _deletion_page(req: RightsRequest) -> dict[str, object]:
    """What an open deletion request would affect, with the campaigns it names."""
    if req.kind is not RightsKind.DELETION or req.closed:
        return {}
    impact = rights().deletion_impact(req)
    ids = {e.campaign_id for e in impact.unpaid} | {r.campaign_id for r in impact.releases} | {
        s.campaign_id for s in impact.in_review}
    campaigns = {c.id: c for c in get_session().scalars(select(Campaign).where(Campaign.id.in_(ids)))}
    batches = {b.id: b for b in get_session().scalars(
        select(PayoutBatch).where(PayoutBatch.id.in_({e.batch_id for e in impact.unpaid if e.batch_id})))}
    return {"impact": impact, "impact_campaigns": campaigns, "impact_batches": batches,
            "set_state_label": set_state_label}


def _correction_page(req: RightsRequest, form: CorrectionForm | None) -> dict[str, object]:
    """The correction form of an open correction request, filled with the current values (or what was typed)."""
    if req.kind is not RightsKind.CORRECTION or req.closed:
        return {}
    person = get_session().get(User, req.user_id)
    if person is None or person.erased_at is not None:
        return {}
    photos = rights().correction_photos(req)
    if form is None:
        form = CorrectionForm(formdata=None, display_name=person.display_name,
                              birth_date=person.birth_date.isoformat() if person.birth_date else "")
    form.photo.choices = _photo_choices(photos)
    return {"correction_form": form, "person": person, "correction_photos": photos}


def _photo_choices(photos: list[Photo]) -> list[tuple[str, str]]:
    return [("", _("(no photo)"))] + [
        (p.id, _("Ages %(bracket)s · %(age)s · photo %(id)s", bracket=p.bracket,
                 age=_("age %(n)d", n=p.age_years) if p.age_years is not None else _("age not given"), id=p.id[:8]))
        for p in photos
    ]


@bp.post("/rights/<request_id>/correct")
@allow(*OFFICERS)
def rights_correct(request_id: str) -> Response | tuple[str, int]:
    service = rights()
    req = service.get(request_id)
    form = CorrectionForm()
    form.photo.choices = _photo_choices(service.correction_photos(req))
    if not form.validate_on_submit():
        return render_template("comply/rights_request.html", **_request_page(req, form)), 400
    change = Correction(form.display_name.data, form.birth(), form.photo.data or None, form.photo_age.data)
    try:
        result = service.correct(current_user.user, req, change)
    except CorrectionRefused as exc:
        get_session().rollback()
        correction_refusal(form, exc)
        return render_template("comply/rights_request.html", **_request_page(service.get(request_id), form)), 409
    get_session().commit()
    flash(corrected_text(result.fields, len(result.photos)) if result.fields
          else _("Nothing changed: the values are the same as before."), "success" if result.fields else "warning")
    for out in result.outside_bracket:
        flash(_("Photo %(id)s (ages %(bracket)s): by the corrected birth date it was taken at age %(age)d, outside its "
                "bracket. Ask the contributor to replace it.", id=out.photo_id[:8], bracket=out.bracket, age=out.age),
              "warning")
    return redirect(url_for("comply.rights_request", request_id=req.id))


@bp.post("/rights/<request_id>/start")
@allow(*OFFICERS)
def rights_start(request_id: str) -> Response:
    return _act(request_id, lambda service, req, form: service.start(current_user.user, req), ButtonForm, "start")


@bp.post("/rights/<request_id>/complete")
@allow(*OFFICERS)
def rights_complete(request_id: str) -> Response | tuple[str, int]:
    req = rights().get(request_id)
    confirmed = False
    if _account_wide_deletion(req):  # erases everything: only once the officer ticked that they read the effects
        form = ConfirmDeletionForm()
        if not form.validate_on_submit():
            return render_template("comply/rights_request.html", **_request_page(req, close_form=form)), 400
        confirmed = True
    return _act(
        request_id,
        lambda service, req, form: service.complete(current_user.user, req, form.note.data, confirmed=confirmed),
        CloseRequestForm,
        "complete",
    )


@bp.post("/rights/<request_id>/refuse")
@allow(*OFFICERS)
def rights_refuse(request_id: str) -> Response:
    return _act(
        request_id,
        lambda service, req, form: service.refuse(current_user.user, req, form.note.data),
        CloseRequestForm,
        "refuse",
    )


Step = Callable[[RightsService, RightsRequest, Any], object]


def _act(request_id: str, step: Step, form_class: type[Any], name: str) -> Response:
    service = rights()
    req = service.get(request_id)
    form = form_class()
    if not form.validate_on_submit():
        flash(_("Write a note for the contributor first."), "error")
    else:
        try:
            step(service, req, form)
        except RightsRequestError as exc:
            flash(refusal_message(exc), "error")
        else:
            get_session().commit()
            due = req.due_at.astimezone(KOREA).strftime("%Y-%m-%d")  # the Korean calendar the days are counted on
            flash(step_message(name, req.kind.value, req.campaign_id is None, due), "success")
    return redirect(url_for("comply.rights_request", request_id=req.id))


@bp.post("/suspensions/<enrollment_id>/lift")
@allow(*OFFICERS)
def suspension_lift(enrollment_id: str) -> Response:
    if ButtonForm().validate_on_submit():
        lifted = rights().lift_suspension(current_user.user, enrollment_id)
        get_session().commit()
        flash(_("Processing resumed: photos and recordings that waited are checked now.") if lifted
              else _("Nothing was suspended."), "success" if lifted else "error")
    return redirect(url_for("comply.rights_requests"))
