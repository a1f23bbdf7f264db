"""Click commands of the anonymize package; the `datadam` CLI mounts them.

    anonymize file IN OUT [--keep-subject] [--json]      scrub one image or recording
    release_verify DIR [--json] [--keys FILE] ...       mounted as `datadam release verify`
    bench_release [--photos N] [--sample N] ...         mounted as `datadam bench release`

`anonymize file` chooses the output format from OUT's suffix (.jpg/.jpeg/.png for photos, .wav/.flac for
recordings). A photo always has its faces masked: every face by default, every face but the dominant one with
`--keep-subject`. Exit status 0 on success, 1 with a message for a refused or broken file.
"""

from __future__ import annotations

import base64
import binascii
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

import click

from anonymize._audio import AudioOutFormat, scrub_audio
from anonymize._faces import DetectorSettings
from anonymize._formats import AUDIO_FORMATS, IMAGE_FORMATS, sniff
from anonymize._image import ImageOutFormat
from anonymize._pipeline import anonymize_photo
from anonymize._verify import verify_package
from anonymize.errors import AnonymizeError, ReleaseFormatError, UnsupportedFormat

_IMAGE_SUFFIXES: dict[str, ImageOutFormat] = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG"}
_AUDIO_SUFFIXES: dict[str, AudioOutFormat] = {".wav": "wav", ".flac": "flac"}


@click.group("anonymize")
def anonymize() -> None:
    """Scrub media for release."""


