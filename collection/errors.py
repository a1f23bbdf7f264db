"""Errors raised by the collection services. They carry data, never HTTP codes; webapp maps them in one place.

CollectionError
├── AccountError
│   ├── EmailTaken            an account already uses this email
│   ├── InvalidCredentials    wrong email or password (deliberately does not say which)
│   ├── LoginThrottled        too many failures; `retry_after` says how long to wait
│   └── WeakPassword          the password fails the length/complexity policy
├── NotFound                  the object does not exist or is not visible to this actor
├── CryptoError               envelope encryption and the contributor key vault (collection.crypto)
│   ├── InvalidKeyMaterial    a master or data key of the wrong type or length
│   ├── KeyUnwrapFailed       a wrapped data key does not unwrap under this master key
│   ├── DecryptionFailed      wrong key, wrong associated data, tampered or malformed ciphertext
│   └── KeyDestroyed          the contributor's key was destroyed (erasure); their data is unreadable
├── StorageError              blob storage (collection.storage)
│   ├── InvalidBlobKey        a key that is malformed or could escape the store's root
│   ├── BlobNotFound          no blob under that key
│   └── StorageBackendError   the backend (disk, S3) failed; `operation` says what was attempted
├── JobError                  background jobs (collection.jobs, collection.celery_app)
│   ├── UnknownJobKind        no handler is registered for that kind
│   ├── DuplicateHandler      a second handler registered for a kind
│   ├── InvalidJobPayload     a payload that is not a JSON object
│   └── SkipJob               raised BY a handler: the job is obsolete; it ends `skipped`, is not retried
├── ContributionError         a contribution step the rules refuse (`code` is stable, `detail` explains)
│   ├── NotEligible           campaign not open, age outside the range, quota reached
│   ├── ConsentRequired       the required consents of the current notice version are not in force
│   ├── UploadRefused         too large, wrong format, undecodable, decompression bomb
│   ├── DuplicatePhoto        the same or a near-identical photo is already in the set
│   ├── SetNotReady           photos or clips missing, failing or still being checked
│   └── InvalidTransition     the object's state does not allow this step
└── PaymentError              a payout step the ledger's state does not allow
    └── InvalidPayoutAccount  an unknown bank code, a malformed account number or an empty holder name

Messages and attributes hold pseudonymous ids only, never names, e-mail addresses, IPs or biometric data.
"""

from __future__ import annotations

import datetime as dt


class CollectionError(Exception):
    """Base of every error the collection package raises on purpose."""


class NotFound(CollectionError):
    def __init__(self, what: str, ident: str) -> None:
        super().__init__(f"{what} {ident} not found")
        self.what = what
        self.ident = ident


class AccountError(CollectionError):
    pass


class EmailTaken(AccountError):
    def __init__(self) -> None:
        super().__init__("an account already uses this email")


class InvalidCredentials(AccountError):
    def __init__(self) -> None:
        super().__init__("wrong email or password")


class WeakPassword(AccountError):
    def __init__(self, min_length: int) -> None:
        super().__init__(f"password must be at least {min_length} characters")
        self.min_length = min_length


