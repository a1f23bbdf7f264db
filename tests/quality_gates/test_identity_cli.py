"""`gates set MANIFEST.csv --json`: manifest parsing, decode failures, and a real FG-NET set (realdata)."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from quality_gates._commands_setvoice import register


@pytest.fixture
def gates() -> click.Group:
    group = click.Group("gates")
    register(group)
    return group


def write_manifest(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["path", "bracket", "age_years"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_undecodable_and_missing_photos(gates: click.Group, tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "junk.jpg").write_bytes(b"not a photo at all" * 20)
    manifest = write_manifest(tmp_path / "set.csv", [
        {"path": "photos/junk.jpg", "bracket": "0-9", "age_years": "4"},
        {"path": "photos/gone.jpg", "bracket": "10-19", "age_years": ""},
    ])
    result = CliRunner().invoke(gates, ["set", str(manifest), "--json"])
    assert result.exit_code == 1  # a listed file could not be read
    out = json.loads(result.output)
    assert out["consistent"] is False
    junk, gone = out["photos"]
    assert (junk["path"], junk["bracket"], junk["age_years"]) == ("photos/junk.jpg", "0-9", 4.0)
    assert junk["error"] == "unsupported_format" and gone["error"] == "unreadable"
    assert junk["identity"]["verdict"] == "review" and junk["identity"]["reason"] == "no_face"
    assert gone["age_years"] is None


@pytest.mark.parametrize("bad", [{"path": "a.jpg", "bracket": "young", "age_years": ""},
                                 {"path": "", "bracket": "0-9", "age_years": ""},
                                 {"path": "a.jpg", "bracket": "0-9", "age_years": "three"}])
def test_malformed_manifest_is_a_usage_error(gates: click.Group, tmp_path: Path, bad: dict[str, str]) -> None:
    manifest = write_manifest(tmp_path / "set.csv", [bad])
    result = CliRunner().invoke(gates, ["set", str(manifest), "--json"])
    assert result.exit_code == 2
    assert "line 2" in result.output


@pytest.mark.realdata
@pytest.mark.slow
def test_real_set_consistent_then_stranger_caught(gates: click.Group, shared_data: Path, tmp_path: Path) -> None:
    with (shared_data / "fgnet" / "labels.csv").open(newline="") as handle:
        labels = list(csv.DictReader(handle))
    own = [r for r in labels if r["subject_id"] == labels[0]["subject_id"]][:6]
    swap_at = 3
    stranger = next(r for r in labels if r["subject_id"] != own[0]["subject_id"]
                    and abs(int(r["age_years"]) - int(own[swap_at]["age_years"])) <= 3)

    def row(label: dict[str, str], age: str | None = None) -> dict[str, str]:
        years = int(age or label["age_years"])
        low = years // 10 * 10
        rel = os.path.relpath(shared_data / label["path"], tmp_path)
        return {"path": rel, "bracket": f"{low}-{low + 9}", "age_years": str(years)}

    def run(name: str, rows: list[dict[str, str]]) -> dict[str, Any]:
        result = CliRunner().invoke(gates, ["set", str(write_manifest(tmp_path / name, rows)), "--json"])
        assert result.exit_code == 0, result.output
        return dict(json.loads(result.output))

    genuine = run("genuine.csv", [row(r) for r in own])
    assert [p["identity"]["verdict"] for p in genuine["photos"]] == ["pass"] * len(own)
    assert genuine["consistent"] is True and genuine["age_mode"] == "exact"
    assert len(genuine["distance_matrix"]) == len(own)
    rows = [row(r) for r in own]
    rows[swap_at] = row(stranger, own[swap_at]["age_years"])  # claimed as the contributor at that age
    swapped = run("swapped.csv", rows)
    assert swapped["consistent"] is False
    assert swapped["photos"][swap_at]["identity"]["verdict"] in ("flag", "review")
