"""The compliance officer's registers: consent records (search, state history, bulk verification), the erasure
ledger with proof, the retention report and run, and the monthly access-log review with its sign-off. Also the
dashboard's overdue alerts (computed only when the dashboard asks for them)."""

from __future__ import annotations

from typing import Any

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from wtforms import SelectChoice

from collection.accounts import Role, User
from collection.audit.log import Actor
from collection.campaigns import Campaign
from collection.compliance import (
    AccessReviewError,
    current_alerts,
    erasure_obligations,
    erasure_proofs,
    month_bounds,
    month_of,
)
from collection.contributions.models import Photo
from webapp.access import allow
from webapp.blueprints.comply.compliance_forms import ButtonForm, SignOffForm, VerifyForm
from webapp.blueprints.comply.consent_views import subject_page
from webapp.blueprints.comply.views import bp
from webapp.compliance_services import access_reviews, consent_registry, retention
from webapp.db import get_session
from webapp.services import background, clock

OFFICERS = (Role.COMPLIANCE, Role.ADMIN)


def _actor() -> Actor:
    return Actor(current_user.id, current_user.role.value)


@bp.context_processor
def _alerts() -> dict[str, Any]:
    return {"compliance_alerts": lambda: current_alerts(get_session(), clock().now())}


# --- consent registry ----------------------------------------------------------------------------------------
def _verify_form() -> VerifyForm:
    form = VerifyForm()
    campaigns = get_session().scalars(select(Campaign).order_by(Campaign.slug))
    locale = str(get_locale())
    form.campaign.choices = [SelectChoice("", _("Every campaign"))] + [
        SelectChoice(c.id, c.title(locale)) for c in campaigns]
    return form


@bp.get("/consents")
@allow(*OFFICERS)
def consent_registry_page() -> str:
    query = request.args.get("q", "").strip()[:64]
    registry = consent_registry()
    records = registry.search(query) if query else registry.recent(RECENT_CONSENTS)
    campaigns = {c.id: c for c in get_session().scalars(
        select(Campaign).where(Campaign.id.in_({r.campaign_id for r in records})))}
    return render_template("comply/consents.html", query=query, records=records, form=_verify_form(),
                           recent=RECENT_CONSENTS, campaigns=campaigns)


RECENT_CONSENTS = 50  # shown when nothing is searched for, so the registry can be browsed without an id


@bp.get("/consents/subjects/<subject_id>")
@allow(*OFFICERS)
def consent_subject(subject_id: str) -> str:
    return subject_page(subject_id)


@bp.post("/consents/verify")
@allow(*OFFICERS)
def consent_verify_all() -> str | Response:
    form = _verify_form()
    if not form.validate_on_submit():
        return redirect(url_for("comply.consent_registry_page"))
    result = consent_registry().verify_all(_actor(), form.campaign.data or None)
    get_session().commit()
    return render_template("comply/consent_verify.html", result=result)


# --- erasure ledger and retention ------------------------------------------------------------------------------
@bp.get("/erasures")
@allow(*OFFICERS)
def erasure_ledger() -> str:
    now = clock().now()
    proofs = erasure_proofs(get_session(), background().blobs, limit=500)
    pending = [o for o in erasure_obligations(get_session(), now) if o.completed_at is None]
    return render_template("comply/erasures.html", proofs=proofs, pending=pending, now=now)


@bp.get("/retention")
@allow(*OFFICERS)
def retention_report() -> str:
    service = retention()
    destroyed = service.destroyed()
    campaigns = {c.id: c for c in get_session().scalars(
        select(Campaign).where(Campaign.id.in_({r.campaign_id for r in destroyed if r.campaign_id})))}
    return render_template(
        "comply/retention.html",
        due=service.due(),
        unsent=service.closed_unsent(),
        schedule=service.schedule(),
        destroyed=destroyed,
        campaigns=campaigns,
        runs=service.runs(),
        form=ButtonForm(),
    )


