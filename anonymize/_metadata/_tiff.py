"""TIFF structure walker: the IFD chains of TIFF files and of EXIF blocks (JPEG APP1, PNG eXIf, WebP EXIF).

It follows IFD0 -> IFD1 (thumbnail), the EXIF, GPS and interoperability sub-IFDs and SubIFDs, with loop and
size guards, and yields one tag per entry. Inside an EXIF block nothing is allowed (released files carry no
EXIF); inside a standalone TIFF only the decoding structure is.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from anonymize._metadata._tag import MetadataTag, printable

_MAX_IFDS = 64
_MAX_ENTRIES = 4096
_TYPE_SIZES = {
    1: 1,
    2: 1,
    3: 2,
    4: 4,
    5: 8,
    6: 1,
    7: 1,
    8: 2,
    9: 4,
    10: 8,
    11: 4,
    12: 8,
    13: 4,
    16: 8,
    17: 8,
    18: 8,
}

STRUCTURAL_TAGS = frozenset(
    {
        254,
        255,
        256,
        257,
        258,
        259,
        262,
        266,
        273,
        277,
        278,
        279,
        282,
        283,
        284,
        296,
        317,
        320,
        322,
        323,
        324,
        325,
        338,
        339,
        529,
        530,
        531,
        532,
    }
)

TAG_NAMES = {
    254: "NewSubfileType",
    256: "ImageWidth",
    257: "ImageLength",
    258: "BitsPerSample",
    259: "Compression",
    262: "PhotometricInterpretation",
    269: "DocumentName",
    270: "ImageDescription",
    271: "Make",
    272: "Model",
    273: "StripOffsets",
    274: "Orientation",
    277: "SamplesPerPixel",
    278: "RowsPerStrip",
    279: "StripByteCounts",
    282: "XResolution",
    283: "YResolution",
    284: "PlanarConfiguration",
    285: "PageName",
    296: "ResolutionUnit",
    305: "Software",
    306: "DateTime",
    315: "Artist",
    316: "HostComputer",
    317: "Predictor",
    320: "ColorMap",
    322: "TileWidth",
    323: "TileLength",
    324: "TileOffsets",
    325: "TileByteCounts",
    330: "SubIFDs",
    338: "ExtraSamples",
    339: "SampleFormat",
    513: "ThumbnailOffset",
    514: "ThumbnailLength",
    529: "YCbCrCoefficients",
    530: "YCbCrSubSampling",
    531: "YCbCrPositioning",
    532: "ReferenceBlackWhite",
    700: "XMP",
    18246: "Rating",
    33432: "Copyright",
    33434: "ExposureTime",
    33437: "FNumber",
    33723: "IPTC-NAA",
    34377: "Photoshop",
    34665: "ExifIFD",
    34675: "ICC_Profile",
    34853: "GPSInfo",
    34850: "ExposureProgram",
    34855: "ISO",
    36864: "ExifVersion",
    36867: "DateTimeOriginal",
    36868: "CreateDate",
    36880: "OffsetTime",
    36881: "OffsetTimeOriginal",
    37377: "ShutterSpeedValue",
    37378: "ApertureValue",
    37380: "ExposureCompensation",
    37383: "MeteringMode",
    37385: "Flash",
    37386: "FocalLength",
    37500: "MakerNote",
    37510: "UserComment",
    37520: "SubSecTime",
    37521: "SubSecTimeOriginal",
    40960: "FlashpixVersion",
    40961: "ColorSpace",
    40962: "ExifImageWidth",
    40963: "ExifImageHeight",
    40965: "InteropIFD",
    42016: "ImageUniqueID",
    42032: "OwnerName",
    42033: "SerialNumber",
    42034: "LensInfo",
    42035: "LensMake",
    42036: "LensModel",
    42037: "LensSerialNumber",
    50706: "DNGVersion",
    50708: "UniqueCameraModel",
    59932: "Padding",
    40091: "XPTitle",
    40092: "XPComment",
    40093: "XPAuthor",
    40094: "XPKeywords",
    40095: "XPSubject",
}

GPS_NAMES = {
    0: "GPSVersionID",
    1: "GPSLatitudeRef",
    2: "GPSLatitude",
    3: "GPSLongitudeRef",
    4: "GPSLongitude",
    5: "GPSAltitudeRef",
    6: "GPSAltitude",
    7: "GPSTimeStamp",
    8: "GPSSatellites",
    12: "GPSSpeedRef",
    13: "GPSSpeed",
    16: "GPSImgDirectionRef",
    17: "GPSImgDirection",
    18: "GPSMapDatum",
    27: "GPSProcessingMethod",
    29: "GPSDateStamp",
}

_SUB_IFDS = {34665: "EXIF", 34853: "GPS", 40965: "Interop", 330: "SubIFD"}


class _Reader:
    """Bounds-checked reads over one TIFF block with its byte order."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.order = "<" if data[:2] == b"II" else ">"

    def u16(self, offset: int) -> int:
        return int(struct.unpack_from(self.order + "H", self.data, offset)[0])

    def u32(self, offset: int) -> int:
        return int(struct.unpack_from(self.order + "I", self.data, offset)[0])


