"""Format sniffing from magic bytes: which accepted image or audio format a byte string is, or what it looks
like.

Decisions are made on content, never on file names. The accepted formats are an allow-list; everything else is
named as precisely as cheaply possible so the refusal message tells the operator what the file was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MediaKind = Literal["image", "audio", "other"]

IMAGE_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "TIFF", "HEIF")
AUDIO_FORMATS: tuple[str, ...] = ("WAV", "FLAC", "MP3", "OGG", "M4A", "AAC", "AIFF")

_HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"mif2"})
_AUDIO_BRANDS = frozenset({b"M4A ", b"M4B ", b"M4P "})

# (offset, magic, name) for formats that are refused: the name goes into the refusal message.
_OTHER_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"GIF8", "GIF"),
    (0, b"BM", "BMP"),
    (0, b"%PDF", "PDF"),
    (0, b"PK\x03\x04", "ZIP"),
    (0, b"Rar!", "RAR"),
    (0, b"\x1f\x8b", "GZIP"),
    (0, b"\xff\x0a", "JPEG XL"),
    (0, b"\x00\x00\x00\x0cJXL ", "JPEG XL"),
    (0, b"8BPS", "Photoshop PSD"),
    (0, b"gimp xcf", "GIMP XCF"),
    (0, b"\x00\x00\x01\x00", "ICO"),
    (0, b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
    (0, b"\xff\x4f\xff\x51", "JPEG 2000 codestream"),
    (0, b"MAC ", "Monkey's Audio (APE)"),
    (0, b"MPCK", "Musepack"),
    (0, b"MP+", "Musepack"),
    (0, b".RMF", "RealMedia"),
    (0, b"FWS", "Flash SWF"),
    (0, b"CWS", "Flash SWF"),
    (0, b"FLV", "Flash video"),
    (0, b"{\\rtf", "RTF"),
    (0, b"\x7fELF", "ELF executable"),
    (0, b"MZ", "Windows executable"),
    (0, b"BPG\xfb", "BPG"),
    (0, b"FORM", "IFF"),
    (0, b"#?RADIANCE", "Radiance HDR"),
    (0, b"SIMPLE  =", "FITS"),
    (0, b"\x0a\x0d\x0d\x0a", "pcapng capture"),
    (0, b"\x0a", "PCX"),
    (128, b"DICM", "DICOM"),
)


@dataclass(frozen=True)
class Sniffed:
    """What a byte string is: `kind` image/audio/other and a format name (None when unrecognised)."""

    kind: MediaKind
    format: str | None

    @property
    def accepted(self) -> bool:
        return self.kind != "other"


def sniff(data: bytes) -> Sniffed:
    """Classify `data` by its magic bytes; never raises."""
    head = data[:64]
    for probe in (_sniff_image, _sniff_audio):
        found = probe(head, data)
        if found is not None:
            return found
    return Sniffed("other", _sniff_other(head, data))


def _sniff_image(head: bytes, data: bytes) -> Sniffed | None:
    if head.startswith(b"\xff\xd8\xff"):
        return Sniffed("image", "JPEG")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Sniffed("image", "PNG")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Sniffed("image", "WEBP")
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return Sniffed("image", "TIFF")
    if head[4:8] == b"ftyp" and _ftyp_brands(data) & _HEIF_BRANDS:
        return Sniffed("image", "HEIF")
    return None


def _sniff_audio(head: bytes, data: bytes) -> Sniffed | None:
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return Sniffed("audio", "WAV")
    if head.startswith(b"ID3"):
        # An ID3v2 header may prefix several containers; classify what follows it.
        after = data[_id3_end(data) :][:64]
        if after.startswith(b"fLaC"):
            return Sniffed("audio", "FLAC")
        return Sniffed("audio", "MP3") if _mpeg_audio_sync(after) else None
    if head.startswith(b"fLaC"):
        return Sniffed("audio", "FLAC")
    if head.startswith(b"OggS"):
        return Sniffed("audio", "OGG")
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return Sniffed("audio", "AIFF")
    if head[4:8] == b"ftyp" and _ftyp_brands(data) & _AUDIO_BRANDS:
        return Sniffed("audio", "M4A")
    if _mpeg_audio_sync(head):
        return Sniffed("audio", "MP3")
    if _adts_sync(head):
        return Sniffed("audio", "AAC")
    return None


def _sniff_other(head: bytes, data: bytes) -> str | None:
    if head.startswith(b"ID3"):
        inner = _sniff_other(data[_id3_end(data) :][:64], data[_id3_end(data) :])
        return f"{inner or 'unknown data'} with an ID3 tag"
    if head[4:8] == b"ftyp":
        return f"ISO media ({head[8:12].decode('latin-1').strip()})"
    if head[:4] == b"RIFF":
        return f"RIFF {head[8:12].decode('latin-1').strip()}"
    if head[:2] in (b"P1", b"P2", b"P3", b"P4", b"P5", b"P6", b"Pf", b"PF"):
        return "Netpbm (PPM/PGM/PFM)"
    for offset, magic, name in _OTHER_MAGIC:
        if data[offset : offset + len(magic)] == magic:
            return name
    stripped = head.lstrip()
    if stripped.startswith((b"<?xml", b"<x:xmpmeta", b"<svg", b"<")):
        return "XML/text"
    return None


def _ftyp_brands(data: bytes) -> set[bytes]:
    size = int.from_bytes(data[0:4], "big")
    size = min(max(size, 16), 256, len(data))
    brands = {data[8:12]}
    brands.update(data[i : i + 4] for i in range(16, size - 3, 4))
    return brands


def _id3_end(data: bytes) -> int:
    if len(data) < 10:
        return 0
    size = 0
    for byte in data[6:10]:
        size = (size << 7) | (byte & 0x7F)
    return 10 + size


def _mpeg_audio_sync(head: bytes) -> bool:
    if len(head) < 4 or head[0] != 0xFF or (head[1] & 0xE0) != 0xE0:
        return False
    layer = (head[1] >> 1) & 0x3
    bitrate = head[2] >> 4
    rate = (head[2] >> 2) & 0x3
    # MPEG-1/2 layer III only; ADTS AAC shares the sync word with layer bits 00.
    return layer == 1 and bitrate not in (0, 15) and rate != 3


def _adts_sync(head: bytes) -> bool:
    return len(head) >= 7 and head[0] == 0xFF and (head[1] & 0xF6) == 0xF0 and ((head[2] >> 2) & 0xF) < 13
