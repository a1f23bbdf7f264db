"""The vocabulary of a consent receipt: format constants, event and failure codes, and the value types.

Shared by the builder (`consent._receipt_build`), the schema checks (`consent._receipt_schema`) and the public
API in `consent.receipts`, which re-exports every public name here; import them from there. The layout these
values fill is described in the `consent.receipts` docstring.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

RECEIPT_VERSION = "KI-CR-v1.1.0"
RECORD_SCHEMA = "datadam/consent-record/1"
SIGNATURE_ALGORITHM = "Ed25519"
DEFAULT_COLLECTION_METHOD = "web_form"

PRINCIPAL_ID = r"[A-Za-z0-9_-]{8,128}"
RECEIPT_ID = r"[A-Za-z0-9-]{8,64}"
SLUG = r"[a-z0-9][a-z0-9_-]{0,63}"
HEX64 = r"[0-9a-f]{64}"


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


class Invalid(Exception):
    """Internal: one verification step failed. Never escapes the receipt modules."""

    def __init__(self, failure: Failure, reason: str) -> None:
        super().__init__(reason)
        self.failure = failure
        self.reason = reason
