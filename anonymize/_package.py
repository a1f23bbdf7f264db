"""Streaming release package writer: media go straight to the archive, manifest rows to spooled temporary
files, so memory stays bounded however many items a release holds.

The output is a zip (`.zip`), a tar (`.tar`, `.tar.gz`/`.tgz`) or a directory (any other path). Tar headers
are written by hand so no member list accumulates; zip keeps its central directory (a few hundred bytes per
item) in memory, as the format requires it at the end. Each item's media is re-inspected with datadam's own
parser before it is written: media still carrying metadata is refused, never packaged.

On an exception inside the `with` block the partial output is removed.
"""

from __future__ import annotations

import base64
import hashlib
import io
import shutil
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Protocol

from anonymize._formats import sniff
from anonymize._manifest import (
    DATASHEET_JSON,
    DATASHEET_MD,
    FORMAT,
    MANIFEST_CSV,
    MANIFEST_JSONL,
    MEDIA_DIR,
    SAFE_ID,
    SIGNATURE_JSON,
    DatasheetCounts,
    ManifestEntry,
    ReleaseInfo,
    canonical_json,
    csv_line,
    datasheet_markdown,
    manifest_row,
)
from anonymize._metadata import disallowed_tags
from anonymize._signing import ALGORITHM, Signer
from anonymize.errors import DuplicateItem, PackageError, UnscrubbedMedia

_EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WAV": "wav", "FLAC": "flac"}
_CHUNK = 1 << 20


@dataclass(frozen=True)
class PackageSummary:
    """What was written: the output path, item count, the signing key id and the signed statement digest."""

    path: Path
    items: int
    key_id: str
    statement_sha256: str


class _Sink(Protocol):
    def write(self, name: str, stream: BinaryIO, size: int, compress: bool) -> None: ...

    def close(self) -> None: ...


class _DirSink:
    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=False)
        self._root = root

    def write(self, name: str, stream: BinaryIO, size: int, compress: bool) -> None:
        target = self._root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("xb") as out:
            shutil.copyfileobj(stream, out, _CHUNK)

    def close(self) -> None:
        pass


class _ZipSink:
    def __init__(self, path: Path) -> None:
        self._zip = zipfile.ZipFile(path, mode="x", allowZip64=True)

    def write(self, name: str, stream: BinaryIO, size: int, compress: bool) -> None:
        info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        info.file_size = size
        with self._zip.open(info, mode="w", force_zip64=size > 0x7FFFFFFF) as out:
            shutil.copyfileobj(stream, out, _CHUNK)

    def close(self) -> None:
        self._zip.close()


class _TarSink:
    """Writes ustar/PAX headers itself: tarfile.TarFile would keep every member in a list."""

    def __init__(self, path: Path, gzip: bool) -> None:
        self._raw = path.open("xb")
        self._out: BinaryIO = self._raw
        if gzip:
            import gzip as gzip_module

            self._out = gzip_module.GzipFile(fileobj=self._raw, mode="wb", mtime=0)  # type: ignore[assignment]

    def write(self, name: str, stream: BinaryIO, size: int, compress: bool) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = size, 0o644, 0
        self._out.write(info.tobuf(format=tarfile.PAX_FORMAT))
        shutil.copyfileobj(stream, self._out, _CHUNK)
        self._out.write(b"\0" * (-size % tarfile.BLOCKSIZE))

    def close(self) -> None:
        self._out.write(b"\0" * tarfile.BLOCKSIZE * 2)
        if self._out is not self._raw:
            self._out.close()
        self._raw.close()


def _sink_for(path: Path) -> _Sink:
    name = path.name.lower()
    if name.endswith(".zip"):
        return _ZipSink(path)
    if name.endswith((".tar.gz", ".tgz")):
        return _TarSink(path, gzip=True)
    if name.endswith(".tar"):
        return _TarSink(path, gzip=False)
    return _DirSink(path)


