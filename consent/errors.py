"""The exception tree of the `consent` package.

Every error raised on purpose by `consent` derives from `ConsentError`, so a caller can catch the family in
one place. Errors carry the data needed to explain them (a path, a key id, the list of missing items) and
never an HTTP status: `webapp` maps them to responses in one place.

    ConsentError
    ├── JSONError (also ValueError)
    │   ├── CanonicalizationError   a value cannot be written as canonical JSON
    │   └── MalformedJSONError      bytes are not strict JSON (bad UTF-8, duplicate keys, NaN, ...)
    ├── KeyRingError
    │   ├── KeyDecryptionError      the master key does not open a stored private key (wrong key or tampering)
    │   ├── NoActiveKeyError        no key of that purpose is currently valid
    │   ├── UnknownKeyError         no key with that key id in the ring
    │   ├── KeyNotValidError        a key is asked to sign for a time outside its validity period
    │   └── KeyDocumentError        a public key document is malformed
    ├── NoticeError
    │   ├── NoticeFormatError       a notice is structurally impossible (bad shape, duplicate matter ids, ...)
    │   └── NoticeIncompleteError   a notice lacks content required for publishing (carries the missing items)
    ├── ReceiptError
    │   ├── ReceiptBuildError       inputs cannot make a lawful receipt (required matter declined, ...)
    │   └── ReceiptFormatError      a receipt read back does not follow the receipt schema
    ├── ConsentStateError           the operation does not fit the consent's current state
    │   └── ReviewClosedError       a consent no longer waiting for review is approved or flagged
    └── SealedFieldError
        ├── FieldKeyMissingError    no field key on the engine: sealed columns are neither written nor read
        └── FieldDecryptionError    a sealed column value does not open (wrong master key, column or tampering)

Verifying a receipt never raises for a bad receipt: `verify_receipt` returns a `Verification` with a reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - typing only, avoids an import cycle with notice.py
    from consent.notice import MissingItem


class ConsentError(Exception):
    """Base of every error `consent` raises on purpose."""


class JSONError(ConsentError, ValueError):
    """A JSON encoding or decoding problem; `path` locates it (``$`` is the root, e.g. ``$.services[0]``)."""

    def __init__(self, message: str, path: str = "$") -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.reason = message


class CanonicalizationError(JSONError):
    """The value holds something canonical JSON cannot represent (NaN, a non-string key, a set, ...)."""


class MalformedJSONError(JSONError):
    """The bytes are not strict JSON: bad UTF-8, a syntax error, a duplicate key or a NaN/Infinity token."""


class KeyRingError(ConsentError):
    """A signing-key problem."""


class KeyDecryptionError(KeyRingError):
    """The stored private key of `kid` cannot be opened: wrong master key, or the blob was altered."""

    def __init__(self, kid: str) -> None:
        super().__init__(f"cannot decrypt the private key of {kid}: wrong master key or tampered blob")
        self.kid = kid


class NoActiveKeyError(KeyRingError):
    """No key of `purpose` is valid at the ring's current time."""

    def __init__(self, purpose: str) -> None:
        super().__init__(f"no current signing key for purpose {purpose!r}")
        self.purpose = purpose


class UnknownKeyError(KeyRingError):
    """No key with id `kid` exists in the ring."""

    def __init__(self, kid: str) -> None:
        super().__init__(f"unknown key id {kid!r}")
        self.kid = kid


class KeyNotValidError(KeyRingError):
    """Key `kid` is asked to sign for a time outside its validity period."""

    def __init__(self, kid: str, detail: str) -> None:
        super().__init__(f"key {kid} cannot sign: {detail}")
        self.kid = kid
        self.detail = detail


class KeyDocumentError(KeyRingError):
    """A public key document (``consent-keys.json``) is malformed; `path` locates the problem."""

    def __init__(self, message: str, path: str = "$") -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.reason = message


class NoticeError(ConsentError):
    """A consent notice problem."""


class NoticeFormatError(NoticeError):
    """A notice (or its stored dict) has an impossible shape; `path` locates the problem."""

    def __init__(self, message: str, path: str = "$") -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.reason = message


class NoticeIncompleteError(NoticeError):
    """The notice cannot be published: `missing` names every missing item, per language."""

    def __init__(self, missing: Sequence[MissingItem]) -> None:
        where = [m.path + (f" [{m.language}]" if m.language else "") for m in missing]
        super().__init__(f"{len(missing)} item(s) missing: " + "; ".join(where))
        self.missing = tuple(missing)


class ReceiptError(ConsentError):
    """A consent receipt problem."""


class ReceiptBuildError(ReceiptError):
    """The inputs cannot make a lawful receipt; `field` names the offending input."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message


class ReceiptFormatError(ReceiptError):
    """A receipt read back does not follow the receipt schema; `reason` says where and how."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ConsentStateError(ConsentError):
    """A consent operation that the current state does not allow (e.g. consenting to a superseded notice
    version, withdrawing what is not in force). The message says why."""


class ReviewClosedError(ConsentStateError):
    """An operator approves or flags a consent that is not waiting for review (`ReviewState.PENDING`): already
    approved, flagged (only the compliance officer closes a flag: `ConsentService.resolve_flag`), resolved, or one
    that never needed a look."""


class SealedFieldError(ConsentError):
    """A problem with an encrypted database column (see `consent.sealed`)."""


class FieldKeyMissingError(SealedFieldError):
    """The engine has no field key: refusing to write personal data in clear or to read it."""

    def __init__(self) -> None:
        super().__init__("no field key installed on this database engine (see consent.sealed.install_field_cipher)")


class FieldDecryptionError(SealedFieldError):
    """A sealed value of `field` does not open; `reason` says why (never shows the value)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"cannot open a sealed value of {field}: {reason} (wrong master key or tampered value)")
        self.field = field
        self.reason = reason
