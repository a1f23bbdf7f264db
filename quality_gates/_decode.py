"""Safe decoding of untrusted image uploads into RGB pixels.

Threat model: upload bytes are hostile. The byte size is checked before parsing; only allow-listed formats are
opened (`Image.open(..., formats=...)`, never OpenCV on raw bytes); the pixel count and dimensions from the
header are checked before any pixel is decoded, so a tiny file claiming hundreds of megapixels is refused
cheaply; Pillow's own DecompressionBombWarning is turned into an error as a second line. EXIF orientation is
applied, the capture time is read once, then all metadata is dropped: the result is a bare uint8 array.
Large JPEGs are decoded at a reduced scale (draft mode) for speed; `scale` maps decoded pixels back to
original ones so gates still report original pixel sizes.
"""

from __future__ import annotations

import io
import re
import struct
import warnings
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cache

import numpy as np
from PIL import ExifTags, Image, ImageFile, ImageOps, UnidentifiedImageError

from quality_gates._rules import DEFAULT_RULES, PhotoRules
from quality_gates.errors import CorruptImage, DecompressionBomb, TooLarge, UnsupportedFormat

_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, struct.error, zlib.error, IndexError, KeyError)
_EXIF_DATE_TAGS = (
    (ExifTags.Base.DateTimeOriginal, ExifTags.Base.OffsetTimeOriginal),
    (ExifTags.Base.DateTimeDigitized, ExifTags.Base.OffsetTimeDigitized),
)


@dataclass(frozen=True, eq=False)
class DecodedImage:
    """Orientation-corrected RGB pixels of an upload.

    `pixels` is (height, width, 3) uint8 at the decoded resolution; `scale` is original pixels per decoded
    pixel (1.0 unless decoded at reduced size); `original_size` is (width, height) after orientation.
    `captured_at` comes from EXIF DateTimeOriginal (or Digitized, then DateTime); it is timezone-aware only
    when the file records an offset.
    """

    pixels: np.ndarray = field(repr=False)
    format: str
    original_size: tuple[int, int]
    scale: float = 1.0
    captured_at: datetime | None = None
    orientation: int = 1

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])


@cache
def _register_heif() -> None:
    """Register the HEIF opener with Pillow once (it is a plugin, not built in)."""
    import pillow_heif

    pillow_heif.register_heif_opener()


def decode_image(data: bytes, rules: PhotoRules = DEFAULT_RULES) -> DecodedImage:
    """Decode upload bytes safely.

    Raises TooLarge (bytes or dimensions), DecompressionBomb (pixel count), UnsupportedFormat, CorruptImage.
    """
    if len(data) > rules.max_bytes:
        raise TooLarge("bytes", len(data), rules.max_bytes)
    if "HEIF" in rules.allowed_formats:
        _register_heif()
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with _open(data, rules) as img:
                return _decode_opened(img, rules)
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
            # Pillow's own (global) cap fired inside Image.open, before ours: report the size it names.
            claimed = re.search(r"\((\d+) pixels\)", str(exc))
            raise DecompressionBomb(int(claimed.group(1)) if claimed else -1, rules.max_pixels) from exc
        except _DECODE_ERRORS as exc:
            raise CorruptImage(f"{type(exc).__name__}: {exc}") from exc


def _open(data: bytes, rules: PhotoRules) -> Image.Image:
    """Open (parse the header only) with the allow-list, then check the claimed size."""
    try:
        img = Image.open(io.BytesIO(data), formats=list(rules.allowed_formats))
    except UnidentifiedImageError as exc:
        raise UnsupportedFormat(_sniff(data), rules.allowed_formats) from exc
    width, height = img.size
    if width * height > rules.max_pixels:
        img.close()
        raise DecompressionBomb(width * height, rules.max_pixels)
    for what, value in (("width", width), ("height", height)):
        if value > rules.max_dimension_px:
            img.close()
            raise TooLarge(what, value, rules.max_dimension_px)
    return img


def _decode_opened(img: Image.Image, rules: PhotoRules) -> DecodedImage:
    fmt = str(img.format)
    exif = img.getexif()
    orientation = int(exif.get(ExifTags.Base.Orientation, 1) or 1)
    captured_at = capture_datetime(exif)
    full_w, full_h = img.size
    if fmt == "JPEG":
        _draft(img, rules.work_max_side_px)
    # face_recognition sets this Pillow global to True when it is imported, which would silently pad a truncated
    # upload with grey; an upload that ends early is corrupt, whatever else the process has imported.
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    img.load()
    scale = full_w / img.size[0]
    img = ImageOps.exif_transpose(img) or img
    original = (full_h, full_w) if orientation in (5, 6, 7, 8) else (full_w, full_h)
    pixels = _to_rgb(img)
    return DecodedImage(pixels, fmt, original, scale, captured_at, orientation)


def _draft(img: Image.Image, work_max_side: int) -> None:
    """Ask libjpeg for a 1/2, 1/4 or 1/8 decode that still keeps the longer side >= work_max_side."""
    width, height = img.size
    factor = max(width, height) / max(work_max_side, 1)
    if factor >= 2:
        img.draft("RGB", (int(width / factor) + 1, int(height / factor) + 1))


def _to_rgb(img: Image.Image) -> np.ndarray:
    """Pixels as (h, w, 3) uint8; 16-bit and float modes are rescaled, palettes and alpha flattened."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        peak = arr.max() if arr.size else 0.0
        arr = arr * (255.0 / peak) if peak > 255 else arr
        gray = np.clip(arr, 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode != "RGB":
        img = img.convert("RGB")
    return np.ascontiguousarray(np.asarray(img, dtype=np.uint8))


def capture_datetime(exif: Image.Exif) -> datetime | None:
    """DateTimeOriginal (then Digitized, then IFD0 DateTime) as a datetime; None if absent or malformed."""
    try:
        ifd = exif.get_ifd(ExifTags.IFD.Exif)
    except _DECODE_ERRORS:
        ifd = {}
    for date_tag, offset_tag in _EXIF_DATE_TAGS:
        parsed = _parse_exif_datetime(ifd.get(date_tag), ifd.get(offset_tag))
        if parsed is not None:
            return parsed
    return _parse_exif_datetime(exif.get(ExifTags.Base.DateTime), None)


def _parse_exif_datetime(value: object, offset: object) -> datetime | None:
    if not isinstance(value, str | bytes):
        return None
    text = (value.decode("ascii", "replace") if isinstance(value, bytes) else value).strip("\x00 ")
    try:
        parsed = datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    tz = _parse_offset(offset)
    return parsed.replace(tzinfo=tz) if tz else parsed


def _parse_offset(offset: object) -> timezone | None:
    if not isinstance(offset, str) or len(offset) < 6 or offset[0] not in "+-" or offset[3] != ":":
        return None
    try:
        delta = timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6]))
    except ValueError:
        return None
    return timezone(delta if offset[0] == "+" else -delta)


_MAGIC = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF8", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"%PDF", "PDF"),
)


def _sniff(data: bytes) -> str | None:
    """A best-effort name for a refused format (for the error message only; nothing is parsed)."""
    if data[8:12] == b"WEBP" and data[:4] == b"RIFF":
        return "WEBP"
    if data[4:8] == b"ftyp":
        return "HEIF"
    return next((name for magic, name in _MAGIC if data.startswith(magic)), None)
