"""scrub_audio: samples survive, tags do not; bad input is refused."""

from __future__ import annotations

import io
import wave

import _anon_media as fx
import av
import numpy as np
import pytest

from anonymize import AudioLimits, disallowed_tags, scrub_audio
from anonymize.errors import CorruptMedia, TooLarge, UnsupportedFormat


def _samples(data: bytes) -> np.ndarray:
    with av.open(io.BytesIO(data)) as container:
        frames = [f.to_ndarray() for f in container.decode(audio=0)]
    return np.concatenate(frames, axis=1)


@pytest.mark.parametrize(
    "make", [fx.wav_with_tags, fx.flac_with_tags, fx.mp3_with_tags, fx.ogg_opus_with_tags, fx.m4a_with_tags]
)
@pytest.mark.parametrize("out_format", ["wav", "flac"])
def test_tags_are_gone_and_audio_remains(make, out_format: str) -> None:  # type: ignore[no-untyped-def]
    source = make()
    result = scrub_audio(source, out_format)  # type: ignore[arg-type]
    assert result.format == out_format.upper()
    assert disallowed_tags(result.data) == []
    assert fx.SECRET.encode() not in result.data and b"Seoul" not in result.data
    assert result.removed, "the fixture's tags must be reported"
    assert result.duration_s == pytest.approx(0.6 if make is not fx.wav_with_tags else 0.5, abs=0.1)


def test_lossless_input_keeps_exact_samples() -> None:
    source = fx.wav_with_tags()
    expected = fx.tone()[:, 0]
    for out_format in ("wav", "flac"):
        result = scrub_audio(source, out_format)  # type: ignore[arg-type]
        assert result.sample_rate == 16_000 and result.channels == 1
        assert np.array_equal(_samples(result.data).reshape(-1), expected)


def test_wav_output_is_riff_fmt_data_only() -> None:
    data = scrub_audio(fx.wav_with_tags(), "wav").data
    with wave.open(io.BytesIO(data)) as reader:
        assert (reader.getnchannels(), reader.getsampwidth(), reader.getframerate()) == (1, 2, 16_000)
    assert data[12:16] == b"fmt " and b"LIST" not in data and b"id3 " not in data


def test_flac_output_keeps_only_streaminfo() -> None:
    data = scrub_audio(fx.flac_with_tags(), "flac").data
    assert data[:4] == b"fLaC" and data[4] == 0x80  # STREAMINFO is the first and last metadata block
    assert b"Lavf" not in data and b"reference libFLAC" not in data


def test_removed_names_what_was_found() -> None:
    assert {"RIFF-INFO", "bext", "iXML", "ID3", "XMP"} <= set(scrub_audio(fx.wav_with_tags()).removed)
    assert {"Vorbis", "Picture"} <= set(scrub_audio(fx.flac_with_tags()).removed)
    assert {"ID3", "APE"} <= set(scrub_audio(fx.mp3_with_tags()).removed)


def test_video_is_refused() -> None:
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as output:
        stream = output.add_stream("mpeg4", rate=5)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for _ in range(3):
            frame = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), dtype=np.uint8), format="rgb24")
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    with pytest.raises(UnsupportedFormat):
        scrub_audio(buffer.getvalue())


def test_images_and_garbage_are_refused() -> None:
    with pytest.raises(UnsupportedFormat):
        scrub_audio(fx.png_with_text())
    with pytest.raises(UnsupportedFormat):
        scrub_audio(b"not audio at all")


def test_truncated_and_empty_audio_are_refused_as_corrupt() -> None:
    header_only = fx.wav_bytes(np.zeros((0, 1), dtype=np.int16))
    with pytest.raises(CorruptMedia):
        scrub_audio(header_only)
    with pytest.raises(CorruptMedia):
        scrub_audio(fx.flac_with_tags()[:200])


def test_limits() -> None:
    with pytest.raises(TooLarge) as caught:
        scrub_audio(fx.wav_bytes(), limits=AudioLimits(max_seconds=0.1))
    assert caught.value.what == "seconds"
    with pytest.raises(TooLarge):
        scrub_audio(fx.wav_bytes(), limits=AudioLimits(max_bytes=10))
    with pytest.raises(ValueError):
        scrub_audio(fx.wav_bytes(), "mp3")  # type: ignore[arg-type]
