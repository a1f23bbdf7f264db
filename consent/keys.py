"""Ed25519 signing keys of an installation: generation, sealed storage, rotation, published key document.

Threat model and policy:

* Each installation generates its own keys (`KeyRing.generate` / `KeyRing.rotate`); nothing is shipped.
* A private key never rests in clear: it is sealed with AES-256-GCM under a 32-byte master key held outside
  the database (random 12-byte nonce; associated data binding the key id and purpose, so a sealed key cannot
  be swapped onto another key's row). The sealed blob is ``0x01 || nonce(12) || tag(16) || ciphertext(32)``
  over the RFC 8032 32-byte private key (seed). After unsealing, the public key is re-derived and compared.
* A key id (``kid``) is derived from the public key: lower-case unpadded base32 of the first 15 bytes of
  SHA-256(raw public key), 24 characters. Verifiers recompute it, so a kid cannot point at the wrong key.
* Validity: a key may sign for times ``valid_from <= t < valid_until`` (``valid_until`` None = current).
  Times are whole seconds, like receipt timestamps. Rotation at time ``now`` retires the current key at the
  end of the current second and starts the new key at the start of it: in that one-second overlap either key
  verifies, so no receipt signed just before the rotation is orphaned.
  A retired key stays published for ever: receipts it signed during its validity stay verifiable. To respond
  to a compromise, set the key's ``valid_until`` back to the compromise time; later receipts then fail.
* Time comes only from the injected `consent.clock.Clock`; nothing here reads the system time.

The public key document (served at ``/.well-known/datadam/consent-keys.json``) is a JWK Set (RFC 7517) of
Ed25519 OKP JWKs (RFC 8037; ``alg`` "Ed25519" as in RFC 9864): the public key is the raw 32 bytes in unpadded
base64url (``x``); extra members ``purpose``, ``validFrom`` and ``validUntil`` (RFC 3339 UTC, or null)::

    {"schema": "datadam/consent-keys/1",
     "keys": [{"kty": "OKP", "crv": "Ed25519", "alg": "Ed25519", "use": "sig", "kid": "...", "x": "...",
               "purpose": "consent", "validFrom": "2025-01-01T00:00:00Z", "validUntil": null}]}
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from Crypto.Cipher import AES
from Crypto.PublicKey import ECC
from Crypto.Random import get_random_bytes
from Crypto.Signature import eddsa

from consent.canonical import b64url_decode, b64url_encode, format_timestamp, loads_strict, parse_timestamp
from consent.clock import Clock
from consent.errors import (
    JSONError,
    KeyDecryptionError,
    KeyDocumentError,
    KeyNotValidError,
    KeyRingError,
    NoActiveKeyError,
    UnknownKeyError,
)

ALGORITHM = "Ed25519"
KEY_DOCUMENT_SCHEMA = "datadam/consent-keys/1"
MASTER_KEY_BYTES = 32
PURPOSE_CONSENT = "consent"
PURPOSE_AUDIT = "audit"
PURPOSE_RELEASE = "release"

_SEAL_VERSION = b"\x01"
_SEAL_LENGTH = 1 + 12 + 16 + 32
_PURPOSE = re.compile(r"[a-z][a-z0-9_-]{0,31}")
_ONE_SECOND = dt.timedelta(seconds=1)


def key_id(public_key: bytes) -> str:
    """The key id of a raw 32-byte Ed25519 public key (24 lower-case base32 characters)."""
    return base64.b32encode(hashlib.sha256(public_key).digest()[:15]).decode("ascii").lower()


def generate_master_key() -> bytes:
    """A fresh random 32-byte master key, for an installation's first start or for tests."""
    return get_random_bytes(MASTER_KEY_BYTES)


@dataclass(frozen=True)
class PublicKey:
    """The public half of a signing key with its validity period; all a verifier needs."""

    kid: str
    purpose: str
    public_key: bytes
    valid_from: dt.datetime
    valid_until: dt.datetime | None = None

    def covers(self, moment: dt.datetime) -> bool:
        """True when the key may sign for `moment` (``valid_from <= moment < valid_until``)."""
        return self.valid_from <= moment and (self.valid_until is None or moment < self.valid_until)

    def verify(self, message: bytes, signature: bytes) -> bool:
        """True when `signature` is this key's RFC 8032 Ed25519 signature of `message`."""
        verifier = eddsa.new(eddsa.import_public_key(self.public_key), "rfc8032")
        try:
            verifier.verify(message, signature)
        except ValueError:
            return False
        return True

    def to_jwk(self) -> dict[str, Any]:
        """This key as a member of the public key document (see the module docstring)."""
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "alg": ALGORITHM,
            "use": "sig",
            "kid": self.kid,
            "x": b64url_encode(self.public_key),
            "purpose": self.purpose,
            "validFrom": format_timestamp(self.valid_from),
            "validUntil": None if self.valid_until is None else format_timestamp(self.valid_until),
        }


