"""Periodic work: the tick enqueues the daily retention run and orphan sweep and the hourly audit checkpoint
(deduplicated)."""

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
    assert kinds == ["audit.checkpoint", "blobs.orphan_sweep", "compliance.retention"], kinds
    assert all(j.state is JobState.DONE for j in jobs), [(j.kind, j.state, j.last_error) for j in jobs]
    folder = background.settings.data_dir / "audit-checkpoints"
    assert list(folder.glob("checkpoint-*.json")) and CHECKPOINT_JOB == "audit.checkpoint"


def test_start_up_removes_blobs_without_rows(app: Any) -> None:
    """A crash between writing a blob and committing its row leaves an orphan; start-up sweeps it away."""
    background = get(app)
    background.blobs.put("e/abc/photo/deadbeef.v1", b"sealed bytes of an upload that never committed")
    background._sweep_orphans()
    assert not background.blobs.exists("e/abc/photo/deadbeef.v1")


def test_the_daily_tick_sweeps_only_old_orphans(app: Any, db_session: Any, clock: Any) -> None:
    """At scale an upload may be half-way (blob written, row not committed): the tick's sweep leaves young orphans."""
    import os

    from collection.audit.models import AuditEvent

    background = get(app)
    old, fresh = "e/abc/photo/old.v1", "e/abc/photo/fresh.v1"
    background.blobs.put(old, b"sealed bytes of an upload that never committed")
    background.blobs.put(fresh, b"sealed bytes of an upload that may commit any moment")
    two_days_ago = (clock.now().timestamp() - 2 * 86400,) * 2
    os.utime(background.blobs.root / "e" / "abc" / "photo" / "old.v1", two_days_ago)
    os.utime(background.blobs.root / "e" / "abc" / "photo" / "fresh.v1", (clock.now().timestamp(),) * 2)
    background.tick()
    assert not background.blobs.exists(old) and background.blobs.exists(fresh)
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "blobs.orphans_swept"))
    assert event.details["uploads"] == 1
