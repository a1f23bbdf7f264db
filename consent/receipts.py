"""Signed consent receipts: build one per consent event, sign it, and verify it offline.

A receipt records one event (consent given, withdrawn, or re-consented under a new notice version) as a
JSON object carrying every Kantara Consent Receipt 1.1 field at the top level, plus a ``record`` section laid
out after ISO/IEC TS 27560 (``header``, ``processing``, ``parties``, ``events``)::

    version            "KI-CR-v1.1.0"
    jurisdiction       "KR" or "KR,EU" (the notice's jurisdictions)
    consentTimestamp   integer seconds since the epoch (UTC) of the event
    collectionMethod   e.g. "web_form"
    consentReceiptID   a random UUID
    language           "ko" or "en": the language the notice was shown and signed in
    piiPrincipalId     a pseudonymous id of the contributor, never an email or a name
    piiControllers     [{piiController, onBehalf, contact, address, email, phone}]
    policyUrl          the installation's privacy policy
    services           [{service: notice title, purposes: [...]}], one purpose per matter IN FORCE after
                       the event: {purpose, purposeCategory[], consentType "EXPLICIT", piiCategory[],
                       primaryPurpose, termination, thirdPartyDisclosure, thirdPartyName}
    sensitive, spiCat  whether sensitive information is consented after the event, and its categories
    record.header      {recordId (= consentReceiptID), schemaVersion, signingKeyId,
                        createdAt (= consentTimestamp as RFC 3339)}
    record.processing  {notice: {campaign, version, versionId, language, sha256 of the exact text shown},
                        jurisdictions[], matters: [one per notice matter: {id, kind, required,
                        consented, summary, dataCategories[], legalBasis[]}]}
    record.parties     {controller, principal: {id, underFourteen, signatureCommitment}, guardian,
                        recipients[]}
    record.events      [{type: given|withdrawn|reconsented, time, actor: principal|guardian, method,
                         withdraws: null | {receiptId, matters[]}, previousReceiptId}]

Every receipt is a full snapshot: ``processing.matters`` gives each matter's yes/no after the event, so a
withdrawal receipt says what was withdrawn (``events[0].withdraws``) and what stays in force. Only consented
matters appear in the Kantara ``services`` list, because a Kantara reader takes a listed purpose as consented.

Privacy choices: the contributor appears only by a pseudonymous id. Names typed as signatures (the
contributor's own, and an under-14 contributor's legal representative's) are not in the receipt; it holds a
salted SHA-256 commitment (`commit_name`) instead. The salt stays in the controller's database next to the
name, so the receipt alone reveals nothing (a plain hash of a Korean name is guessable from a short list),
while the controller can prove which name was signed by revealing salt and name (`name_matches_commitment`).

The signed file is the RFC 8785 canonical JSON of
``{"receipt": {...}, "signature": {"alg": "Ed25519", "kid": ..., "value": base64url(signature)}}``, the
signature being Ed25519 (RFC 8032) over the canonical JSON of the receipt alone. The file must stay byte for
byte canonical (one trailing newline is tolerated): a re-formatted file no longer verifies, so neither does a
file with any changed byte. `verify_receipt` needs only the file and the published key document.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from Crypto.Random import get_random_bytes

from consent.canonical import (
    b64url_decode,
    b64url_encode,
    canonical_json,
    format_timestamp,
    loads_strict,
)
from consent.errors import JSONError, KeyDocumentError, KeyNotValidError, ReceiptBuildError, ReceiptFormatError
from consent.keys import PURPOSE_CONSENT, KeyRing, PublicKey, PublicKeyDocument, parse_public_key_document
from consent.notice import LANGUAGES, Matter, MatterKind, Notice, missing_items, notice_sha256

RECEIPT_VERSION = "KI-CR-v1.1.0"
RECORD_SCHEMA = "datadam/consent-record/1"
SIGNATURE_ALGORITHM = "Ed25519"
DEFAULT_COLLECTION_METHOD = "web_form"
# A receipt stamped later than the verifier's clock plus this is refused (clocks differ a little).
FUTURE_TOLERANCE = dt.timedelta(minutes=5)

_PRINCIPAL_ID = r"[A-Za-z0-9_-]{8,128}"
_RECEIPT_ID = r"[A-Za-z0-9-]{8,64}"
_SLUG = r"[a-z0-9][a-z0-9_-]{0,63}"
_HEX64 = r"[0-9a-f]{64}"


class EventType(StrEnum):
    GIVEN = "given"
    WITHDRAWN = "withdrawn"
    RECONSENTED = "reconsented"


class GuardianRelationship(StrEnum):
    """Who may consent for a contributor under 14 (PIPA Art. 22-2: the legal representative)."""

    PARENT = "parent"
    LEGAL_GUARDIAN = "legal_guardian"


class Failure(StrEnum):
    """Why a receipt failed verification: a stable code for pages and the CLI (`reason` explains)."""

    MALFORMED = "malformed"
    NOT_CANONICAL = "not_canonical"
    ENVELOPE = "bad_envelope"
    KEY_DOCUMENT = "bad_key_document"
    UNKNOWN_KEY = "unknown_key"
    WRONG_KEY_PURPOSE = "wrong_key_purpose"
    SIGNATURE = "bad_signature"
    SCHEMA = "bad_schema"
    INCONSISTENT = "inconsistent"
    KEY_NOT_VALID = "key_not_valid_at_time"
    FUTURE = "future_timestamp"


@dataclass(frozen=True)
class NameCommitment:
    """A hiding, binding commitment to a typed name: `value` goes in the receipt, `salt` stays in the DB."""

    value: str
    salt: bytes


@dataclass(frozen=True)
class GuardianConsent:
    """The legal representative of an under-14 contributor: relationship and a commitment to their name."""

    relationship: GuardianRelationship
    name_commitment: str


@dataclass(frozen=True)
class Withdrawal:
    """Which earlier receipt a withdrawal refers to, and which of its matters are withdrawn."""

    receipt_id: str
    matters: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class ConsentEvent:
    """What happened, as the service saw it; the input of `build_receipt` / `issue_receipt`.

    `decisions` maps EVERY matter id of the notice to whether consent to it is in force after this event
    (for a withdrawal: False for the withdrawn matters and for any declined or withdrawn before).
    `under_14` is judged by the service from the birth date; a given or re-consent event of an under-14
    contributor needs `guardian`. A withdrawal never needs a guardian: withdrawing must not be harder than
    giving. `signature_commitment` commits to the name the contributor typed as signature.
    """

    event: EventType
    principal_id: str
    language: str
    decisions: Mapping[str, bool]
    collection_method: str = DEFAULT_COLLECTION_METHOD
    under_14: bool = False
    guardian: GuardianConsent | None = None
    signature_commitment: str | None = None
    withdrawal: Withdrawal | None = None
    previous_receipt_id: str | None = None


@dataclass(frozen=True)
class IssuedReceipt:
    """A signed receipt: store `data` verbatim (it is the downloadable file); `receipt` is its parsed body."""

    receipt_id: str
    kid: str
    timestamp: dt.datetime
    data: bytes
    receipt: dict[str, Any]


@dataclass(frozen=True)
class ReceiptFacts:
    """The facts of a schema-valid receipt in typed form, for pages, the CLI and "still in force" checks."""

    receipt_id: str
    event: EventType
    timestamp: dt.datetime
    principal_id: str
    language: str
    campaign: str
    notice_version: int
    notice_version_id: str
    notice_sha256: str
    consented: tuple[str, ...]
    declined: tuple[str, ...]
    withdraws_receipt_id: str | None
    withdrawn_matters: tuple[str, ...]
    previous_receipt_id: str | None
    under_14: bool
    kid: str


@dataclass(frozen=True)
class Verification:
    """The outcome of `verify_receipt`. `receipt` and `facts` are set only when `valid` (never show content
    of a receipt that failed); `failure` is a stable code and `reason` a sentence when not valid."""

    valid: bool
    reason: str | None
    receipt: dict[str, Any] | None = None
    failure: Failure | None = None
    facts: ReceiptFacts | None = None


# --- names ------------------------------------------------------------------------------------------------


def commit_name(name: str, salt: bytes | None = None) -> NameCommitment:
    """Commit to a typed name (NFC, whitespace collapsed) with a random 32-byte salt. Raises ValueError if
    the name is blank."""
    normalized = _normalize_name(name)
    if not normalized:
        raise ValueError("a blank name cannot be committed to")
    salt = get_random_bytes(32) if salt is None else salt
    digest = hashlib.sha256(b"datadam/name-commitment/v1\x00" + salt + normalized.encode("utf-8"))
    return NameCommitment(value=digest.hexdigest(), salt=salt)


def name_matches_commitment(name: str, salt: bytes, commitment: str) -> bool:
    """True when `name` with `salt` opens `commitment` (as recorded in a receipt)."""
    return bool(_normalize_name(name)) and commit_name(name, salt).value == commitment


def _normalize_name(name: str) -> str:
    return " ".join(unicodedata.normalize("NFC", name).split())


# --- building and signing ---------------------------------------------------------------------------------


def build_receipt(
    event: ConsentEvent,
    notice: Notice,
    *,
    receipt_id: str,
    timestamp: dt.datetime,
    kid: str,
    policy_url: str,
) -> dict[str, Any]:
    """The unsigned receipt of `event` under `notice` (layout in the module docstring). Pure.

    `timestamp` is truncated to whole seconds. Raises ReceiptBuildError naming the offending input: an
    incomplete notice, decisions not covering exactly the notice's matters, a given/re-consent without both
    required matters, a withdrawal without a reference or of a matter still consented, an under-14
    contributor without a guardian, or an id that is not pseudonymous.
    """
    _check_event(event, notice)
    _check_inputs(receipt_id, timestamp, kid, policy_url)
    moment = timestamp.astimezone(dt.UTC).replace(microsecond=0)
    lang = event.language
    consented = [m for m in notice.matters if event.decisions[m.id]]
    sensitive = [m for m in consented if m.kind is MatterKind.SENSITIVE_INFORMATION]
    return {
        "version": RECEIPT_VERSION,
        "jurisdiction": ",".join(notice.jurisdictions),
        "consentTimestamp": int(moment.timestamp()),
        "collectionMethod": event.collection_method,
        "consentReceiptID": receipt_id,
        "language": lang,
        "piiPrincipalId": event.principal_id,
        "piiControllers": [_kantara_controller(notice, lang)],
        "policyUrl": policy_url,
        "services": [
            {
                "service": notice.title.get(lang),
                "purposes": [_kantara_purpose(notice, m, lang) for m in consented],
            }
        ],
        "sensitive": bool(sensitive),
        "spiCat": [category for m in sensitive for category in m.data_categories],
        "record": _record(event, notice, receipt_id, moment, kid),
    }


def sign_receipt(receipt: Mapping[str, Any], keyring: KeyRing) -> bytes:
    """The signed receipt file of `receipt`, signed by the key its ``record.header.signingKeyId`` names.

    Refuses to sign what would not verify. Raises ReceiptBuildError (schema or consistency problem),
    UnknownKeyError, KeyNotValidError (not a consent key, or not valid at the receipt's time),
    KeyDecryptionError.
    """
    try:
        _check_schema(receipt)
        kid = receipt["record"]["header"]["signingKeyId"]
        _check_consistency(receipt, kid)
    except _Invalid as exc:
        raise ReceiptBuildError(exc.reason, "receipt") from None
    if keyring.get(kid).purpose != PURPOSE_CONSENT:
        raise KeyNotValidError(kid, f"it is not a {PURPOSE_CONSENT!r} key")
    at = dt.datetime.fromtimestamp(receipt["consentTimestamp"], dt.UTC)
    signature = keyring.sign(canonical_json(receipt), kid=kid, at=at)
    return encode_signed_receipt(receipt, kid=kid, signature=signature)


def issue_receipt(
    event: ConsentEvent,
    notice: Notice,
    keyring: KeyRing,
    *,
    policy_url: str,
    receipt_id: str | None = None,
) -> IssuedReceipt:
    """Build and sign the receipt of `event` now (the ring's clock) with the current consent key.

    Raises what `build_receipt` and `sign_receipt` raise, and NoActiveKeyError.
    """
    key = keyring.current(PURPOSE_CONSENT)
    moment = keyring.now()
    receipt_id = receipt_id or str(uuid.uuid4())
    receipt = build_receipt(event, notice, receipt_id=receipt_id, timestamp=moment, kid=key.kid, policy_url=policy_url)
    data = sign_receipt(receipt, keyring)
    return IssuedReceipt(receipt_id=receipt_id, kid=key.kid, timestamp=moment, data=data, receipt=receipt)


def encode_signed_receipt(receipt: Mapping[str, Any], *, kid: str, signature: bytes) -> bytes:
    """The canonical bytes of the signed receipt file (the envelope around `receipt`)."""
    block = {"alg": SIGNATURE_ALGORITHM, "kid": kid, "value": b64url_encode(signature)}
    return canonical_json({"receipt": receipt, "signature": block})


def _check_event(event: ConsentEvent, notice: Notice) -> None:
    problems = missing_items(notice)
    if problems:
        raise ReceiptBuildError(f"the notice is not publishable: {problems[0]}", "notice")
    if not _is_pseudonym(event.principal_id):
        raise ReceiptBuildError("must be a pseudonymous id of 8-128 [A-Za-z0-9_-] with a letter", "principal_id")
    if event.language not in LANGUAGES:
        raise ReceiptBuildError(f"must be one of {LANGUAGES}", "language")
    if not isinstance(event.collection_method, str) or not re.fullmatch(_SLUG, event.collection_method):
        raise ReceiptBuildError("must be a lower-case slug such as 'web_form'", "collection_method")
    ids = [m.id for m in notice.matters]
    if set(event.decisions) != set(ids) or not all(isinstance(v, bool) for v in event.decisions.values()):
        raise ReceiptBuildError(f"must map exactly the notice's matters {ids} to true/false", "decisions")
    for name in ("signature_commitment", "previous_receipt_id"):
        value, pattern = getattr(event, name), _HEX64 if name == "signature_commitment" else _RECEIPT_ID
        if value is not None and not (isinstance(value, str) and re.fullmatch(pattern, value)):
            raise ReceiptBuildError("has the wrong format", name)
    _check_event_type(event, notice)
    _check_guardian(event)


def _is_pseudonym(value: object) -> bool:
    # The shape keeps out emails and names (no '@', spaces or Hangul); requiring a letter keeps out phone and
    # resident registration numbers. The id itself must come from a keyed hash or a random id, never from
    # personal data: that is the caller's duty, which no pattern can check.
    return isinstance(value, str) and bool(re.fullmatch(_PRINCIPAL_ID, value) and re.search("[A-Za-z]", value))


def _check_event_type(event: ConsentEvent, notice: Notice) -> None:
    if event.event is EventType.WITHDRAWN:
        withdrawal = event.withdrawal
        if withdrawal is None or not withdrawal.matters:
            raise ReceiptBuildError("a withdrawal names the receipt and at least one matter", "withdrawal")
        if not re.fullmatch(_RECEIPT_ID, withdrawal.receipt_id):
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
    if not re.fullmatch(_HEX64, guardian.name_commitment):
        raise ReceiptBuildError("must be a commit_name() value", "guardian.name_commitment")


def _check_inputs(receipt_id: str, timestamp: dt.datetime, kid: str, policy_url: str) -> None:
    if not isinstance(receipt_id, str) or not re.fullmatch(_RECEIPT_ID, receipt_id):
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


def _kantara_controller(notice: Notice, lang: str) -> dict[str, Any]:
    controller = notice.controller
    return {
        "piiController": controller.name.get(lang),
        "onBehalf": False,
        "contact": notice.privacy_officer.name.get(lang),
        "address": controller.address.get(lang),
        "email": controller.email,
        "phone": controller.phone,
    }


def _kantara_purpose(notice: Notice, matter: Matter, lang: str) -> dict[str, Any]:
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


def _record(event: ConsentEvent, notice: Notice, receipt_id: str, moment: dt.datetime, kid: str) -> dict[str, Any]:
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


# --- verifying --------------------------------------------------------------------------------------------


class _Invalid(Exception):
    """Internal: one verification step failed. Never escapes this module."""

    def __init__(self, failure: Failure, reason: str) -> None:
        super().__init__(reason)
        self.failure = failure
        self.reason = reason


def verify_receipt(
    data: bytes,
    public_keys_doc: PublicKeyDocument | Mapping[str, Any] | bytes | str,
    now: dt.datetime | None = None,
) -> Verification:
    """Check a receipt file offline against a public key document; never raises for a bad receipt.

    `public_keys_doc` is the published document (dict, its JSON bytes or text) or an already parsed one.

    Valid means: strict canonical JSON, the expected envelope, a known ``consent`` key, an Ed25519 signature
    that holds over the receipt, the receipt schema and its internal consistency, a consentTimestamp within
    the key's validity period and not later than `now` (default: the system clock) plus FUTURE_TOLERANCE.
    Raises ValueError only for a naive `now` (a caller's mistake, not a property of the receipt).
    """
    if now is not None and now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    try:
        keys = (
            public_keys_doc
            if isinstance(public_keys_doc, PublicKeyDocument)
            else parse_public_key_document(public_keys_doc)
        )
    except KeyDocumentError as exc:
        return Verification(False, f"the public key document is malformed: {exc}", failure=Failure.KEY_DOCUMENT)
    try:
        receipt = _verified_receipt(data, keys, now or dt.datetime.now(dt.UTC))
    except _Invalid as exc:
        return Verification(False, exc.reason, failure=exc.failure)
    return Verification(True, None, receipt=receipt, facts=receipt_facts(receipt))


def _verified_receipt(data: bytes, keys: PublicKeyDocument, now: dt.datetime) -> dict[str, Any]:
    envelope = _parse_envelope(data)
    receipt, block = envelope["receipt"], envelope["signature"]
    key = _signing_key(keys, block["kid"])
    try:
        signature = b64url_decode(block["value"])
    except ValueError as exc:
        raise _Invalid(Failure.ENVELOPE, f"file.signature.value {exc}") from None
    if not key.verify(canonical_json(receipt), signature):
        raise _Invalid(Failure.SIGNATURE, f"the signature does not match the receipt (key {key.kid})")
    _check_schema(receipt)
    _check_consistency(receipt, key.kid)
    _check_time(receipt, key, now)
    return receipt


def _parse_envelope(data: bytes) -> dict[str, Any]:
    if not isinstance(data, bytes):
        raise _Invalid(Failure.MALFORMED, "a receipt file is bytes")
    try:
        envelope = loads_strict(data)
    except JSONError as exc:
        raise _Invalid(Failure.MALFORMED, f"not valid JSON: {exc}") from None
    _ENVELOPE(envelope, "file")
    canonical = canonical_json(envelope)
    if data != canonical and data != canonical + b"\n":
        raise _Invalid(Failure.NOT_CANONICAL, "the file is not in canonical form (was it edited or re-formatted?)")
    return dict(envelope)


def _signing_key(keys: PublicKeyDocument, kid: str) -> PublicKey:
    key = keys.find(kid)
    if key is None:
        raise _Invalid(Failure.UNKNOWN_KEY, f"key {kid} is not in the public key document")
    if key.purpose != PURPOSE_CONSENT:
        raise _Invalid(Failure.WRONG_KEY_PURPOSE, f"key {kid} is a {key.purpose!r} key, not a consent key")
    return key


def _check_time(receipt: Mapping[str, Any], key: PublicKey, now: dt.datetime) -> None:
    moment = dt.datetime.fromtimestamp(receipt["consentTimestamp"], dt.UTC)
    if not key.covers(moment):
        until = "now" if key.valid_until is None else format_timestamp(key.valid_until)
        raise _Invalid(
            Failure.KEY_NOT_VALID,
            f"signed for {format_timestamp(moment)}, outside the validity of key {key.kid} "
            f"({format_timestamp(key.valid_from)} to {until})",
        )
    if moment > now + FUTURE_TOLERANCE:
        raise _Invalid(Failure.FUTURE, f"consentTimestamp {format_timestamp(moment)} is in the future")


def receipt_facts(receipt: Mapping[str, Any]) -> ReceiptFacts:
    """The facts of a receipt that passed verification (or was just built) in typed form.

    Raises ReceiptFormatError if `receipt` does not follow the schema.
    """
    try:
        _check_schema(receipt)
    except _Invalid as exc:
        raise ReceiptFormatError(exc.reason) from None
    record, event = receipt["record"], receipt["record"]["events"][0]
    notice, matters = record["processing"]["notice"], record["processing"]["matters"]
    withdraws = event["withdraws"]
    return ReceiptFacts(
        receipt_id=receipt["consentReceiptID"],
        event=EventType(event["type"]),
        timestamp=dt.datetime.fromtimestamp(receipt["consentTimestamp"], dt.UTC),
        principal_id=receipt["piiPrincipalId"],
        language=receipt["language"],
        campaign=notice["campaign"],
        notice_version=notice["version"],
        notice_version_id=notice["versionId"],
        notice_sha256=notice["sha256"],
        consented=tuple(m["id"] for m in matters if m["consented"]),
        declined=tuple(m["id"] for m in matters if not m["consented"]),
        withdraws_receipt_id=None if withdraws is None else withdraws["receiptId"],
        withdrawn_matters=() if withdraws is None else tuple(withdraws["matters"]),
        previous_receipt_id=event["previousReceiptId"],
        under_14=record["parties"]["principal"]["underFourteen"],
        kid=record["header"]["signingKeyId"],
    )


# --- schema -----------------------------------------------------------------------------------------------
# A small structural validator: every object has exactly the listed fields (absent optional values are
# null, never missing), so one rule catches both removed and smuggled-in fields.

Validator = Callable[[Any, str], None]


def _schema_error(path: str, message: str) -> _Invalid:
    return _Invalid(Failure.SCHEMA, f"{path} {message}")


def _string(pattern: str | None = None, *, blank: bool = False) -> Validator:
    def check(value: Any, path: str) -> None:
        if not isinstance(value, str):
            raise _schema_error(path, "must be a string")
        if not blank and not value.strip():
            raise _schema_error(path, "must not be blank")
        if pattern is not None and not re.fullmatch(pattern, value):
            raise _schema_error(path, "has the wrong format")

    return check


def _integer(low: int, high: int) -> Validator:
    def check(value: Any, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise _schema_error(path, f"must be an integer from {low} to {high}")

    return check


def _boolean(value: Any, path: str) -> None:
    if not isinstance(value, bool):
        raise _schema_error(path, "must be true or false")


def _one_of(*allowed: str) -> Validator:
    def check(value: Any, path: str) -> None:
        if value not in allowed:
            raise _schema_error(path, f"must be one of {list(allowed)}")

    return check


def _nullable(inner: Validator) -> Validator:
    def check(value: Any, path: str) -> None:
        if value is not None:
            inner(value, path)

    return check


def _array(item: Validator, *, min_items: int = 0) -> Validator:
    def check(value: Any, path: str) -> None:
        if not isinstance(value, list):
            raise _schema_error(path, "must be a list")
        if len(value) < min_items:
            raise _schema_error(path, f"must have at least {min_items} item(s)")
        for i, element in enumerate(value):
            item(element, f"{path}[{i}]")

    return check


def _object(fields: Mapping[str, Validator]) -> Validator:
    def check(value: Any, path: str) -> None:
        if not isinstance(value, Mapping):
            raise _schema_error(path, "must be an object")
        for name, validator in fields.items():
            if name not in value:
                raise _Invalid(Failure.SCHEMA, f"missing required field {path}.{name}")
            validator(value[name], f"{path}.{name}")
        extra = sorted(set(value) - set(fields))
        if extra:
            raise _schema_error(f"{path}.{extra[0]}", "is not a field of this schema")

    return check


def _envelope_error(validator: Validator) -> Validator:
    def check(value: Any, path: str) -> None:
        try:
            validator(value, path)
        except _Invalid as exc:
            raise _Invalid(Failure.ENVELOPE, exc.reason) from None

    return check


_TEXT, _NONBLANK = _string(blank=True), _string()
_SLUG_STRING, _SHA256 = _string(_SLUG), _string(_HEX64)
_TIMESTAMP = _string(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
_RECEIPT_ID_STRING = _string(_RECEIPT_ID)
_KID = _string(r"[a-z2-7]{24}")
_MATTER_KINDS = _one_of(*(kind.value for kind in MatterKind))

_ENVELOPE = _envelope_error(
    _object(
        {
            "receipt": lambda value, path: None,  # the receipt's own schema is checked after the signature
            "signature": _object(
                {"alg": _one_of(SIGNATURE_ALGORITHM), "kid": _KID, "value": _string(r"[A-Za-z0-9_-]{86}")}
            ),
        }
    )
)
_PURPOSE = _object(
    {
        "purpose": _NONBLANK,
        "purposeCategory": _array(_NONBLANK, min_items=1),
        "consentType": _one_of("EXPLICIT"),
        "piiCategory": _array(_SLUG_STRING, min_items=1),
        "primaryPurpose": _boolean,
        "termination": _NONBLANK,
        "thirdPartyDisclosure": _boolean,
        "thirdPartyName": _TEXT,
    }
)
_CONTROLLER = _object(
    {
        "piiController": _NONBLANK,
        "onBehalf": _boolean,
        "contact": _TEXT,
        "address": _TEXT,
        "email": _TEXT,
        "phone": _TEXT,
    }
)
_RECORD_MATTER = _object(
    {
        "id": _SLUG_STRING,
        "kind": _MATTER_KINDS,
        "required": _boolean,
        "consented": _boolean,
        "summary": _NONBLANK,
        "dataCategories": _array(_SLUG_STRING, min_items=1),
        "legalBasis": _array(_NONBLANK, min_items=1),
    }
)
_RECORD = _object(
    {
        "header": _object(
            {
                "recordId": _RECEIPT_ID_STRING,
                "schemaVersion": _one_of(RECORD_SCHEMA),
                "createdAt": _TIMESTAMP,
                "signingKeyId": _KID,
            }
        ),
        "processing": _object(
            {
                "notice": _object(
                    {
                        "campaign": _SLUG_STRING,
                        "version": _integer(1, 2**31),
                        "versionId": _NONBLANK,
                        "language": _one_of(*LANGUAGES),
                        "sha256": _SHA256,
                    }
                ),
                "jurisdictions": _array(_one_of("KR", "EU"), min_items=1),
                "matters": _array(_RECORD_MATTER, min_items=1),
            }
        ),
        "parties": _object(
            {
                "controller": _NONBLANK,
                "principal": _object(
                    {
                        "id": _string(_PRINCIPAL_ID),
                        "underFourteen": _boolean,
                        "signatureCommitment": _nullable(_SHA256),
                    }
                ),
                "guardian": _nullable(
                    _object(
                        {
                            "relationship": _one_of(*(r.value for r in GuardianRelationship)),
                            "nameCommitment": _SHA256,
                        }
                    )
                ),
                "recipients": _array(_NONBLANK),
            }
        ),
        "events": _array(
            _object(
                {
                    "type": _one_of(*(e.value for e in EventType)),
                    "time": _TIMESTAMP,
                    "actor": _one_of("principal", "guardian"),
                    "method": _SLUG_STRING,
                    "withdraws": _nullable(
                        _object({"receiptId": _RECEIPT_ID_STRING, "matters": _array(_SLUG_STRING, min_items=1)})
                    ),
                    "previousReceiptId": _nullable(_RECEIPT_ID_STRING),
                }
            ),
            min_items=1,
        ),
    }
)
_RECEIPT = _object(
    {
        "version": _one_of(RECEIPT_VERSION),
        "jurisdiction": _one_of("KR", "EU", "KR,EU"),
        "consentTimestamp": _integer(0, 253402300799),  # up to 9999-12-31T23:59:59Z
        "collectionMethod": _SLUG_STRING,
        "consentReceiptID": _RECEIPT_ID_STRING,
        "language": _one_of(*LANGUAGES),
        "piiPrincipalId": _string(_PRINCIPAL_ID),
        "piiControllers": _array(_CONTROLLER, min_items=1),
        "policyUrl": _string(r"https?://\S+"),
        "services": _array(_object({"service": _NONBLANK, "purposes": _array(_PURPOSE)}), min_items=1),
        "sensitive": _boolean,
        "spiCat": _array(_SLUG_STRING),
        "record": _RECORD,
    }
)


def _check_schema(receipt: Any) -> None:
    _RECEIPT(receipt, "receipt")


def _check_consistency(receipt: Mapping[str, Any], kid: str) -> None:
    """Cross-field rules the builder guarantees; a receipt breaking one was not made by `build_receipt`."""
    record = receipt["record"]
    header, processing, parties, event = (
        record["header"],
        record["processing"],
        record["parties"],
        record["events"][0],
    )
    matters = {m["id"]: m for m in processing["matters"]}
    created = format_timestamp(dt.datetime.fromtimestamp(receipt["consentTimestamp"], dt.UTC))
    rules = [
        (
            header["recordId"] == receipt["consentReceiptID"],
            "record.header.recordId differs from consentReceiptID",
        ),
        (header["createdAt"] == created == event["time"], "the record's times differ from consentTimestamp"),
        (header["signingKeyId"] == kid, "the signing key id in the record differs from the signature's"),
        (receipt["jurisdiction"] == ",".join(processing["jurisdictions"]), "jurisdiction lists differ"),
        (receipt["language"] == processing["notice"]["language"], "the receipt and notice languages differ"),
        (receipt["piiPrincipalId"] == parties["principal"]["id"], "the principal ids differ"),
        (receipt["collectionMethod"] == event["method"], "the collection methods differ"),
        (len(matters) == len(processing["matters"]), "a matter id appears twice"),
        (len(record["events"]) == 1, "a receipt records exactly one event"),
        (_purposes_match(receipt, matters), "services[].purposes differ from the consented matters"),
        (parties["principal"]["underFourteen"] or parties["guardian"] is None, "a guardian without a minor"),
        (
            (event["actor"] == "guardian") == (parties["guardian"] is not None),
            "the actor and guardian differ",
        ),
    ]
    rules += _event_rules(event, matters, parties)
    for holds, reason in rules:
        if not holds:
            raise _Invalid(Failure.INCONSISTENT, f"inconsistent receipt: {reason}")


def _purposes_match(receipt: Mapping[str, Any], matters: Mapping[str, Any]) -> bool:
    purposes = [p for service in receipt["services"] for p in service["purposes"]]
    return len(purposes) == sum(1 for m in matters.values() if m["consented"])


def _event_rules(
    event: Mapping[str, Any], matters: Mapping[str, Any], parties: Mapping[str, Any]
) -> list[tuple[bool, str]]:
    withdraws = event["withdraws"]
    if event["type"] == EventType.WITHDRAWN:
        withdrawn = [] if withdraws is None else withdraws["matters"]
        return [
            (withdraws is not None, "a withdrawal without the receipt it withdraws"),
            (
                all(m in matters and not matters[m]["consented"] for m in withdrawn),
                "a withdrawn matter is in force",
            ),
        ]
    required_given = all(m["consented"] for m in matters.values() if m["required"])
    minor_ok = not parties["principal"]["underFourteen"] or parties["guardian"] is not None
    return [
        (withdraws is None, "only a withdrawal references a withdrawn receipt"),
        (required_given, "a consent without every required matter"),
        (minor_ok, "a contributor under 14 without a legal representative"),
    ]
