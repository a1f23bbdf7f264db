"""Audio scrubbing: decode an accepted recording with PyAV (FFmpeg) and write the samples into a new file.

Nothing of the input container survives: ID3v1/v2, APE, Vorbis comments, MP4 atoms, RIFF INFO/bext/iXML/cue
chunks and cover pictures live in the container, and only decoded samples are carried over. WAV output is
written by the standard `wave` module (RIFF, fmt, data and nothing else); FLAC output is encoded by FFmpeg and
then rebuilt with only its STREAMINFO block, because FFmpeg's muxer adds a Vorbis comment naming itself and a
padding block. Samples are carried as 16-bit PCM at the source rate and channel count.
"""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import av
import numpy as np

from anonymize._formats import AUDIO_FORMATS, sniff
from anonymize._metadata import disallowed_tags, inspect_metadata, removed_groups
from anonymize.errors import CorruptMedia, MediaError, TooLarge, UnsupportedFormat

AudioOutFormat = Literal["wav", "flac"]

_MAX_CHANNELS = 8


@dataclass(frozen=True)
class AudioLimits:
    """Refusal thresholds for recordings."""

    max_bytes: int = 200 * 1024 * 1024
    max_seconds: float = 3600.0


@dataclass(frozen=True)
class ScrubbedAudio:
    """A scrubbed recording: encoded `data` in `format` (WAV or FLAC), its stream parameters, and the metadata
    groups found in the input and dropped (`removed`, e.g. ID3, Vorbis, RIFF-INFO, bext, Picture)."""

    data: bytes
    format: str
    sample_rate: int
    channels: int
    duration_s: float
    removed: tuple[str, ...]
    kind: str = "audio"


@dataclass(frozen=True)
class _Pcm:
    samples: bytes
    rate: int
    channels: int

    @property
    def frames(self) -> int:
        return len(self.samples) // (2 * self.channels)


def scrub_audio(data: bytes, out_format: AudioOutFormat = "wav", limits: AudioLimits | None = None) -> ScrubbedAudio:
    """Decode `data` and re-encode its samples as `out_format` ("wav" or "flac") with no tags.

    Raises `UnsupportedFormat` (not WAV, FLAC, MP3, Ogg, M4A, AAC or AIFF, or a file with video), `TooLarge`
    (bytes or duration over `limits`) and `CorruptMedia` (undecodable, or no audio stream).
    """
    if out_format not in ("wav", "flac"):
        raise ValueError(f"out_format must be 'wav' or 'flac', not {out_format!r}")
    limits = limits or AudioLimits()
    if len(data) > limits.max_bytes:
        raise TooLarge("bytes", len(data), limits.max_bytes)
    found = sniff(data)
    if found.kind != "audio":
        raise UnsupportedFormat(found.format, AUDIO_FORMATS)
    removed = set(removed_groups(inspect_metadata(data)))
    pcm = _decode(data, limits, removed)
    encoded = _write_wav(pcm) if out_format == "wav" else _write_flac(pcm)
    leftovers = disallowed_tags(encoded)
    if leftovers:  # defence in depth: a fresh encode must never carry tags
        raise MediaError(f"re-encoded output still carries {', '.join(t.key for t in leftovers)}")
    return ScrubbedAudio(
        encoded, out_format.upper(), pcm.rate, pcm.channels, pcm.frames / pcm.rate, tuple(sorted(removed))
    )


def _decode(data: bytes, limits: AudioLimits, removed: set[str]) -> _Pcm:
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            stream = _audio_stream(container, removed)
            return _pcm(container, stream, limits)
    except (av.FFmpegError, OSError, ValueError, EOFError) as exc:
        raise CorruptMedia(f"audio could not be decoded: {exc}") from exc


def _audio_stream(container: av.container.InputContainer, removed: set[str]) -> av.AudioStream:
    for video in container.streams.video:
        if video.disposition & av.stream.Disposition.attached_pic:
            removed.add("Picture")  # cover art: dropped with the container
        else:
            raise UnsupportedFormat("a file with a video stream", AUDIO_FORMATS)
    if not container.streams.audio:
        raise CorruptMedia("the file has no audio stream")
    stream = container.streams.audio[0]
    if not stream.rate or not 0 < stream.channels <= _MAX_CHANNELS:
        raise CorruptMedia(f"unusable audio stream ({stream.rate} Hz, {stream.channels} channels)")
    return stream


def _pcm(container: av.container.InputContainer, stream: av.AudioStream, limits: AudioLimits) -> _Pcm:
    rate, channels = int(stream.rate), int(stream.channels)
    limit_frames = int(limits.max_seconds * rate)
    chunks: list[bytes] = []
    total = 0
    for array in _s16_frames(container, stream, rate, channels):
        total += array.shape[1] // channels
        if total > limit_frames:
            raise TooLarge("seconds", round(total / rate, 1), limits.max_seconds)
        chunks.append(array.tobytes())
    if total == 0:
        raise CorruptMedia("the audio stream holds no samples")
    return _Pcm(b"".join(chunks), rate, channels)


def _s16_frames(
    container: av.container.InputContainer, stream: av.AudioStream, rate: int, channels: int
) -> Iterator[np.ndarray]:
    layout = stream.layout.name if stream.layout.nb_channels == channels else channels
    resampler = av.AudioResampler(format="s16", layout=layout, rate=rate)
    for frame in container.decode(stream):
        for out in resampler.resample(frame):
            yield out.to_ndarray()
    for out in resampler.resample(None):
        yield out.to_ndarray()


def _write_wav(pcm: _Pcm) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(pcm.channels)
        writer.setsampwidth(2)
        writer.setframerate(pcm.rate)
        writer.writeframes(pcm.samples)
    return buffer.getvalue()


def _write_flac(pcm: _Pcm) -> bytes:
    buffer = io.BytesIO()
    layout = {1: "mono", 2: "stereo"}.get(pcm.channels, f"{pcm.channels}c")
    with av.open(buffer, mode="w", format="flac") as output:
        stream = output.add_stream("flac", rate=pcm.rate, layout=layout)
        stream.format = "s16"
        samples = np.frombuffer(pcm.samples, dtype=np.int16)
        step = 4096 * pcm.channels
        for start in range(0, len(samples), step):
            frame = av.AudioFrame.from_ndarray(samples[start : start + step].reshape(1, -1), "s16", layout)
            frame.rate = pcm.rate
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    return _keep_streaminfo(buffer.getvalue())


def _keep_streaminfo(flac: bytes) -> bytes:
    """Rebuild a FLAC file with only its STREAMINFO block (drops FFmpeg's Vorbis comment and padding)."""
    if not flac.startswith(b"fLaC"):
        raise MediaError("the FLAC encoder produced no FLAC stream")
    pos, streaminfo = 4, b""
    while True:
        header, size = flac[pos], int.from_bytes(flac[pos + 1 : pos + 4], "big")
        if header & 0x7F == 0:
            streaminfo = flac[pos + 4 : pos + 4 + size]
        pos += 4 + size
        if header & 0x80:
            break
    if len(streaminfo) != 34:
        raise MediaError("the FLAC encoder wrote no STREAMINFO block")
    return b"fLaC" + bytes([0x80]) + (34).to_bytes(3, "big") + streaminfo + flac[pos:]
