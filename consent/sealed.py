"""Field-level encryption of personal data in database columns, and keyed blind indexes for looking it up.

Blobs are sealed per contributor by `collection.crypto`; this module seals the personal data that sits in
ordinary columns (typed signature names, account email, name and birth date, photo capture times and notes, and
the free text people write about a contributor: review comments, appeals and their answers, rights requests and
their resolution notes), so a database dump or backup shows none of it. It lives in `consent`, the lowest
persistent layer, so both `consent` and `collection` models can use the column types.

Keys: every key here is derived (HKDF-SHA256) from the installation's 32-byte master key, which comes from
configuration and never from the database. The field key never sits in a module global: it is attached to the
SQLAlchemy engine when the engine is built (`install_field_cipher`), and the column types read it from the
engine's dialect. An engine without a field cipher fails closed: it refuses to write or read any sealed value
(NULL passes, it holds nothing).

Sealed format, version 1:  version (1 byte) | nonce (12 random bytes) | ciphertext | GCM tag (16 bytes),
AES-256-GCM, associated data = domain label, version byte and the column's "table.column" name, so a value
copied into another column fails to open. The version byte names the key: rotating the master key means a new
version whose key seals, while the old version's key keeps opening until the rows are re-sealed.
Limit: the associated data does not bind the row, so a database writer could move a sealed value between rows
of the same column; reading it still needs the master key. Erasure of these fields is done by setting them to
NULL (see the models' `erase_*` methods), not by destroying a key.

Columns sealed this way cannot be compared in SQL (each write uses a fresh nonce): look values up through a
`BlindIndex` column (HMAC-SHA256 under its own derived key) instead. The column types refuse SQL comparisons
other than IS [NOT] NULL, so a forgotten `column == value` fails loudly instead of matching nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any, TypeVar

from Crypto.Cipher import AES
from Crypto.Hash import SHA256
from Crypto.Protocol.KDF import HKDF
from Crypto.Random import get_random_bytes
from sqlalchemy import Engine, LargeBinary, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import operators

from consent.errors import FieldDecryptionError, FieldKeyMissingError

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
FIELD_VERSION = 1
_AAD_DOMAIN = b"datadam/sealed-field\x00"
_HKDF_SALT = b"datadam/master-key-derivation/v1"
_DIALECT_ATTRIBUTE = "datadam_field_cipher"

T = TypeVar("T")


def derive_key(master_key: bytes, purpose: str) -> bytes:
    """A 32-byte key for one `purpose`, derived from the master key (HKDF-SHA256); purposes never share a key.

    Raises ValueError unless `master_key` is 32 bytes."""
    if not isinstance(master_key, bytes) or len(master_key) != KEY_BYTES:
        raise ValueError("the master key must be 32 bytes")
    key = HKDF(master_key, KEY_BYTES, _HKDF_SALT, SHA256, context=purpose.encode("utf-8"))
    assert isinstance(key, bytes)
    return key


class FieldCipher:
    """Seals and opens column values. Holds one key per format version; seals under the newest."""

    __slots__ = ("_keys", "version")

    def __init__(self, keys: Mapping[int, bytes]) -> None:
        """Raises ValueError for no keys, a version outside 1..255, or a key that is not 32 bytes."""
        if not keys or any(not 0 < v < 256 or len(k) != KEY_BYTES for v, k in keys.items()):
            raise ValueError("field keys: versions 1..255, each key 32 bytes")
        self._keys = dict(keys)
        self.version = max(keys)

    @classmethod
    def from_master_key(cls, master_key: bytes) -> FieldCipher:
        return cls({FIELD_VERSION: derive_key(master_key, f"sealed-field/v{FIELD_VERSION}")})

    def seal(self, plaintext: bytes, field: str) -> bytes:
        """Encrypt and authenticate `plaintext` for the column `field` ("table.column")."""
        nonce = get_random_bytes(NONCE_BYTES)
        cipher = AES.new(self._keys[self.version], AES.MODE_GCM, nonce=nonce, mac_len=TAG_BYTES)
        cipher.update(_aad(self.version, field))
        ciphertext, tag = cipher.encrypt_and_digest(plaintext)
        return bytes([self.version]) + nonce + ciphertext + tag

    def open(self, sealed: bytes, field: str) -> bytes:
        """Decrypt a `seal` output. Raises FieldDecryptionError on a wrong key or column, tampering, an unknown
        key version or a malformed value."""
        if len(sealed) < 1 + NONCE_BYTES + TAG_BYTES:
            raise FieldDecryptionError(field, "too short")
        key = self._keys.get(sealed[0])
        if key is None:
            raise FieldDecryptionError(field, f"unknown key version {sealed[0]}")
        nonce, body = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
        cipher = AES.new(key, AES.MODE_GCM, nonce=nonce, mac_len=TAG_BYTES)
        cipher.update(_aad(sealed[0], field))
        try:
            return cipher.decrypt_and_verify(body[:-TAG_BYTES], body[-TAG_BYTES:])
        except ValueError:
            raise FieldDecryptionError(field, "authentication") from None

    def __repr__(self) -> str:
        return f"<FieldCipher v{self.version} ***>"


def _aad(version: int, field: str) -> bytes:
    return _AAD_DOMAIN + bytes([version]) + field.encode("utf-8")


class BlindIndex:
    """A keyed, deterministic digest of a value, for equality lookups and unique constraints on sealed data.

    Without the master key the digests cannot be recomputed, so a dump does not let anyone test guesses."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError("a blind index key must be 32 bytes")
        self._key = key

    @classmethod
    def from_master_key(cls, master_key: bytes, purpose: str) -> BlindIndex:
        return cls(derive_key(master_key, f"blind-index/{purpose}"))

    def digest(self, value: str) -> str:
        """64 lower-case hex characters. Callers normalise `value` first (e.g. lower-case an email)."""
        return hmac.new(self._key, value.encode("utf-8"), hashlib.sha256).hexdigest()

    def __repr__(self) -> str:
        return "<BlindIndex ***>"


