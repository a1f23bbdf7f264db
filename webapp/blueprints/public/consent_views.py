"""Public consent pages: the published signing keys and a page where anyone checks a receipt.

The verify page answers only what its visitor needs: is the file a valid receipt of this installation, is it
still in force (not withdrawn, not superseded), and which campaign and date it belongs to. It never shows the
person's pseudonymous id, their choices, the names' commitments or anything else the file holds, so that an
uploaded receipt teaches nothing about the person beyond what the holder of the file already knows.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from flask import Response, render_template
from flask_babel import get_locale
from sqlalchemy import select

from collection.campaigns import Campaign
from consent.canonical import canonical_json
from consent.models import ConsentRecord
from consent.receipts import EventType, Failure
from consent.service import ConsentService
from webapp.access import public
from webapp.blueprints.public.consent_forms import VerifyForm
from webapp.blueprints.public.views import bp
from webapp.db import get_session
from webapp.services import consent

KEYS_PATH = "/.well-known/datadam/consent-keys.json"


class Standing(enum.StrEnum):
    """Where a receipt stands in its person's consent history for its campaign."""

    IN_FORCE = "in_force"  # the latest event, and a consent (not a withdrawal)
    WITHDRAWN = "withdrawn"  # the next event withdrew some or all of its consents
    SUPERSEDED = "superseded"  # a later consent (e.g. a re-consent to a new version) replaced it
    WITHDRAWAL = "withdrawal"  # the receipt itself records a withdrawal of everything, or was followed by more
    PARTLY_IN_FORCE = "partly_in_force"  # the latest event withdrew some consents; the others stay in force
    UNKNOWN = "unknown"  # signed by this installation's key but not in its records (e.g. erased)


def receipt_standing(service: ConsentService, record: ConsentRecord | None) -> Standing:
    if record is None:
        return Standing.UNKNOWN
    if record.event == EventType.WITHDRAWN.value:
        latest = service.latest_record(record.subject_id, record.campaign_id)
        still = latest is not None and latest.id == record.id and any(record.decisions.values())
        return Standing.PARTLY_IN_FORCE if still else Standing.WITHDRAWAL
    if service.in_force(record.id):
        return Standing.IN_FORCE
    later = [r for r in service.records(record.subject_id, record.campaign_id) if r.sequence > record.sequence]
    return Standing.WITHDRAWN if later and later[0].event == EventType.WITHDRAWN.value else Standing.SUPERSEDED


@dataclass(frozen=True)
class CheckResult:
    """What the verify page may show about an uploaded file (see the module docstring)."""

    valid: bool
    failure: Failure | None
    reason: str | None
    standing: Standing | None = None
    campaign_title: str | None = None
    signed_at: dt.datetime | None = None  # shown in KST by the template


def check_receipt(service: ConsentService, data: bytes, locale: str) -> CheckResult:
    verification = service.verify(data)
    facts = verification.facts
    if not verification.valid or facts is None:
        return CheckResult(False, verification.failure, verification.reason)
    campaign = get_session().scalar(select(Campaign).where(Campaign.slug == facts.campaign))
    return CheckResult(
        True,
        None,
        None,
        standing=receipt_standing(service, service.record(facts.receipt_id)),
        campaign_title=campaign.title(locale) if campaign else facts.campaign,
        signed_at=facts.timestamp,
    )


@bp.get(KEYS_PATH)
@public
def consent_keys() -> Response:
    """The public key document (JWK Set with validity periods), retired keys included: old receipts need them."""
    document = consent().keys.public_document().to_dict()
    response = Response(canonical_json(document), mimetype="application/json")
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.route("/consent/verify", methods=["GET", "POST"])
@public
def consent_verify() -> tuple[str, int] | str:
    form = VerifyForm()
    if not form.validate_on_submit():
        status = 400 if form.is_submitted() else 200
        return render_template("public/consent/verify.html", form=form, result=None, keys_path=KEYS_PATH), status
    result = check_receipt(consent(), form.read_receipt(), str(get_locale()))
    return render_template(
        "public/consent/verify.html", form=VerifyForm(formdata=None), result=result, keys_path=KEYS_PATH
    )
