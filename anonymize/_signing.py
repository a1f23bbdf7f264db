"""Ed25519 signatures for release manifests and withdrawal lists (pycryptodome, RFC 8032 pure Ed25519).

A `Signer` is a boundary: datadam's real signer holds a key from configuration; tests use `Ed25519Signer`
with a generated key. Verifiers only ever hold public keys, as a mapping key id -> raw 32-byte public key (or a
PEM/DER public key), so a licensee can check a package offline.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from Crypto.PublicKey import ECC
from Crypto.Signature import eddsa

from anonymize.errors import SignatureError

ALGORITHM = "Ed25519"


class Signer(Protocol):
    """Anything that signs bytes with an Ed25519 key named `key_id`."""

    @property
    def key_id(self) -> str: ...

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of `message`."""
        ...


class Ed25519Signer:
    """An in-process Ed25519 signer (`key_id` names the key; publish `public_key()` under that id)."""

    def __init__(self, key_id: str, private_key: ECC.EccKey) -> None:
        if not private_key.has_private() or private_key.curve.lower() not in ("ed25519", "ed25519 "):
            raise ValueError("an Ed25519 private key is required")
        self._key_id = key_id
        self._key = private_key

    @classmethod
    def generate(cls, key_id: str) -> Ed25519Signer:
        return cls(key_id, ECC.generate(curve="ed25519"))

    @classmethod
    def from_seed(cls, key_id: str, seed: bytes) -> Ed25519Signer:
        """A signer from a 32-byte RFC 8032 private key seed."""
        return cls(key_id, eddsa.import_private_key(seed))

    def __repr__(self) -> str:
        return f"Ed25519Signer(key_id={self._key_id!r})"

    @property
    def key_id(self) -> str:
        return self._key_id

    def public_key(self) -> bytes:
        """The raw 32-byte public key."""
        return bytes(self._key.public_key().export_key(format="raw"))

    def sign(self, message: bytes) -> bytes:
        return bytes(eddsa.new(self._key, "rfc8032").sign(message))


def verify_signature(public_keys: Mapping[str, bytes | str], key_id: str, message: bytes, signature: bytes) -> None:
    """Check `signature` over `message` by the key `key_id`. Raises `SignatureError` if the key is unknown,
    unreadable, or the signature does not verify."""
    if key_id not in public_keys:
        raise SignatureError(key_id, "not among the trusted public keys", code="unknown_key")
    key = _public_key(key_id, public_keys[key_id])
    try:
        eddsa.new(key, "rfc8032").verify(message, signature)
    except ValueError as exc:
        raise SignatureError(key_id, "signature does not verify", code="bad_signature") from exc


def _public_key(key_id: str, encoded: bytes | str) -> ECC.EccKey:
    try:
        if isinstance(encoded, bytes) and len(encoded) == 32:
            return eddsa.import_public_key(encoded)
        return ECC.import_key(encoded)
    except (ValueError, IndexError, TypeError) as exc:
        raise SignatureError(key_id, "public key is unreadable", code="unreadable_key") from exc
