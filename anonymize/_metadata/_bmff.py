"""ISO base media (HEIF/HEIC, MP4/M4A) box walker: EXIF and XMP items, thumbnails and auxiliary images (depth
maps), ICC colour boxes, user-data and uuid boxes. Used on inputs only: datadam never releases
HEIF or MP4, so nothing here is allowed."""

from __future__ import annotations

import struct
from collections.abc import Iterator

from anonymize._metadata._tag import MetadataTag, printable

_CONTAINERS = frozenset(
    {
        b"moov",
        b"trak",
        b"mdia",
        b"minf",
        b"stbl",
        b"dinf",
        b"edts",
        b"iprp",
        b"ipco",
        b"mvex",
        b"moof",
        b"traf",
    }
)
_FULL_CONTAINERS = frozenset({b"meta"})
_XMP_UUID = bytes.fromhex("be7acfcb97a942e89c71999491e3afac")
_MAX_DEPTH = 8


def boxes(data: bytes, start: int = 0, end: int | None = None) -> Iterator[tuple[bytes, bytes]]:
    """(type, body) of each box between `start` and `end`; stops at a malformed size."""
    pos, stop = start, len(data) if end is None else end
    while pos + 8 <= stop:
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1 and pos + 16 <= stop:
            size, header = struct.unpack_from(">Q", data, pos + 8)[0], 16
        elif size == 0:
            size = stop - pos
        if size < header or pos + size > stop:
            return
        yield kind, data[pos + header : pos + size]
        pos += size


def inspect_bmff(data: bytes) -> Iterator[MetadataTag]:
    """Yield the metadata-bearing boxes and items of a HEIF or MP4 file."""
    yield from _walk(data, 0)


def _walk(data: bytes, depth: int) -> Iterator[MetadataTag]:
    if depth > _MAX_DEPTH:
        return
    for kind, body in boxes(data):
        if kind in _CONTAINERS:
            yield from _walk(body, depth + 1)
        elif kind in _FULL_CONTAINERS:
            yield from _walk(body[4:], depth + 1)
        else:
            yield from _box(kind, body)


def _box(kind: bytes, body: bytes) -> Iterator[MetadataTag]:
    if kind == b"iinf":
        yield from _items(body)
    elif kind == b"iref":
        yield from _references(body)
    elif kind == b"colr" and body[:4] in (b"prof", b"rICC"):
        yield MetadataTag("ICC", "ICC_Profile", f"<{len(body) - 4} bytes>")
    elif kind == b"udta":
        for child, child_body in boxes(body):
            yield MetadataTag("QuickTime", child.decode("latin-1"), printable(child_body[:128]))
    elif kind == b"uuid":
        group = "XMP" if body[:16] == _XMP_UUID else "UUID"
        yield MetadataTag(group, body[:16].hex(), f"<{len(body)} bytes>")


def _items(body: bytes) -> Iterator[MetadataTag]:
    version = body[0] if body else 0
    start = 4 + (2 if version == 0 else 4)
    for kind, infe in boxes(body, start):
        if kind != b"infe" or len(infe) < 12 or infe[0] < 2:
            continue
        id_size = 4 if infe[0] >= 3 else 2
        item_type = infe[4 + id_size + 2 : 4 + id_size + 6]
        rest = infe[4 + id_size + 6 :]
        if item_type == b"Exif":
            yield MetadataTag("EXIF", "ExifItem", "EXIF block in HEIF")
        elif item_type == b"mime":
            content_type = rest.split(b"\x00")[1] if rest.count(b"\x00") >= 2 else b""
            group = "XMP" if b"xmp" in content_type or b"rdf" in content_type else "HEIF"
            yield MetadataTag(group, "MimeItem", printable(content_type))


def _references(body: bytes) -> Iterator[MetadataTag]:
    for kind, _ref in boxes(body, 4):
        if kind == b"thmb":
            yield MetadataTag("Thumbnail", "HEIFThumbnail", "thumbnail item")
        elif kind == b"auxl":
            yield MetadataTag("ExtraFrames", "AuxiliaryImage", "auxiliary image (depth map or alpha)")
