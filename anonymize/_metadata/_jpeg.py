"""JPEG segment walker: APPn segments (JFIF, EXIF, XMP, ICC, MPF, Photoshop/IPTC, Adobe, vendor blocks),
comments and anything appended after the end-of-image marker.

The entropy-coded data is skipped, not parsed. Only JFIF density fields and the Adobe colour-transform marker
are allowed; every other APPn segment, known or not, is reported as not allowed.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from anonymize._metadata._blocks import icc_tag, photoshop_tags, xmp_tags
from anonymize._metadata._tag import MetadataTag, printable, tag
from anonymize._metadata._tiff import walk_tiff

_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
_XMP_ID = b"http://ns.adobe.com/xap/1.0/\x00"
_XMP_EXT_ID = b"http://ns.adobe.com/xmp/extension/\x00"


def inspect_jpeg(data: bytes) -> Iterator[MetadataTag]:
    """Yield the metadata of every segment of the JPEG `data`."""
    pos = 2
    size = len(data)
    while pos + 2 <= size:
        if data[pos] != 0xFF:
            yield MetadataTag("JPEG", "Garbage", f"at offset {pos}")
            return
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker in _STANDALONE or marker == 0xD8:
            pos += 2
            continue
        if marker == 0xD9:
            yield from _trailer(data[pos + 2 :])
            return
        if pos + 4 > size:
            break
        length = struct.unpack_from(">H", data, pos + 2)[0]
        segment = data[pos + 4 : pos + 2 + length]
        yield from _segment(marker, segment)
        pos += 2 + length
        if marker == 0xDA:
            pos = _skip_entropy(data, pos)
    yield MetadataTag("JPEG", "MissingEOI", "truncated file")


def _skip_entropy(data: bytes, pos: int) -> int:
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= len(data):
            return len(data)
        following = data[pos + 1]
        if following == 0x00 or following in _STANDALONE or following == 0xFF:
            pos += 1 if following == 0xFF else 2
            continue
        return pos


def _trailer(rest: bytes) -> Iterator[MetadataTag]:
    if rest.strip(b"\x00\r\n \xff"):
        yield MetadataTag("Trailer", "TrailerData", f"<{len(rest)} bytes after end of image>")


def _segment(marker: int, segment: bytes) -> Iterator[MetadataTag]:
    if marker == 0xFE:
        yield MetadataTag("Comment", "Comment", printable(segment))
    elif marker == 0xE0:
        yield from _app0(segment)
    elif marker == 0xE1:
        yield from _app1(segment)
    elif marker == 0xE2:
        yield from _app2(segment)
    elif marker == 0xED:
        yield from _app13(segment)
    elif marker == 0xEE and segment.startswith(b"Adobe") and len(segment) >= 12:
        version, flags0, flags1, transform = struct.unpack_from(">HHHB", segment, 5)
        for name, value in (
            ("DCTEncodeVersion", version),
            ("APP14Flags0", flags0),
            ("APP14Flags1", flags1),
            ("ColorTransform", transform),
        ):
            yield tag("Adobe", name, value)
    elif 0xE0 <= marker <= 0xEF:
        yield MetadataTag(f"APP{marker - 0xE0}", _identifier(segment), f"<{len(segment)} bytes>")


def _identifier(segment: bytes) -> str:
    ident = segment[:32].split(b"\x00", 1)[0]
    text = ident.decode("latin-1")
    return text if text.isprintable() and text else "Unknown"


def _app0(segment: bytes) -> Iterator[MetadataTag]:
    if segment.startswith(b"JFIF\x00") and len(segment) >= 14:
        major, minor, unit, x_density, y_density, thumb_w, thumb_h = struct.unpack_from(">BBBHHBB", segment, 5)
        yield tag("JFIF", "JFIFVersion", f"{major}.{minor:02d}")
        yield tag("JFIF", "ResolutionUnit", unit)
        yield tag("JFIF", "XResolution", x_density)
        yield tag("JFIF", "YResolution", y_density)
        if thumb_w * thumb_h or len(segment) > 14:
            yield MetadataTag("Thumbnail", "JFIFThumbnail", f"{thumb_w}x{thumb_h}")
    elif segment.startswith(b"JFXX\x00"):
        yield MetadataTag("Thumbnail", "JFXXThumbnail", f"<{len(segment)} bytes>")
    else:
        yield MetadataTag("APP0", _identifier(segment), f"<{len(segment)} bytes>")


def _app1(segment: bytes) -> Iterator[MetadataTag]:
    if segment.startswith(b"Exif\x00"):
        yield from walk_tiff(segment[6:], in_exif=True)
    elif segment.startswith(_XMP_ID):
        yield from xmp_tags(segment[len(_XMP_ID) :])
    elif segment.startswith(_XMP_EXT_ID):
        yield MetadataTag("XMP", "ExtendedXMP", f"<{len(segment)} bytes>")
    else:
        yield MetadataTag("APP1", _identifier(segment), f"<{len(segment)} bytes>")


def _app2(segment: bytes) -> Iterator[MetadataTag]:
    if segment.startswith(b"ICC_PROFILE\x00"):
        if len(segment) > 14 and segment[12] == 1:
            yield icc_tag(segment[14:])
        else:
            yield MetadataTag("ICC", "ICC_ProfileChunk", f"<{len(segment)} bytes>")
    elif segment.startswith(b"MPF\x00"):
        yield MetadataTag("MPF", "MultiPictureFormat", "embedded preview images")
    else:
        yield MetadataTag("APP2", _identifier(segment), f"<{len(segment)} bytes>")


def _app13(segment: bytes) -> Iterator[MetadataTag]:
    if segment.startswith(b"Photoshop 3.0\x00"):
        yield from photoshop_tags(segment[14:])
    else:
        yield MetadataTag("APP13", _identifier(segment), f"<{len(segment)} bytes>")
