"""Image scrubbing: decode an accepted image safely, make it upright and sRGB, and re-encode it from raw pixels.

Threat model: an upload carries far more than its pixels - EXIF (device serials, capture time), GPS, XMP and
IPTC (names, places, captions), maker notes, embedded thumbnails and previews that may show the uncropped or
unmasked original, ICC profiles that fingerprint devices, JPEG comments and PNG text. Stripping these one by one
always misses something, so nothing of the container is kept: the pixels are copied into a brand-new image
with no `info`, and that image is encoded afresh. The output is re-inspected by datadam's own parser before it
is returned; anything outside the allow-list there is a bug and raises.

Order matters: EXIF orientation is applied before EXIF is discarded (the output must look the same), and
ICC-tagged images are converted to sRGB before the profile is dropped (the colours must look the same).
Formats outside the allow-list, bombs and broken files are refused with a `MediaError`, never passed through.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from PIL import Image, ImageCms, UnidentifiedImageError

from anonymize._formats import IMAGE_FORMATS, sniff
from anonymize._metadata import disallowed_tags, inspect_metadata, removed_groups
from anonymize.errors import CorruptMedia, DecompressionBomb, MediaError, TooLarge, UnsupportedFormat

ImageOutFormat = Literal["JPEG", "PNG"]

JPEG_QUALITY = 92
_DECODE_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError)
_TRANSPOSE: dict[int, tuple[Image.Transpose, ...]] = {
    2: (Image.Transpose.FLIP_LEFT_RIGHT,),
    3: (Image.Transpose.ROTATE_180,),
    4: (Image.Transpose.FLIP_TOP_BOTTOM,),
    5: (Image.Transpose.TRANSPOSE,),
    6: (Image.Transpose.ROTATE_270,),
    7: (Image.Transpose.TRANSVERSE,),
    8: (Image.Transpose.ROTATE_90,),
}
_heif_registered = False


@dataclass(frozen=True)
class ImageLimits:
    """Refusal thresholds checked before any pixel is decoded."""

    max_bytes: int = 100 * 1024 * 1024
    max_pixels: int = 64_000_000
    max_side: int = 20_000


@dataclass(frozen=True)
class ScrubbedMedia:
    """A scrubbed image: encoded `data` in `format` (JPEG or PNG), its size, and the metadata groups that were
    found in the input and dropped (`removed`, e.g. EXIF, GPS, XMP, ICC, Comment, PNG-text, Thumbnail)."""

    data: bytes
    format: str
    width: int
    height: int
    removed: tuple[str, ...]
    kind: str = "image"


@dataclass(frozen=True)
class DecodedImage:
    """An input made upright and sRGB, in mode L, LA, RGB or RGBA, with no metadata attached."""

    image: Image.Image
    source_format: str
    removed: tuple[str, ...] = field(default=())


def scrub_image(data: bytes, out_format: ImageOutFormat = "JPEG", limits: ImageLimits | None = None) -> ScrubbedMedia:
    """Rebuild the image `data` from its pixels and encode it as `out_format` with no metadata.

    Raises `UnsupportedFormat` (not JPEG, PNG, WebP, TIFF or HEIF, or a camera raw), `TooLarge` /
    `DecompressionBomb` (over `limits`) and `CorruptMedia` (truncated or malformed).
    """
    decoded = decode_image(data, limits)
    return encode_image(decoded.image, out_format, decoded.removed)


def decode_image(data: bytes, limits: ImageLimits | None = None) -> DecodedImage:
    """Decode `data` into an upright sRGB image with no metadata. Raises like `scrub_image`."""
    limits = limits or ImageLimits()
    if len(data) > limits.max_bytes:
        raise TooLarge("bytes", len(data), limits.max_bytes)
    found = sniff(data)
    if found.kind != "image" or found.format is None:
        raise UnsupportedFormat(found.format, IMAGE_FORMATS)
    image = _open(data, found.format, limits)
    notes = _found_metadata(data)
    if getattr(image, "n_frames", 1) > 1:
        notes.add("ExtraFrames")
    orientation = 1 if found.format == "HEIF" else _orientation(image, notes)
    _load(image)
    upright = _apply_orientation(_to_srgb(_normalise_mode(image), notes), orientation)
    clean = Image.frombytes(upright.mode, upright.size, upright.tobytes())
    return DecodedImage(clean, found.format, tuple(sorted(notes)))


def encode_image(image: Image.Image, out_format: ImageOutFormat, removed: tuple[str, ...] = ()) -> ScrubbedMedia:
    """Encode a metadata-free image (mode L, LA, RGB or RGBA) and re-check the output with the own parser."""
    if out_format not in ("JPEG", "PNG"):
        raise ValueError(f"out_format must be JPEG or PNG, not {out_format!r}")
    pixels = _flatten_alpha(image) if out_format == "JPEG" else image
    clean = Image.frombytes(pixels.mode, pixels.size, pixels.tobytes())
    buffer = io.BytesIO()
    if out_format == "JPEG":
        clean.save(buffer, "JPEG", quality=JPEG_QUALITY, subsampling=0)
    else:
        clean.save(buffer, "PNG", compress_level=6)
    encoded = buffer.getvalue()
    leftovers = disallowed_tags(encoded)
    if leftovers:  # defence in depth: a fresh encode must never carry metadata
        raise MediaError(f"re-encoded output still carries {', '.join(t.key for t in leftovers)}")
    return ScrubbedMedia(encoded, out_format, clean.width, clean.height, removed)


def _ensure_heif() -> None:
    global _heif_registered
    if not _heif_registered:
        import pillow_heif

        # Thumbnails, depth and auxiliary images are never needed: only the primary image is released.
        pillow_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)
        _heif_registered = True


def _open(data: bytes, fmt: str, limits: ImageLimits) -> Image.Image:
    if fmt == "HEIF":
        _ensure_heif()
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=[fmt])
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
            raise DecompressionBomb(_claimed_pixels(exc), limits.max_pixels) from exc
        except _DECODE_ERRORS as exc:
            raise CorruptMedia(f"{fmt} header could not be read: {exc}") from exc
    _check_size(image, limits)
    _refuse_camera_raw(image)
    return image


def _claimed_pixels(exc: Exception) -> int:
    digits = [int(word) for word in str(exc).replace("(", " ").split() if word.isdigit()]
    return digits[0] if digits else 0


def _check_size(image: Image.Image, limits: ImageLimits) -> None:
    width, height = image.size
    if width <= 0 or height <= 0:
        raise CorruptMedia(f"image claims an empty size {width}x{height}")
    if width * height > limits.max_pixels:
        raise DecompressionBomb(width * height, limits.max_pixels)
    if max(width, height) > limits.max_side:
        raise TooLarge("width" if width >= height else "height", max(width, height), limits.max_side)


def _refuse_camera_raw(image: Image.Image) -> None:
    # DNG and other TIFF-based raws open as their embedded preview, which is not the photograph.
    tags = getattr(image, "tag_v2", None)
    if tags is not None and (50706 in tags or 0xC612 in tags or 330 in tags):
        raise UnsupportedFormat("camera raw (DNG or TIFF-based raw)", IMAGE_FORMATS)


def _found_metadata(data: bytes) -> set[str]:
    return set(removed_groups(inspect_metadata(data)))


def _orientation(image: Image.Image, notes: set[str]) -> int:
    try:
        value = image.getexif().get(0x0112, 1)
    except _DECODE_ERRORS:
        notes.add("EXIF")  # unreadable EXIF: orientation unknown, shown as stored like any viewer would
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _load(image: Image.Image) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image.load()
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
            raise DecompressionBomb(image.width * image.height, int(Image.MAX_IMAGE_PIXELS or 0)) from exc
        except (*_DECODE_ERRORS, MemoryError) as exc:
            raise CorruptMedia(f"image data could not be decoded: {exc}") from exc


def _normalise_mode(image: Image.Image) -> Image.Image:
    """Bring any Pillow mode to L, LA, RGB, RGBA or CMYK (CMYK is left for the ICC step)."""
    mode = image.mode
    if mode in ("L", "LA", "RGB", "RGBA", "CMYK"):
        return image
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in image.info
        return image.convert("RGBA" if has_alpha else "RGB")
    if mode.startswith("I") or mode == "F":
        return _high_depth_to_l(image)
    if mode in ("La", "RGBa"):
        return image.convert(mode.upper())
    return image.convert("RGB")


def _high_depth_to_l(image: Image.Image) -> Image.Image:
    values = np.asarray(image).astype(np.float64)
    if image.mode == "F":
        peak = 1.0 if values.max(initial=0.0) <= 1.0 else 255.0
    else:
        peak = 255.0 if values.max(initial=0.0) <= 255 else 65535.0
    scaled = np.clip(values / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(scaled, "L")


def _to_srgb(image: Image.Image, notes: set[str]) -> Image.Image:
    profile = image.info.get("icc_profile")
    if not profile:
        return image if image.mode != "CMYK" else image.convert("RGB")
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        target = ImageCms.createProfile("sRGB")
        output_mode = "RGBA" if image.mode in ("RGBA", "LA") else "RGB"
        working = image.convert("RGBA") if image.mode == "LA" else image
        converted = ImageCms.profileToProfile(working, source, target, outputMode=output_mode)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        notes.add("ICC")  # unusable profile: colours kept as encoded, the profile is still dropped
        return image if image.mode != "CMYK" else image.convert("RGB")
    assert converted is not None
    if image.mode in ("L", "LA"):
        return converted.convert(image.mode)
    return converted


def _apply_orientation(image: Image.Image, orientation: int) -> Image.Image:
    for step in _TRANSPOSE.get(orientation, ()):
        image = image.transpose(step)
    return image


def _flatten_alpha(image: Image.Image) -> Image.Image:
    if image.mode not in ("LA", "RGBA"):
        return image
    # JPEG has no alpha: transparent areas become white, as most viewers show them.
    base_mode = image.mode[:-1]
    background = Image.new(base_mode, image.size, 255 if base_mode == "L" else (255, 255, 255))
    background.paste(image.convert(base_mode), mask=image.getchannel("A"))
    return background
