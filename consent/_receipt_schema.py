"""The receipt schema and its consistency rules, checked before signing and again when verifying.

A small structural validator (every object has exactly the listed fields) for the signed-file envelope and
the receipt, plus the cross-field rules `build_receipt` guarantees. Private to `consent.receipts`: a failed
check raises `Invalid` with a `Failure` code (SCHEMA, ENVELOPE or INCONSISTENT) and a reason naming the field.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from typing import Any

from consent._receipt_types import (
    HEX64,
    PRINCIPAL_ID,
    RECEIPT_ID,
    RECEIPT_VERSION,
    RECORD_SCHEMA,
    SIGNATURE_ALGORITHM,
    SLUG,
    EventType,
    Failure,
    GuardianRelationship,
    Invalid,
)
from consent.canonical import format_timestamp
from consent.notice import LANGUAGES, MatterKind

# A small structural validator: every object has exactly the listed fields (absent optional values are
# null, never missing), so one rule catches both removed and smuggled-in fields.

Validator = Callable[[Any, str], None]


def _schema_error(path: str, message: str) -> Invalid:
    return Invalid(Failure.SCHEMA, f"{path} {message}")


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
                raise Invalid(Failure.SCHEMA, f"missing required field {path}.{name}")
            validator(value[name], f"{path}.{name}")
        extra = sorted(set(value) - set(fields))
        if extra:
            raise _schema_error(f"{path}.{extra[0]}", "is not a field of this schema")

    return check


def _envelope_error(validator: Validator) -> Validator:
    def check(value: Any, path: str) -> None:
        try:
            validator(value, path)
        except Invalid as exc:
            raise Invalid(Failure.ENVELOPE, exc.reason) from None

    return check


_TEXT, _NONBLANK = _string(blank=True), _string()
_SLUG_STRING, _SHA256 = _string(SLUG), _string(HEX64)
_TIMESTAMP = _string(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
_RECEIPT_ID_STRING = _string(RECEIPT_ID)
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
                        "id": _string(PRINCIPAL_ID),
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
        "piiPrincipalId": _string(PRINCIPAL_ID),
        "piiControllers": _array(_CONTROLLER, min_items=1),
        "policyUrl": _string(r"https?://\S+"),
        "services": _array(_object({"service": _NONBLANK, "purposes": _array(_PURPOSE)}), min_items=1),
        "sensitive": _boolean,
        "spiCat": _array(_SLUG_STRING),
        "record": _RECORD,
    }
)


def check_envelope(envelope: Any) -> None:
    """Check the signed file's envelope (not the receipt inside). Raises Invalid (Failure.ENVELOPE)."""
    _ENVELOPE(envelope, "file")


def check_schema(receipt: Any) -> None:
    """Check `receipt` against the receipt schema. Raises Invalid (Failure.SCHEMA)."""
    _RECEIPT(receipt, "receipt")


def check_consistency(receipt: Mapping[str, Any], kid: str) -> None:
    """Cross-field rules the builder guarantees; a receipt breaking one was not made by `build_receipt`.

    Expects a schema-valid receipt. Raises Invalid (Failure.INCONSISTENT).
    """
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
            raise Invalid(Failure.INCONSISTENT, f"inconsistent receipt: {reason}")


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
