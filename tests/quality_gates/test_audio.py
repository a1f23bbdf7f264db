"""Audio decoding (PyAV), resampling and voice activity on recordings generated and encoded in the test."""

from __future__ import annotations

import io
import wave

import av
import numpy as np
import pytest

from quality_gates import Audio, AudioDecodeError, QualityGateError, decode_audio
from quality_gates._audio import detect_voice_activity, resample
from tests.quality_gates.test_audio_support import encode, sine, speech_like


@pytest.mark.parametrize(
    ("fmt", "codec", "rate"),
    [
        ("wav", "pcm_s16le", 16000),
        ("ogg", "libopus", 48000),
        ("webm", "libopus", 48000),
        ("mp4", "aac", 44100),
        ("flac", "flac", 22050),
        ("mp3", "libmp3lame", 44100),
    ],
)
def test_every_accepted_container_decodes_to_mono_float32(fmt: str, codec: str, rate: int) -> None:
    samples = sine(440.0, 1.0, rate, amplitude=0.5)
    # FFmpeg's native AAC encoder garbles mono input written by PyAV, so MP4 is written in stereo (real mono
    # AAC files decode correctly: see the realdata test).
    right = samples if codec == "aac" else None
    audio = decode_audio(encode(samples, rate, fmt, codec, right=right))
    assert audio.samples.dtype == np.float32
    assert audio.samples.ndim == 1
    assert audio.sample_rate == rate
    # Lossy encoders add priming samples; the length stays within ~5% of a second.
    assert audio.duration_s == pytest.approx(1.0, abs=0.06)
    assert float(np.abs(audio.samples).max()) == pytest.approx(0.5, abs=0.06)


def test_pcm_is_scaled_so_full_scale_is_one() -> None:
    samples = np.array([0.0, 0.5, -0.5, 1.0, -1.0] * 800, dtype=np.float32)
    audio = decode_audio(encode(samples, 8000, "wav", "pcm_s16le"))
    assert audio.samples.min() == pytest.approx(-1.0, abs=1e-4)
    assert audio.samples.max() == pytest.approx(1.0, abs=1e-3)
    assert audio.container == "wav" and audio.codec == "pcm_s16le"


def test_stereo_channels_are_averaged() -> None:
    left = sine(300.0, 0.5, 16000, amplitude=0.4)
    data = encode(left, 16000, "wav", "pcm_s16le", right=np.zeros_like(left))
    audio = decode_audio(data)
    assert audio.channels == 2
    assert float(np.abs(audio.samples).max()) == pytest.approx(0.2, abs=0.01)


def test_8_bit_unsigned_wav_is_centred() -> None:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(1)
        out.setframerate(8000)
        out.writeframes(bytes([128, 255, 128, 1] * 2000))
    audio = decode_audio(buf.getvalue())
    assert np.allclose(audio.samples[:4], [0.0, 127 / 128, 0.0, -127 / 128])


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "no_audio"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt " + b"\x00" * 40, "corrupt"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 200, "unsupported_format"),
        (b"this is not audio at all " * 40, "corrupt"),
    ],
)
def test_undecodable_input_raises_a_coded_error(data: bytes, code: str) -> None:
    with pytest.raises(AudioDecodeError) as caught:
        decode_audio(data)
    assert caught.value.code == code
    assert isinstance(caught.value, QualityGateError)


def test_a_video_without_sound_has_no_audio() -> None:
    buf = io.BytesIO()
    with av.open(buf, "w", format="matroska") as out:
        stream = out.add_stream("mpeg4", rate=1)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
        frame = av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="rgb24")
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    with pytest.raises(AudioDecodeError) as caught:
        decode_audio(buf.getvalue())
    assert caught.value.code == "no_audio"


def test_size_and_duration_limits_are_enforced() -> None:
    data = encode(sine(200.0, 3.0, 8000), 8000, "wav", "pcm_s16le")
    with pytest.raises(AudioDecodeError) as too_large:
        decode_audio(data, max_bytes=len(data) - 1)
    assert too_large.value.code == "too_large"
    with pytest.raises(AudioDecodeError) as too_long:
        decode_audio(data, max_seconds=2.0)
    assert too_long.value.code == "too_long"
    assert decode_audio(data, max_seconds=3.5).duration_s == pytest.approx(3.0, abs=0.01)


def test_resample_keeps_duration_and_tone() -> None:
    audio = Audio(sine(1000.0, 1.0, 44100, amplitude=0.5), 44100)
    out = resample(audio, 16000)
    assert out.sample_rate == 16000
    assert out.duration_s == pytest.approx(1.0, abs=0.01)
    spectrum = np.abs(np.fft.rfft(out.samples))
    peak_hz = np.fft.rfftfreq(len(out.samples), 1 / 16000)[int(np.argmax(spectrum))]
    assert peak_hz == pytest.approx(1000.0, abs=5.0)


def test_voice_activity_finds_speech_and_edges() -> None:
    audio = Audio(speech_like(3.0, 16000, lead=0.6, trail=0.9), 16000)
    activity = detect_voice_activity(audio)
    assert 0.4 < activity.speech_ratio < 0.9
    assert activity.leading_silence_s == pytest.approx(0.6, abs=0.1)
    assert activity.trailing_silence_s == pytest.approx(0.9, abs=0.15)


def test_voice_activity_ignores_the_recording_level() -> None:
    loud = speech_like(2.0, 8000, level=0.5)
    quiet = Audio(loud * 0.005, 8000)  # about -46 dBFS: a speaker far from the microphone
    assert detect_voice_activity(quiet).speech_ratio == pytest.approx(
        detect_voice_activity(Audio(loud, 8000)).speech_ratio, abs=0.1)


def test_digital_silence_has_no_speech() -> None:
    activity = detect_voice_activity(Audio(np.zeros(16000, np.float32), 16000))
    assert activity.speech_seconds == 0.0
    assert activity.leading_silence_s == pytest.approx(0.99, abs=0.03)


def test_audio_rejects_a_non_positive_rate() -> None:
    with pytest.raises(ValueError):
        Audio(np.zeros(10, np.float32), 0)
