"""exiftool as an independent oracle: run it on files and classify every tag it reports against the allow-list
of harmless structure (file system facts, image geometry, JFIF density, PNG/RIFF/FLAC stream parameters).

exiftool is optional: `exiftool_available()` says whether the binary is on PATH; the release verifier uses it
when present and the tests that need it skip otherwise. Output is parsed as JSON (`-j -G1 -a -u -s`), one
process per batch of files.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from anonymize._metadata._tag import printable
from anonymize.errors import ToolUnavailable

_TIMEOUT_S = 120
_BATCH = 200

# exiftool (-G1) group:name pairs that describe decoding structure or the file system, never content.
EXIFTOOL_ALLOWED: frozenset[str] = frozenset(
    {
        "SourceFile",
        "ExifTool:ExifToolVersion",
        "File:FileType",
        "File:FileTypeExtension",
        "File:MIMEType",
        "File:ImageWidth",
        "File:ImageHeight",
        "File:EncodingProcess",
        "File:BitsPerSample",
        "File:ColorComponents",
        "File:YCbCrSubSampling",
        "JFIF:JFIFVersion",
        "JFIF:ResolutionUnit",
        "JFIF:XResolution",
        "JFIF:YResolution",
        "Adobe:DCTEncodeVersion",
        "Adobe:APP14Flags0",
        "Adobe:APP14Flags1",
        "Adobe:ColorTransform",
        "PNG:ImageWidth",
        "PNG:ImageHeight",
        "PNG:BitDepth",
        "PNG:ColorType",
        "PNG:Compression",
        "PNG:Filter",
        "PNG:Interlace",
        "PNG:Palette",
        "PNG:Transparency",
        "PNG:Gamma",
        "PNG:SRGBRendering",
        "PNG-pHYs:PixelsPerUnitX",
        "PNG-pHYs:PixelsPerUnitY",
        "PNG-pHYs:PixelUnits",
        "RIFF:Encoding",
        "RIFF:NumChannels",
        "RIFF:SampleRate",
        "RIFF:AvgBytesPerSec",
        "RIFF:BitsPerSample",
        "RIFF:NumSampleFrames",
        "FLAC:BlockSizeMin",
        "FLAC:BlockSizeMax",
        "FLAC:FrameSizeMin",
        "FLAC:FrameSizeMax",
        "FLAC:SampleRate",
        "FLAC:Channels",
        "FLAC:BitsPerSample",
        "FLAC:TotalSamples",
        "FLAC:MD5Signature",
        "Composite:ImageSize",
        "Composite:Megapixels",
        "Composite:Duration",
    }
)
_ALLOWED_GROUPS = frozenset({"System"})


@dataclass(frozen=True)
class ExiftoolTag:
    """One tag as exiftool reports it; `group` is its family-1 group (IFD0, GPS, XMP-dc, ID3v2_3...)."""

    group: str
    name: str
    value: str
    allowed: bool

    @property
    def key(self) -> str:
        return f"{self.group}:{self.name}"


def exiftool_available() -> bool:
    """Whether the `exiftool` binary is on PATH."""
    return shutil.which("exiftool") is not None


def exiftool_tags(path: str | Path) -> list[ExiftoolTag]:
    """Every tag exiftool reports for the file at `path`. Raises `ToolUnavailable` without exiftool."""
    return exiftool_tags_many([path])[str(path)]


def exiftool_tags_many(paths: Sequence[str | Path]) -> dict[str, list[ExiftoolTag]]:
    """Tags of many files, a few exiftool processes in all; keyed by the path as given (str)."""
    results: dict[str, list[ExiftoolTag]] = {}
    for start in range(0, len(paths), _BATCH):
        batch = [str(p) for p in paths[start : start + _BATCH]]
        for source, record in zip(batch, _run(batch), strict=True):
            results[source] = list(_classify(record))
    return results


def _run(paths: list[str]) -> list[dict[str, object]]:
    binary = shutil.which("exiftool")
    if binary is None:
        raise ToolUnavailable("exiftool", "not installed (apt-get install libimage-exiftool-perl)")
    command = [binary, "-j", "-G1", "-a", "-u", "-s", "-charset", "filename=utf8", "--", *paths]
    try:
        done = subprocess.run(command, capture_output=True, timeout=_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolUnavailable("exiftool", f"did not run: {exc}") from exc
    try:
        records = json.loads(done.stdout.decode("utf-8", "replace") or "[]")
    except json.JSONDecodeError as exc:
        raise ToolUnavailable("exiftool", f"unreadable output (exit {done.returncode})") from exc
    if not isinstance(records, list) or len(records) != len(paths):
        raise ToolUnavailable("exiftool", f"expected {len(paths)} records, got {len(records)}")
    return records


def _classify(record: dict[str, object]) -> Iterable[ExiftoolTag]:
    for key, value in record.items():
        group, _, name = key.rpartition(":")
        allowed = key in EXIFTOOL_ALLOWED or group in _ALLOWED_GROUPS
        yield ExiftoolTag(group, name, printable(value), allowed)