@dataclass(frozen=True)
class SigningKey:
    """A stored signing key: its public half plus the sealed (encrypted) private key."""

    public: PublicKey
    sealed_private_key: bytes

    @property
    def kid(self) -> str:
        return self.public.kid

    @property
    def purpose(self) -> str:
        return self.public.purpose

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict for storage; `from_dict` reads it back."""
        return self.public.to_jwk() | {"sealedPrivateKey": b64url_encode(self.sealed_private_key)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SigningKey:
        """Read a dict written by `to_dict`. Raises KeyDocumentError naming the problem."""
        try:
            sealed = b64url_decode(data["sealedPrivateKey"])
        except (KeyError, TypeError, ValueError):
            problem = "sealedPrivateKey is missing or not base64url"
            raise KeyDocumentError(problem, "$.sealedPrivateKey") from None
        public_part = {k: v for k, v in data.items() if k != "sealedPrivateKey"}
        return cls(public=_parse_jwk(public_part, "$"), sealed_private_key=sealed)


@dataclass(frozen=True)
class Rotation:
    """What `KeyRing.rotate` changed: the key it retired (None if there was none) and the key it created."""

    retired: SigningKey | None
    created: SigningKey


@dataclass(frozen=True)
class PublicKeyDocument:
    """A parsed public key document: the keys a verifier trusts, with their validity periods."""

    keys: tuple[PublicKey, ...]

    def find(self, kid: str) -> PublicKey | None:
        """The key with id `kid`, or None."""
        return next((key for key in self.keys if key.kid == kid), None)

    def to_dict(self) -> dict[str, Any]:
        """The document as served; keys ordered by validity start, then key id."""
        ordered = sorted(self.keys, key=lambda key: (key.valid_from, key.kid))
        return {"schema": KEY_DOCUMENT_SCHEMA, "keys": [key.to_jwk() for key in ordered]}


class KeyRing:
    """The signing keys of an installation, unsealed on demand with the master key.

    The ring is an in-memory view over stored `SigningKey` values: build it from the stored rows, call
    `generate`/`rotate`, and persist what they return (`Rotation.retired` replaces its row, `created` is new).
    """

    def __init__(self, master_key: bytes, clock: Clock, keys: Iterable[SigningKey] = ()) -> None:
        """Raises KeyRingError for a master key that is not 32 bytes, duplicate key ids, or two open keys
        of one purpose."""
        if not isinstance(master_key, bytes) or len(master_key) != MASTER_KEY_BYTES:
            raise KeyRingError(f"the master key must be {MASTER_KEY_BYTES} bytes")
        self._master_key = master_key
        self._clock = clock
        self._keys: list[SigningKey] = []
        for key in keys:
            self._add(key)

    def __repr__(self) -> str:
        return f"KeyRing(kids={[key.kid for key in self._keys]!r})"

    @property
    def keys(self) -> tuple[SigningKey, ...]:
        """Every key, current and retired, in the order added."""
        return tuple(self._keys)

    @property
    def clock(self) -> Clock:
        return self._clock

    def now(self) -> dt.datetime:
        """The clock's time, truncated to whole seconds (the resolution of validity periods and receipts)."""
        return _aware(self._clock.now(), "clock time").astimezone(dt.UTC).replace(microsecond=0)

    def get(self, kid: str) -> SigningKey:
        """The key with id `kid`. Raises UnknownKeyError."""
        for key in self._keys:
            if key.kid == kid:
                return key
        raise UnknownKeyError(kid)

    def current(self, purpose: str = PURPOSE_CONSENT) -> SigningKey:
        """The key of `purpose` that signs now (the newest one covering now). Raises NoActiveKeyError."""
        now = self.now()
        candidates = [key for key in self._keys if key.purpose == purpose and key.public.covers(now)]
        if not candidates:
            raise NoActiveKeyError(purpose)
        return max(candidates, key=lambda key: (key.public.valid_from, key.public.valid_until is None))

    def generate(self, purpose: str = PURPOSE_CONSENT) -> SigningKey:
        """Create the first key of `purpose`, valid from now. Raises KeyRingError if one is already open
        (use `rotate`) or the purpose label is invalid."""
        _check_purpose(purpose)
        if self._open_key(purpose) is not None:
            raise KeyRingError(f"a current key for {purpose!r} exists: rotate it instead")
        return self._add(self._new_key(purpose, self.now()))

    def rotate(self, purpose: str = PURPOSE_CONSENT) -> Rotation:
        """Retire the open key of `purpose` (if any) and create its successor; see the module docstring for
        the one-second overlap. Raises KeyRingError if the clock is earlier than the open key's start."""
        _check_purpose(purpose)
        now, open_key = self.now(), self._open_key(purpose)
        retired = None
        if open_key is not None:
            if now < open_key.public.valid_from:
                raise KeyRingError(f"clock {now.isoformat()} is before the start of key {open_key.kid}")
            retired = dataclasses.replace(
                open_key, public=dataclasses.replace(open_key.public, valid_until=now + _ONE_SECOND)
            )
            self._keys[self._keys.index(open_key)] = retired
        return Rotation(retired=retired, created=self._add(self._new_key(purpose, now)))

    def sign(self, message: bytes, *, kid: str, at: dt.datetime) -> bytes:
        """Sign `message` with key `kid` for the moment `at` (the time the signed content claims).

        Raises UnknownKeyError, KeyNotValidError (key does not cover `at`), KeyDecryptionError.
        """
        key = self.get(kid)
        if not key.public.covers(_aware(at, "at")):
            raise KeyNotValidError(kid, f"{format_timestamp(at)} is outside its validity period")
        signer = eddsa.new(eddsa.import_private_key(self._unseal(key)), "rfc8032")
        return signer.sign(message)

    def public_keys(self, purposes: Collection[str] | None = None) -> PublicKeyDocument:
        """The public halves of the keys of `purposes` (all purposes when None)."""
        chosen = [key.public for key in self._keys if purposes is None or key.purpose in purposes]
        return PublicKeyDocument(keys=tuple(chosen))

    def _open_key(self, purpose: str) -> SigningKey | None:
        return next((k for k in self._keys if k.purpose == purpose and k.public.valid_until is None), None)

    def _add(self, key: SigningKey) -> SigningKey:
        if any(existing.kid == key.kid for existing in self._keys):
            raise KeyRingError(f"duplicate key id {key.kid}")
        if key.public.valid_until is None and self._open_key(key.purpose) is not None:
            raise KeyRingError(f"two current keys for purpose {key.purpose!r}")
        self._keys.append(key)
        return key

    def _new_key(self, purpose: str, valid_from: dt.datetime) -> SigningKey:
        private = ECC.generate(curve="ed25519")
        raw_public = private.public_key().export_key(format="raw")
        kid = key_id(raw_public)
        public = PublicKey(kid=kid, purpose=purpose, public_key=raw_public, valid_from=valid_from)
        return SigningKey(public=public, sealed_private_key=self._seal(private.seed, kid, purpose))

    def _seal(self, seed: bytes, kid: str, purpose: str) -> bytes:
        nonce = get_random_bytes(12)
        cipher = AES.new(self._master_key, AES.MODE_GCM, nonce=nonce)
        cipher.update(_associated_data(kid, purpose))
        ciphertext, tag = cipher.encrypt_and_digest(seed)
        return _SEAL_VERSION + nonce + tag + ciphertext

    def _unseal(self, key: SigningKey) -> bytes:
        blob = key.sealed_private_key
        if len(blob) != _SEAL_LENGTH or blob[:1] != _SEAL_VERSION:
            raise KeyDecryptionError(key.kid)
        cipher = AES.new(self._master_key, AES.MODE_GCM, nonce=blob[1:13])
        cipher.update(_associated_data(key.kid, key.purpose))
        try:
            seed = cipher.decrypt_and_verify(blob[29:], blob[13:29])
        except ValueError:
            raise KeyDecryptionError(key.kid) from None
        if eddsa.import_private_key(seed).public_key().export_key(format="raw") != key.public.public_key:
            raise KeyDecryptionError(key.kid)
        return seed


