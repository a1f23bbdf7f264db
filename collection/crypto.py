"""Envelope encryption of personal data at rest, with crypto-shredding per contributor.

Every contributor has one random 256-bit data key. Their blobs and sensitive fields are sealed with
AES-256-GCM under it, with a fresh random 12-byte nonce per message and associated data binding the
ciphertext to (contributor, object, version), so a blob copied onto another object or contributor fails to
open. Data keys are stored only wrapped (AES key wrap, RFC 3394, `AES.MODE_KW`) by a master key kept
outside the database.

Erasure destroys the wrapped data key (the column is set to NULL and `destroyed_at` is stamped): every sealed
copy of that contributor's data, blob-store replicas included, becomes unreadable. Limits the caller must
cover: a database BACKUP taken before the erasure still holds the wrapped key, which the master key still
unwraps, so erasures go to a ledger that is re-applied after any restore (and backups of the key table should
not outlive the erasure deadline, or the master key should be rotated); freed database pages may keep the old
value until VACUUM (PostgreSQL) or unless `PRAGMA secure_delete` is on (SQLite).

Sealed format, version 1:  0x01 | nonce (12 bytes) | ciphertext | GCM tag (16 bytes).
The version byte is authenticated too (it is part of the GCM associated data). With random nonces one key must
not seal more than 2**32 messages; a contributor produces a few hundred.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import struct
from dataclasses import dataclass, field

from Crypto.Cipher import AES
from Crypto.Random import get_random_bytes
from sqlalchemy import CheckConstraint, LargeBinary, String, Table, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from collection._sql import insert_ignore
from collection.errors import DecryptionFailed, InvalidKeyMaterial, KeyDestroyed, KeyUnwrapFailed
from consent.clock import Clock, SystemClock
from consent.db import Base, UTCDateTime

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
FORMAT_V1 = 0x01
_AAD_DOMAIN = b"datadam/sealed-object"
WRAPPED_KEY_BYTES = KEY_BYTES + 8  # RFC 3394 adds one 64-bit block


def _length(value: object) -> int:
    return len(value) if isinstance(value, bytes | bytearray) else 0


class MasterKey:
    """The key-encryption key. Its bytes come from configuration (a secret file or env var), never the DB."""

    __slots__ = ("_key",)

    def __init__(self, key_bytes: bytes) -> None:
        """Raises InvalidKeyMaterial unless `key_bytes` is exactly 32 bytes."""
        if not isinstance(key_bytes, bytes) or len(key_bytes) != KEY_BYTES:
            raise InvalidKeyMaterial("master key", _length(key_bytes), KEY_BYTES)
        self._key = key_bytes

    @classmethod
    def generate(cls) -> MasterKey:
        return cls(get_random_bytes(KEY_BYTES))

    @classmethod
    def from_base64(cls, text: str) -> MasterKey:
        """Decode a standard base64 key (as kept in a secret). Raises InvalidKeyMaterial on bad input."""
        try:
            raw = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise InvalidKeyMaterial("master key (base64)", 0, KEY_BYTES) from None
        return cls(raw)

    def wrap(self, data_key: DataKey) -> bytes:
        """AES key wrap (RFC 3394) of a data key: 40 bytes, integrity-protected."""
        return AES.new(self._key, AES.MODE_KW).seal(data_key.key_bytes)

    def unwrap(self, wrapped: bytes) -> DataKey:
        """Raises KeyUnwrapFailed when `wrapped` was not made by this master key or was altered."""
        try:
            return DataKey(AES.new(self._key, AES.MODE_KW).unseal(wrapped))
        except (ValueError, InvalidKeyMaterial):
            raise KeyUnwrapFailed() from None

    def __repr__(self) -> str:
        return "<MasterKey ***>"


@dataclass(frozen=True)
class DataKey:
    """One contributor's content key. Its repr never shows the bytes."""

    key_bytes: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.key_bytes, bytes) or len(self.key_bytes) != KEY_BYTES:
            raise InvalidKeyMaterial("data key", _length(self.key_bytes), KEY_BYTES)

    @classmethod
    def generate(cls) -> DataKey:
        return cls(get_random_bytes(KEY_BYTES))


@dataclass(frozen=True)
class AssociatedData:
    """What a ciphertext is bound to. Opening needs exactly the same three values."""

    contributor_id: str
    object_id: str
    version: int

    def __post_init__(self) -> None:
        if not self.contributor_id or not self.object_id:
            raise ValueError("contributor_id and object_id must be non-empty")
        if not 0 <= self.version < 2**32:
            raise ValueError("version must fit in 32 unsigned bits")

    def encode(self) -> bytes:
        """Unambiguous encoding: a domain label, then each field length-prefixed (no two tuples collide)."""
        parts = [_AAD_DOMAIN, self.contributor_id.encode(), self.object_id.encode()]
        out = b"".join(struct.pack(">I", len(p)) + p for p in parts)
        return out + struct.pack(">I", self.version)


def seal(plaintext: bytes, data_key: DataKey, aad: AssociatedData) -> bytes:
    """Encrypt and authenticate `plaintext` under `data_key`, bound to `aad` (format described above)."""
    nonce = get_random_bytes(NONCE_BYTES)
    cipher = AES.new(data_key.key_bytes, AES.MODE_GCM, nonce=nonce, mac_len=TAG_BYTES)
    cipher.update(bytes([FORMAT_V1]) + aad.encode())
    ciphertext, tag = cipher.encrypt_and_digest(plaintext)
    return bytes([FORMAT_V1]) + nonce + ciphertext + tag


