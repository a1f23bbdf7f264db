"""The compliance officer's view of consent events: a person's consent history with, for each event, the notice
version shown (number, language, SHA-256 of the text) and the signed receipt; and the consents operators flagged
for follow-up, which the officer resolves with a note (audited).

Operators flag a consent in their review queue when the person needs contacting (a doubtful legal
representative, say); they never see who the person is. The officer does: flags are listed here with the
pseudonymous subject id, the campaign, the reason, who flagged and when.
"""

from __future__ import annotations

from typing import Any

from flask import Response, abort, flash, redirect, render_template, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from collection.accounts import Role, User
from collection.audit.log import Actor
from collection.campaigns import Campaign
from consent.errors import ConsentStateError
from consent.models import ConsentRecord, NoticeVersion, ReviewState
from webapp.access import allow
from webapp.blueprints.comply.consent_forms import ResolveFlagForm
from webapp.blueprints.comply.views import bp
from webapp.blueprints.contribute.consent_views import receipt_file
from webapp.blueprints.operate.consent_forms import matter_name
from webapp.compliance_services import consent_registry
from webapp.db import get_session
from webapp.services import audit, consent

OFFICERS = (Role.COMPLIANCE, Role.ADMIN)
FLAG_STATES = (ReviewState.FLAGGED, ReviewState.RESOLVED)


# --- a person's consent history ----------------------------------------------------------------------------------


def subject_page(subject_id: str, failed: tuple[str, ResolveFlagForm] | None = None) -> str:
    history = consent_registry().history(subject_id[:40])
    if not history:
        abort(404)
    records = [c.record for h in history for c in h.events]
    flagged = [r for r in records if r.review_state in FLAG_STATES]
    return render_template(
        "comply/consent_subject.html",
        subject_id=subject_id,
        history=history,
        campaigns={h.campaign_id: get_session().get(Campaign, h.campaign_id) for h in history},
        details=event_details(records),
        staff=staff_names([r.reviewed_by for r in flagged] + [r.resolved_by for r in flagged]),
        forms=_resolve_forms(flagged, "subject", failed),
    )


def event_details(records: list[ConsentRecord]) -> dict[str, dict[str, Any]]:
    """Receipt id -> the notice version the person was shown (its row, the short SHA-256 of the text in the
    language shown) and each matter's name and answer, in the document's order."""
    lang, versions, details = str(get_locale()), {}, {}
    for record in records:
        if record.notice_version_id not in versions:
            versions[record.notice_version_id] = get_session().get(NoticeVersion, record.notice_version_id)
        version = versions[record.notice_version_id]
        sha = version.sha256(record.language) if version else None
        if version is not None:
            matters = [(matter_name(m, lang), bool(record.decisions.get(m.id, False)))
                       for m in version.notice.matters if m.id in record.decisions]
        else:
            matters = sorted(record.decisions.items())
        details[record.id] = {"version": version, "sha": sha, "matters": matters}
    return details


def staff_names(ids: list[str | None]) -> dict[str, str]:
    """Staff id -> display name: staff act under their own names."""
    users = get_session().scalars(select(User).where(User.id.in_([i for i in ids if i])))
    return {u.id: u.display_name for u in users}


def _resolve_forms(records: list[ConsentRecord], back: str,
                   failed: tuple[str, ResolveFlagForm] | None) -> dict[str, ResolveFlagForm]:
    forms = {r.id: ResolveFlagForm(formdata=None, back=back) for r in records
             if r.review_state is ReviewState.FLAGGED}
    if failed is not None and failed[0] in forms:
        forms[failed[0]] = failed[1]
    return forms


@bp.get("/consents/receipts/<receipt_id>/receipt.json")
@allow(*OFFICERS)
def consent_receipt_file(receipt_id: str) -> Response:
    """The signed receipt of any consent event, verbatim (it holds no name: only salted commitments)."""
    record = consent().record(receipt_id[:64])
    if record is None:
        abort(404)
    return receipt_file(record)


# --- flagged consents ----------------------------------------------------------------------------------------------


@bp.get("/consents/flags")
@allow(*OFFICERS)
def consent_flags() -> str:
    return _flags_page(None)


def _flags_page(failed: tuple[str, ResolveFlagForm] | None) -> str:
    flags = consent().open_flags()
    campaigns = {r.campaign_id: get_session().get(Campaign, r.campaign_id) for r in flags}
    return render_template(
        "comply/consent_flags.html",
        flags=flags,
        campaigns=campaigns,
        staff=staff_names([r.reviewed_by for r in flags]),
        forms=_resolve_forms(flags, "flags", failed),
    )


@bp.post("/consents/flags/<record_id>/resolve")
@allow(*OFFICERS)
def consent_flag_resolve(record_id: str) -> Response | tuple[str, int]:
    service = consent()
    record = service.record(record_id[:64])
    if record is None:
        abort(404)
    form = ResolveFlagForm()
    back_to_subject = form.back.data == "subject"
    if form.validate_on_submit():
        try:
            service.resolve_flag(record, current_user.id, form.note.data or "")
        except ConsentStateError:
            flash(_("This consent is no longer flagged: someone resolved the flag or approved the consent."), "error")
        else:
            audit().record(Actor(current_user.id, current_user.role.value), "consent.flag_resolved",
                           "consent_record", record.id, campaign_id=record.campaign_id)
            get_session().commit()
            flash(_("The flag is resolved."), "success")
        if back_to_subject:
            return redirect(url_for("comply.consent_subject", subject_id=record.subject_id, _anchor=f"r-{record.id}"))
        return redirect(url_for("comply.consent_flags"))
    failed = (record.id, form)
    page = subject_page(record.subject_id, failed) if back_to_subject else _flags_page(failed)
    return page, 400
