"""Voice gates on generated recordings: clean speech-like audio passes; noise, clipping, silence, steady tones,
short or long recordings and low sample rates each fail the right gate with the right reason."""

from __future__ import annotations

import json

import numpy as np
import pytest

from quality_gates import (
    Audio,
    GateResult,
    RulesError,
    Verdict,
    VoiceReport,
    VoiceRules,
    check_voice,
    check_voice_bytes,
)
from quality_gates._voice import clipped_fraction
from tests.quality_gates.test_audio_support import encode, sine, speech_like, with_noise

GATES = ["decode", "duration", "sample_rate", "clipping", "snr", "speech_ratio", "silence"]


def failed(report: VoiceReport) -> dict[str, str | None]:
    return {g.name: g.reason for g in report.gates if not g.passed}


@pytest.mark.parametrize("rate", [8000, 16000, 44100, 48000])
def test_clean_speech_passes_every_gate(rate: int) -> None:
    report = check_voice(Audio(speech_like(3.0, rate), rate))
    assert report.verdict is Verdict.PASS, failed(report)
    assert [g.name for g in report.gates] == GATES
    assert report.duration_s == pytest.approx(3.0)


def test_every_gate_reports_name_measured_threshold_reason_and_message_key() -> None:
    report = check_voice(Audio(speech_like(), 16000))
    for gate in report.gates:
        assert isinstance(gate, GateResult)
        assert gate.measured
        assert gate.message_key == f"gate.{gate.name}.ok"
        if gate.name != "decode":
            assert gate.threshold
    snr = report.gate("snr")
    assert snr is not None and snr.measured["snr_db"] == 80.0  # digital silence between syllables: capped


@pytest.mark.parametrize(("snr_db", "verdict"), [(35.0, Verdict.PASS), (22.0, Verdict.REVIEW), (10.0, Verdict.FAIL)])
def test_estimated_snr_follows_added_noise(snr_db: float, verdict: Verdict) -> None:
    report = check_voice(Audio(with_noise(speech_like(), snr_db), 16000))
    gate = report.gate("snr")
    assert gate is not None
    assert gate.measured["snr_db"] == pytest.approx(snr_db, abs=2.5)
    assert gate.measured["method"] == "pauses"
    assert gate.verdict is verdict
    assert report.verdict is verdict


def test_noise_that_fills_every_pause_is_still_measured() -> None:
    # Loud noise makes the VAD call everything speech; the quiet-frame floor still exposes it.
    samples = with_noise(speech_like(3.0, 16000, lead=0.05, trail=0.05), 3.0)
    gate = check_voice(Audio(samples, 16000)).gate("snr")
    assert gate is not None and gate.reason == "too_noisy"


def test_clipping_is_measured_at_98_percent_of_full_scale() -> None:
    loud = np.clip(speech_like(level=1.0) * 3.0, -1.0, 1.0)
    report = check_voice(Audio(loud, 16000))
    assert failed(report)["clipping"] == "clipped"
    gate = report.gate("clipping")
    assert gate is not None and gate.measured["clipped_fraction"] > 0.01
    assert clipped_fraction(np.array([0.5, 0.979, 0.98, -1.0], np.float32)) == 0.5


def test_a_few_peaks_at_full_scale_are_not_clipping() -> None:
    samples = speech_like(level=0.5)
    samples[[1000, 20000, 30000]] = 1.0
    assert "clipping" not in failed(check_voice(Audio(samples, 16000)))


def test_silence_has_no_speech() -> None:
    report = check_voice(Audio(np.zeros(48000, np.float32), 16000))
    assert failed(report) == {"snr": "no_speech", "speech_ratio": "no_speech", "silence": "no_speech"}
    assert report.verdict is Verdict.FAIL


@pytest.mark.parametrize("signal", ["tone", "hum", "white_noise"])
def test_steady_sounds_are_not_speech(signal: str) -> None:
    rng = np.random.default_rng(3)
    samples = {"tone": sine(440.0, 3.0, 16000), "hum": sine(50.0, 3.0, 16000, 0.2),
               "white_noise": (rng.standard_normal(48000) * 0.05).astype(np.float32)}[signal]
    assert failed(check_voice(Audio(samples, 16000)))["speech_ratio"] == "steady_signal"


