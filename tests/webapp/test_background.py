"""Periodic work: the tick enqueues the daily retention run and the hourly audit checkpoint (deduplicated)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from collection.jobs import Job, JobState
from webapp.background import CHECKPOINT_JOB, get


def test_tick_runs_retention_and_writes_a_checkpoint(app: Any, db_session: Any) -> None:
    background = get(app)
    background.tick()
    background.tick()  # the same day and hour: nothing new
    jobs = list(db_session.scalars(select(Job)))
    kinds = sorted(j.kind for j in jobs)
    assert kinds == ["audit.checkpoint", "compliance.retention"], kinds
    assert all(j.state is JobState.DONE for j in jobs), [(j.kind, j.state, j.last_error) for j in jobs]
    folder = background.settings.data_dir / "audit-checkpoints"
    assert list(folder.glob("checkpoint-*.json")) and CHECKPOINT_JOB == "audit.checkpoint"


def test_start_up_removes_blobs_without_rows(app: Any) -> None:
    """A crash between writing a blob and committing its row leaves an orphan; start-up sweeps it away."""
    background = get(app)
    background.blobs.put("e/abc/photo/deadbeef.v1", b"sealed bytes of an upload that never committed")
    background._sweep_orphans()
    assert not background.blobs.exists("e/abc/photo/deadbeef.v1")
