"""Parsers for metadata blocks that several containers embed: XMP packets, Photoshop/IPTC resources, ICC
profiles. Each yields `MetadataTag`s; none of them is ever allowed in a released file."""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator

from anonymize._metadata._tag import MetadataTag, printable

_XMP_PROPERTY = re.compile(rb"<([A-Za-z][\w.-]*):([A-Za-z][\w.-]*)[\s>/]")
_XMP_ATTRIBUTE = re.compile(rb"\s([A-Za-z][\w.-]*):([A-Za-z][\w.-]*)\s*=\s*[\"']([^\"']*)[\"']")
_XMP_SKIP_PREFIXES = frozenset({b"x", b"rdf", b"xmlns", b"xml"})
_MAX_XMP_TAGS = 200

IPTC_NAMES = {
    (1, 90): "CodedCharacterSet",
    (2, 0): "ApplicationRecordVersion",
    (2, 5): "ObjectName",
    (2, 15): "Category",
    (2, 25): "Keywords",
    (2, 40): "SpecialInstructions",
    (2, 55): "DateCreated",
    (2, 60): "TimeCreated",
    (2, 80): "By-line",
    (2, 85): "By-lineTitle",
    (2, 90): "City",
    (2, 92): "Sub-location",
    (2, 95): "Province-State",
    (2, 100): "Country-PrimaryLocationCode",
    (2, 101): "Country-PrimaryLocationName",
    (2, 103): "OriginalTransmissionReference",
    (2, 105): "Headline",
    (2, 110): "Credit",
    (2, 115): "Source",
    (2, 116): "CopyrightNotice",
    (2, 120): "Caption-Abstract",
    (2, 122): "Writer-Editor",
}


def xmp_tags(packet: bytes, group: str = "XMP") -> Iterator[MetadataTag]:
    """One tag per XMP property (element or attribute form), or one for the packet if none parse."""
    names: dict[str, str] = {}
    for prefix, prop, value in _XMP_ATTRIBUTE.findall(packet):
        if prefix not in _XMP_SKIP_PREFIXES:
            names.setdefault(f"{prefix.decode()}:{prop.decode()}", value.decode("utf-8", "replace"))
    for prefix, prop in _XMP_PROPERTY.findall(packet):
        if prefix not in _XMP_SKIP_PREFIXES:
            names.setdefault(f"{prefix.decode()}:{prop.decode()}", "")
    if not names:
        yield MetadataTag(group, "XMPPacket", f"<{len(packet)} bytes>")
        return
    for name, value in list(names.items())[:_MAX_XMP_TAGS]:
        yield MetadataTag(group, name, printable(value))


def photoshop_tags(block: bytes) -> Iterator[MetadataTag]:
    """Walk Photoshop image resources (8BIM); IPTC (0x0404) is expanded, the rest named by id."""
    pos = 0
    while pos + 12 <= len(block) and block[pos : pos + 4] in (b"8BIM", b"PHUT", b"DCSR", b"AgHg", b"MeSa"):
        res_id = struct.unpack_from(">H", block, pos + 4)[0]
        name_len = block[pos + 6]
        pos += 7 + name_len + ((name_len + 1) % 2)
        if pos + 4 > len(block):
            break
        size = struct.unpack_from(">I", block, pos)[0]
        payload = block[pos + 4 : pos + 4 + size]
        pos += 4 + size + (size % 2)
        if res_id == 0x0404:
            yield from iptc_tags(payload)
        elif res_id == 0x0409 or res_id == 0x040C:
            yield MetadataTag("Thumbnail", "PhotoshopThumbnail", f"<{size} bytes>")
        else:
            yield MetadataTag("Photoshop", f"Resource0x{res_id:04x}", f"<{size} bytes>")


def iptc_tags(block: bytes) -> Iterator[MetadataTag]:
    """IPTC-IIM datasets (0x1C record dataset size value)."""
    pos = 0
    found = False
    while pos + 5 <= len(block) and block[pos] == 0x1C:
        record, dataset = block[pos + 1], block[pos + 2]
        size = struct.unpack_from(">H", block, pos + 3)[0]
        if size & 0x8000:  # extended length: not used by real writers; stop rather than guess
            break
        value = block[pos + 5 : pos + 5 + size]
        name = IPTC_NAMES.get((record, dataset), f"Dataset{record}:{dataset}")
        yield MetadataTag("IPTC", name, printable(value))
        found = True
        pos += 5 + size
    if not found and block.strip(b"\x00"):
        yield MetadataTag("IPTC", "IPTCData", f"<{len(block)} bytes>")


def icc_tag(profile: bytes, group: str = "ICC") -> MetadataTag:
    """Summarise an ICC profile by its description tag (the profile itself is converted away, never kept)."""
    return MetadataTag(group, "ICC_Profile", printable(_icc_description(profile) or f"<{len(profile)} bytes>"))


def _icc_description(profile: bytes) -> str:
    if len(profile) < 132:
        return ""
    count = struct.unpack_from(">I", profile, 128)[0]
    for i in range(min(count, 100)):
        sig, offset, size = (
            struct.unpack_from(">4sII", profile, 132 + 12 * i) if 144 + 12 * i <= len(profile) else (b"", 0, 0)
        )
        if sig == b"desc":
            body = profile[offset : offset + size]
            if body[:4] == b"desc":
                length = struct.unpack_from(">I", body, 8)[0] if len(body) >= 12 else 0
                return body[12 : 12 + length].decode("latin-1", "replace")
            if body[:4] == b"mluc" and len(body) >= 28:
                rec_len, rec_off = struct.unpack_from(">II", body, 20)
                return body[rec_off : rec_off + rec_len].decode("utf-16-be", "replace")
    return ""