def install_field_cipher(engine: Engine, cipher: FieldCipher) -> None:
    """Give `engine` (and every connection and session on it) the key for sealed columns. Call once, where
    the engine is built; the dialect is the engine's own object, so other engines are not affected."""
    setattr(engine.dialect, _DIALECT_ATTRIBUTE, cipher)


def field_cipher(dialect: Dialect) -> FieldCipher:
    """The cipher installed on the engine of `dialect`. Raises FieldKeyMissingError when there is none."""
    cipher = getattr(dialect, _DIALECT_ATTRIBUTE, None)
    if not isinstance(cipher, FieldCipher):
        raise FieldKeyMissingError()
    return cipher


class _SealedComparator(TypeDecorator.Comparator[Any]):
    """Only IS [NOT] NULL makes sense on ciphertext with random nonces."""

    def operate(self, op: Any, *other: Any, **kwargs: Any) -> Any:
        if op in (operators.is_, operators.is_not) or (op in (operators.eq, operators.ne) and other == (None,)):
            return super().operate(op, *other, **kwargs)
        raise TypeError("a sealed column cannot be compared or sorted in SQL: use its blind index")

    def reverse_operate(self, op: Any, other: Any, **kwargs: Any) -> Any:
        raise TypeError("a sealed column cannot be compared or sorted in SQL: use its blind index")


class _Sealed(TypeDecorator[T]):
    """Base of the sealed column types: ciphertext bytes in the database, plain values in Python."""

    impl = LargeBinary
    cache_ok = True
    comparator_factory = _SealedComparator

    def __init__(self, field: str) -> None:
        """`field` is the column's "table.column" name, bound into every ciphertext."""
        super().__init__()
        self.field = field

    def process_bind_param(self, value: T | None, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        return field_cipher(dialect).seal(self._encode(value), self.field)

    def process_result_value(self, value: Any, dialect: Dialect) -> T | None:
        if value is None:
            return None
        return self._decode(field_cipher(dialect).open(bytes(value), self.field))

    def _encode(self, value: T) -> bytes:
        raise NotImplementedError

    def _decode(self, raw: bytes) -> T:
        raise NotImplementedError


class SealedText(_Sealed[str]):
    cache_ok = True

    def _encode(self, value: str) -> bytes:
        if not isinstance(value, str):
            raise TypeError(f"{self.field} holds text")
        return value.encode("utf-8")

    def _decode(self, raw: bytes) -> str:
        return raw.decode("utf-8")


class SealedDate(_Sealed[dt.date]):
    cache_ok = True

    def _encode(self, value: dt.date) -> bytes:
        if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
            raise TypeError(f"{self.field} holds a date")
        return value.isoformat().encode("ascii")

    def _decode(self, raw: bytes) -> dt.date:
        return dt.date.fromisoformat(raw.decode("ascii"))


class SealedUTCDateTime(_Sealed[dt.datetime]):
    """An aware datetime, stored as UTC (like `consent.db.UTCDateTime`); naive datetimes are refused."""

    cache_ok = True

    def _encode(self, value: dt.datetime) -> bytes:
        if not isinstance(value, dt.datetime) or value.tzinfo is None:
            raise ValueError(f"{self.field}: pass an aware UTC datetime")
        return value.astimezone(dt.UTC).isoformat().encode("ascii")

    def _decode(self, raw: bytes) -> dt.datetime:
        return dt.datetime.fromisoformat(raw.decode("ascii")).astimezone(dt.UTC)