@bp.post("/retention/run")
@allow(*OFFICERS)
def retention_run() -> Response:
    if ButtonForm().validate_on_submit():
        result = retention().run(trigger="officer", actor=_actor())
        get_session().commit()
        flash(_("Retention run: %(n)d enrollments erased.", n=len(result.erased)), "success")
    return redirect(url_for("comply.retention_report"))


# --- access-log review ------------------------------------------------------------------------------------------
def _month_or_404(month: str) -> str:
    try:
        month_bounds(month)
    except ValueError:
        abort(404)
    return month


@bp.get("/access-review")
@allow(*OFFICERS)
def access_review() -> str:
    unreviewed = access_reviews().unreviewed()
    # without a month asked for: the oldest month still waiting for its sign-off, else the month in progress
    month = _month_or_404(request.args.get("month") or (unreviewed[0] if unreviewed else month_of(clock().now())))
    return _access_review_page(month, None, unreviewed)


def _access_review_page(month: str, form: SignOffForm | None, unreviewed: list[str] | None = None) -> str:
    """The month's report; `form` is a refused sign-off to show again with what was typed (else a fresh one)."""
    service = access_reviews()
    report = service.report(month)
    form = form or SignOffForm(digest=report.digest)
    form.digest.data = report.digest  # a refused sign-off is asked again for the report as it is now
    return render_template(
        "comply/access_review.html",
        report=report,
        form=form,
        reviews=service.reviews(),
        unreviewed=service.unreviewed() if unreviewed is None else unreviewed,
        this_month=month_of(clock().now()),
        month_over=report.end <= clock().now(),  # only a finished month can be signed off
        staff=_staff_names([s.actor_id for s in report.staff] + [report.review.signed_off_by if report.review
                                                                  else None]),
        whose=(whose := _photo_owners([line.object_id for line in report.lines if line.object_type == "photo"])),
        people={s.actor_id: len({whose[line.object_id][0] for line in report.lines
                                 if line.actor_id == s.actor_id and line.object_id in whose}) for s in report.staff},
        actions={"photo.viewed": _("viewed a photo"), "release.downloaded": _("downloaded a release")},
        sizes={"thumb": _("thumbnail"), "full": _("full size")},
    )


def _staff_names(ids: list[str | None]) -> dict[str, str]:
    """Staff id -> "name <email>": staff act under their own names (who looked is what the review is about)."""
    users = get_session().scalars(select(User).where(User.id.in_([i for i in ids if i])))
    return {u.id: f"{u.display_name} <{u.email}>" for u in users}


def _photo_owners(photo_ids: list[str | None]) -> dict[str, tuple[str, str]]:
    """Photo id -> (the data subject's pseudonymous id, campaign short name); an erased photo is absent."""
    q = (select(Photo.id, User.subject_id, Campaign.slug)
         .join(User, User.id == Photo.user_id).join(Campaign, Campaign.id == Photo.campaign_id)
         .where(Photo.id.in_([i for i in photo_ids if i])))
    return {photo_id: (subject, slug) for photo_id, subject, slug in get_session().execute(q)}


@bp.post("/access-review/<month>/sign-off")
@allow(*OFFICERS)
def access_review_sign_off(month: str) -> Response | tuple[str, int]:
    month = _month_or_404(month)
    form = SignOffForm()
    if not form.validate_on_submit():
        return _access_review_page(month, form), 400
    try:
        access_reviews().sign_off(current_user.user, month, form.digest.data, form.note.data or "")
    except AccessReviewError as exc:
        # the page comes back with the refusal and the officer's note as typed
        form.form_errors.append(_sign_off_refusal(exc.code))
        return _access_review_page(month, form), 409
    get_session().commit()
    flash(_("Signed off."), "success")
    return redirect(url_for("comply.access_review", month=month))


def _sign_off_refusal(code: str) -> str:
    return {
        "not_over": _("A month can be signed off only once it is over."),
        "already_signed_off": _("This month is already signed off."),
        "report_changed": _("The report changed since it was shown: review it again."),
    }.get(code, _("The sign-off was refused."))
