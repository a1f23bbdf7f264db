"""Audio tag readers: FLAC metadata blocks (own parser), ID3v2 prefixes, ID3v1/APEv2/Lyrics3 trailers (own
checks) and the tag frames of MP3, Ogg, MP4/M4A and AAC via mutagen. Only FLAC STREAMINFO, SEEKTABLE and zero
PADDING are allowed."""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator

import mutagen
from mutagen.id3 import ID3

from anonymize._metadata._riff import inspect_aiff, inspect_wave
from anonymize._metadata._tag import MetadataTag, printable, tag

_FLAC_BLOCKS = {
    0: "STREAMINFO",
    1: "PADDING",
    2: "APPLICATION",
    3: "SEEKTABLE",
    4: "VORBIS_COMMENT",
    5: "CUESHEET",
    6: "PICTURE",
}
_TRAILER_WINDOW = 1 << 16


def inspect_audio(data: bytes, fmt: str) -> Iterator[MetadataTag]:
    """Yield the tags of audio `data` whose container `fmt` was sniffed beforehand."""
    if data.startswith(b"ID3") and fmt != "MP3":
        yield from id3_tags(data)
    if fmt == "FLAC":
        yield from flac_blocks(data[data.find(b"fLaC") :])
    elif fmt == "WAV":
        yield from inspect_wave(data)
    elif fmt == "AIFF":
        yield from inspect_aiff(data)
    else:
        yield from _mutagen_tags(data)
    yield from trailing_tags(data)


def flac_blocks(data: bytes) -> Iterator[MetadataTag]:
    """Walk the metadata blocks after the `fLaC` marker."""
    pos = 4
    while pos + 4 <= len(data):
        header = data[pos]
        kind = header & 0x7F
        size = int.from_bytes(data[pos + 1 : pos + 4], "big")
        body = data[pos + 4 : pos + 4 + size]
        yield from _flac_block(kind, body)
        pos += 4 + size
        if header & 0x80:
            return


def _flac_block(kind: int, body: bytes) -> Iterator[MetadataTag]:
    name = _FLAC_BLOCKS.get(kind, f"Block{kind}")
    if kind == 4:
        yield from vorbis_comments(body)
    elif kind == 1 and body.strip(b"\x00"):
        yield MetadataTag("FLAC", "PADDING", "non-zero padding")
    elif kind == 6:
        yield MetadataTag("Picture", "FLACPicture", f"<{len(body)} bytes>")
    else:
        yield tag("FLAC", name, f"<{len(body)} bytes>")


def vorbis_comments(body: bytes) -> Iterator[MetadataTag]:
    """The vendor string and each comment of a Vorbis comment block (little-endian lengths)."""
    try:
        vendor_len = struct.unpack_from("<I", body, 0)[0]
        yield MetadataTag("Vorbis", "Vendor", printable(body[4 : 4 + vendor_len]))
        pos = 4 + vendor_len
        count = struct.unpack_from("<I", body, pos)[0]
        pos += 4
        for _ in range(min(count, 10_000)):
            length = struct.unpack_from("<I", body, pos)[0]
            field, _, value = body[pos + 4 : pos + 4 + length].partition(b"=")
            yield MetadataTag("Vorbis", field.decode("utf-8", "replace").upper(), printable(value))
            pos += 4 + length
    except struct.error:
        yield MetadataTag("Vorbis", "Malformed", f"<{len(body)} bytes>")


def id3_tags(data: bytes) -> Iterator[MetadataTag]:
    """The frames of an ID3v2 tag at the start of `data`."""
    try:
        frames = ID3(io.BytesIO(data))
    except mutagen.MutagenError:
        yield MetadataTag("ID3", "ID3v2", "unreadable tag")
        return
    yield from _frames("ID3", frames)
    if not frames:
        yield MetadataTag("ID3", "ID3v2", "empty tag")


def trailing_tags(data: bytes) -> Iterator[MetadataTag]:
    """ID3v1, APEv2 and Lyrics3 tags that writers append to the end of any audio file."""
    tail = data[-_TRAILER_WINDOW:]
    if len(data) >= 128 and data[-128:-125] == b"TAG":
        yield MetadataTag("ID3v1", "ID3v1", printable(data[-125:-95]))
    if b"APETAGEX" in tail:
        yield MetadataTag("APE", "APEv2", "APEv2 tag")
    if b"LYRICS200" in tail or b"LYRICSEND" in tail:
        yield MetadataTag("Lyrics3", "Lyrics3", "Lyrics3 tag")


def _mutagen_tags(data: bytes) -> Iterator[MetadataTag]:
    try:
        parsed = mutagen.File(io.BytesIO(data))
    except mutagen.MutagenError:
        yield MetadataTag("Audio", "UnreadableTags", "mutagen could not parse the container")
        return
    tags = getattr(parsed, "tags", None)
    if tags:
        yield from _frames(_group_name(type(tags).__name__), tags)
    vendor = getattr(tags, "vendor", "")
    if vendor:
        yield MetadataTag("Vorbis", "Vendor", printable(vendor))


def _frames(group: str, tags: object) -> Iterator[MetadataTag]:
    items = tags.items() if hasattr(tags, "items") else []
    for key, value in items:
        yield MetadataTag(group, str(key), printable(value))


def _group_name(class_name: str) -> str:
    for marker, group in (("ID3", "ID3"), ("VComment", "Vorbis"), ("MP4", "MP4"), ("APE", "APE")):
        if marker in class_name:
            return group
    return class_name
