"""Audio primitives of the voice gates: safe decoding of untrusted uploads (PyAV, bundled FFmpeg libraries),
resampling, and voice activity detection (webrtcvad).

Threat model: upload bytes are hostile. The byte size is checked before parsing; only the first audio stream
is decoded; decoding stops (and fails) as soon as the decoded duration passes the limit, so a small file that
claims or expands to hours of audio cannot exhaust memory; every FFmpeg error becomes an `AudioDecodeError`
with a stable reason code. The result keeps no metadata (tags, cover art): just samples and the sample rate.
Channels are averaged to mono at the native rate (no resampling here: the sample-rate gate judges the source).
Accepted containers and codecs: WebM/Matroska (Opus, Vorbis), MP4/M4A (AAC), OGG (Opus, Vorbis), WAV (PCM),
FLAC, MP3.

Voice activity: webrtcvad labels 30 ms frames of 16-bit PCM at 8/16/32/48 kHz; other rates are resampled to
the nearest supported rate not above the source (so no band is invented). Edge silence is measured to the
first and last run of at least two speech frames, so a lone click in a pause does not count as speech.
"""

from __future__ import annotations

import dataclasses
import io
import math
from dataclasses import dataclass, field

import av
import numpy as np
import webrtcvad

from quality_gates.errors import QualityGateError

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
DEFAULT_MAX_SECONDS = 600.0
ALLOWED_CONTAINERS = frozenset({"matroska", "webm", "mov", "mp4", "m4a", "3gp", "3g2", "mj2", "ogg", "wav",
                                "flac", "mp3"})
ALLOWED_CODECS = frozenset({"opus", "vorbis", "aac", "mp3", "mp3float", "flac", "pcm_s16le", "pcm_s24le",
                            "pcm_s32le", "pcm_f32le", "pcm_u8", "pcm_s16be"})


class AudioDecodeError(QualityGateError):
    """The bytes could not be turned into audio samples.

    `code` is a stable reason code: "too_large" (bytes), "too_long" (decoded duration over the limit),
    "unsupported_format" (container or codec not allowed), "no_audio" (no audio stream or no samples),
    "corrupt" (FFmpeg could not parse or decode the data).
    """

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass(frozen=True, eq=False)
class Audio:
    """Decoded audio: `samples` is mono float32 (full scale = 1.0) at `sample_rate` Hz.

    `channels` is the source channel count (averaged into `samples`); `container` and `codec` are FFmpeg's
    names, or None for audio built from an array.
    """

    samples: np.ndarray = field(repr=False)
    sample_rate: int
    channels: int = 1
    container: str | None = None
    codec: str | None = None

    def __post_init__(self) -> None:
        if self.sample_rate <= 0:
            raise ValueError("sample_rate must be positive")
        mono = np.asarray(self.samples, dtype=np.float32).reshape(-1)
        object.__setattr__(self, "samples", mono)

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate


def decode_audio(data: bytes, max_bytes: int = DEFAULT_MAX_BYTES,
                 max_seconds: float = DEFAULT_MAX_SECONDS) -> Audio:
    """Decode upload bytes into mono float32 samples.

    Raises AudioDecodeError with code too_large, too_long, unsupported_format, no_audio or corrupt.
    """
    if len(data) > max_bytes:
        raise AudioDecodeError("too_large", f"{len(data)} bytes exceeds limit {max_bytes}")
    if not data:
        raise AudioDecodeError("no_audio", "empty input")
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            return _decode_container(container, max_seconds)
    except av.FFmpegError as exc:
        raise AudioDecodeError("corrupt", f"{type(exc).__name__}: {exc}") from exc
    except (ValueError, IndexError, EOFError, MemoryError) as exc:
        raise AudioDecodeError("corrupt", f"{type(exc).__name__}: {exc}") from exc


def _decode_container(container: av.container.InputContainer, max_seconds: float) -> Audio:
    names = set(str(container.format.name).split(","))
    if not names & ALLOWED_CONTAINERS:
        raise AudioDecodeError("unsupported_format", f"container {container.format.name}")
    if not container.streams.audio:
        raise AudioDecodeError("no_audio", "no audio stream")
    stream = container.streams.audio[0]
    codec = str(stream.codec_context.name)
    if codec not in ALLOWED_CODECS:
        raise AudioDecodeError("unsupported_format", f"codec {codec}")
    chunks, rate, channels = _read_frames(container, stream, max_seconds)
    if not chunks or rate <= 0:
        raise AudioDecodeError("no_audio", "no decodable samples")
    samples = np.concatenate(chunks).astype(np.float32, copy=False)
    return Audio(samples, rate, channels, str(container.format.name), codec)


def _read_frames(container: av.container.InputContainer, stream: av.AudioStream,
                 max_seconds: float) -> tuple[list[np.ndarray], int, int]:
    """Decode frame by frame into mono chunks, refusing once the duration passes `max_seconds`."""
    chunks: list[np.ndarray] = []
    rate, channels, total = 0, 0, 0
    for frame in container.decode(stream):
        rate = rate or int(frame.sample_rate)
        channels = channels or len(frame.layout.channels)
        if int(frame.sample_rate) != rate:
            raise AudioDecodeError("corrupt", "sample rate changes mid-stream")
        mono = _frame_to_mono(frame)
        total += len(mono)
        if total > max_seconds * rate:
            raise AudioDecodeError("too_long", f"longer than {max_seconds:g} s")
        chunks.append(mono)
    return chunks, rate, channels


_INT_SCALE = {"s16": 32768.0, "s16p": 32768.0, "s32": 2147483648.0, "s32p": 2147483648.0, "u8": 128.0,
              "u8p": 128.0, "s64": 9223372036854775808.0, "s64p": 9223372036854775808.0}