@anonymize.command("file")
@click.argument("source", metavar="IN", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("target", metavar="OUT", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--keep-subject", is_flag=True, help="Keep the dominant face; mask every other face.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
def anonymize_file(source: Path, target: Path, keep_subject: bool, as_json: bool) -> None:
    """Scrub IN into OUT: no metadata survives, faces are masked (all, or all but the subject's)."""
    try:
        details = _anonymize(source.read_bytes(), target, keep_subject)
    except (AnonymizeError, ValueError, OSError) as exc:
        _refuse(source, exc, as_json)
    outcome = {"ok": True, "input": str(source), "output": str(target), **details}
    if as_json:
        click.echo(json.dumps(outcome, ensure_ascii=False))
        return
    removed = ", ".join(outcome["removed"]) or "nothing"
    click.echo(f"{target}: {outcome['format']}; removed: {removed}")
    if outcome["kind"] == "image":
        kept = "kept the subject's face" if outcome["subject_kept"] else "no face kept"
        click.echo(f"masked {outcome['faces_masked']} face(s); {kept}")


def _anonymize(data: bytes, target: Path, keep_subject: bool) -> dict[str, Any]:
    kind = sniff(data).kind
    suffix = target.suffix.lower()
    if kind == "image":
        if suffix not in _IMAGE_SUFFIXES:
            raise ValueError(f"OUT for a photo must end in {', '.join(_IMAGE_SUFFIXES)}")
        photo = anonymize_photo(data, keep_subject=keep_subject, out_format=_IMAGE_SUFFIXES[suffix])
        target.write_bytes(photo.media.data)
        return {
            "kind": "image",
            "format": photo.media.format,
            "width": photo.media.width,
            "height": photo.media.height,
            "removed": list(photo.media.removed),
            "faces_masked": photo.faces_masked,
            "subject_kept": photo.mask.subject_box is not None,
            "clean": photo.clean,
        }
    if kind == "audio":
        if suffix not in _AUDIO_SUFFIXES:
            raise ValueError(f"OUT for a recording must end in {', '.join(_AUDIO_SUFFIXES)}")
        audio = scrub_audio(data, _AUDIO_SUFFIXES[suffix])
        target.write_bytes(audio.data)
        return {
            "kind": "audio",
            "format": audio.format,
            "sample_rate": audio.sample_rate,
            "channels": audio.channels,
            "duration_s": round(audio.duration_s, 3),
            "removed": list(audio.removed),
        }
    raise UnsupportedFormat(sniff(data).format, IMAGE_FORMATS + AUDIO_FORMATS)


def _refuse(source: Path, error: Exception, as_json: bool) -> NoReturn:
    code = getattr(error, "code", "usage" if isinstance(error, ValueError) else "error")
    if as_json:
        click.echo(json.dumps({"ok": False, "input": str(source), "error": code, "detail": str(error)}))
    click.echo(f"refused {source}: {error}", err=True)
    sys.exit(1)


@click.command("verify")
@click.argument("package", metavar="DIR", type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
@click.option(
    "--keys",
    "keys_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='JSON file {"key-id": "<base64 raw Ed25519 public key>"}.',
)
@click.option(
    "--public-key", "inline_keys", multiple=True, metavar="KEY_ID=BASE64", help="A trusted public key (repeatable)."
)
@click.option(
    "--k-min",
    default=5,
    show_default=True,
    type=click.IntRange(min=1),
    help="Required k, in distinct people per signature (set of classes); the datasheet's own k applies when higher.",
)
@click.option("--no-faces", is_flag=True, help="Skip the face re-detection (faster, incomplete).")
@click.option("--no-exiftool", is_flag=True, help="Do not use exiftool even when installed.")
@click.option("--cnn", is_flag=True, help="Also search faces with dlib's CNN detector (thorough, slow).")
def release_verify(
    package: Path,
    as_json: bool,
    keys_file: Path | None,
    inline_keys: tuple[str, ...],
    k_min: int,
    no_faces: bool,
    no_exiftool: bool,
    cnn: bool,
) -> None:
    """Re-check a release package (zip, tar or directory); exit 0 only if every check passes."""
    try:
        keys = _load_keys(keys_file, inline_keys)
        report = verify_package(
            package,
            keys,
            k_min,
            check_faces=not no_faces,
            use_exiftool=False if no_exiftool else None,
            detectors=DetectorSettings(cnn=cnn),
        )
    except ReleaseFormatError as exc:
        click.echo(json.dumps({"ok": False, "package": str(package), "error": str(exc)}) if as_json else str(exc))
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        for check, status in report.checks.items():
            click.echo(f"{check:12} {status}")
        if report.k_required is not None:
            click.echo(
                f"k            {report.k_achieved} people share the rarest signature (required {report.k_required})"
            )
        for failure in report.failures:
            click.echo(f"FAIL {failure.check}: {failure.file or '-'}: {failure.detail}")
        click.echo("release verified" if report.ok else f"{len(report.failures)} failure(s)")
    sys.exit(0 if report.ok else 1)


def _load_keys(keys_file: Path | None, inline: tuple[str, ...]) -> dict[str, bytes]:
    entries: dict[str, str] = {}
    if keys_file is not None:
        try:
            loaded = json.loads(keys_file.read_text("utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ReleaseFormatError(str(keys_file), f"unreadable key file: {exc}") from exc
        if not isinstance(loaded, Mapping):
            raise ReleaseFormatError(str(keys_file), "expected a JSON object of key id -> base64 key")
        entries.update({str(k): str(v) for k, v in loaded.items()})
    for item in inline:
        key_id, sep, value = item.partition("=")
        if not sep:
            raise ReleaseFormatError("--public-key", f"expected KEY_ID=BASE64, got {item!r}")
        entries[key_id] = value
    try:
        return {key_id: base64.b64decode(value, validate=True) for key_id, value in entries.items()}
    except binascii.Error as exc:
        raise ReleaseFormatError("public keys", f"not base64: {exc}") from exc


@click.command("release")
@click.option(
    "--photos", default=70_000, show_default=True, type=click.IntRange(min=1), help="Photos in the synthesised release."
)
@click.option(
    "--sample",
    default=40,
    show_default=True,
    type=click.IntRange(min=1),
    help="Distinct real photos scrubbed and masked for the photos/s figure.",
)
@click.option(
    "--cameras",
    type=click.IntRange(min=0),
    default=8,
    show_default=True,
    help="Phone-sized camera JPEGs (exif_samples, >= 1500 px) scrubbed and masked for the seconds/photo figure.",
)
@click.option(
    "--data-dir",
    "--data",
    "data_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Shared evaluation data (default: ../shared/data beside the checkout).",
)
@click.option("--archive", type=click.Choice(["zip", "tar", "dir"]), default="zip", show_default=True)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to write the package (default: a temporary directory, removed afterwards).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def bench_release(
    photos: int, sample: int, cameras: int, data_dir: Path | None, archive: str, workdir: Path | None,
    as_json: bool
) -> None:
    """Benchmark scrub+mask throughput and peak memory while building a large release."""
    from anonymize.bench import run_release_benchmark

    figures = run_release_benchmark(photos, sample, data_dir, archive, workdir, progress=not as_json,
                                    cameras=cameras)
    if as_json:
        click.echo(json.dumps(figures.to_dict(), indent=2))
    else:
        for key, value in figures.to_dict().items():
            click.echo(f"{key:32} {value}")
