"""`gates voice PATH... --json` on generated recordings written to a temporary folder."""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner

from quality_gates._commands_setvoice import register
from tests.quality_gates.test_audio_support import encode, speech_like, with_noise


@pytest.fixture
def gates() -> click.Group:
    group = click.Group("gates")
    register(group)
    return group


@pytest.fixture
def recordings(tmp_path: Path) -> list[Path]:
    files = {
        "clean.webm": encode(speech_like(3.0, 48000), 48000, "webm", "libopus"),
        "noisy.wav": encode(with_noise(speech_like(3.0, 16000), 8.0), 16000, "wav", "pcm_s16le"),
        "broken.ogg": b"OggS" + bytes(200),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return [tmp_path / name for name in files]


def test_json_array_one_object_per_file_in_order(gates: click.Group, recordings: list[Path]) -> None:
    result = CliRunner().invoke(gates, ["voice", *map(str, recordings), "--json"])
    assert result.exit_code == 0, result.output
    items = json.loads(result.output)
    assert [item["path"] for item in items] == [str(p) for p in recordings]
    clean, noisy, broken = items
    assert clean["passed"] is True and clean["verdict"] == "pass"
    for gate in clean["gates"]:
        assert {"name", "passed", "measured", "threshold", "reason"} <= set(gate)
    assert noisy["passed"] is False
    assert {g["name"]: g["reason"] for g in noisy["gates"] if not g["passed"]} == {"snr": "too_noisy"}
    assert broken["passed"] is False
    assert [(g["name"], g["passed"]) for g in broken["gates"]] == [("decode", False)]
    assert broken["gates"][0]["reason"] in ("corrupt", "no_audio")


def test_rules_file_changes_the_thresholds(gates: click.Group, recordings: list[Path], tmp_path: Path) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"min_snr_db": 5, "snr_review_margin_db": 0}))
    result = CliRunner().invoke(gates, ["voice", str(recordings[1]), "--json", "--rules", str(rules)])
    assert result.exit_code == 0
    assert json.loads(result.output)[0]["passed"] is True


def test_bad_rules_are_a_usage_error(gates: click.Group, recordings: list[Path], tmp_path: Path) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"min_snr": 5}))
    result = CliRunner().invoke(gates, ["voice", str(recordings[0]), "--json", "--rules", str(rules)])
    assert result.exit_code == 2
    assert "min_snr" in result.output


def test_missing_file_is_reported_and_exit_status_is_1(gates: click.Group, recordings: list[Path]) -> None:
    missing = recordings[0].parent / "nope.wav"
    result = CliRunner().invoke(gates, ["voice", str(recordings[0]), str(missing), "--json"])
    assert result.exit_code == 1
    items = json.loads(result.output)
    assert items[1]["gates"] == [{"name": "decode", "passed": False, "verdict": "fail", "measured": {},
                                  "threshold": {}, "reason": "unreadable", "message_key": "gate.decode.unreadable"}]


def test_plain_text_output(gates: click.Group, recordings: list[Path]) -> None:
    result = CliRunner().invoke(gates, ["voice", str(recordings[1])])
    assert result.exit_code == 0
    assert result.output.startswith("fail") and "snr:too_noisy" in result.output


def test_silence_file(gates: click.Group, tmp_path: Path) -> None:
    path = tmp_path / "silence.flac"
    path.write_bytes(encode(np.zeros(32000, np.float32), 16000, "flac", "flac"))
    item = json.loads(CliRunner().invoke(gates, ["voice", str(path), "--json"]).output)[0]
    assert {g["name"]: g["reason"] for g in item["gates"] if not g["passed"]}["speech_ratio"] == "no_speech"


def test_voice_evaluation_leaves_out_and_reports_missing_files(tmp_path: Path) -> None:
    from quality_gates._eval_voice import evaluate_voice

    (tmp_path / "fsdd" / "recordings").mkdir(parents=True)
    (tmp_path / "fsdd" / "recordings" / "0_a_0.wav").write_bytes(encode(speech_like(), 16000, "wav", "pcm_s16le"))
    (tmp_path / "fsdd" / "labels.csv").write_text("path,speaker,digit,take_index\n"
                                                  "fsdd/recordings/0_a_0.wav,a,0,0\n"
                                                  "fsdd/recordings/0_a_1.wav,a,0,1\n")
    (tmp_path / "audio_stats.csv").write_text("path,clipped_sample_fraction\n"
                                              "fsdd/recordings/0_a_0.wav,not-a-number\n")
    result = evaluate_voice(tmp_path)
    assert result["fsdd"]["clean_files"] == 1 and result["fsdd"]["clean_pass_rate"] == 1.0
    assert result["fsdd"]["unreadable"] == 1
    assert result["fsdd"]["unreadable_examples"] == ["fsdd/recordings/0_a_1.wav: missing"]
    assert "clipping" not in result