def open_sealed(sealed: bytes, data_key: DataKey, aad: AssociatedData) -> bytes:
    """Decrypt a `seal` output.

    Raises DecryptionFailed on a wrong key or associated data, on tampering, or on a malformed blob.
    """
    if len(sealed) < 1 + NONCE_BYTES + TAG_BYTES:
        raise DecryptionFailed(aad.object_id, "format: too short")
    if sealed[0] != FORMAT_V1:
        raise DecryptionFailed(aad.object_id, f"format: unknown version {sealed[0]}")
    nonce, body = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
    cipher = AES.new(data_key.key_bytes, AES.MODE_GCM, nonce=nonce, mac_len=TAG_BYTES)
    cipher.update(bytes([FORMAT_V1]) + aad.encode())
    try:
        return cipher.decrypt_and_verify(body[:-TAG_BYTES], body[-TAG_BYTES:])
    except ValueError:
        raise DecryptionFailed(aad.object_id, "authentication") from None


class ContributorKey(Base):
    """A contributor's wrapped data key. `wrapped_key` is NULL exactly when the key was destroyed."""

    __tablename__ = "contributor_keys"
    __table_args__ = (
        CheckConstraint("(wrapped_key IS NULL) = (destroyed_at IS NOT NULL)", name="destroyed_iff_no_key"),
    )

    contributor_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary(WRAPPED_KEY_BYTES))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    destroyed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    @property
    def destroyed(self) -> bool:
        return self.destroyed_at is not None

    def destroy(self, when: dt.datetime) -> None:
        """Crypto-shred: forget the wrapped key for good. Idempotent; the first time stamp is kept."""
        self.wrapped_key = None
        if self.destroyed_at is None:
            self.destroyed_at = when

    def __repr__(self) -> str:
        state = "destroyed" if self.destroyed else "live"
        return f"<ContributorKey {self.contributor_id} {state}>"


class KeyVault:
    """Per-contributor data keys: created on first use, unwrapped on demand, destroyed on erasure.

    Works inside the caller's transaction and only flushes; the caller commits. Unwrapped keys are cached for
    the life of this object (one request or one job); `destroy` drops the cached key at once.
    """

    def __init__(self, session: Session, master_key: MasterKey, clock: Clock | None = None) -> None:
        self._session = session
        self._master = master_key
        self._clock = clock or SystemClock()
        self._cache: dict[str, DataKey] = {}

    def key_for(self, contributor_id: str) -> DataKey:
        """The contributor's data key, created (and flushed) on first use.

        Raises KeyDestroyed once the key was destroyed (a destroyed key is never re-created), KeyUnwrapFailed
        if the stored key does not unwrap under this master key.
        """
        key = self._load(contributor_id, create=True)
        assert key is not None
        return key

    def destroy(self, contributor_id: str) -> None:
        """Crypto-shred the contributor's data key (flushed). Idempotent.

        A contributor who never had a key gets a tombstone row, so no key can be created for them later.
        """
        self._cache.pop(contributor_id, None)
        row = self._row(contributor_id) or self._insert(contributor_id, None)
        row.destroy(self._clock.now())
        self._session.flush()

    def is_destroyed(self, contributor_id: str) -> bool:
        row = self._row(contributor_id)
        return row is not None and row.destroyed

    def seal(self, contributor_id: str, object_id: str, version: int, plaintext: bytes) -> bytes:
        """Seal under the contributor's key (created if needed). Raises KeyDestroyed after erasure."""
        aad = AssociatedData(contributor_id, object_id, version)
        return seal(plaintext, self.key_for(contributor_id), aad)

    def open(self, contributor_id: str, object_id: str, version: int, sealed: bytes) -> bytes:
        """Open a blob sealed by `seal`. Raises KeyDestroyed after erasure, DecryptionFailed on any mismatch
        (including a contributor who never had a key)."""
        key = self._load(contributor_id, create=False)
        if key is None:
            raise DecryptionFailed(object_id, "authentication: contributor has no key")
        return open_sealed(sealed, key, AssociatedData(contributor_id, object_id, version))

    def _load(self, contributor_id: str, *, create: bool) -> DataKey | None:
        if contributor_id in self._cache:
            return self._cache[contributor_id]
        row = self._row(contributor_id)
        if row is None and not create:
            return None
        row = row or self._create(contributor_id)
        if row.wrapped_key is None:
            raise KeyDestroyed(contributor_id, row.destroyed_at)
        try:
            key = self._master.unwrap(row.wrapped_key)
        except KeyUnwrapFailed:
            raise KeyUnwrapFailed(contributor_id) from None
        self._cache[contributor_id] = key
        return key

    def _row(self, contributor_id: str) -> ContributorKey | None:
        stmt = select(ContributorKey).where(ContributorKey.contributor_id == contributor_id)
        return self._session.execute(stmt).scalar_one_or_none()

    def _create(self, contributor_id: str) -> ContributorKey:
        return self._insert(contributor_id, self._master.wrap(DataKey.generate()))

    def _insert(self, contributor_id: str, wrapped: bytes | None) -> ContributorKey:
        # INSERT ... ON CONFLICT DO NOTHING: two parallel first uploads of one contributor end with one key.
        now = self._clock.now()
        values = {
            "contributor_id": contributor_id,
            "wrapped_key": wrapped,
            "created_at": now,
            "destroyed_at": None if wrapped is not None else now,
        }
        insert_ignore(self._session, _KEY_TABLE, values, ["contributor_id"])
        row = self._row(contributor_id)
        assert row is not None, "the key row exists after insert-or-ignore"
        return row


_KEY_TABLE: Table = ContributorKey.__table__  # type: ignore[assignment]
