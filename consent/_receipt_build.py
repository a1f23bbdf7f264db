"""Building a receipt's body: the checks on a consent event and its inputs, and the Kantara and ISO/IEC TS 27560
sections laid out from the notice (layout in the `consent.receipts` docstring).

Private to `consent.receipts`, whose `build_receipt` assembles these parts; every check raises
ReceiptBuildError naming the offending input.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from consent._receipt_types import (
    HEX64,
    PRINCIPAL_ID,
    RECEIPT_ID,
    RECORD_SCHEMA,
    SLUG,
    ConsentEvent,
    EventType,
    GuardianRelationship,
)
from consent.canonical import format_timestamp
from consent.errors import ReceiptBuildError
from consent.notice import LANGUAGES, Matter, MatterKind, Notice, missing_items, notice_sha256


def check_event(event: ConsentEvent, notice: Notice) -> None:
    problems = missing_items(notice)
    if problems:
        raise ReceiptBuildError(f"the notice is not publishable: {problems[0]}", "notice")
    if not _is_pseudonym(event.principal_id):
        raise ReceiptBuildError("must be a pseudonymous id of 8-128 [A-Za-z0-9_-] with a letter", "principal_id")
    if event.language not in LANGUAGES:
        raise ReceiptBuildError(f"must be one of {LANGUAGES}", "language")
    if not isinstance(event.collection_method, str) or not re.fullmatch(SLUG, event.collection_method):
        raise ReceiptBuildError("must be a lower-case slug such as 'web_form'", "collection_method")
    ids = [m.id for m in notice.matters]
    if set(event.decisions) != set(ids) or not all(isinstance(v, bool) for v in event.decisions.values()):
        raise ReceiptBuildError(f"must map exactly the notice's matters {ids} to true/false", "decisions")
    for name in ("signature_commitment", "previous_receipt_id"):
        value, pattern = getattr(event, name), HEX64 if name == "signature_commitment" else RECEIPT_ID
        if value is not None and not (isinstance(value, str) and re.fullmatch(pattern, value)):
            raise ReceiptBuildError("has the wrong format", name)
    _check_event_type(event, notice)
    _check_guardian(event)


def _is_pseudonym(value: object) -> bool:
    # The shape keeps out emails and names (no '@', spaces or Hangul); requiring a letter keeps out phone and
    # resident registration numbers. The id itself must come from a keyed hash or a random id, never from
    # personal data: that is the caller's duty, which no pattern can check.
    return isinstance(value, str) and bool(re.fullmatch(PRINCIPAL_ID, value) and re.search("[A-Za-z]", value))


def _check_event_type(event: ConsentEvent, notice: Notice) -> None:
    if event.event is EventType.WITHDRAWN:
        withdrawal = event.withdrawal
        if withdrawal is None or not withdrawal.matters:
            raise ReceiptBuildError("a withdrawal names the receipt and at least one matter", "withdrawal")
        if not re.fullmatch(RECEIPT_ID, withdrawal.receipt_id):
            raise ReceiptBuildError("has the wrong format", "withdrawal.receipt_id")
        if len(set(withdrawal.matters)) != len(withdrawal.matters):
            raise ReceiptBuildError("names a matter twice", "withdrawal.matters")
        for matter_id in withdrawal.matters:
            if event.decisions.get(matter_id) is not False:
                raise ReceiptBuildError(f"{matter_id!r} must be a notice matter set to false", "withdrawal")
        return
    if event.event not in (EventType.GIVEN, EventType.RECONSENTED):
        raise ReceiptBuildError("unknown event type", "event")
    if event.withdrawal is not None:
        raise ReceiptBuildError("only a withdrawal event has a withdrawal", "withdrawal")
    declined = [m.id for m in notice.matters if m.required and not event.decisions[m.id]]
    if declined:
        # Declining a required matter means not taking part: there is no consent to record.
        raise ReceiptBuildError(f"required matters {declined} are not consented", "decisions")


def _check_guardian(event: ConsentEvent) -> None:
    guardian = event.guardian
    if guardian is None:
        if event.under_14 and event.event is not EventType.WITHDRAWN:
            raise ReceiptBuildError("a contributor under 14 needs a legal representative's consent", "guardian")
        return
    if not event.under_14:
        raise ReceiptBuildError("a guardian is recorded only for a contributor under 14", "guardian")
    if guardian.relationship not in set(GuardianRelationship):
        raise ReceiptBuildError("unknown relationship", "guardian.relationship")
    if not re.fullmatch(HEX64, guardian.name_commitment):
        raise ReceiptBuildError("must be a commit_name() value", "guardian.name_commitment")


def check_inputs(receipt_id: str, timestamp: dt.datetime, kid: str, policy_url: str) -> None:
    if not isinstance(receipt_id, str) or not re.fullmatch(RECEIPT_ID, receipt_id):
        raise ReceiptBuildError("must be 8-64 [A-Za-z0-9-], e.g. a UUID", "receipt_id")
    if not isinstance(timestamp, dt.datetime) or timestamp.tzinfo is None:
        raise ReceiptBuildError("must be an aware datetime", "timestamp")
    if not isinstance(kid, str) or not re.fullmatch(r"[a-z2-7]{24}", kid):
        raise ReceiptBuildError("must be a key id", "kid")
    if not isinstance(policy_url, str) or not policy_url.startswith(("https://", "http://")):
        raise ReceiptBuildError("must be an http(s) URL", "policy_url")


# Kantara 1.1 purpose categories and the legal bases relied on, per matter kind.
_PURPOSE_CATEGORY = {
    MatterKind.COLLECTION_AND_USE: "Core Function",
    MatterKind.SENSITIVE_INFORMATION: "Core Function",
    MatterKind.VOICE_RECORDING: "Core Function",
    MatterKind.THIRD_PARTY_PROVISION: "3rd Party Sharing for Core Function",
    MatterKind.CUSTOM: "Other",
}
_LEGAL_BASIS = {
    ("KR", MatterKind.COLLECTION_AND_USE): ("KR-PIPA-15(1)(1)",),
    ("KR", MatterKind.SENSITIVE_INFORMATION): ("KR-PIPA-23(1)(1)",),
    ("KR", MatterKind.THIRD_PARTY_PROVISION): ("KR-PIPA-17(1)(1)",),
    ("KR", MatterKind.VOICE_RECORDING): ("KR-PIPA-15(1)(1)",),
    ("KR", MatterKind.CUSTOM): ("KR-PIPA-15(1)(1)",),
    ("EU", MatterKind.SENSITIVE_INFORMATION): ("EU-GDPR-6(1)(a)", "EU-GDPR-9(2)(a)"),
}


def _legal_basis(notice: Notice, kind: MatterKind) -> list[str]:
    return [b for j in notice.jurisdictions for b in _LEGAL_BASIS.get((j, kind), (f"{j}-GDPR-6(1)(a)",))]


def kantara_controller(notice: Notice, lang: str) -> dict[str, Any]:
    controller = notice.controller
    return {
        "piiController": controller.name.get(lang),
        "onBehalf": False,
        "contact": notice.privacy_officer.name.get(lang),
        "address": controller.address.get(lang),
        "email": controller.email,
        "phone": controller.phone,
    }


def kantara_purpose(notice: Notice, matter: Matter, lang: str) -> dict[str, Any]:
    provision = matter.third_party
    termination = provision.retention if provision is not None else notice.retention
    return {
        "purpose": matter.summary.get(lang),
        "purposeCategory": [_PURPOSE_CATEGORY[matter.kind]],
        "consentType": "EXPLICIT",
        "piiCategory": list(matter.data_categories),
        "primaryPurpose": matter.required,
        "termination": termination.get(lang),
        "thirdPartyDisclosure": provision is not None,
        "thirdPartyName": provision.recipient.get(lang) if provision is not None else "",
    }


def consent_record(
    event: ConsentEvent, notice: Notice, receipt_id: str, moment: dt.datetime, kid: str
) -> dict[str, Any]:
    lang, created = event.language, format_timestamp(moment)
    withdrawal = event.withdrawal
    return {
        "header": {
            "recordId": receipt_id,
            "schemaVersion": RECORD_SCHEMA,
            "createdAt": created,
            "signingKeyId": kid,
        },
        "processing": {
            "notice": {
                "campaign": notice.campaign,
                "version": notice.version,
                "versionId": notice.version_id,
                "language": lang,
                "sha256": notice_sha256(notice, lang),
            },
            "jurisdictions": list(notice.jurisdictions),
            "matters": [_record_matter(notice, m, event.decisions[m.id], lang) for m in notice.matters],
        },
        "parties": _parties(event, notice),
        "events": [
            {
                "type": event.event.value,
                "time": created,
                "actor": "guardian" if event.guardian is not None else "principal",
                "method": event.collection_method,
                "withdraws": None
                if withdrawal is None
                else {"receiptId": withdrawal.receipt_id, "matters": list(withdrawal.matters)},
                "previousReceiptId": event.previous_receipt_id,
            }
        ],
    }


def _record_matter(notice: Notice, matter: Matter, consented: bool, lang: str) -> dict[str, Any]:
    return {
        "id": matter.id,
        "kind": matter.kind.value,
        "required": matter.required,
        "consented": consented,
        "summary": matter.summary.get(lang),
        "dataCategories": list(matter.data_categories),
        "legalBasis": _legal_basis(notice, matter.kind),
    }


def _parties(event: ConsentEvent, notice: Notice) -> dict[str, Any]:
    guardian = event.guardian
    recipients = [
        m.third_party.recipient.get(event.language)
        for m in notice.matters
        if m.third_party is not None and event.decisions[m.id]
    ]
    return {
        "controller": notice.controller.name.get(event.language),
        "principal": {
            "id": event.principal_id,
            "underFourteen": event.under_14,
            "signatureCommitment": event.signature_commitment,
        },
        "guardian": None
        if guardian is None
        else {"relationship": guardian.relationship.value, "nameCommitment": guardian.name_commitment},
        "recipients": recipients,
    }