def public_key_document(source: KeyRing | Iterable[SigningKey | PublicKey]) -> dict[str, Any]:
    """The JSON-ready public key document for ``/.well-known/datadam/consent-keys.json``.

    Publishes every key given (retired ones included: old receipts need them). Pass
    ``ring.public_keys({"consent"})`` to publish one purpose only.
    """
    if isinstance(source, KeyRing):
        return source.public_keys().to_dict()
    keys = tuple(item.public if isinstance(item, SigningKey) else item for item in source)
    return PublicKeyDocument(keys=keys).to_dict()


def parse_public_key_document(document: Mapping[str, Any] | bytes | str) -> PublicKeyDocument:
    """Read a public key document (dict, or its JSON bytes/text), checking every key strictly.

    Each key's ``kid`` must equal the id derived from its ``x``; unknown extra members are ignored, as JWK
    allows. Raises KeyDocumentError naming the path of the first problem.
    """
    if isinstance(document, bytes | str):
        try:
            document = loads_strict(document)
        except JSONError as exc:
            raise KeyDocumentError(f"not strict JSON: {exc.reason}", exc.path) from None
    if not isinstance(document, Mapping):
        raise KeyDocumentError("the document must be a JSON object")
    if document.get("schema") != KEY_DOCUMENT_SCHEMA:
        raise KeyDocumentError(f"schema must be {KEY_DOCUMENT_SCHEMA!r}", "$.schema")
    entries = document.get("keys")
    if not isinstance(entries, list):
        raise KeyDocumentError("keys must be a list", "$.keys")
    keys = tuple(_parse_jwk(entry, f"$.keys[{i}]") for i, entry in enumerate(entries))
    kids = [key.kid for key in keys]
    if len(set(kids)) != len(kids):
        raise KeyDocumentError("a key id appears twice", "$.keys")
    return PublicKeyDocument(keys=keys)