def _frame_to_mono(frame: av.AudioFrame) -> np.ndarray:
    """One frame as mono float32 (channels averaged; integer PCM scaled so full scale is 1.0)."""
    fmt = frame.format.name
    arr = frame.to_ndarray()
    n_channels = len(frame.layout.channels)
    if not frame.format.is_planar:
        arr = arr.reshape(-1, n_channels).T
    values = arr.astype(np.float64)
    if fmt in ("u8", "u8p"):
        values = values - 128.0
    if fmt in _INT_SCALE:
        values = values / _INT_SCALE[fmt]
    return values.mean(axis=0).astype(np.float32)


VAD_RATES = (8000, 16000, 32000, 48000)
FRAME_S = 0.03
"""Voice activity frame length in seconds (webrtcvad accepts 10, 20 or 30 ms)."""
VAD_LEVEL_DBFS = -20.0
VAD_MAX_GAIN = 100.0


def resample(audio: Audio, rate: int) -> Audio:
    """The same audio at another sample rate (FFmpeg's resampler, anti-aliased)."""
    if rate == audio.sample_rate or audio.samples.size == 0:
        return dataclasses.replace(audio, sample_rate=rate) if audio.samples.size == 0 else audio
    resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
    frame = av.AudioFrame.from_ndarray(audio.samples[None, :], format="flt", layout="mono")
    frame.sample_rate = audio.sample_rate
    out = resampler.resample(frame) + resampler.resample(None)
    samples = np.concatenate([f.to_ndarray().reshape(-1) for f in out]) if out else np.zeros(0, np.float32)
    return dataclasses.replace(audio, samples=samples, sample_rate=rate)


@dataclass(frozen=True, eq=False)
class VoiceActivity:
    """Per-frame voice activity: `speech[i]` for frame i of `FRAME_S` seconds, `frame_powers` its mean square.

    Powers are measured on the audio at its original rate, so they are not altered by resampling.
    """

    speech: np.ndarray = field(repr=False)
    frame_powers: np.ndarray = field(repr=False)

    @property
    def speech_ratio(self) -> float:
        return float(self.speech.mean()) if self.speech.size else 0.0

    @property
    def speech_seconds(self) -> float:
        return float(np.count_nonzero(self.speech) * FRAME_S)

    @property
    def level_range_db(self) -> float:
        """How far speech frames rise above the quietest tenth of the recording (90th percentile of speech
        frame levels minus 10th percentile of all, dB): near 0 for a steady tone, hum or hiss."""
        if not self.speech.any():
            return 0.0
        levels = 10.0 * np.log10(self.frame_powers + 1e-12)
        return float(np.percentile(levels[self.speech], 90) - np.percentile(levels, 10))

    @property
    def leading_silence_s(self) -> float:
        edges = _speech_edges(self.speech)
        return (edges[0] if edges else len(self.speech)) * FRAME_S

    @property
    def trailing_silence_s(self) -> float:
        edges = _speech_edges(self.speech)
        return (len(self.speech) - 1 - edges[1] if edges else len(self.speech)) * FRAME_S


def _speech_edges(speech: np.ndarray) -> tuple[int, int] | None:
    """First and last frame of runs of >= 2 speech frames (any speech frame when there is no such run)."""
    runs = np.flatnonzero(speech[:-1] & speech[1:])
    if runs.size:
        return int(runs[0]), int(runs[-1]) + 1
    single = np.flatnonzero(speech)
    return (int(single[0]), int(single[-1])) if single.size else None


def detect_voice_activity(audio: Audio, aggressiveness: int = 3) -> VoiceActivity:
    """Label 30 ms frames as speech or not with webrtcvad (mode 0-3, 3 rejects the most non-speech)."""
    frames = _frames(audio.samples, audio.sample_rate)
    powers = (frames.astype(np.float64) ** 2).mean(axis=1) if frames.size else np.zeros(0)
    vad_audio = resample(_level_normalised(audio, powers), _vad_rate(audio.sample_rate))
    pcm = (np.clip(_frames(vad_audio.samples, vad_audio.sample_rate), -1.0, 32767 / 32768) * 32768)
    pcm16 = pcm.astype("<i2")
    vad = webrtcvad.Vad(aggressiveness)
    count = min(len(pcm16), len(powers))
    speech = np.array([vad.is_speech(f.tobytes(), vad_audio.sample_rate) for f in pcm16[:count]], dtype=bool)
    return VoiceActivity(speech, powers[:count])


def _level_normalised(audio: Audio, powers: np.ndarray) -> Audio:
    """A copy whose loud frames (95th percentile power) sit at VAD_LEVEL_DBFS; gain capped at VAD_MAX_GAIN.

    webrtcvad misses quiet but clean speech (a speaker far from the microphone at -45 dBFS); the recording
    level must not decide whether speech is found, so the VAD sees a level-normalised copy.
    """
    if powers.size == 0:
        return audio
    reference = float(np.percentile(powers, 95))
    gain = min(VAD_MAX_GAIN, math.sqrt(10 ** (VAD_LEVEL_DBFS / 10) / max(reference, 1e-12)))
    return dataclasses.replace(audio, samples=np.clip(audio.samples * gain, -1.0, 1.0))


def _vad_rate(rate: int) -> int:
    below = [r for r in VAD_RATES if r <= rate]
    return below[-1] if below else VAD_RATES[0]


def _frames(samples: np.ndarray, rate: int) -> np.ndarray:
    """Non-overlapping FRAME_S frames, shape (n_frames, frame_len); a partial last frame is dropped."""
    length = int(round(rate * FRAME_S))
    count = len(samples) // length
    return samples[: count * length].reshape(count, length)