def test_long_edge_silences_fail() -> None:
    late = check_voice(Audio(speech_like(7.0, 16000, lead=4.0, trail=0.3), 16000))
    assert failed(late) == {"silence": "leading_silence"}
    early = check_voice(Audio(speech_like(7.0, 16000, lead=0.3, trail=4.0), 16000))
    assert failed(early) == {"silence": "trailing_silence"}


def test_mostly_silent_recording_has_too_little_speech() -> None:
    samples = np.concatenate([np.zeros(16000 * 2, np.float32), speech_like(0.6, 16000, lead=0.05, trail=0.05),
                              np.zeros(16000 * 2, np.float32)])
    rules = VoiceRules(max_leading_silence_s=10, max_trailing_silence_s=10)
    assert failed(check_voice(Audio(samples, 16000), rules)) == {"speech_ratio": "too_little_speech"}


def test_duration_and_sample_rate_limits() -> None:
    rules = VoiceRules(min_duration_s=2.0, max_duration_s=4.0, min_sample_rate_hz=16000)
    assert failed(check_voice(Audio(speech_like(1.5, 16000), 16000), rules)) == {"duration": "too_short"}
    assert failed(check_voice(Audio(speech_like(5.0, 16000), 16000), rules)) == {"duration": "too_long"}
    assert failed(check_voice(Audio(speech_like(3.0, 8000), 8000), rules)) == {"sample_rate": "too_low"}


def test_short_clip_without_pauses_has_unmeasurable_snr() -> None:
    clip = speech_like(0.6, 8000, lead=0.0, trail=0.0)
    gate = check_voice(Audio(clip, 8000)).gate("snr")
    assert gate is not None and gate.passed and gate.measured["method"] == "unmeasurable"
    strict = check_voice(Audio(clip, 8000), VoiceRules(unmeasured_snr="review")).gate("snr")
    assert strict is not None and strict.verdict is Verdict.REVIEW and strict.reason == "unmeasurable"


def test_bytes_entry_point_decodes_and_reports_decode_failures() -> None:
    ok = check_voice_bytes(encode(speech_like(), 48000, "webm", "libopus"))
    assert ok.passed, failed(ok)
    decode = ok.gate("decode")
    assert decode is not None and decode.measured["codec"] == "opus"
    bad = check_voice_bytes(b"definitely not audio" * 10)
    assert bad.verdict is Verdict.FAIL
    assert [(g.name, g.reason) for g in bad.gates] == [("decode", "corrupt")]
    assert bad.duration_s is None


def test_report_is_plain_json() -> None:
    data = check_voice(Audio(with_noise(speech_like(), 10.0), 16000)).to_dict()
    again = json.loads(json.dumps(data))
    assert again["passed"] is False and again["verdict"] == "fail"
    assert {g["name"] for g in again["gates"]} == set(GATES)


def test_rules_from_campaign_json() -> None:
    rules = VoiceRules.from_dict({"min_seconds": 2, "max_duration_s": 12.5, "min_snr_db": 25})
    assert (rules.min_duration_s, rules.max_duration_s, rules.min_snr_db) == (2.0, 12.5, 25.0)
    assert VoiceRules.from_dict({}) == VoiceRules()


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"loudness": 3}, "loudness"),
        ({"min_duration_s": "long"}, "min_duration_s"),
        ({"min_duration_s": True}, "min_duration_s"),
        ({"max_clipped_fraction": 1.5}, "max_clipped_fraction"),
        ({"min_duration_s": 10, "max_duration_s": 5}, "min_duration_s"),
        ({"min_sample_rate_hz": 8000.5}, "min_sample_rate_hz"),
        ({"vad_aggressiveness": 4}, "vad_aggressiveness"),
        ({"unmeasured_snr": "ignore"}, "unmeasured_snr"),
        ({"min_seconds": 1, "min_duration_s": 2}, "min_duration_s"),
        ({"max_trailing_silence_s": -1}, "max_trailing_silence_s"),
        ({"min_snr_db": float("nan")}, "min_snr_db"),
    ],
)
def test_invalid_rules_name_the_key(data: dict[str, object], key: str) -> None:
    with pytest.raises(RulesError) as caught:
        VoiceRules.from_dict(data)
    assert caught.value.key == key