def is_tiff(data: bytes) -> bool:
    return data[:4] in (b"II*\x00", b"MM\x00*")


def walk_tiff(data: bytes, *, in_exif: bool, group: str = "EXIF") -> Iterator[MetadataTag]:
    """Yield a tag for every IFD entry of the TIFF block `data` (an EXIF payload when `in_exif`)."""
    if not is_tiff(data):
        yield MetadataTag(group, "MalformedHeader", f"<{len(data)} bytes>")
        return
    reader = _Reader(data)
    queue: list[tuple[int, str]] = [(reader.u32(4), "IFD0")]
    seen: set[int] = set()
    while queue and len(seen) < _MAX_IFDS:
        offset, ifd = queue.pop(0)
        if offset in seen or not 8 <= offset < len(data) - 2:
            continue
        seen.add(offset)
        yield from _walk_ifd(reader, offset, ifd, in_exif, queue)


def _walk_ifd(
    reader: _Reader, offset: int, ifd: str, in_exif: bool, queue: list[tuple[int, str]]
) -> Iterator[MetadataTag]:
    try:
        count = min(reader.u16(offset), _MAX_ENTRIES)
    except struct.error:
        return
    for index in range(count):
        entry = offset + 2 + 12 * index
        try:
            tag_id, type_id, n = reader.u16(entry), reader.u16(entry + 2), reader.u32(entry + 4)
        except struct.error:
            yield MetadataTag("EXIF" if in_exif else "TIFF", "TruncatedIFD", ifd)
            return
        if tag_id in _SUB_IFDS:
            queue.extend((o, _SUB_IFDS[tag_id]) for o in _offsets(reader, entry, type_id, n))
        yield _entry_tag(reader, entry, ifd, tag_id, type_id, n, in_exif)
    next_at = offset + 2 + 12 * count
    if ifd == "IFD0" and next_at + 4 <= len(reader.data):
        queue.append((reader.u32(next_at), "IFD1"))


def _entry_tag(reader: _Reader, entry: int, ifd: str, tag_id: int, type_id: int, n: int, in_exif: bool) -> MetadataTag:
    group = _group_for(ifd, tag_id, in_exif)
    names = GPS_NAMES if ifd == "GPS" else TAG_NAMES
    name = names.get(tag_id, f"Tag0x{tag_id:04x}")
    value = _value(reader, entry, type_id, n)
    allowed = not in_exif and ifd in ("IFD0", "SubIFD") and tag_id in STRUCTURAL_TAGS
    return MetadataTag(group, name, printable(value), allowed)


def _group_for(ifd: str, tag_id: int, in_exif: bool) -> str:
    if tag_id == 37500:
        return "MakerNotes"
    if ifd == "GPS":
        return "GPS"
    if ifd == "IFD1":
        return "Thumbnail" if in_exif else "ExtraPage"
    if tag_id == 700:
        return "XMP"
    if tag_id == 33723:
        return "IPTC"
    if tag_id == 34675:
        return "ICC"
    return "EXIF" if in_exif or ifd != "IFD0" else "TIFF"


def _offsets(reader: _Reader, entry: int, type_id: int, n: int) -> list[int]:
    if type_id not in (4, 13) or n == 0 or n > 64:
        return []
    base = entry + 8 if n == 1 else reader.u32(entry + 8)
    try:
        return [reader.u32(base + 4 * i) for i in range(n)]
    except struct.error:
        return []


def _value(reader: _Reader, entry: int, type_id: int, n: int) -> object:
    size = _TYPE_SIZES.get(type_id, 1) * n
    try:
        start = entry + 8 if size <= 4 else reader.u32(entry + 8)
    except struct.error:
        return ""
    raw = reader.data[start : start + min(size, 256)]
    if type_id == 2:
        return raw.split(b"\x00", 1)[0].decode("latin-1")
    if type_id == 3 and n <= 4 and len(raw) >= 2 * n:
        return ",".join(str(reader.u16(start + 2 * i)) for i in range(n))
    if type_id == 4 and n <= 4 and len(raw) >= 4 * n:
        return ",".join(str(reader.u32(start + 4 * i)) for i in range(n))
    return f"<{size} bytes>" if size > 16 else raw.hex()
