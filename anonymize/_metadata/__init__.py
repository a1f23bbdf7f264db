"""datadam's own metadata inspector: one parser per container, all yielding `MetadataTag`s, so the release
verifier does not depend on an outside tool (exiftool is a second opinion when installed)."""

from __future__ import annotations

from collections.abc import Iterator

from anonymize._formats import AUDIO_FORMATS, IMAGE_FORMATS, sniff
from anonymize._metadata._audio import inspect_audio
from anonymize._metadata._bmff import inspect_bmff
from anonymize._metadata._jpeg import inspect_jpeg
from anonymize._metadata._png import inspect_png
from anonymize._metadata._riff import inspect_webp
from anonymize._metadata._tag import ALLOWED, MetadataTag
from anonymize._metadata._tiff import walk_tiff
from anonymize.errors import UnsupportedFormat

__all__ = ["ALLOWED", "MetadataTag", "disallowed_tags", "inspect_metadata", "removed_groups"]


def inspect_metadata(data: bytes) -> list[MetadataTag]:
    """Every metadata tag in an image or audio file, each marked allowed or not.

    Raises `UnsupportedFormat` when `data` is none of the accepted image or audio formats.
    """
    found = sniff(data)
    if not found.accepted or found.format is None:
        raise UnsupportedFormat(found.format, IMAGE_FORMATS + AUDIO_FORMATS)
    if found.kind == "audio":
        return list(inspect_audio(data, found.format))
    return list(_image_tags(data, found.format))


def _image_tags(data: bytes, fmt: str) -> Iterator[MetadataTag]:
    if fmt == "JPEG":
        yield from inspect_jpeg(data)
    elif fmt == "PNG":
        yield from inspect_png(data)
    elif fmt == "WEBP":
        yield from inspect_webp(data)
    elif fmt == "TIFF":
        yield from walk_tiff(data, in_exif=False, group="TIFF")
    else:
        yield from inspect_bmff(data)


def disallowed_tags(data: bytes) -> list[MetadataTag]:
    """The tags of `data` outside the allow-list (empty for a clean file). Raises like `inspect_metadata`."""
    return [t for t in inspect_metadata(data) if not t.allowed]


def removed_groups(tags: list[MetadataTag]) -> tuple[str, ...]:
    """The distinct groups of the disallowed `tags`, sorted: what a scrub reports as removed."""
    return tuple(sorted({t.group for t in tags if not t.allowed}))
