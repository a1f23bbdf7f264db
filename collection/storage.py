"""Blob storage behind one interface: a local data folder (default), S3 or an S3-compatible store, and memory.

Blobs are opaque bytes, already sealed by `collection.crypto` when they hold personal data. Keys are
random names from `new_blob_key` (a caller-chosen namespace of pseudonymous ids plus a random token), never
file names or anything a person typed. Every backend validates keys the same way: segments of
`[A-Za-z0-9._-]` starting with a letter or digit, joined by `/`, so no key can climb out of the store.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import os
import re
import secrets
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from collection.errors import BlobNotFound, InvalidBlobKey, StorageBackendError

MAX_KEY_LENGTH = 512
_SEGMENT = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"
_KEY_RE = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})*")
_PREFIX_RE = re.compile(rf"(?:{_SEGMENT}/)*[A-Za-z0-9._-]*")
_TEMP_PREFIX = ".tmp-"  # can never be a key segment (segments start with a letter or digit)


def validate_key(key: str) -> str:
    """Return `key` if it is a valid blob key. Raises InvalidBlobKey."""
    if not isinstance(key, str) or not key:
        raise InvalidBlobKey(str(key), "empty")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidBlobKey(key[:40] + "...", f"longer than {MAX_KEY_LENGTH}")
    if not _KEY_RE.fullmatch(key):
        raise InvalidBlobKey(key, "segments are [A-Za-z0-9._-], start with a letter or digit, joined by '/'")
    return key


def validate_prefix(prefix: str) -> str:
    """A prefix is whole key segments plus an optional partial one (`photos/ab` matches `photos/abc/1`)."""
    if len(prefix) > MAX_KEY_LENGTH or not _PREFIX_RE.fullmatch(prefix):
        raise InvalidBlobKey(prefix, "not a valid key prefix")
    return prefix


def new_blob_key(*namespace: str) -> str:
    """A fresh random key under `namespace` (e.g. `new_blob_key("photos", contributor_id)`)."""
    return validate_key("/".join([*namespace, secrets.token_hex(16)]))


@dataclass(frozen=True)
class BlobInfo:
    """One stored blob as a listing sees it: its key and when it was last written (UTC). The orphan sweep reads
    the time to leave alone what an upload still in flight may have just written."""

    key: str
    modified_at: dt.datetime


class BlobStore(Protocol):
    """Bytes by key. Writes are atomic: a reader sees the old blob, the new one, or none, never a part."""

    def put(self, key: str, data: bytes) -> None:
        """Store `data` under `key`, replacing any blob there. Raises InvalidBlobKey, StorageBackendError."""
        ...

    def get(self, key: str) -> bytes:
        """Raises BlobNotFound, InvalidBlobKey, StorageBackendError."""
        ...

    def delete(self, key: str) -> None:
        """Remove the blob; a missing key is not an error. Raises InvalidBlobKey, StorageBackendError."""
        ...

    def exists(self, key: str) -> bool: ...

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        """Every key starting with `prefix`, in ascending order. Raises InvalidBlobKey."""
        ...

    def size(self, key: str) -> int:
        """Stored length in bytes. Raises BlobNotFound."""
        ...

    def iter_blobs(self, prefix: str = "") -> Iterator[BlobInfo]:
        """Every blob whose key starts with `prefix`, with its write time, in ascending key order. Raises
        InvalidBlobKey, StorageBackendError."""
        ...

    def check(self) -> None:
        """A cheap probe that the store can be used now (the folder is there and writable, the bucket answers);
        for health checks. Raises StorageBackendError naming what failed."""
        ...


def delete_prefix(store: BlobStore, prefix: str) -> int:
    """Delete every blob whose key starts with `prefix` (non-empty); returns how many were deleted."""
    if not prefix:
        raise InvalidBlobKey(prefix, "refusing to delete the whole store")
    keys = list(store.iter_keys(prefix))
    for key in keys:
        store.delete(key)
    return len(keys)


def list_unreferenced(store: BlobStore, prefix: str, referenced: Callable[[str], bool],
                      written_before: dt.datetime | None) -> tuple[int, list[str]]:
    """List the blobs under `prefix`: returns how many there are and the keys of those for which `referenced(key)`
    is false and that were written before `written_before` (None: whatever their age). Deletes nothing, so the
    orphan sweep can weigh the candidates (and re-check them) before any goes. Raises StorageError."""
    listed, candidates = 0, []
    for info in store.iter_blobs(prefix):
        listed += 1
        if referenced(info.key) or (written_before is not None and info.modified_at >= written_before):
            continue
        candidates.append(info.key)
    return listed, candidates


# --- memory ---------------------------------------------------------------------------------------


class MemoryBlobStore:
    """A dict behind a lock, for tests and the demo. `now` stamps each write (tests pass a fake clock's)."""

    def __init__(self, now: Callable[[], dt.datetime] | None = None) -> None:
        self._blobs: dict[str, bytes] = {}
        self._written: dict[str, dt.datetime] = {}
        self._now = now or (lambda: dt.datetime.now(dt.UTC))
        self._lock = threading.Lock()

    def put(self, key: str, data: bytes) -> None:
        validate_key(key)
        with self._lock:
            self._blobs[key] = bytes(data)
            self._written[key] = self._now()

    def get(self, key: str) -> bytes:
        validate_key(key)
        with self._lock:
            if key not in self._blobs:
                raise BlobNotFound(key)
            return self._blobs[key]

    def delete(self, key: str) -> None:
        validate_key(key)
        with self._lock:
            self._blobs.pop(key, None)
            self._written.pop(key, None)

    def exists(self, key: str) -> bool:
        validate_key(key)
        with self._lock:
            return key in self._blobs

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        validate_prefix(prefix)
        with self._lock:
            keys = sorted(k for k in self._blobs if k.startswith(prefix))
        yield from keys

    def size(self, key: str) -> int:
        return len(self.get(key))

    def iter_blobs(self, prefix: str = "") -> Iterator[BlobInfo]:
        validate_prefix(prefix)
        with self._lock:
            found = sorted((k, t) for k, t in self._written.items() if k.startswith(prefix))
        yield from (BlobInfo(key, written) for key, written in found)

    def check(self) -> None:
        """Memory is always there."""


# --- local folder ---------------------------------------------------------------------------------


class LocalBlobStore:
    """Files under `root` (created 0700 if missing), one file per key, each 0600.

    `put` writes a temporary file in the target folder, fsyncs it, renames it over the target and fsyncs the
    folder, so a crash leaves the old blob or the new one. Leftover temporary files (a crash mid-write) start
    with `.tmp-`, are never listed, and are removed by `remove_temp_files`.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        for attempt in range(3):
            try:
                self._make_parents(path.parent)
                self._write(path, data)
                return
            except (NotADirectoryError, IsADirectoryError):
                raise InvalidBlobKey(key, "collides with another key's folder") from None
            except FileNotFoundError as exc:  # a concurrent delete pruned the folder; make it again
                if attempt == 2:
                    raise StorageBackendError("put", key, _os_detail(exc)) from None
            except OSError as exc:
                raise StorageBackendError("put", key, _os_detail(exc)) from None

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd, "rb") as handle:
                return handle.read()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise BlobNotFound(key) from None
        except OSError as exc:
            raise StorageBackendError("get", key, _os_detail(exc)) from None

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink(missing_ok=True)
        except (NotADirectoryError, IsADirectoryError):
            return
        except OSError as exc:
            raise StorageBackendError("delete", key, _os_detail(exc)) from None
        self._prune_empty(path.parent)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        validate_prefix(prefix)
        folder, _, _partial = prefix.rpartition("/")
        start = self.root / folder if folder else self.root
        for key in self._walk(start, folder):
            if key.startswith(prefix):
                yield key

    def size(self, key: str) -> int:
        try:
            info = self._path(key).stat()
        except (FileNotFoundError, NotADirectoryError):
            raise BlobNotFound(key) from None
        if not stat.S_ISREG(info.st_mode):
            raise BlobNotFound(key)
        return info.st_size

    def iter_blobs(self, prefix: str = "") -> Iterator[BlobInfo]:
        for key in self.iter_keys(prefix):
            try:
                mtime = self._path(key).stat().st_mtime
            except FileNotFoundError:  # deleted since it was listed
                continue
            yield BlobInfo(key, dt.datetime.fromtimestamp(mtime, dt.UTC))

    def check(self) -> None:
        """The root folder exists and this process may create files in it."""
        if not self.root.is_dir():
            raise StorageBackendError("check", ".", "the blob folder is missing")
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise StorageBackendError("check", ".", "the blob folder is not writable")

    def remove_temp_files(self) -> int:
        """Delete temporary files left by a crash mid-`put`; returns how many. Run at start-up."""
        removed = 0
        for path in self.root.rglob(f"{_TEMP_PREFIX}*"):
            path.unlink(missing_ok=True)
            removed += 1
        return removed

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*validate_key(key).split("/"))

    def _make_parents(self, folder: Path) -> None:
        missing = []
        while folder != self.root and not folder.is_dir():
            missing.append(folder)
            folder = folder.parent
        for path in reversed(missing):
            with contextlib.suppress(FileExistsError):
                path.mkdir(mode=0o700)
            _fsync_dir(path.parent)

    def _write(self, path: Path, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_TEMP_PREFIX)  # mkstemp creates it 0600
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        _fsync_dir(path.parent)

    def _prune_empty(self, folder: Path) -> None:
        # Empty folders named after a pseudonymous id would outlive an erasure; remove them bottom-up.
        while folder != self.root:
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent

    def _walk(self, folder: Path, key_prefix: str) -> Iterator[str]:
        """Keys under `folder` in ascending key order (a folder `a` sorts as `a/`, as its keys do)."""
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError):
            return
        entries = [e for e in entries if not e.name.startswith(".")]
        entries.sort(key=lambda e: e.name + "/" if e.is_dir(follow_symlinks=False) else e.name)
        for entry in entries:
            key = f"{key_prefix}/{entry.name}" if key_prefix else entry.name
            if entry.is_dir(follow_symlinks=False):
                yield from self._walk(Path(entry.path), key)
            elif entry.is_file(follow_symlinks=False):
                yield key


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _os_detail(exc: OSError) -> str:
    # The OS message, without the file path (paths are keys already known to the caller).
    return errno.errorcode.get(exc.errno or 0, "OSError") + ": " + (exc.strerror or "")


# --- S3 -------------------------------------------------------------------------------------------


class S3BlobStore:
    """Objects in one S3 bucket. `client` is a boto3 S3 client; `make_s3_client` builds one for AWS or for an
    S3-compatible server (MinIO, Ceph, a test server) from plain values. S3 PUTs are atomic per object."""

    def __init__(self, bucket: str, client: Any, *, list_page_size: int = 1000, probe_client: Any = None) -> None:
        """`probe_client` (default: `client`) answers `check`: a client with short timeouts and no retries keeps a
        health check from hanging on an unreachable endpoint while uploads keep their patient one."""
        self.bucket = bucket
        self._client = client
        self._probe = probe_client or client
        self._page_size = list_page_size

    def put(self, key: str, data: bytes) -> None:
        validate_key(key)
        with self._errors("put", key):
            self._client.put_object(Bucket=self.bucket, Key=key, Body=bytes(data))

    def get(self, key: str) -> bytes:
        validate_key(key)
        with self._errors("get", key):
            body: bytes = self._client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            return body

    def delete(self, key: str) -> None:
        validate_key(key)
        with self._errors("delete", key):
            self._client.delete_object(Bucket=self.bucket, Key=key)

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
        except BlobNotFound:
            return False
        return True

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        yield from (info.key for info in self.iter_blobs(prefix))

    def iter_blobs(self, prefix: str = "") -> Iterator[BlobInfo]:
        validate_prefix(prefix)
        paginator = self._client.get_paginator("list_objects_v2")
        with self._errors("list", prefix):
            pages = paginator.paginate(
                Bucket=self.bucket, Prefix=prefix, PaginationConfig={"PageSize": self._page_size}
            )
            for page in pages:
                for item in page.get("Contents", []):
                    yield BlobInfo(item["Key"], _utc(item["LastModified"]))

    def check(self) -> None:
        """HEAD the bucket: one request that needs the endpoint, the bucket and our credentials."""
        try:
            with self._errors("check", self.bucket):
                self._probe.head_bucket(Bucket=self.bucket)
        except BlobNotFound:  # HEAD answers a bare 404 for a missing bucket
            raise StorageBackendError("check", self.bucket, "NoSuchBucket") from None

    def size(self, key: str) -> int:
        validate_key(key)
        with self._errors("head", key):
            length: int = self._client.head_object(Bucket=self.bucket, Key=key)["ContentLength"]
            return length

    @contextlib.contextmanager
    def _errors(self, operation: str, key: str) -> Iterator[None]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("NoSuchKey", "404", "NotFound"):
                raise BlobNotFound(key) from None
            raise StorageBackendError(operation, key, code or "ClientError") from None
        except BotoCoreError as exc:
            raise StorageBackendError(operation, key, type(exc).__name__) from None


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def make_s3_client(
    *,
    endpoint_url: str | None = None,
    region_name: str | None = None,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    path_style: bool = False,
    timeout: float = 60.0,
    max_attempts: int = 3,
) -> Any:
    """A boto3 S3 client from plain configuration values (None means boto3's own default chain).

    `path_style` addresses buckets as `endpoint/bucket/key`, which most S3-compatible servers expect. The
    timeout (connecting and reading) and attempts default to boto3's; a health probe asks for short ones.
    """
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region_name,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        config=Config(
            connect_timeout=timeout,
            read_timeout=timeout,
            retries={"max_attempts": max_attempts, "mode": "standard"},
            s3={"addressing_style": "path" if path_style else "auto"},
        ),
    )
