"""Generated test recordings (no tests here; shared by test_audio*.py and test_voice*.py): tones, a speech-like
signal (voiced harmonics, formants, syllables and pauses), and encoding to any container PyAV can write."""

from __future__ import annotations

import io

import av
import numpy as np


def sine(freq: float, seconds: float, rate: int, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def speech_like(seconds: float = 3.0, rate: int = 16000, seed: int = 0, level: float = 0.3, lead: float = 0.3,
                trail: float = 0.3) -> np.ndarray:
    """A voiced, formant-shaped signal in 180 ms syllables every 250 ms between `lead` and `trail` seconds of
    digital silence; peak at `level`. webrtcvad takes it for speech."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    f0 = 120 * (1 + 0.1 * np.sin(2 * np.pi * 0.7 * t)) * (1 + 0.01 * rng.standard_normal(n).cumsum() / np.sqrt(n))
    phase = 2 * np.pi * np.cumsum(f0) / rate
    source = sum(np.sin(k * phase) / k for k in range(1, 30))
    freqs = np.fft.rfftfreq(n, 1 / rate)
    formants = sum(np.exp(-0.5 * ((freqs - fc) / bw) ** 2) for fc, bw in ((500, 120), (1500, 200), (2500, 300)))
    voiced = np.fft.irfft(np.fft.rfft(source) * (formants + 0.05), n)
    envelope = np.zeros(n)
    start = lead
    while start + 0.18 < seconds - trail:
        a, b = int(start * rate), int((start + 0.18) * rate)
        envelope[a:b] = np.hanning(b - a)
        start += 0.25
    out = voiced * envelope
    return (out / np.abs(out).max() * level).astype(np.float32)


def with_noise(samples: np.ndarray, snr_db: float, seed: int = 1) -> np.ndarray:
    """White noise added at `snr_db` below the power of the non-silent samples."""
    power = float((samples[samples != 0].astype(np.float64) ** 2).mean())
    noise = np.random.default_rng(seed).standard_normal(len(samples)) * np.sqrt(power / 10 ** (snr_db / 10))
    return (samples + noise).astype(np.float32)


def encode(samples: np.ndarray, rate: int, fmt: str, codec: str, right: np.ndarray | None = None) -> bytes:
    """Encode mono (or stereo with `right`) float samples with PyAV into container `fmt`."""
    layout = "mono" if right is None else "stereo"
    planes = samples[None, :] if right is None else np.stack([samples, right])
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        frame_len = stream.codec_context.frame_size or 1024
        pts = 0
        for start in range(0, planes.shape[1], frame_len):
            chunk = np.ascontiguousarray(planes[:, start:start + frame_len], dtype=np.float32)
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
            frame.sample_rate, frame.pts = rate, pts
            pts += chunk.shape[1]
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()
