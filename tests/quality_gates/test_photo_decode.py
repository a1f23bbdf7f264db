"""Safe decoding of untrusted uploads: limits before parsing, allow-list, bombs, truncation, orientation."""

from __future__ import annotations

import dataclasses
import io
import struct
import zlib
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from PIL import Image

from quality_gates import (
    CorruptImage,
    DecompressionBomb,
    PhotoRules,
    TooLarge,
    UnsupportedFormat,
    decode_image,
)
from tests.quality_gates.conftest import encode


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR claims width x height (no real pixel data)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    body = struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    idat = b"IDAT" + zlib.compress(b"\x00")
    body += struct.pack(">I", len(idat) - 4) + idat + struct.pack(">I", zlib.crc32(idat))
    end = b"IEND"
    return b"\x89PNG\r\n\x1a\n" + body + struct.pack(">I", 0) + end + struct.pack(">I", zlib.crc32(end))


def gradient(width: int = 320, height: int = 240) -> np.ndarray:
    x = np.linspace(0, 255, width, dtype=np.float64)[None, :, None]
    y = np.linspace(0, 255, height, dtype=np.float64)[:, None, None]
    return np.broadcast_to(np.concatenate([x + 0 * y, y + 0 * x, (x + y) / 2], axis=2), (height, width, 3)).astype(
        np.uint8
    )


def test_tiny_png_claiming_400_megapixels_is_refused_before_decoding() -> None:
    data = png_header_only(20_000, 20_000)
    assert len(data) < 100
    with pytest.raises(DecompressionBomb) as info:
        decode_image(data)
    assert info.value.value == 400_000_000
    assert info.value.limit == PhotoRules().max_pixels


def test_pixel_cap_comes_from_the_rules() -> None:
    data = encode(gradient(400, 300), "PNG")
    with pytest.raises(DecompressionBomb):
        decode_image(data, PhotoRules(max_pixels=100_000))
    assert decode_image(data, PhotoRules(max_pixels=120_000)).width == 400


def test_byte_limit_is_checked_before_parsing() -> None:
    with pytest.raises(TooLarge) as info:
        decode_image(b"\x00" * 2048, PhotoRules(max_bytes=1024))
    assert info.value.what == "bytes"


def test_dimension_limit() -> None:
    with pytest.raises(TooLarge) as info:
        decode_image(encode(gradient(600, 20), "PNG"), PhotoRules(max_dimension_px=500))
    assert (info.value.what, info.value.value) == ("width", 600)


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF"])
def test_formats_outside_the_allow_list_are_refused(fmt: str) -> None:
    with pytest.raises(UnsupportedFormat) as info:
        decode_image(encode(gradient(), fmt))
    assert info.value.detected == fmt if fmt != "BMP" else info.value.detected in ("BMP", None)


def test_allow_list_is_per_campaign() -> None:
    png = encode(gradient(), "PNG")
    with pytest.raises(UnsupportedFormat):
        decode_image(png, PhotoRules(allowed_formats=("JPEG",)))


def test_not_an_image_is_unsupported() -> None:
    with pytest.raises(UnsupportedFormat):
        decode_image(b"%PDF-1.4 definitely not a photo")


def test_truncated_jpeg_is_corrupt() -> None:
    data = encode(gradient(640, 480), "JPEG", quality=90)
    with pytest.raises(CorruptImage):
        decode_image(data[: len(data) // 2])


def test_truncated_jpeg_is_corrupt_even_after_face_recognition_loosened_pillow(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Importing face_recognition sets Pillow's LOAD_TRUNCATED_IMAGES process-wide; the gate must not inherit it."""
    from PIL import ImageFile

    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    data = encode(gradient(640, 480), "JPEG", quality=90)
    with pytest.raises(CorruptImage):
        decode_image(data[: len(data) // 2])


def test_rgba_and_grey_become_rgb() -> None:
    rgba = np.dstack([gradient(), np.full((240, 320), 128, np.uint8)])
    assert decode_image(encode(rgba, "PNG")).pixels.shape == (240, 320, 3)
    grey = gradient()[:, :, 0]
    out = decode_image(encode(grey, "PNG")).pixels
    assert out.shape == (240, 320, 3) and np.array_equal(out[:, :, 0], out[:, :, 2])


def test_webp_decodes() -> None:
    image = decode_image(encode(gradient(), "WEBP", quality=90))
    assert (image.format, image.width, image.height) == ("WEBP", 320, 240)


def test_heif_decodes() -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    try:
        data = encode(gradient(), "HEIF", quality=90)
    except (KeyError, OSError, ValueError):
        pytest.skip("this libheif build cannot encode HEIF")
    image = decode_image(data)
    assert (image.format, image.width, image.height) == ("HEIF", 320, 240)


def jpeg_with_exif(pixels: np.ndarray, orientation: int, when: str | None = None, offset: str | None = None) -> bytes:
    img = Image.fromarray(pixels)
    exif = img.getexif()
    exif[0x0112] = orientation
    if when:
        ifd = exif.get_ifd(0x8769)
        ifd[0x9003] = when
        if offset:
            ifd[0x9011] = offset
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=95, exif=exif.tobytes())
    return buf.getvalue()


def test_exif_orientation_is_applied() -> None:
    pixels = np.zeros((200, 300, 3), np.uint8)
    pixels[:50, :50] = (255, 0, 0)  # red block at the stored top-left corner
    image = decode_image(jpeg_with_exif(pixels, orientation=6))  # 6 = rotate 90 degrees clockwise to view
    assert (image.width, image.height) == (200, 300)
    assert image.original_size == (200, 300)
    assert image.orientation == 6
    assert image.pixels[:40, -40:, 0].mean() > 200  # the block is now at the top-right
    assert image.pixels[:40, :40, 0].mean() < 50


def test_capture_datetime_is_read_with_its_offset() -> None:
    data = jpeg_with_exif(gradient(), 1, "2019:07:14 09:30:05", "+09:00")
    assert decode_image(data).captured_at == datetime(2019, 7, 14, 9, 30, 5, tzinfo=timezone(timedelta(hours=9)))
    naive = decode_image(jpeg_with_exif(gradient(), 1, "2001:02:03 04:05:06"))
    assert naive.captured_at == datetime(2001, 2, 3, 4, 5, 6)
    assert decode_image(jpeg_with_exif(gradient(), 1, "garbage")).captured_at is None


def test_large_jpeg_is_decoded_at_reduced_scale_with_the_factor_reported() -> None:
    data = encode(gradient(3200, 2400), "JPEG", quality=85)
    image = decode_image(data, dataclasses.replace(PhotoRules(), work_max_side_px=800))
    assert image.original_size == (3200, 2400)
    assert image.width < 3200 and image.width >= 800
    assert image.scale == pytest.approx(3200 / image.width)
    full = decode_image(data, dataclasses.replace(PhotoRules(), work_max_side_px=4000))
    assert (full.width, full.scale) == (3200, 1.0)
