"""PNG chunk walker: text chunks (tEXt, zTXt, iTXt), eXIf, iCCP, tIME, animation and private chunks, and data
after IEND. Only the critical chunks and a few colour/density ancillaries are allowed."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

from anonymize._metadata._blocks import icc_tag, xmp_tags
from anonymize._metadata._tag import MetadataTag, printable, tag
from anonymize._metadata._tiff import walk_tiff

_MAX_TEXT = 1 << 16
_ANIMATION = frozenset({b"acTL", b"fcTL", b"fdAT"})


def inspect_png(data: bytes) -> Iterator[MetadataTag]:
    """Yield the metadata of every chunk of the PNG `data`."""
    pos = 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IDAT":
            continue
        if kind == b"IEND":
            if data[pos:].strip(b"\x00"):
                yield MetadataTag("Trailer", "TrailerData", f"<{len(data) - pos} bytes after IEND>")
            return
        yield from _chunk(kind, body)
    yield MetadataTag("PNG", "MissingIEND", "truncated file")


def _chunk(kind: bytes, body: bytes) -> Iterator[MetadataTag]:
    name = kind.decode("latin-1")
    if kind in (b"tEXt", b"zTXt", b"iTXt"):
        yield from _text_chunk(kind, body)
    elif kind == b"eXIf":
        yield from walk_tiff(body, in_exif=True)
    elif kind == b"iCCP":
        yield icc_tag(_inflate(body.partition(b"\x00")[2][1:]))
    elif kind == b"tIME":
        yield MetadataTag("PNG", "tIME", body.hex())
    elif kind in _ANIMATION:
        yield MetadataTag("ExtraFrames", name, "animation")
    else:
        found = tag("PNG", name, f"<{len(body)} bytes>")
        yield found if found.allowed else MetadataTag("PNG", name, f"<{len(body)} bytes>")


def _text_chunk(kind: bytes, body: bytes) -> Iterator[MetadataTag]:
    keyword, _, rest = body.partition(b"\x00")
    key = keyword.decode("latin-1")
    if kind == b"zTXt":
        value = _inflate(rest[1:])
    elif kind == b"iTXt" and len(rest) >= 2:
        compressed = rest[0] == 1
        _lang, _, rest2 = rest[2:].partition(b"\x00")
        _translated, _, text = rest2.partition(b"\x00")
        value = _inflate(text) if compressed else text
    else:
        value = rest
    if key == "XML:com.adobe.xmp":
        yield from xmp_tags(value, "XMP")
    else:
        yield MetadataTag("PNG-text", key or "(empty keyword)", printable(value))


def _inflate(raw: bytes) -> bytes:
    try:
        inflater = zlib.decompressobj()
        return inflater.decompress(raw, _MAX_TEXT)
    except zlib.error:
        return raw
