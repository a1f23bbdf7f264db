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

This module is the public API; import every receipt name from here. Behind it, `consent._receipt_types`
holds the value types and codes, `consent._receipt_build` lays out a receipt's body and
`consent._receipt_schema` holds the schema and consistency checks.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import unicodedata
import uuid
from collections.abc import Mapping
from typing import Any

from Crypto.Random import get_random_bytes

from consent._receipt_build import check_event, check_inputs, consent_record, kantara_controller, kantara_purpose
from consent._receipt_schema import check_consistency, check_envelope, check_schema
from consent._receipt_types import (
    DEFAULT_COLLECTION_METHOD,
    RECEIPT_VERSION,
    RECORD_SCHEMA,
    SIGNATURE_ALGORITHM,
    ConsentEvent,
    EventType,
    Failure,
    GuardianConsent,
    GuardianRelationship,
    Invalid,
    IssuedReceipt,
    NameCommitment,
    ReceiptFacts,
    Verification,
    Withdrawal,
)
from consent.canonical import b64url_decode, b64url_encode, canonical_json, format_timestamp, loads_strict
from consent.errors import JSONError, KeyDocumentError, KeyNotValidError, ReceiptBuildError, ReceiptFormatError
from consent.keys import PURPOSE_CONSENT, KeyRing, PublicKey, PublicKeyDocument, parse_public_key_document
from consent.notice import MatterKind, Notice

__all__ = [
    "DEFAULT_COLLECTION_METHOD",
    "FUTURE_TOLERANCE",
    "RECEIPT_VERSION",
    "RECORD_SCHEMA",
    "SIGNATURE_ALGORITHM",
    "ConsentEvent",
    "EventType",
    "Failure",
    "GuardianConsent",
    "GuardianRelationship",
    "IssuedReceipt",
    "NameCommitment",
    "ReceiptFacts",
    "Verification",
    "Withdrawal",
    "build_receipt",
    "commit_name",
    "encode_signed_receipt",
    "issue_receipt",
    "name_matches_commitment",
    "receipt_facts",
    "sign_receipt",
    "verify_receipt",
]

# A receipt stamped later than the verifier's clock plus this is refused (clocks differ a little).
FUTURE_TOLERANCE = dt.timedelta(minutes=5)


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
    check_event(event, notice)
    check_inputs(receipt_id, timestamp, kid, policy_url)
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
        "piiControllers": [kantara_controller(notice, lang)],
        "policyUrl": policy_url,
        "services": [
            {
                "service": notice.title.get(lang),
                "purposes": [kantara_purpose(notice, m, lang) for m in consented],
            }
        ],
        "sensitive": bool(sensitive),
        "spiCat": [category for m in sensitive for category in m.data_categories],
        "record": consent_record(event, notice, receipt_id, moment, kid),
    }


def sign_receipt(receipt: Mapping[str, Any], keyring: KeyRing) -> bytes:
    """The signed receipt file of `receipt`, signed by the key its ``record.header.signingKeyId`` names.

    Refuses to sign what would not verify. Raises ReceiptBuildError (schema or consistency problem),
    UnknownKeyError, KeyNotValidError (not a consent key, or not valid at the receipt's time),
    KeyDecryptionError.
    """
    try:
        check_schema(receipt)
        kid = receipt["record"]["header"]["signingKeyId"]
        check_consistency(receipt, kid)
    except Invalid as exc:
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


# --- verifying --------------------------------------------------------------------------------------------


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
    except Invalid as exc:
        return Verification(False, exc.reason, failure=exc.failure)
    return Verification(True, None, receipt=receipt, facts=receipt_facts(receipt))


def _verified_receipt(data: bytes, keys: PublicKeyDocument, now: dt.datetime) -> dict[str, Any]:
    envelope = _parse_envelope(data)
    receipt, block = envelope["receipt"], envelope["signature"]
    key = _signing_key(keys, block["kid"])
    try:
        signature = b64url_decode(block["value"])
    except ValueError as exc:
        raise Invalid(Failure.ENVELOPE, f"file.signature.value {exc}") from None
    if not key.verify(canonical_json(receipt), signature):
        raise Invalid(Failure.SIGNATURE, f"the signature does not match the receipt (key {key.kid})")
    check_schema(receipt)
    check_consistency(receipt, key.kid)
    _check_time(receipt, key, now)
    return receipt


def _parse_envelope(data: bytes) -> dict[str, Any]:
    if not isinstance(data, bytes):
        raise Invalid(Failure.MALFORMED, "a receipt file is bytes")
    try:
        envelope = loads_strict(data)
    except JSONError as exc:
        raise Invalid(Failure.MALFORMED, f"not valid JSON: {exc}") from None
    check_envelope(envelope)
    canonical = canonical_json(envelope)
    if data != canonical and data != canonical + b"\n":
        raise Invalid(Failure.NOT_CANONICAL, "the file is not in canonical form (was it edited or re-formatted?)")
    return dict(envelope)


def _signing_key(keys: PublicKeyDocument, kid: str) -> PublicKey:
    key = keys.find(kid)
    if key is None:
        raise Invalid(Failure.UNKNOWN_KEY, f"key {kid} is not in the public key document")
    if key.purpose != PURPOSE_CONSENT:
        raise Invalid(Failure.WRONG_KEY_PURPOSE, f"key {kid} is a {key.purpose!r} key, not a consent key")
    return key


def _check_time(receipt: Mapping[str, Any], key: PublicKey, now: dt.datetime) -> None:
    moment = dt.datetime.fromtimestamp(receipt["consentTimestamp"], dt.UTC)
    if not key.covers(moment):
        until = "now" if key.valid_until is None else format_timestamp(key.valid_until)
        raise Invalid(
            Failure.KEY_NOT_VALID,
            f"signed for {format_timestamp(moment)}, outside the validity of key {key.kid} "
            f"({format_timestamp(key.valid_from)} to {until})",
        )
    if moment > now + FUTURE_TOLERANCE:
        raise Invalid(Failure.FUTURE, f"consentTimestamp {format_timestamp(moment)} is in the future")


def receipt_facts(receipt: Mapping[str, Any]) -> ReceiptFacts:
    """The facts of a receipt that passed verification (or was just built) in typed form.

    Raises ReceiptFormatError if `receipt` does not follow the schema.
    """
    try:
        check_schema(receipt)
    except Invalid as exc:
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
