"""Voice recording gates: duration, sample rate, clipping, estimated SNR, speech ratio and edge silence.

`check_voice(audio, rules)` judges decoded audio; `check_voice_bytes(data, rules)` decodes first and turns an
undecodable upload into a failed `decode` gate instead of an exception. Every gate returns a `GateResult`.

Measurement policy (calibrated on ../shared/data fsdd, hyke and noisy_speech):
- Voice activity comes from webrtcvad on 30 ms frames (audio resampled to 8/16/32/48 kHz when needed).
- Clipping counts samples at or above 98% of full scale (the definition used by the data's audio_stats.csv).
- SNR: speech power is the mean power of VAD speech frames; the noise floor is the median power of the
  non-speech frames when at least `min_noise_s` of them exist, else (a recording of at least
  `min_snr_duration_s` whose pauses the VAD could not find, typically because noise fills them) the 10th
  percentile of all frame powers. A short clip that is speech from end to end (a spoken digit) has no
  noise-only part: its SNR is reported as not measurable, and `unmeasured_snr` in the rules decides whether
  that passes or goes to review.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from quality_gates._audio import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_SECONDS,
    FRAME_S,
    Audio,
    AudioDecodeError,
    VoiceActivity,
    decode_audio,
    detect_voice_activity,
)
from quality_gates._report import GateResult, Verdict, combine_verdicts
from quality_gates.errors import RulesError

CLIP_LEVEL = 0.98
"""Samples at or above this fraction of full scale count as clipped."""

SNR_CAP_DB = 80.0
"""SNR values are capped here (digital silence between words would otherwise give infinity)."""

_EPS_POWER = 1e-12
NOISE_PERCENTILE = 25.0
RULE_ALIASES = {"min_seconds": "min_duration_s", "max_seconds": "max_duration_s"}
"""Campaign voice prompts name their length limits min_seconds / max_seconds; both spellings are accepted."""
VOICE_GATES = ("duration", "sample_rate", "clipping", "snr", "speech_ratio", "silence")


@dataclass(frozen=True)
class VoiceRules:
    """Thresholds of the voice gates (units in the field names); campaign JSON goes through `from_dict`."""

    max_bytes: int = DEFAULT_MAX_BYTES
    min_duration_s: float = 0.1
    max_duration_s: float = 120.0
    min_sample_rate_hz: int = 8000
    max_clipped_fraction: float = 0.001
    min_snr_db: float = 20.0
    snr_review_margin_db: float = 5.0
    unmeasured_snr: str = "pass"
    min_speech_ratio: float = 0.2
    min_level_range_db: float = 2.0
    max_leading_silence_s: float = 3.0
    max_trailing_silence_s: float = 3.0
    vad_aggressiveness: int = 3
    min_noise_s: float = 0.3
    min_snr_duration_s: float = 2.0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VoiceRules:
        """Rules from a JSON object (any subset of the fields); raises RulesError naming the first bad key."""
        if not isinstance(data, Mapping):
            raise RulesError("<root>", "rules must be a JSON object")
        defaults = cls()
        values: dict[str, Any] = {}
        for raw_key, raw in data.items():
            key = RULE_ALIASES.get(str(raw_key), str(raw_key))
            if key in values:
                raise RulesError(key, "given twice (once under an alias)")
            if key not in {f.name for f in dataclasses.fields(cls)}:
                raise RulesError(str(key), "unknown rule")
            values[key] = _coerce(key, raw, getattr(defaults, key))
        rules = cls(**values)
        rules.validate()
        return rules

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def validate(self) -> None:
        """Check ranges and cross-field consistency; raises RulesError."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, int | float) and f.name != "min_snr_db" and value < 0:
                raise RulesError(f.name, "must not be negative")
        for key in ("max_clipped_fraction", "min_speech_ratio"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise RulesError(key, "must be between 0 and 1")
        if self.min_duration_s > self.max_duration_s:
            raise RulesError("min_duration_s", "must not exceed max_duration_s")
        if self.unmeasured_snr not in ("pass", "review"):
            raise RulesError("unmeasured_snr", "must be 'pass' or 'review'")
        if self.vad_aggressiveness not in (0, 1, 2, 3):
            raise RulesError("vad_aggressiveness", "must be 0, 1, 2 or 3")

    @property
    def max_seconds_decoded(self) -> float:
        """Decoding stops (too_long) a little past the duration limit, never past the global cap."""
        return min(DEFAULT_MAX_SECONDS, self.max_duration_s * 2 + 1.0)


def _coerce(key: str, raw: Any, default: Any) -> Any:
    """Check one JSON value against the type of the field's default."""
    if isinstance(default, str):
        if not isinstance(raw, str):
            raise RulesError(key, "must be a string")
        return raw
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise RulesError(key, f"must be a number, got {type(raw).__name__}")
    if not math.isfinite(raw):
        raise RulesError(key, "must be finite")
    if isinstance(default, int):
        if isinstance(raw, float) and not raw.is_integer():
            raise RulesError(key, "must be a whole number")
        return int(raw)
    return float(raw)


DEFAULT_VOICE_RULES = VoiceRules()


@dataclass(frozen=True, eq=False)
class VoiceReport:
    """All voice gates for one recording. `duration_s`/`sample_rate` are None when it could not be decoded."""

    verdict: Verdict
    gates: tuple[GateResult, ...]
    duration_s: float | None = None
    sample_rate: int | None = None

    @property
    def passed(self) -> bool:
        return self.verdict is Verdict.PASS

    @property
    def needs_review(self) -> bool:
        return self.verdict is Verdict.REVIEW

    def gate(self, name: str) -> GateResult | None:
        """The result of the named gate, or None if it did not run."""
        return next((g for g in self.gates if g.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "verdict": self.verdict.value,
            "needs_review": self.needs_review,
            "gates": [g.to_dict() for g in self.gates],
            "duration_s": None if self.duration_s is None else round(self.duration_s, 3),
            "sample_rate": self.sample_rate,
        }


def check_voice_bytes(data: bytes, rules: VoiceRules = DEFAULT_VOICE_RULES) -> VoiceReport:
    """Decode an upload and run every voice gate; undecodable input gives a failed `decode` gate."""
    try:
        audio = decode_audio(data, rules.max_bytes, rules.max_seconds_decoded)
    except AudioDecodeError as exc:
        gate = GateResult.fail("decode", exc.code, {"bytes": len(data)}, {"max_bytes": rules.max_bytes})
        return VoiceReport(Verdict.FAIL, (gate,))
    return check_voice(audio, rules)


def check_voice(audio: Audio, rules: VoiceRules = DEFAULT_VOICE_RULES) -> VoiceReport:
    """Run every voice gate on decoded audio. Never raises for bad content: gates fail instead."""
    activity = detect_voice_activity(audio, rules.vad_aggressiveness)
    gates = (
        GateResult.ok("decode", {"container": audio.container, "codec": audio.codec,
                                 "channels": audio.channels}),
        duration_gate(audio, rules),
        sample_rate_gate(audio, rules),
        clipping_gate(audio, rules),
        snr_gate(audio, activity, rules),
        speech_ratio_gate(activity, rules),
        silence_gate(activity, rules),
    )
    return VoiceReport(combine_verdicts(gates), gates, audio.duration_s, audio.sample_rate)


def duration_gate(audio: Audio, rules: VoiceRules) -> GateResult:
    measured = {"duration_s": audio.duration_s}
    threshold = {"min_duration_s": rules.min_duration_s, "max_duration_s": rules.max_duration_s}
    if audio.duration_s < rules.min_duration_s:
        return GateResult.fail("duration", "too_short", measured, threshold)
    if audio.duration_s > rules.max_duration_s:
        return GateResult.fail("duration", "too_long", measured, threshold)
    return GateResult.ok("duration", measured, threshold)


def sample_rate_gate(audio: Audio, rules: VoiceRules) -> GateResult:
    measured = {"sample_rate_hz": audio.sample_rate}
    threshold = {"min_sample_rate_hz": rules.min_sample_rate_hz}
    if audio.sample_rate < rules.min_sample_rate_hz:
        return GateResult.fail("sample_rate", "too_low", measured, threshold)
    return GateResult.ok("sample_rate", measured, threshold)


def clipped_fraction(samples: np.ndarray, level: float = CLIP_LEVEL) -> float:
    """Share of samples whose magnitude is at or above `level` of full scale (0.0 for empty audio)."""
    if samples.size == 0:
        return 0.0
    return float(np.count_nonzero(np.abs(samples) >= level) / samples.size)


def clipping_gate(audio: Audio, rules: VoiceRules) -> GateResult:
    fraction = clipped_fraction(audio.samples)
    peak = float(np.abs(audio.samples).max()) if audio.samples.size else 0.0
    measured = {"clipped_fraction": fraction, "peak_dbfs": _db(peak**2)}
    threshold = {"max_clipped_fraction": rules.max_clipped_fraction, "clip_level": CLIP_LEVEL}
    if fraction > rules.max_clipped_fraction:
        return GateResult.fail("clipping", "clipped", measured, threshold)
    return GateResult.ok("clipping", measured, threshold)


@dataclass(frozen=True)
class SnrEstimate:
    """Estimated SNR in dB (None when not measurable), the powers used and how the noise was found."""

    snr_db: float | None
    speech_dbfs: float | None
    noise_dbfs: float | None
    method: str


def estimate_snr(activity: VoiceActivity, rules: VoiceRules = DEFAULT_VOICE_RULES) -> SnrEstimate:
    """Speech-to-noise power ratio from VAD-labelled frame powers (see the module docstring)."""
    powers, speech = activity.frame_powers, activity.speech
    if not speech.any():
        return SnrEstimate(None, None, _db(float(np.median(powers))) if powers.size else None, "no_speech")
    speech_power = float(powers[speech].mean())
    if np.count_nonzero(~speech) * FRAME_S >= rules.min_noise_s:
        noise_power, method = float(np.percentile(powers[~speech], NOISE_PERCENTILE)), "pauses"
    elif len(powers) * FRAME_S >= rules.min_snr_duration_s:
        noise_power, method = float(np.percentile(powers, 10)), "quiet_frames"
    else:
        return SnrEstimate(None, _db(speech_power), None, "unmeasurable")
    snr = _db(max(speech_power - noise_power, _EPS_POWER)) - _db(noise_power)
    return SnrEstimate(min(snr, SNR_CAP_DB), _db(speech_power), _db(noise_power), method)


def snr_gate(audio: Audio, activity: VoiceActivity, rules: VoiceRules) -> GateResult:
    est = estimate_snr(activity, rules)
    measured = {"snr_db": est.snr_db, "speech_dbfs": est.speech_dbfs, "noise_dbfs": est.noise_dbfs,
                "method": est.method}
    threshold = {"min_snr_db": rules.min_snr_db, "review_margin_db": rules.snr_review_margin_db}
    if est.snr_db is None:
        if est.method == "unmeasurable" and rules.unmeasured_snr == "pass":
            return GateResult.ok("snr", measured, threshold)
        return GateResult.needs_review("snr", est.method, measured, threshold)
    if est.snr_db < rules.min_snr_db:
        return GateResult.fail("snr", "too_noisy", measured, threshold)
    if est.snr_db < rules.min_snr_db + rules.snr_review_margin_db:
        return GateResult.needs_review("snr", "borderline", measured, threshold)
    return GateResult.ok("snr", measured, threshold)


def speech_ratio_gate(activity: VoiceActivity, rules: VoiceRules) -> GateResult:
    ratio = activity.speech_ratio
    measured = {"speech_ratio": ratio, "speech_s": activity.speech_seconds,
                "level_range_db": activity.level_range_db}
    threshold = {"min_speech_ratio": rules.min_speech_ratio, "min_level_range_db": rules.min_level_range_db}
    if activity.speech_seconds == 0.0:
        return GateResult.fail("speech_ratio", "no_speech", measured, threshold)
    if activity.level_range_db < rules.min_level_range_db:
        # webrtcvad calls any loud steady sound speech; speech always rises and falls in level.
        return GateResult.fail("speech_ratio", "steady_signal", measured, threshold)
    if ratio < rules.min_speech_ratio:
        return GateResult.fail("speech_ratio", "too_little_speech", measured, threshold)
    return GateResult.ok("speech_ratio", measured, threshold)


def silence_gate(activity: VoiceActivity, rules: VoiceRules) -> GateResult:
    lead, trail = activity.leading_silence_s, activity.trailing_silence_s
    measured = {"leading_silence_s": lead, "trailing_silence_s": trail}
    threshold = {"max_leading_silence_s": rules.max_leading_silence_s,
                 "max_trailing_silence_s": rules.max_trailing_silence_s}
    if activity.speech_seconds == 0.0:
        return GateResult.fail("silence", "no_speech", measured, threshold)
    if lead > rules.max_leading_silence_s:
        return GateResult.fail("silence", "leading_silence", measured, threshold)
    if trail > rules.max_trailing_silence_s:
        return GateResult.fail("silence", "trailing_silence", measured, threshold)
    return GateResult.ok("silence", measured, threshold)


def _db(power: float) -> float:
    return 10.0 * math.log10(max(power, _EPS_POWER))
