"""`datadam audit checkpoint|verify` through the app's own CLI: a missing or emptied checkpoint folder must not
pass for a consistent log, since the checkpoints are what catch a rewritten log or a restored old backup."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from collection.audit.log import Actor, AuditLog


@pytest.fixture()
def events(db_session: Any, clock: Any) -> None:
    log = AuditLog(db_session, clock)
    for i in range(3):
        clock.advance(seconds=1)
        log.record(Actor("staff1", "operator"), "photo.viewed", "photo", f"p{i}")
    db_session.commit()


def _default_folder(app: Any) -> Path:
    from webapp.services import SETTINGS_KEY

    return app.extensions[SETTINGS_KEY].data_dir / "audit-checkpoints"


def test_a_checkpointed_log_is_consistent(runner: Any, events: None) -> None:
    assert runner.invoke(args=["audit", "checkpoint"]).exit_code == 0
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "consistent: 3 events, 1 checkpoints verified" in result.output


def test_a_mistyped_checkpoint_folder_fails(runner: Any, events: None, tmp_path: Path) -> None:
    assert runner.invoke(args=["audit", "checkpoint"]).exit_code == 0
    missing = tmp_path / "no-such-folder"
    result = runner.invoke(args=["audit", "verify", "--checkpoints", str(missing)])
    assert result.exit_code == 1, result.output
    assert "INCONSISTENT" in result.output and "consistent:" not in result.output
    assert f"checkpoint folder {missing} does not exist" in result.output


def test_a_missing_folder_fails_even_for_an_empty_log(runner: Any, tmp_path: Path) -> None:
    result = runner.invoke(args=["audit", "verify", "--checkpoints", str(tmp_path / "typo")])
    assert result.exit_code == 1 and "does not exist" in result.output


def test_the_default_folder_never_written_fails_when_events_exist(app: Any, runner: Any, events: None) -> None:
    assert not _default_folder(app).exists()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1 and "does not exist" in result.output


def test_an_emptied_checkpoint_folder_fails(app: Any, runner: Any, events: None) -> None:
    assert runner.invoke(args=["audit", "checkpoint"]).exit_code == 0
    folder = _default_folder(app)
    for path in folder.glob("checkpoint-*.json"):
        path.unlink()  # deleted checkpoints would otherwise hide a wholesale rewrite
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1, result.output
    assert "no signed checkpoint" in result.output and "3 events" in result.output


def test_a_folder_without_checkpoints_fails_as_json(runner: Any, events: None, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(args=["audit", "verify", "--checkpoints", str(empty), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["ok"] is False and report["checkpoints"] == 0
    assert any("no signed checkpoint" in p for p in report["problems"])


def test_an_empty_log_with_an_empty_folder_is_consistent(runner: Any, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(args=["audit", "verify", "--checkpoints", str(empty)])
    assert result.exit_code == 0, result.output
    assert "consistent: 0 events, 0 checkpoints verified" in result.output


def test_unsequenced_events_without_a_checkpoint_fail(runner: Any, events: None, tmp_path: Path) -> None:
    # Events not yet sequenced still exist: a folder with no checkpoint cannot vouch for them or what came before.
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(args=["audit", "verify", "--checkpoints", str(empty)])
    assert result.exit_code == 1 and "no signed checkpoint" in result.output
