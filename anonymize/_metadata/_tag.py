"""The `MetadataTag` record every parser yields, and the short allow-list of harmless structure.

Policy: a released file may carry only what is needed to decode it. Everything that describes the person, the
device, the place, the time or the software, or that can hide a second image (thumbnails, previews, extra
frames), is outside the allow-list. The allow-list is deliberately short; a parser that meets something it
does not know reports it as *not* allowed, so unknown structures fail closed.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_VALUE_CHARS = 80

# (group, name) pairs that describe decoding structure only. Nothing here can hold free text or an image.
ALLOWED: frozenset[tuple[str, str]] = frozenset(
    {
        ("JFIF", "JFIFVersion"),
        ("JFIF", "ResolutionUnit"),
        ("JFIF", "XResolution"),
        ("JFIF", "YResolution"),
        ("Adobe", "DCTEncodeVersion"),
        ("Adobe", "APP14Flags0"),
        ("Adobe", "APP14Flags1"),
        ("Adobe", "ColorTransform"),
        ("PNG", "IHDR"),
        ("PNG", "PLTE"),
        ("PNG", "tRNS"),
        ("PNG", "gAMA"),
        ("PNG", "cHRM"),
        ("PNG", "sRGB"),
        ("PNG", "sBIT"),
        ("PNG", "pHYs"),
        ("PNG", "bKGD"),
        ("RIFF", "fmt"),
        ("RIFF", "fact"),
        ("RIFF", "padding"),
        ("FLAC", "STREAMINFO"),
        ("FLAC", "SEEKTABLE"),
        ("FLAC", "PADDING"),
    }
)


@dataclass(frozen=True)
class MetadataTag:
    """One piece of metadata found in a file: `group` (EXIF, GPS, XMP, IPTC, ICC, ID3...), `name`, a short
    printable `value` (truncated; may itself be personal, so never log it) and whether it is `allowed`."""

    group: str
    name: str
    value: str = ""
    allowed: bool = False

    @property
    def key(self) -> str:
        """`group:name`, safe to log and to list in reports (no value)."""
        return f"{self.group}:{self.name}"


def tag(group: str, name: str, value: object = "") -> MetadataTag:
    """Build a tag, deciding `allowed` from the allow-list and shortening the value to something printable."""
    return MetadataTag(group, name, printable(value), (group, name) in ALLOWED)


def printable(value: object) -> str:
    """A short one-line rendering of a tag value (bytes are summarised, never dumped)."""
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        text = raw.decode("utf-8", "replace") if _mostly_text(raw) else f"<{len(raw)} bytes>"
    else:
        text = str(value)
    text = " ".join(text.replace("\x00", " ").split())
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 3] + "..."


def _mostly_text(raw: bytes) -> bool:
    if not raw:
        return True
    sample = raw[:256]
    printable_count = sum(1 for b in sample if b >= 0x20 or b in (9, 10, 13, 0))
    return printable_count >= 0.9 * len(sample)
