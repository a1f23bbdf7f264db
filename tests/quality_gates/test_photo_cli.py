"""`gates photo`, `gates eval` and `bench gates` command forms (the face analyzer is faked here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import quality_gates._faces as faces_module
from quality_gates import FakeFaceAnalyzer
from quality_gates.commands import bench_gates, gates
from tests.quality_gates.conftest import encode


@pytest.fixture
def fake_analyzer(monkeypatch: pytest.MonkeyPatch, synthetic_face):  # noqa: ANN001, ANN201
    pixels, face = synthetic_face()
    analyzer = FakeFaceAnalyzer([face])
    monkeypatch.setattr(faces_module, "_default_analyzer", analyzer)
    return pixels


def test_photo_json_has_the_documented_form(tmp_path: Path, fake_analyzer) -> None:  # noqa: ANN001
    good = tmp_path / "face.png"
    good.write_bytes(encode(fake_analyzer, "PNG"))
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    result = CliRunner().invoke(gates, ["photo", str(good), str(broken), "--json"])
    assert result.exit_code == 0, result.output
    items = json.loads(result.output)
    assert [i["path"] for i in items] == [str(good), str(broken)]
    first = items[0]
    assert first["passed"] is True
    assert {"name", "passed", "measured", "threshold", "reason"} <= set(first["gates"][0])
    assert set(first["faces"][0]) >= {"box", "inter_eye_px"} and len(first["faces"][0]["box"]) == 4
    assert items[1]["passed"] is False
    assert [(g["name"], g["passed"]) for g in items[1]["gates"]] == [("decode", False)]


def test_rules_file_changes_the_decision(tmp_path: Path, fake_analyzer) -> None:  # noqa: ANN001
    photo = tmp_path / "face.png"
    photo.write_bytes(encode(fake_analyzer, "PNG"))
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"min_face_side_px": 4000}))
    result = CliRunner().invoke(gates, ["photo", str(photo), "--json", "--rules", str(rules)])
    assert result.exit_code == 0
    size = next(g for g in json.loads(result.output)[0]["gates"] if g["name"] == "face_size")
    assert (size["passed"], size["reason"], size["threshold"]["min_face_side_px"]) == (False, "low_resolution", 4000)


def test_bad_rules_are_a_usage_error(tmp_path: Path, fake_analyzer) -> None:  # noqa: ANN001
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"min_face_sid_px": 4}))
    result = CliRunner().invoke(gates, ["photo", str(tmp_path / "x.jpg"), "--rules", str(rules)])
    assert result.exit_code == 2
    assert "min_face_sid_px" in result.output


def test_missing_file_is_reported_and_exits_1(tmp_path: Path, fake_analyzer) -> None:  # noqa: ANN001
    result = CliRunner().invoke(gates, ["photo", str(tmp_path / "gone.jpg"), "--json"])
    assert result.exit_code == 1
    assert json.loads(result.output)[0]["gates"][0]["reason"] == "unreadable"


def test_text_output_names_failed_gates(tmp_path: Path, fake_analyzer) -> None:  # noqa: ANN001
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n")
    result = CliRunner().invoke(gates, ["photo", str(broken)])
    assert result.exit_code == 0
    assert result.output.startswith("fail") and "decode:" in result.output


def test_group_has_photo_and_eval_and_room_for_set_and_voice() -> None:
    assert {"photo", "eval"} <= set(gates.commands)


def test_bench_without_images_says_so(tmp_path: Path) -> None:
    result = CliRunner().invoke(bench_gates, ["--data", str(tmp_path)])
    assert result.exit_code == 0
    assert "no JPEGs" in result.output
