"""Release pseudonyms: keyed HMAC-SHA256 of internal ids, with one secret key per release.

Why keyed and per release: an unsalted hash of an internal id (Common Voice's SHA-512 of client ids) can be
recomputed by anyone who can guess or enumerate ids, and it is the same in every release, so two licensees can
join their copies. An HMAC under a random 32-byte key kept by datadam cannot be recomputed without the key, and a
new key per release makes the same contributor look unrelated across releases. Item ids get the same treatment
(database ids of submissions would otherwise link releases), in a separate domain so a subject id never equals
an item id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

MIN_KEY_BYTES = 32
_ID_BYTES = 16  # 128 bits: collisions are negligible at any campaign size


def new_release_key() -> bytes:
    """A fresh random 32-byte release key (keep it secret; store it encrypted beside the release record)."""
    return secrets.token_bytes(MIN_KEY_BYTES)


class Pseudonymizer:
    """Maps internal ids to release pseudonyms under one release key.

    >>> p = Pseudonymizer(bytes(32))
    >>> p.subject_id("contributor-1") == p.subject_id("contributor-1")
    True
    """

    def __init__(self, release_key: bytes) -> None:
        if not isinstance(release_key, bytes) or len(release_key) < MIN_KEY_BYTES:
            raise ValueError(f"release_key must be at least {MIN_KEY_BYTES} random bytes")
        self._key = release_key

    def __repr__(self) -> str:
        return "Pseudonymizer(<key hidden>)"

    def subject_id(self, internal_id: str) -> str:
        """The contributor's pseudonym in this release, e.g. `s-3q2x...` (26 base32 characters)."""
        return "s-" + self._mac("subject", internal_id)

    def item_id(self, internal_id: str) -> str:
        """The pseudonym of one photo or recording in this release, e.g. `i-...`."""
        return "i-" + self._mac("item", internal_id)

    def receipt_ref(self, receipt_id: str) -> str:
        """A release-scoped reference to a consent receipt: datadam can map it back (it holds the key), a
        licensee cannot, and it differs between releases like every other id here."""
        return "r-" + self._mac("receipt", receipt_id)

    def _mac(self, domain: str, internal_id: str) -> str:
        if not internal_id:
            raise ValueError("internal_id must not be empty")
        message = domain.encode() + b"\x00" + internal_id.encode("utf-8")
        digest = hmac.new(self._key, message, hashlib.sha256).digest()[:_ID_BYTES]
        return base64.b32encode(digest).decode("ascii").rstrip("=").lower()
