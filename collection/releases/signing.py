"""Keys of the release workflow: the installation's Ed25519 key of purpose "release" (manifests and withdrawal
lists; rotated and published like every consent key), and each release's own pseudonymization key.

A release key never rests in clear: it is sealed with AES-256-GCM under a key derived from the master key for
this one use (HMAC-SHA256(master, label)), with the release id as associated data, so a sealed key cannot be
moved onto another release's row. Anyone holding it could link the release's pseudonyms to people, so it is
unsealed only inside datadam (e.g. to map a licensee's receipt reference back to its consent receipt).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

from collection.crypto import AssociatedData, DataKey, open_sealed, seal
from consent.keys import PURPOSE_RELEASE
from consent.service import KeyStore

_SEAL_LABEL = b"datadam/release-key-seal/v1"
_AAD_OWNER = "release-key"


class RingSigner:
    """anonymize.Signer over the installation's current release key (for the moment `at`)."""

    def __init__(self, keys: KeyStore, at: dt.datetime) -> None:
        self._ring = keys.ensure(PURPOSE_RELEASE)
        self._kid = self._ring.current(PURPOSE_RELEASE).kid
        self._at = at

    def __repr__(self) -> str:
        return f"RingSigner(key_id={self._kid!r})"

    @property
    def key_id(self) -> str:
        return self._kid

    def sign(self, message: bytes) -> bytes:
        return self._ring.sign(message, kid=self._kid, at=self._at)


def release_signer(keys: KeyStore, at: dt.datetime) -> RingSigner:
    """Raises consent's key errors when the key cannot be unsealed."""
    return RingSigner(keys, at)


def release_public_keys(keys: KeyStore) -> dict[str, bytes]:
    """Every release key ever used (current and retired), key id -> raw Ed25519 public key."""
    return {key.kid: key.public_key for key in keys.public_document((PURPOSE_RELEASE,)).keys}


def seal_release_key(master_key: bytes, release_id: str, release_key: bytes) -> bytes:
    return seal(release_key, _sealing_key(master_key), AssociatedData(_AAD_OWNER, release_id, 1))


def open_release_key(master_key: bytes, release_id: str, sealed: bytes) -> bytes:
    """Raises DecryptionFailed when `sealed` belongs to another release or was altered."""
    return open_sealed(sealed, _sealing_key(master_key), AssociatedData(_AAD_OWNER, release_id, 1))


def _sealing_key(master_key: bytes) -> DataKey:
    return DataKey(hmac.new(master_key, _SEAL_LABEL, hashlib.sha256).digest())
