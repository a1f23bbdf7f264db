"""scrub_image: nothing of the container survives, the pixels look the same, bad input is refused."""

from __future__ import annotations

import io

import _anon_media as fx
import numpy as np
import pytest
from PIL import Image

from anonymize import ImageLimits, disallowed_tags, exiftool_tags, inspect_metadata, scrub_image
from anonymize.errors import CorruptMedia, DecompressionBomb, TooLarge, UnsupportedFormat


def _pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


@pytest.mark.parametrize("out_format", ["JPEG", "PNG"])
def test_jpeg_with_every_kind_of_metadata_comes_out_clean(out_format: str) -> None:
    source = fx.jpeg_with_everything()
    result = scrub_image(source, out_format)  # type: ignore[arg-type]
    assert result.format == out_format
    assert disallowed_tags(result.data) == []
    assert fx.SECRET.encode() not in result.data and b"Seoul" not in result.data
    assert {"EXIF", "GPS", "XMP", "IPTC", "ICC", "Comment", "MakerNotes", "Thumbnail", "Trailer"} <= set(result.removed)


def test_same_size_and_visible_content() -> None:
    source = fx.jpeg_with_everything(trailer=False)
    result = scrub_image(source, "PNG")
    assert (result.width, result.height) == (96, 64)
    assert np.abs(_pixels(result.data) - _pixels(source)).mean() < 2.0


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_before_exif_is_dropped(orientation: int) -> None:
    upright = fx.pattern()
    # Store the pixels so that a viewer applying `orientation` shows `upright`.
    inverse = {
        1: [],
        2: [Image.Transpose.FLIP_LEFT_RIGHT],
        3: [Image.Transpose.ROTATE_180],
        4: [Image.Transpose.FLIP_TOP_BOTTOM],
        5: [Image.Transpose.TRANSPOSE],
        6: [Image.Transpose.ROTATE_90],
        7: [Image.Transpose.TRANSVERSE],
        8: [Image.Transpose.ROTATE_270],
    }[orientation]
    stored = upright
    for step in inverse:
        stored = stored.transpose(step)
    result = scrub_image(fx.jpeg_with_everything(stored, orientation=orientation), "PNG")
    assert (result.width, result.height) == upright.size
    assert np.abs(_pixels(result.data) - np.asarray(upright, dtype=np.int16)).mean() < 4.0


@pytest.mark.parametrize(
    "make",
    [
        fx.png_with_text,
        fx.webp_with_metadata,
        fx.tiff_with_tags,
        lambda: fx.png_with_text("RGBA"),
        lambda: fx.png_with_text("P"),
        lambda: fx.png_with_text("L"),
    ],
)
def test_other_accepted_formats_are_rebuilt_without_metadata(make) -> None:  # type: ignore[no-untyped-def]
    source = make()
    assert disallowed_tags(source), "fixture must carry metadata"
    for out_format in ("JPEG", "PNG"):
        result = scrub_image(source, out_format)
        assert disallowed_tags(result.data) == []
        assert fx.SECRET.encode() not in result.data
        assert (result.width, result.height) == (96, 64)


def test_png_text_chunks_are_named_in_removed() -> None:
    result = scrub_image(fx.png_with_text(), "PNG")
    assert {"PNG-text", "XMP", "EXIF", "ICC", "PNG"} <= set(result.removed)
    assert [t for t in inspect_metadata(result.data) if t.group == "PNG-text"] == []


def test_png_alpha_survives_as_png_and_is_flattened_on_white_for_jpeg() -> None:
    array = np.zeros((10, 10, 4), dtype=np.uint8)
    array[..., 0] = 255
    array[:5, :, 3] = 255  # top half opaque red, bottom half transparent
    buffer = io.BytesIO()
    Image.fromarray(array, "RGBA").save(buffer, "PNG")
    as_png = Image.open(io.BytesIO(scrub_image(buffer.getvalue(), "PNG").data))
    assert as_png.mode == "RGBA" and as_png.getpixel((0, 9))[3] == 0
    as_jpeg = _pixels(scrub_image(buffer.getvalue(), "JPEG").data)
    assert as_jpeg[9, 0].min() > 240 and as_jpeg[0, 0][0] > 240 > as_jpeg[0, 0][1] + 100


def test_sixteen_bit_grey_is_scaled_not_clipped() -> None:
    array = np.full((8, 8), 40_000, dtype=np.uint16)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    out = Image.open(io.BytesIO(scrub_image(buffer.getvalue(), "PNG").data))
    assert out.mode == "L" and abs(out.getpixel((0, 0)) - round(40_000 / 65535 * 255)) <= 1


def test_heif_is_accepted_when_the_codec_is_available() -> None:
    source = fx.heif_with_metadata()
    if source is None:
        pytest.skip("pillow_heif cannot encode HEIF here")
    result = scrub_image(source, "JPEG")
    assert disallowed_tags(result.data) == [] and {"EXIF", "XMP"} <= set(result.removed)
    assert (result.width, result.height) == (96, 64)


@pytest.mark.parametrize(
    ("data", "detected"),
    [(b"GIF89a" + b"\0" * 32, "GIF"), (b"%PDF-1.7\n", "PDF"), (b"BM" + b"\0" * 40, "BMP"), (b"hello", None)],
)
def test_unsupported_formats_are_refused_with_their_name(data: bytes, detected: str | None) -> None:
    with pytest.raises(UnsupportedFormat) as caught:
        scrub_image(data)
    assert caught.value.detected == detected and "not accepted" in str(caught.value)


def test_truncated_image_is_refused_as_corrupt() -> None:
    data = fx.jpeg_with_everything(trailer=False)
    with pytest.raises(CorruptMedia):
        scrub_image(data[: len(data) // 2] + b"")


def test_decompression_bomb_is_refused_before_decoding() -> None:
    with pytest.raises(DecompressionBomb) as caught:
        scrub_image(fx.png_bomb())
    assert caught.value.value == 30_000 * 30_000


def test_byte_and_side_limits() -> None:
    data = fx.png_with_text()
    with pytest.raises(TooLarge):
        scrub_image(data, limits=ImageLimits(max_bytes=100))
    with pytest.raises(TooLarge) as caught:
        scrub_image(data, limits=ImageLimits(max_side=50))
    assert caught.value.what == "width"


def test_camera_raw_dng_is_refused() -> None:
    buffer = io.BytesIO()
    fx.pattern().save(buffer, "TIFF", tiffinfo={50706: b"\x01\x04\x00\x00"})
    with pytest.raises(UnsupportedFormat, match="camera raw"):
        scrub_image(buffer.getvalue())


def test_invalid_out_format() -> None:
    with pytest.raises(ValueError):
        scrub_image(fx.png_with_text(), "GIF")  # type: ignore[arg-type]


@pytest.mark.usefixtures("needs_exiftool")
def test_exiftool_finds_nothing_outside_the_allow_list(write_file) -> None:  # type: ignore[no-untyped-def]
    source = write_file("in.jpg", fx.jpeg_with_everything())
    assert any(not t.allowed for t in exiftool_tags(source))
    for out_format, name in (("JPEG", "out.jpg"), ("PNG", "out.png")):
        path = write_file(name, scrub_image(fx.jpeg_with_everything(), out_format).data)  # type: ignore[arg-type]
        assert [t.key for t in exiftool_tags(path) if not t.allowed] == []
