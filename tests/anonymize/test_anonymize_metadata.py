"""datadam's own metadata parser and the exiftool oracle wrapper."""

from __future__ import annotations

import io
import struct

import _anon_media as fx
import pytest
from PIL import Image

from anonymize import (
    disallowed_tags,
    exiftool_available,
    exiftool_tags,
    exiftool_tags_many,
    inspect_metadata,
    scrub_audio,
    scrub_image,
    sniff,
)
from anonymize.errors import ToolUnavailable, UnsupportedFormat


def _groups(data: bytes) -> set[str]:
    return {t.group for t in disallowed_tags(data)}


def test_jpeg_parser_sees_every_planted_block() -> None:
    tags = inspect_metadata(fx.jpeg_with_everything())
    keys = {t.key for t in tags}
    assert {
        "EXIF:Make",
        "EXIF:Artist",
        "GPS:GPSLatitude",
        "MakerNotes:MakerNote",
        "EXIF:SerialNumber",
        "EXIF:LensSerialNumber",
        "XMP:dc:creator",
        "XMP:photoshop:City",
        "IPTC:By-line",
        "IPTC:City",
        "ICC:ICC_Profile",
        "Comment:Comment",
        "Trailer:TrailerData",
        "APP12:Ducky",
    } <= keys
    assert "Thumbnail" in {t.group for t in tags}
    assert any(t.value == fx.SECRET for t in tags if t.key == "EXIF:Artist")


def test_fresh_pillow_encodes_carry_only_allowed_structure() -> None:
    for fmt in ("JPEG", "PNG"):
        buffer = io.BytesIO()
        fx.pattern().save(buffer, fmt)
        tags = inspect_metadata(buffer.getvalue())
        assert tags == [t for t in tags if t.allowed]
    jfif = {t.key for t in inspect_metadata(scrub_image(fx.png_with_text()).data)}
    assert jfif == {"JFIF:JFIFVersion", "JFIF:ResolutionUnit", "JFIF:XResolution", "JFIF:YResolution"}


def test_png_parser_reads_text_itxt_ztxt_exif_icc_time_and_private_chunks() -> None:
    keys = {t.key for t in inspect_metadata(fx.png_with_text())}
    assert {
        "PNG-text:Author",
        "PNG-text:Comment",
        "PNG-text:Description",
        "XMP:dc:creator",
        "PNG:tIME",
        "PNG:prVt",
        "ICC:ICC_Profile",
        "EXIF:Artist",
        "GPS:GPSLatitude",
    } <= keys


def test_png_data_after_iend_is_reported() -> None:
    buffer = io.BytesIO()
    fx.pattern().save(buffer, "PNG")
    assert _groups(buffer.getvalue() + b"hidden") == {"Trailer"}


def test_webp_tiff_and_heif_blocks() -> None:
    assert {"EXIF", "GPS", "XMP", "ICC", "Thumbnail", "MakerNotes"} <= _groups(fx.webp_with_metadata())
    tiff = {t.key for t in disallowed_tags(fx.tiff_with_tags())}
    assert {"TIFF:Artist", "TIFF:ImageDescription", "TIFF:Software", "TIFF:DateTime", "ICC:ICC_Profile"} <= tiff
    assert all(t.allowed for t in inspect_metadata(fx.tiff_with_tags()) if t.name in ("ImageWidth", "Compression"))
    heif = fx.heif_with_metadata()
    if heif is not None:
        assert {"EXIF", "XMP"} <= _groups(heif)


def test_unknown_jpeg_segment_fails_closed() -> None:
    buffer = io.BytesIO()
    fx.pattern().save(buffer, "JPEG")
    plain = buffer.getvalue()
    payload = b"VendorX\0" + b"\x00" * 8
    spliced = plain[:2] + b"\xff\xe9" + struct.pack(">H", len(payload) + 2) + payload + plain[2:]
    assert [t.key for t in disallowed_tags(spliced)] == ["APP9:VendorX"]


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (fx.wav_with_tags, {"RIFF-INFO", "bext", "iXML", "XMP", "ID3"}),
        (fx.flac_with_tags, {"Vorbis", "Picture"}),
        (fx.mp3_with_tags, {"ID3", "APE"}),
        (fx.ogg_opus_with_tags, {"Vorbis"}),
        (fx.m4a_with_tags, {"MP4"}),
    ],
)
def test_audio_tags_are_found(make, expected: set[str]) -> None:  # type: ignore[no-untyped-def]
    data = make()
    assert sniff(data).kind == "audio"
    assert expected <= _groups(data)


def test_plain_wav_and_clean_flac_are_allowed() -> None:
    assert disallowed_tags(fx.wav_bytes()) == []
    assert disallowed_tags(scrub_audio(fx.flac_with_tags(), "flac").data) == []


def test_id3v1_trailer_is_found_on_any_audio() -> None:
    tagged = fx.wav_bytes() + b"TAG" + fx.SECRET.encode().ljust(125, b"\0")
    assert "ID3v1" in _groups(tagged)


def test_non_media_is_refused() -> None:
    with pytest.raises(UnsupportedFormat):
        inspect_metadata(b"%PDF-1.4 hello")


def test_sniffing_names_what_it_sees() -> None:
    assert sniff(fx.jpeg_with_everything()).format == "JPEG"
    assert sniff(fx.mp3_with_tags()).format == "MP3"
    assert sniff(b"GIF89a....").format == "GIF" and not sniff(b"GIF89a....").accepted
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, "BMP")
    assert sniff(buffer.getvalue()).format == "BMP"


def test_exiftool_absent_raises_tool_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("anonymize._exiftool.shutil.which", lambda name: None)
    assert not exiftool_available()
    with pytest.raises(ToolUnavailable):
        exiftool_tags("/nonexistent.jpg")


@pytest.mark.usefixtures("needs_exiftool")
def test_exiftool_oracle_classifies_dirty_and_clean_files(write_file) -> None:  # type: ignore[no-untyped-def]
    dirty = write_file("dirty.jpg", fx.jpeg_with_everything())
    clean = write_file("clean.jpg", scrub_image(fx.jpeg_with_everything()).data)
    wav = write_file("clean.wav", scrub_audio(fx.wav_with_tags()).data)
    results = exiftool_tags_many([dirty, clean, wav])
    bad = {t.group for t in results[dirty] if not t.allowed}
    assert {"IFD0", "GPS", "XMP-dc", "IPTC", "ICC_Profile"} <= bad
    assert [t.key for t in results[clean] if not t.allowed] == []
    assert [t.key for t in results[wav] if not t.allowed] == []
    assert any(t.key == "File:MIMEType" and t.allowed for t in results[clean])
