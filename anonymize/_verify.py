"""Release verification, independent of the build: re-read a package (zip, tar or directory) and re-check
everything a compliance officer relies on before approving it.

Checks (each reported passed / failed / skipped, every failure listed with its file):

    structure    the required files exist and nothing unexpected is packed
    signature    signature.json verifies under a trusted key and names the right digests
    manifest     manifest.jsonl and manifest.csv agree; every media file is listed exactly once
    checksum     each media file's size and SHA-256 match its manifest row
    metadata     datadam's own parser finds no tag outside the allow-list in any media file
    exiftool     exiftool agrees (skipped when it is not installed)
    faces        at most one face (the subject's) is detectable in any image, by both detector families
    pii          no personal-data pattern in any text file or file name
    k_anonymity  every person's set of classes over the released quasi-identifiers is shared by >= k
                 distinct people (subject ids),
                 k being the larger of the caller's k_min and the k the datasheet promises

Nothing is trusted from the build: digests are recomputed, media re-parsed, faces re-detected.

Each failure says why in English (`detail`, what the CLI and JSON show) and again as a stable `code` with the
values it names (`params`), so a caller can word it in its reader's language:

    structure    required_file_missing, unexpected_file
    signature    no_signature, unknown_key / bad_signature / unreadable_key {key_id},
                 unreadable_signature {error}, not_signed, digest_mismatch
    manifest     unreadable_manifest {error}, manifest_disagree, listed_repeatedly {count}, listed_but_missing,
                 not_in_manifest
    checksum     checksum_mismatch
    metadata     unreleasable_format {format: None when unrecognised}, tags_not_allowed {tags}
    exiftool     exiftool_unavailable {error}, tags_not_allowed {tags}
    faces        undecodable_image {error}, extra_faces {count, boxes: [left, top, right, bottom] each}
    pii          pii_in_file_name {kind}, pii_in_line {line, kind}
    k_anonymity  datasheet_unreadable {error}, datasheet_k_invalid {value}, columns_missing {columns},
                 k_too_low {achieved, required, k_min, promised}

`error` is the message of the library error behind a failure (JSON, base64, CSV, image decoding, exiftool).
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import io
import json
import tarfile
import tempfile
import zipfile
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image, UnidentifiedImageError

from anonymize._exiftool import exiftool_available, exiftool_tags_many
from anonymize._faces import DetectorSettings
from anonymize._formats import sniff
from anonymize._kanon import measured_k
from anonymize._manifest import (
    DATASHEET_JSON,
    MANIFEST_CSV,
    MANIFEST_JSONL,
    MEDIA_DIR,
    SIGNATURE_JSON,
    SUBJECT_COLUMN,
    TEXT_FILES,
    canonical_json,
)
from anonymize._masking import faces_other_than
from anonymize._metadata import disallowed_tags
from anonymize._pii import find_pii
from anonymize._signing import verify_signature
from anonymize.errors import MediaError, ReleaseFormatError, SignatureError, ToolUnavailable

CHECKS = ("structure", "signature", "manifest", "checksum", "metadata", "exiftool", "faces", "pii", "k_anonymity")
_REQUIRED = (SIGNATURE_JSON, MANIFEST_JSONL, MANIFEST_CSV, DATASHEET_JSON)
_EXIFTOOL_BATCH = 200
_MAX_VERIFY_PIXELS = 64_000_000


@dataclass(frozen=True)
class VerifyFailure:
    """One failed check: which `check`, which `file` (None for the package as a whole), and why: `detail` in
    English, `code` a stable reason and `params` the values it names (see the module's list)."""

    check: str
    file: str | None
    detail: str
    code: str = ""
    params: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: check, file, detail, code and params."""
        return {
            "check": self.check,
            "file": self.file,
            "detail": self.detail,
            "code": self.code,
            "params": dict(self.params),
        }


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of `verify_package`: `ok` only when no check failed. `k_achieved` is the fewest distinct
    people in a released class; `k_required` the k it was held to (None when k could not be checked)."""

    package: str
    checks: Mapping[str, str]
    failures: tuple[VerifyFailure, ...]
    items: int
    k_achieved: int | None
    k_required: int | None = None

    @property
    def ok(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary listing every failure."""
        return {
            "ok": self.ok,
            "package": self.package,
            "items": self.items,
            "k_achieved": self.k_achieved,
            "k_required": self.k_required,
            "checks": dict(self.checks),
            "failures": [f.to_dict() for f in self.failures],
        }


class _Reader(Protocol):
    def names(self) -> list[str]: ...

    def read(self, name: str) -> bytes: ...

    def close(self) -> None: ...


class _DirReader:
    def __init__(self, root: Path) -> None:
        self._root = root

    def names(self) -> list[str]:
        return sorted(p.relative_to(self._root).as_posix() for p in self._root.rglob("*") if p.is_file())

    def read(self, name: str) -> bytes:
        return (self._root / name).read_bytes()

    def close(self) -> None:
        pass


class _ZipReader:
    def __init__(self, path: Path) -> None:
        self._zip = zipfile.ZipFile(path)

    def names(self) -> list[str]:
        return [n for n in self._zip.namelist() if not n.endswith("/")]

    def read(self, name: str) -> bytes:
        return self._zip.read(name)

    def close(self) -> None:
        self._zip.close()


class _TarReader:
    def __init__(self, path: Path) -> None:
        self._tar = tarfile.open(path, mode="r:*")
        self._members = {m.name: m for m in self._tar.getmembers() if m.isfile()}

    def names(self) -> list[str]:
        return list(self._members)

    def read(self, name: str) -> bytes:
        handle = self._tar.extractfile(self._members[name])
        if handle is None:
            raise KeyError(name)
        return handle.read()

    def close(self) -> None:
        self._tar.close()


@dataclass
class _State:
    """Mutable bookkeeping while one package is checked."""

    failures: list[VerifyFailure] = field(default_factory=list)
    ran: set[str] = field(default_factory=set)
    skipped: set[str] = field(default_factory=set)
    items: int = 0
    k_achieved: int | None = None
    k_required: int | None = None

    def fail(self, check: str, file: str | None, detail: str, code: str, **params: Any) -> None:
        self.failures.append(VerifyFailure(check, file, detail, code, params))


def verify_package(
    path: str | Path,
    public_keys: Mapping[str, bytes | str],
    k_min: int = 5,
    *,
    check_faces: bool = True,
    use_exiftool: bool | None = None,
    detectors: DetectorSettings | None = None,
) -> VerifyReport:
    """Re-check the package at `path` (zip, tar, tar.gz or directory) against `public_keys` (key id -> raw
    Ed25519 public key) and `k_min`; k is held to the larger of `k_min` and the datasheet's own k, counted
    in distinct subject ids. `use_exiftool=None` uses exiftool when installed. Raises `ReleaseFormatError`
    only when `path` cannot be opened as a package at all."""
    reader = _open(Path(path))
    state = _State()
    try:
        names = set(reader.names())
        _check_structure(names, state)
        _check_signature(reader, names, public_keys, state)
        rows = _check_manifest(reader, names, state)
        _check_media(reader, rows, state, check_faces, detectors)
        _check_exiftool(reader, rows, state, use_exiftool)
        _check_pii(reader, names, state)
        _check_k(reader, names, rows, k_min, state)
    finally:
        reader.close()
    checks = {c: "skipped" if c in state.skipped else "passed" for c in CHECKS}
    checks.update({f.check: "failed" for f in state.failures})
    return VerifyReport(str(path), checks, tuple(state.failures), state.items, state.k_achieved, state.k_required)


def package_statement_sha256(path: str | Path) -> str:
    """SHA-256 of the signed statement in the package's signature.json (as the builder reports it in
    `PackageSummary.statement_sha256`): a cheap way to tell that a file is the package that was built and
    verified. Raises ReleaseFormatError when the package or its signature file cannot be read."""
    reader = _open(Path(path))
    try:
        document = json.loads(reader.read(SIGNATURE_JSON))
        return hashlib.sha256(canonical_json(document["statement"])).hexdigest()
    except (KeyError, ValueError, TypeError, OSError, tarfile.TarError, zipfile.BadZipFile) as exc:
        raise ReleaseFormatError(SIGNATURE_JSON, f"unreadable: {exc}") from exc
    finally:
        reader.close()


def _open(path: Path) -> _Reader:
    if path.is_dir():
        return _DirReader(path)
    if not path.is_file():
        raise ReleaseFormatError(str(path), "no such package", code="no_such_package")
    try:
        if zipfile.is_zipfile(path):
            return _ZipReader(path)
        return _TarReader(path)
    except (tarfile.TarError, zipfile.BadZipFile, OSError) as exc:
        raise ReleaseFormatError(
            str(path), f"not a zip, tar or directory package: {exc}", code="not_a_package", cause=str(exc)
        ) from exc


def _check_structure(names: set[str], state: _State) -> None:
    for name in _REQUIRED:
        if name not in names:
            state.fail("structure", name, "required file missing", "required_file_missing")
    known = set(TEXT_FILES) | {SIGNATURE_JSON}
    for name in sorted(names - known):
        if not name.startswith(MEDIA_DIR) or "/" in name[len(MEDIA_DIR) :]:
            state.fail("structure", name, "unexpected file in the package", "unexpected_file")


def _check_signature(reader: _Reader, names: set[str], keys: Mapping[str, bytes | str], state: _State) -> None:
    if SIGNATURE_JSON not in names:
        state.fail("signature", SIGNATURE_JSON, "no signature", "no_signature")
        return
    try:
        document = json.loads(reader.read(SIGNATURE_JSON).decode("utf-8"))
        statement = document["statement"]
        signature = base64.b64decode(document["signature"], validate=True)
        verify_signature(keys, str(document["key_id"]), canonical_json(statement), signature)
        files = dict(statement["files"])
    except SignatureError as exc:
        state.fail("signature", SIGNATURE_JSON, str(exc), exc.code, key_id=exc.key_id)
        return
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError, binascii.Error) as exc:
        state.fail(
            "signature", SIGNATURE_JSON, f"unreadable signature document: {exc}", "unreadable_signature", error=str(exc)
        )
        return
    for name in TEXT_FILES:
        if name not in files:
            state.fail("signature", name, "not covered by the signature", "not_signed")
        elif name not in names or hashlib.sha256(reader.read(name)).hexdigest() != files[name]:
            state.fail("signature", name, "digest does not match the signed statement", "digest_mismatch")


def _check_manifest(reader: _Reader, names: set[str], state: _State) -> list[dict[str, str]]:
    if MANIFEST_JSONL not in names or MANIFEST_CSV not in names:
        return []
    try:
        rows = [json.loads(line) for line in reader.read(MANIFEST_JSONL).decode("utf-8").splitlines() if line]
        table = list(csv.DictReader(io.StringIO(reader.read(MANIFEST_CSV).decode("utf-8"))))
    except (UnicodeDecodeError, json.JSONDecodeError, csv.Error) as exc:
        state.fail("manifest", None, f"unreadable manifest: {exc}", "unreadable_manifest", error=str(exc))
        return []
    if [dict(r) for r in table] != [{k: str(v) for k, v in r.items()} for r in rows]:
        state.fail("manifest", MANIFEST_CSV, "manifest.csv and manifest.jsonl disagree", "manifest_disagree")
    listed = Counter(str(row.get("file", "")) for row in rows)
    for file, count in listed.items():
        if count > 1:
            state.fail("manifest", file, f"listed {count} times", "listed_repeatedly", count=count)
        if file not in names:
            state.fail("manifest", file, "listed in the manifest but missing", "listed_but_missing")
    for name in sorted(n for n in names if n.startswith(MEDIA_DIR) and n not in listed):
        state.fail("manifest", name, "media file not in the manifest", "not_in_manifest")
    state.items = len(rows)
    return [row for row in rows if row.get("file") in names]


def _check_media(
    reader: _Reader,
    rows: list[dict[str, str]],
    state: _State,
    check_faces: bool,
    detectors: DetectorSettings | None,
) -> None:
    if not check_faces:
        state.skipped.add("faces")
    for row in rows:
        name = row["file"]
        data = reader.read(name)
        if hashlib.sha256(data).hexdigest() != row.get("sha256") or str(len(data)) != str(row.get("bytes")):
            state.fail("checksum", name, "size or SHA-256 differs from the manifest", "checksum_mismatch")
        _check_metadata(name, data, state)
        if check_faces and sniff(data).kind == "image":
            _check_faces(name, data, state, detectors)


def _check_metadata(name: str, data: bytes, state: _State) -> None:
    found = sniff(data).format
    if found not in ("JPEG", "PNG", "WAV", "FLAC"):
        state.fail(
            "metadata",
            name,
            f"{found or 'unknown'} is not a releasable media format",
            "unreleasable_format",
            format=found,
        )
        return
    leftovers = sorted({t.key for t in disallowed_tags(data)})
    if leftovers:
        state.fail(
            "metadata", name, "tags outside the allow-list: " + ", ".join(leftovers), "tags_not_allowed", tags=leftovers
        )


def _check_faces(name: str, data: bytes, state: _State, detectors: DetectorSettings | None) -> None:
    try:
        rgb = _decode_rgb(data)
    except MediaError as exc:
        state.fail(
            "faces", name, f"image could not be decoded for the face check: {exc}", "undecodable_image", error=str(exc)
        )
        return
    clusters = faces_other_than(rgb, None, detectors)
    if len(clusters) > 1:
        boxes = [c.box.as_tuple() for c in clusters]
        state.fail(
            "faces",
            name,
            f"{len(clusters)} faces detectable (one subject allowed): " + "; ".join(str(b) for b in boxes),
            "extra_faces",
            count=len(clusters),
            boxes=[[int(v) for v in b] for b in boxes],
        )


def _decode_rgb(data: bytes) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data), formats=["JPEG", "PNG"]) as image:
            if image.width * image.height > _MAX_VERIFY_PIXELS:
                raise MediaError(f"{image.width}x{image.height} is too large to check")
            return np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise MediaError(str(exc)) from exc


def _check_exiftool(reader: _Reader, rows: list[dict[str, str]], state: _State, use: bool | None) -> None:
    if use is False or (use is None and not exiftool_available()):
        state.skipped.add("exiftool")
        return
    with tempfile.TemporaryDirectory(prefix="datadam-verify-") as scratch:
        for start in range(0, len(rows), _EXIFTOOL_BATCH):
            batch = rows[start : start + _EXIFTOOL_BATCH]
            try:
                _exiftool_batch(reader, batch, Path(scratch), state)
            except ToolUnavailable as exc:
                state.fail("exiftool", None, str(exc), "exiftool_unavailable", error=exc.detail)
                return


def _exiftool_batch(reader: _Reader, batch: list[dict[str, str]], scratch: Path, state: _State) -> None:
    paths: dict[str, str] = {}
    for index, row in enumerate(batch):
        target = scratch / f"{index}{Path(row['file']).suffix}"
        target.write_bytes(reader.read(row["file"]))
        paths[str(target)] = row["file"]
    for path, tags in exiftool_tags_many(list(paths)).items():
        bad = sorted({t.key for t in tags if not t.allowed})
        if bad:
            state.fail(
                "exiftool", paths[path], "tags outside the allow-list: " + ", ".join(bad), "tags_not_allowed", tags=bad
            )
        Path(path).unlink()


def _check_pii(reader: _Reader, names: set[str], state: _State) -> None:
    for name in sorted(names):
        for finding in find_pii(name):
            state.fail("pii", name, f"file name holds a {finding.kind} pattern", "pii_in_file_name", kind=finding.kind)
    for name in TEXT_FILES:
        if name in names:
            for line_number, kind in _pii_lines(reader.read(name)):
                state.fail(
                    "pii", name, f"line {line_number}: {kind} pattern", "pii_in_line", line=line_number, kind=kind
                )


def _pii_lines(data: bytes) -> Iterator[tuple[int, str]]:
    text = data.decode("utf-8", "replace")
    for number, line in enumerate(text.splitlines(), start=1):
        for finding in find_pii(line):
            yield number, finding.kind


def _check_k(reader: _Reader, names: set[str], rows: list[dict[str, str]], k_min: int, state: _State) -> None:
    # A class is counted in people, not rows: one contributor's ten photos in a bracket are one person.
    # The datasheet's k is what the licensee is promised, so a caller's lower k_min never lowers the bar.
    if DATASHEET_JSON not in names:
        return
    try:
        datasheet = json.loads(reader.read(DATASHEET_JSON).decode("utf-8"))
        quasi = [str(q) for q in datasheet["quasi_identifiers"]]
        promised = _datasheet_k(datasheet)
    except _InvalidK as exc:
        state.fail(
            "k_anonymity",
            DATASHEET_JSON,
            f"quasi-identifiers or k unreadable: {exc}",
            "datasheet_k_invalid",
            value=exc.value,
        )
        return
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        state.fail(
            "k_anonymity",
            DATASHEET_JSON,
            f"quasi-identifiers or k unreadable: {exc}",
            "datasheet_unreadable",
            error=str(exc),
        )
        return
    missing = [c for c in (*quasi, SUBJECT_COLUMN) if any(c not in row for row in rows)]
    if missing:
        state.fail(
            "k_anonymity", MANIFEST_JSONL, f"columns missing: {', '.join(missing)}", "columns_missing", columns=missing
        )
        return
    state.k_required = max(k_min, promised)
    state.k_achieved = measured_k(rows, quasi, SUBJECT_COLUMN)
    if 0 < state.k_achieved < state.k_required:
        state.fail(
            "k_anonymity",
            MANIFEST_JSONL,
            f"the rarest signature is shared by {state.k_achieved} distinct people; k required {state.k_required}"
            f" (k_min {k_min}, datasheet k {promised})",
            "k_too_low",
            achieved=state.k_achieved,
            required=state.k_required,
            k_min=k_min,
            promised=promised,
        )


class _InvalidK(ValueError):
    """The datasheet's k is not a whole number >= 1; `value` is what it says, as written (repr)."""

    def __init__(self, value: object) -> None:
        super().__init__(f"k must be a whole number >= 1, got {value!r}")
        self.value = repr(value)


def _datasheet_k(datasheet: Mapping[str, Any]) -> int:
    value = datasheet["k"]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _InvalidK(value)
    return value
