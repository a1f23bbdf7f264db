"""Release packages kept in the blob store, so that a package one worker built can be verified, approved, handed
out and erased from any host (at scale the hosts share the database and the bucket, not a disk).

A package holds faces, so it never rests in the bucket in clear. Each package gets its own random data key,
kept only on the release row and only wrapped by the master key (as contributors' keys are: `collection.crypto`);
a contributor's key cannot serve, since one package holds many contributors. The package is stored as parts of
at most `PART_SIZE` bytes, each sealed with AES-256-GCM and bound to its own blob key (release id, upload token,
part number), and the first plaintext byte of each part says whether it is the last: parts cannot be reordered,
dropped, cut short or moved to another release or upload without failing to open. Erasure deletes the parts
and forgets the wrapped key, so a copy left in a bucket backup or an old object version opens no more.

Every build attempt uploads under a fresh prefix (`releases/<release id>/<token>/`): two workers racing to
build one release never write the same keys, and the one that loses removes its own parts. Parts of an attempt
that was never recorded (a crash, a rollback, a delete that failed) are removed by the daily orphan sweep
(`collection.orphans`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from collection.crypto import AssociatedData, DataKey, MasterKey, open_sealed, seal
from collection.errors import StorageError
from collection.releases.models import Release
from collection.storage import BlobStore, delete_prefix, validate_key

logger = logging.getLogger(__name__)

PREFIX = "releases/"
PART_SIZE = 8 * 1024 * 1024  # bounds the memory a part needs (sealed and opened whole) and S3's request size
_AAD_OWNER = "release-package"
_MORE, _LAST = b"\x00", b"\x01"


@dataclass(frozen=True)
class StoredPackage:
    """Where a package's sealed parts are (`prefix`, ending with '/') and its data key, wrapped by the master key."""

    prefix: str
    wrapped_key: bytes = field(repr=False)


def package_prefix(release_id: str, token: str) -> str:
    return validate_key(f"{PREFIX}{release_id}/{token}") + "/"


class PackageStore:
    """Upload, fetch and delete sealed copies of release packages in `blobs`. Raises what the blob store and the
    crypto raise (StorageError, CryptoError), so a caller can tell a missing or unreachable copy from one that
    does not open."""

    def __init__(self, blobs: BlobStore, master: MasterKey, part_size: int = PART_SIZE) -> None:
        self._blobs = blobs
        self._master = master
        self._part_size = part_size

    def __repr__(self) -> str:
        return "PackageStore(<keys hidden>)"

    def upload(self, release_id: str, package: Path) -> StoredPackage:
        """Seal and store the package file `package` under a fresh prefix of `release_id`. Parts already written
        are removed when a later one fails. Raises StorageError, OSError."""
        key = DataKey.generate()
        prefix = package_prefix(release_id, secrets.token_hex(8))
        try:
            with package.open("rb") as handle:
                for index, (chunk, last) in enumerate(_chunks(handle, self._part_size)):
                    blob = _part_key(prefix, index)
                    self._blobs.put(blob, seal((_LAST if last else _MORE) + chunk, key, _aad(blob)))
        except BaseException:
            # The original error is what the caller needs; parts this cleanup cannot delete now are left to the
            # orphan sweep (no release records them).
            with contextlib.suppress(StorageError):
                delete_prefix(self._blobs, prefix)
            raise
        return StoredPackage(prefix, self._master.wrap(key))

    def fetch(self, stored: StoredPackage, target: Path) -> None:
        """Write the stored package to the new file `target` (0600), part by part; a partial file is removed on
        failure. Raises BlobNotFound (a part is missing), DecryptionFailed (a part was altered, swapped or
        cut short), KeyUnwrapFailed, StorageBackendError, OSError."""
        key = self._master.unwrap(stored.wrapped_key)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                for part in self._parts(stored.prefix, key):
                    out.write(part)
        except BaseException:
            target.unlink(missing_ok=True)
            raise

    def delete(self, prefix: str) -> int:
        """Delete every part under `prefix`; returns how many (0 when they are gone already: erasure repeats)."""
        return delete_prefix(self._blobs, prefix)

    def _parts(self, prefix: str, key: DataKey) -> Iterator[bytes]:
        index = 0
        while True:
            blob = _part_key(prefix, index)
            plain = open_sealed(self._blobs.get(blob), key, _aad(blob))
            yield plain[1:]
            if plain[:1] == _LAST:
                return
            index += 1


def package_references(session: Session) -> set[str]:
    """The upload prefixes of every stored package a release records."""
    return set(session.scalars(select(Release.package_blob).where(Release.package_blob.is_not(None))))


def referenced_packages(session: Session, prefixes: Collection[str]) -> set[str]:
    """Those of the upload `prefixes` a release records now (one IN query per 500), for the sweep's re-check."""
    found: set[str] = set()
    ordered = sorted(prefixes)
    for start in range(0, len(ordered), 500):
        chunk = ordered[start:start + 500]
        found.update(p for p in session.scalars(select(Release.package_blob).where(Release.package_blob.in_(chunk)))
                     if p)
    return found


def upload_prefix(key: str) -> str:
    """The upload prefix (`releases/<release id>/<token>/`) a part's blob key belongs to."""
    return "/".join(key.split("/")[:3]) + "/"


def _part_key(prefix: str, index: int) -> str:
    return validate_key(f"{prefix}{index:06d}")


def _aad(blob_key: str) -> AssociatedData:
    return AssociatedData(_AAD_OWNER, blob_key, 1)


def _chunks(handle: BinaryIO, size: int) -> Iterator[tuple[bytes, bool]]:
    """The file's chunks of `size` bytes, each with whether it is the last (an empty file is one empty chunk)."""
    chunk = handle.read(size)
    while True:
        following = handle.read(size)
        yield chunk, not following
        if not following:
            return
        chunk = following
