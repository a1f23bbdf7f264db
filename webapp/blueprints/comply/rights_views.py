"""The compliance officer's rights-request pages: every request with its 10-day timer (overdue first), one
request with the contributor's consent history and the actions - start, complete (which carries out the request:
erasure, suspension, pointing to the export) or refuse, each with a note - and lifting a suspension."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from collection.campaigns import Campaign
from collection.compliance import ProcessingSuspension, RightsRequest, RightsRequestError, RightsService
from collection.compliance.rights import KOREA, timer
from webapp.access import allow
from webapp.blueprints.comply.compliance_forms import ButtonForm, CloseRequestForm
from webapp.blueprints.comply.registry_views import OFFICERS
from webapp.blueprints.comply.views import bp
from webapp.compliance_services import rights
from webapp.compliance_words import outcome_lines, step_message
from webapp.db import get_session
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


def _request_page(req: RightsRequest) -> dict[str, object]:
    session = get_session()
    campaign = session.get(Campaign, req.campaign_id) if req.campaign_id else None
    suspensions = session.scalars(select(ProcessingSuspension).where(ProcessingSuspension.request_id == req.id)).all()
    return {
        "req": req,
        "timer": timer(req, clock().now()),
        "campaign": campaign,
        "suspensions": suspensions,
        "outcome": outcome_lines(req.kind.value, req.outcome, account_wide=req.campaign_id is None),
        "close_form": CloseRequestForm(),
        "button": ButtonForm(),
    }


@bp.post("/rights/<request_id>/start")
@allow(*OFFICERS)
def rights_start(request_id: str) -> Response:
    return _act(request_id, lambda service, req, form: service.start(current_user.user, req), ButtonForm, "start")


@bp.post("/rights/<request_id>/complete")
@allow(*OFFICERS)
def rights_complete(request_id: str) -> Response:
    return _act(
        request_id,
        lambda service, req, form: service.complete(current_user.user, req, form.note.data),
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
        flash(_("Processing resumed.") if lifted else _("Nothing was suspended."), "success" if lifted else "error")
    return redirect(url_for("comply.rights_requests"))