class LoginThrottled(AccountError):
    def __init__(self, retry_after: dt.timedelta, scope: str) -> None:
        minutes = max(1, -(-int(retry_after.total_seconds()) // 60))
        super().__init__(f"too many failed sign-ins ({scope}); try again in {minutes} minutes")
        self.retry_after = retry_after
        self.minutes = minutes
        self.scope = scope


# --- crypto ------------------------------------------------------------------------------


class CryptoError(CollectionError):
    """Base class of encryption and key-management errors."""


class InvalidKeyMaterial(CryptoError):
    """Key bytes of the wrong type or length (`what` names the key, `length` is what was given)."""

    def __init__(self, what: str, length: int, expected: int) -> None:
        self.what = what
        self.length = length
        self.expected = expected
        super().__init__(f"{what} must be {expected} bytes, got {length}")


class KeyUnwrapFailed(CryptoError):
    """A wrapped data key failed its integrity check: a different master key, or a corrupted value."""

    def __init__(self, contributor_id: str | None = None) -> None:
        self.contributor_id = contributor_id
        who = f" for contributor {contributor_id}" if contributor_id else ""
        super().__init__(f"wrapped data key{who} does not unwrap under this master key")


class DecryptionFailed(CryptoError):
    """A sealed blob could not be opened: wrong key, wrong associated data, tampering or a malformed blob.

    The causes are deliberately not distinguished beyond `reason` ("authentication" or "format"): an
    authenticated cipher cannot tell a wrong key from a flipped bit, and callers must treat both the same way.
    """

    def __init__(self, object_id: str | None, reason: str) -> None:
        self.object_id = object_id
        self.reason = reason
        super().__init__(f"cannot decrypt object {object_id}: {reason}")


class KeyDestroyed(CryptoError):
    """The contributor's data key was destroyed (crypto-shredding): nothing of theirs can be read again."""

    def __init__(self, contributor_id: str, destroyed_at: dt.datetime | None) -> None:
        self.contributor_id = contributor_id
        self.destroyed_at = destroyed_at
        super().__init__(f"data key of contributor {contributor_id} was destroyed at {destroyed_at}")


# --- storage ------------------------------------------------------------------------------


class StorageError(CollectionError):
    """Base class of blob storage errors."""


class InvalidBlobKey(StorageError):
    """A blob key (or key prefix) that is malformed or could reach outside the store."""

    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"invalid blob key {key!r}: {reason}")


class BlobNotFound(StorageError):
    """No blob is stored under `key`."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"no blob under key {key!r}")


class StorageBackendError(StorageError):
    """The backend failed while doing `operation` on `key`; `detail` is the backend's own error text."""

    def __init__(self, operation: str, key: str, detail: str) -> None:
        self.operation = operation
        self.key = key
        self.detail = detail
        super().__init__(f"blob store {operation} of {key!r} failed: {detail}")


# --- jobs ------------------------------------------------------------------------------


class JobError(CollectionError):
    """Base class of background job errors."""


class UnknownJobKind(JobError):
    """No handler is registered for `kind`."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        super().__init__(f"no handler registered for job kind {kind!r}")


class DuplicateHandler(JobError):
    """A handler is already registered for `kind`."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        super().__init__(f"a handler is already registered for job kind {kind!r}")


class InvalidJobPayload(JobError):
    """The payload of a `kind` job is not a JSON object (`reason` says why)."""

    def __init__(self, kind: str, reason: str) -> None:
        self.kind = kind
        self.reason = reason
        super().__init__(f"invalid payload for job kind {kind!r}: {reason}")


class SkipJob(JobError):
    """Raised by a job handler when the work is obsolete (e.g. the photo was deleted meanwhile).

    The runner rolls back the handler's transaction and records the job as `skipped` with `reason`; it is not
    retried and does not count as a failure.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


# --- contributing ------------------------------------------------------------------------------------------------


class ContributionError(CollectionError):
    """A contribution step the rules do not allow. `code` is stable (the web layer translates it); `detail`
    carries the values that explain it."""

    code = "contribution"

    def __init__(self, message: str, **detail: object) -> None:
        super().__init__(message)
        self.detail = detail


class NotEligible(ContributionError):
    code = "not_eligible"  # campaign closed, age outside the range, quota reached


class ConsentRequired(ContributionError):
    code = "consent_required"  # both required matters of the current notice version must be in force


class UploadRefused(ContributionError):
    code = "upload_refused"  # too large, wrong format, undecodable, decompression bomb (detail["reason"])


class DuplicatePhoto(ContributionError):
    code = "duplicate_photo"  # the same or a near-identical photo is already in the set


class SetNotReady(ContributionError):
    code = "set_not_ready"  # missing photos or clips, or items still failing / being checked


class InvalidTransition(ContributionError):
    code = "invalid_transition"  # e.g. editing a submitted set, claiming a set someone else reviews


class PaymentError(CollectionError):
    """A payout operation that the ledger's state does not allow."""


class InvalidPayoutAccount(PaymentError):
    """A payout account the rules refuse; `field` names which part ("bank", "holder_name", "account_number")."""

    def __init__(self, field: str) -> None:
        super().__init__(f"invalid payout account: {field}")
        self.field = field
