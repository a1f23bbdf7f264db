"""RIFF and IFF chunk walkers: WebP (ICCP, EXIF, XMP, animation), WAVE (LIST INFO/adtl, bext, iXML, id3, cue,
cart, XMP...) and AIFF (NAME, AUTH, ANNO, ID3...). Only the format, fact, data/image and zero padding chunks
are allowed."""

from __future__ import annotations

import struct
from collections.abc import Iterator

from anonymize._metadata._blocks import icc_tag, xmp_tags
from anonymize._metadata._tag import MetadataTag, printable, tag
from anonymize._metadata._tiff import walk_tiff

_WEBP_IMAGE = frozenset({b"VP8 ", b"VP8L", b"VP8X", b"ALPH"})
_PADDING = frozenset({b"JUNK", b"PAD ", b"FLLR", b"junk", b"pad "})
_MAX_CHUNKS = 10_000


def chunks(data: bytes, start: int, order: str = "<") -> Iterator[tuple[bytes, bytes]]:
    """(id, body) of each chunk from `start`, stopping at the end or at a chunk that overruns the data."""
    pos = start
    for _ in range(_MAX_CHUNKS):
        if pos + 8 > len(data):
            return
        kind, size = struct.unpack_from(order + "4sI", data, pos)
        body = data[pos + 8 : pos + 8 + size]
        yield kind, body
        pos += 8 + size + (size & 1)


def inspect_webp(data: bytes) -> Iterator[MetadataTag]:
    """Yield the metadata chunks of the WebP `data`."""
    for kind, body in chunks(data, 12):
        if kind in _WEBP_IMAGE:
            continue
        if kind == b"ICCP":
            yield icc_tag(body)
        elif kind == b"EXIF":
            yield from walk_tiff(body[6:] if body.startswith(b"Exif\x00") else body, in_exif=True)
        elif kind == b"XMP ":
            yield from xmp_tags(body)
        elif kind in (b"ANIM", b"ANMF"):
            yield MetadataTag("ExtraFrames", kind.decode("latin-1"), "animation")
        else:
            yield MetadataTag("RIFF", kind.decode("latin-1").strip(), f"<{len(body)} bytes>")


def inspect_wave(data: bytes) -> Iterator[MetadataTag]:
    """Yield the chunks of the WAVE `data` (RIFF or RF64)."""
    for kind, body in chunks(data, 12):
        if kind == b"data":
            continue
        if kind == b"fmt ":
            yield tag("RIFF", "fmt", f"<{len(body)} bytes>")
        elif kind == b"fact" and len(body) == 4:
            yield tag("RIFF", "fact", struct.unpack("<I", body)[0])
        elif kind in _PADDING and not body.strip(b"\x00"):
            yield tag("RIFF", "padding", len(body))
        else:
            yield from _wave_chunk(kind, body)


def _wave_chunk(kind: bytes, body: bytes) -> Iterator[MetadataTag]:
    if kind == b"LIST" and body[:4] in (b"INFO", b"adtl"):
        group = "RIFF-INFO" if body[:4] == b"INFO" else "RIFF-adtl"
        for sub, value in chunks(body, 4):
            yield MetadataTag(group, sub.decode("latin-1").strip(), printable(value))
    elif kind in (b"id3 ", b"ID3 ", b"ID32"):
        yield MetadataTag("ID3", "ID3v2", f"<{len(body)} bytes in RIFF>")
    elif kind in (b"_PMX", b"XMP "):
        yield from xmp_tags(body)
    elif kind == b"bext":
        yield MetadataTag("bext", "BroadcastExtension", printable(body[:256]))
    elif kind == b"iXML":
        yield MetadataTag("iXML", "iXML", printable(body))
    else:
        yield MetadataTag("RIFF", kind.decode("latin-1").strip() or "(blank)", f"<{len(body)} bytes>")


def inspect_aiff(data: bytes) -> Iterator[MetadataTag]:
    """Yield the chunks of the AIFF/AIFC `data` (big-endian IFF)."""
    for kind, body in chunks(data, 12, ">"):
        if kind in (b"COMM", b"SSND", b"FVER"):
            continue
        name = kind.decode("latin-1").strip()
        if kind in (b"ID3 ", b"id3 "):
            yield MetadataTag("ID3", "ID3v2", f"<{len(body)} bytes in AIFF>")
        else:
            yield MetadataTag("AIFF", name or "(blank)", printable(body[:256]))
