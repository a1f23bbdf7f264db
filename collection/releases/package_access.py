"""Reaching a release's package for one use (a verification, an approval, a download): the local file when the
release has no stored copy, else its sealed copy (`collection.releases.stored`) fetched into the package folder for
that use and removed after it, so no host keeps faces at rest that an erasure running elsewhere could not reach. A
file at the recorded path is never used instead of a stored copy: it may be a stale leftover of an attempt that was
rolled back on this host. Either is checked against the statement hash recorded at the build before it counts as
the package that was built; what keeps it from going out is named by a refusal code, worded in English in
`PACKAGE_PROBLEMS`."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from anonymize import package_statement_sha256
from anonymize.errors import ReleaseFormatError
from collection.errors import BlobNotFound, CryptoError, StorageError
from collection.releases.build import STAGING, remove_path
from collection.releases.errors import DeliveryRefused
from collection.releases.models import Release
from collection.releases.stored import PackageStore, StoredPackage
from consent.db import new_id

FETCHED = ".fetched-"  # a copy fetched from the blob store for one use; never a release's own name
STALE_FETCH = dt.timedelta(days=1)
# Plaintext left by a fetch or a build that a dead process never finished. Any still in use is younger: a fetch
# lasts as long as one verification or download, and a build keeps writing its file.
LEFTOVER_AGE = dt.timedelta(hours=6)

# English wording of what keeps a package from being approved or delivered, by refusal code.
PACKAGE_PROBLEMS = {
    "package_missing": "the package is no longer stored: build the release again",
    "package_changed": "the stored package is not the one that was built and verified",
    "package_unavailable": "the stored package cannot be read right now: try again later",
    "not_a_file": "the package is a folder, not a single file: build it as a .zip to download it here",
}


@dataclass(frozen=True)
class PackageFile:
    """An approved package opened for delivery: the name to offer it under, its size and the open file, which the
    caller closes (a `with` block does). A copy fetched from the blob store has no name on disk any more: it lives
    as long as the open file."""

    name: str
    size: int
    file: BinaryIO

    def __enter__(self) -> PackageFile:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.file.close()


def stored_copy(release: Release) -> StoredPackage | None:
    """The release's sealed copy in the blob store, if it has one."""
    if release.package_blob is None or release.package_key is None:
        return None
    return StoredPackage(release.package_blob, release.package_key)


def is_built_package(path: Path, statement_sha256: str | None) -> bool:
    """Whether the package at `path` carries the signed statement recorded at the build."""
    try:
        return package_statement_sha256(path) == statement_sha256
    except ReleaseFormatError:
        return False


@contextlib.contextmanager
def package_here(packages: PackageStore, folder: Path, path: Path, stored: StoredPackage | None) -> Iterator[Path]:
    """The package as a local path: the recorded one when nothing is stored, else its stored copy fetched into the
    package `folder` for this one use and removed after it (even when a file is at `path`: only the sealed copy is
    the recorded package). Raises BlobNotFound, CryptoError, StorageError (the stored copy is gone, does not open,
    cannot be read now)."""
    if stored is None:
        yield path
        return
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    remove_stale_fetches(folder)
    fetched = folder / f"{FETCHED}{new_id()}-{path.name}"  # keeps the suffix that names the format
    try:
        packages.fetch(stored, fetched)
    except OSError as exc:
        raise StorageError(f"the package could not be written to this host: {type(exc).__name__}") from exc
    try:
        yield fetched
    finally:
        fetched.unlink(missing_ok=True)


def package_problem(packages: PackageStore, folder: Path, release: Release) -> str | None:
    """What keeps the release's package from going out, as a refusal code (None: nothing): not here and not
    stored (`package_missing`), the blob store not answering (`package_unavailable`), or not the package that was
    built, i.e. its signed statement is not the one recorded at the build or its stored copy does not open
    (`package_changed`)."""
    if not release.package_path:  # erased
        return "package_missing"
    try:
        with package_here(packages, folder, Path(release.package_path), stored_copy(release)) as path:
            if not path.exists():
                return "package_missing"
            return None if is_built_package(path, release.statement_sha256) else "package_changed"
    except BlobNotFound:
        return "package_missing"
    except CryptoError:
        return "package_changed"
    except StorageError:
        return "package_unavailable"


def open_package(packages: PackageStore, folder: Path, release: Release) -> PackageFile:
    """The release's package file opened for reading, once it proved to be the one built. Raises
    DeliveryRefused."""
    if not release.package_path:  # erased
        raise DeliveryRefused(release.id, PACKAGE_PROBLEMS["package_missing"], code="package_missing")
    name = Path(release.package_path).name
    try:
        with package_here(packages, folder, Path(release.package_path), stored_copy(release)) as path:
            if not path.is_file():
                code = "not_a_file" if path.exists() else "package_missing"
                raise DeliveryRefused(release.id, PACKAGE_PROBLEMS[code], code=code)
            if not is_built_package(path, release.statement_sha256):
                raise DeliveryRefused(release.id, PACKAGE_PROBLEMS["package_changed"], code="package_changed")
            handle = path.open("rb")  # opened before a fetched copy's name is removed: the file outlives it
    except BlobNotFound as exc:
        raise DeliveryRefused(release.id, PACKAGE_PROBLEMS["package_missing"], code="package_missing") from exc
    except CryptoError as exc:
        raise DeliveryRefused(release.id, PACKAGE_PROBLEMS["package_changed"], code="package_changed") from exc
    except StorageError as exc:
        raise DeliveryRefused(release.id, PACKAGE_PROBLEMS["package_unavailable"],
                              code="package_unavailable") from exc
    return PackageFile(name, os.fstat(handle.fileno()).st_size, handle)


def remove_stale_fetches(folder: Path) -> None:
    """Remove copies fetched for a use that never ended (the process was killed mid-way): a copy of faces must not
    stay on a host. A day is longer than any verification, so no copy still in use goes. (File times are the
    machine's, so the machine's clock judges them.)"""
    cutoff = time.time() - STALE_FETCH.total_seconds()
    for path in folder.glob(f"{FETCHED}*"):
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)


def remove_plaintext_leftovers(folder: Path, older_than: dt.timedelta = LEFTOVER_AGE) -> int:
    """Remove fetched copies (`.fetched-*`) and staged builds (`.building-*`) in the package `folder` written more
    than `older_than` ago: what a process killed mid-use or mid-build left, plaintext faces an erasure cannot reach.
    Run as a process starts; a fetch or a build of another process on the host is younger. Returns how many went.
    (File times are the machine's, so the machine's clock judges them.)"""
    if not folder.is_dir():
        return 0
    cutoff = time.time() - older_than.total_seconds()
    removed = 0
    for pattern in (f"{FETCHED}*", f"{STAGING}*"):
        for path in folder.glob(pattern):
            with contextlib.suppress(FileNotFoundError):
                if path.lstat().st_mtime < cutoff:
                    remove_path(path)
                    removed += 1
    return removed
