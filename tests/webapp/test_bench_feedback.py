"""`datadam bench feedback`: uploads into a fresh embedded install and times the gates' first answer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from webapp.commands_release import bench_feedback


@pytest.mark.slow
def test_every_upload_gets_its_answer_and_the_figures_say_when(tmp_path: Path) -> None:
    empty = tmp_path / "no-shared-data"
    empty.mkdir()  # no face_recognition/examples here: the demo's own portraits are uploaded
    result = CliRunner().invoke(bench_feedback, ["--photos", "2", "--data-dir", str(empty), "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["photos"] == figures["answered"] == 2
    assert all(row["state"] not in (None, "checking") for row in figures["per_photo"])
    assert figures["first_feedback_seconds"] > 0 and figures["warm_median_seconds"] > 0
    assert [row["name"] for row in figures["per_photo"]] == ["demo-0.jpg", "demo-1.jpg"]