_JWK_CONSTANTS = {"kty": "OKP", "crv": "Ed25519", "alg": ALGORITHM, "use": "sig"}


def _parse_jwk(entry: Any, path: str) -> PublicKey:
    if not isinstance(entry, Mapping):
        raise KeyDocumentError("a key must be a JSON object", path)
    for member, expected in _JWK_CONSTANTS.items():
        if entry.get(member) != expected:
            raise KeyDocumentError(f"{member} must be {expected!r}", f"{path}.{member}")
    raw = _jwk_public_bytes(entry.get("x"), f"{path}.x")
    kid = entry.get("kid")
    if not isinstance(kid, str) or kid != key_id(raw):
        raise KeyDocumentError("kid does not match the key (it must be derived from x)", f"{path}.kid")
    purpose = entry.get("purpose")
    if not isinstance(purpose, str) or not _PURPOSE.fullmatch(purpose):
        raise KeyDocumentError("purpose must be a lower-case label", f"{path}.purpose")
    valid_from = _jwk_time(entry.get("validFrom"), f"{path}.validFrom")
    if "validUntil" not in entry:
        raise KeyDocumentError("validUntil is required (null for a current key)", f"{path}.validUntil")
    until = entry["validUntil"]
    valid_until = None if until is None else _jwk_time(until, f"{path}.validUntil")
    if valid_until is not None and valid_until <= valid_from:
        raise KeyDocumentError("validUntil must be after validFrom", f"{path}.validUntil")
    return PublicKey(kid=kid, purpose=purpose, public_key=raw, valid_from=valid_from, valid_until=valid_until)


def _jwk_public_bytes(value: Any, path: str) -> bytes:
    try:
        raw = b64url_decode(value) if isinstance(value, str) else b""
        if len(raw) != 32:
            raise ValueError("not 32 bytes")
        eddsa.import_public_key(raw)  # refuses bytes that are not a point on the curve
    except ValueError:
        raise KeyDocumentError("x must be a 32-byte Ed25519 public key in unpadded base64url", path) from None
    return raw


def _jwk_time(value: Any, path: str) -> dt.datetime:
    try:
        return parse_timestamp(value)
    except ValueError:
        raise KeyDocumentError("must be a UTC timestamp YYYY-MM-DDTHH:MM:SSZ", path) from None


def _associated_data(kid: str, purpose: str) -> bytes:
    return b"datadam/signing-key/v1\x00" + kid.encode("ascii") + b"\x00" + purpose.encode("ascii")


def _check_purpose(purpose: str) -> None:
    if not isinstance(purpose, str) or not _PURPOSE.fullmatch(purpose):
        raise KeyRingError(f"invalid purpose label {purpose!r}: lower-case letters, digits, '-' and '_'")


def _aware(moment: dt.datetime, what: str) -> dt.datetime:
    if not isinstance(moment, dt.datetime) or moment.tzinfo is None:
        raise KeyRingError(f"{what} must be an aware datetime")
    return moment