class PackageWriter:
    """Writes one signed release package to `out_path` (which must not exist yet).

    Use as a context manager: `add()` each item, and leaving the block signs and finishes the package
    (`summary` then holds the result). Raises `UnscrubbedMedia` for media with metadata outside the
    allow-list, `DuplicateItem` for a repeated item id and `PackageError` for unsafe ids or formats.
    """

    def __init__(self, out_path: str | Path, signer: Signer, info: ReleaseInfo) -> None:
        self._path = Path(out_path)
        if self._path.exists():
            raise PackageError(f"{self._path} already exists")
        self._signer = signer
        self._info = info
        self._sink = _sink_for(self._path)
        self._jsonl = tempfile.TemporaryFile()
        self._csv = tempfile.TemporaryFile()
        self._csv.write(csv_line(info.columns).encode("utf-8"))
        self._counts = DatasheetCounts(info)
        self._seen: set[str] = set()
        self.summary: PackageSummary | None = None

    def __enter__(self) -> PackageWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()

    def add(self, entry: ManifestEntry, media: bytes) -> dict[str, str]:
        """Check and write one item's media and manifest row; returns the row."""
        self._check_entry(entry)
        fmt = sniff(media).format
        if fmt not in _EXTENSIONS:
            raise PackageError(f"item {entry.item_id}: {fmt or 'unknown'} media cannot be released")
        leftovers = disallowed_tags(media)
        if leftovers:
            raise UnscrubbedMedia(entry.item_id, tuple(t.key for t in leftovers))
        name = f"{MEDIA_DIR}{entry.item_id}.{_EXTENSIONS[fmt]}"
        self._sink.write(name, io.BytesIO(media), len(media), compress=False)
        row = manifest_row(entry, name, hashlib.sha256(media).hexdigest(), len(media), self._info)
        self._jsonl.write(canonical_json(row) + b"\n")
        self._csv.write(csv_line([row[c] for c in self._info.columns]).encode("utf-8"))
        self._counts.add(row)
        self._seen.add(entry.item_id)
        return row

    def close(self) -> PackageSummary:
        """Write the manifests, datasheet and signature, and finish the archive."""
        if self.summary is not None:
            return self.summary
        digests = {
            MANIFEST_JSONL: self._write_spooled(MANIFEST_JSONL, self._jsonl),
            MANIFEST_CSV: self._write_spooled(MANIFEST_CSV, self._csv),
        }
        document = self._counts.document()
        digests[DATASHEET_JSON] = self._write_bytes(DATASHEET_JSON, canonical_json(document) + b"\n")
        digests[DATASHEET_MD] = self._write_bytes(DATASHEET_MD, datasheet_markdown(document).encode("utf-8"))
        statement = {
            "format": FORMAT,
            "release_id": self._info.release_id,
            "items": self._counts.items,
            "files": digests,
        }
        signed = canonical_json(statement)
        signature = {
            "algorithm": ALGORITHM,
            "key_id": self._signer.key_id,
            "statement": statement,
            "signature": base64.b64encode(self._signer.sign(signed)).decode("ascii"),
        }
        self._write_bytes(SIGNATURE_JSON, canonical_json(signature) + b"\n")
        self._sink.close()
        self.summary = PackageSummary(
            self._path, self._counts.items, self._signer.key_id, hashlib.sha256(signed).hexdigest()
        )
        return self.summary

    def abort(self) -> None:
        """Stop and remove the partial output."""
        try:
            self._sink.close()
        finally:
            self._jsonl.close()
            self._csv.close()
            if self._path.is_dir():
                shutil.rmtree(self._path, ignore_errors=True)
            else:
                self._path.unlink(missing_ok=True)

    def _check_entry(self, entry: ManifestEntry) -> None:
        for label, value in (("item_id", entry.item_id), ("subject_id", entry.subject_id)):
            if not SAFE_ID.match(value):
                raise PackageError(f"{label} {value!r} is not a safe identifier")
        if entry.item_id in self._seen:
            raise DuplicateItem(entry.item_id)
        unknown = set(entry.attributes) - set(self._info.attributes)
        if unknown:
            raise PackageError(f"item {entry.item_id}: undeclared attributes {', '.join(sorted(unknown))}")

    def _write_spooled(self, name: str, spool: BinaryIO) -> str:
        size = spool.tell()
        spool.seek(0)
        digest = hashlib.sha256()
        while chunk := spool.read(_CHUNK):
            digest.update(chunk)
        spool.seek(0)
        self._sink.write(name, spool, size, compress=True)
        spool.close()
        return digest.hexdigest()

    def _write_bytes(self, name: str, data: bytes) -> str:
        self._sink.write(name, io.BytesIO(data), len(data), compress=True)
        return hashlib.sha256(data).hexdigest()
