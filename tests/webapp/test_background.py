"""Periodic work: the tick enqueues the daily retention run and orphan sweep and the hourly audit checkpoint
(deduplicated)."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select

from collection.jobs import Job, JobState
from tests.collection.flow_support import build_env
from tests.collection.test_orphan_sweep import photo_row
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


def _aged(background: Any, key: str, at: float) -> None:
    import os

    os.utime(background.blobs.root / key, (at, at))


def test_start_up_removes_old_blobs_without_rows_but_not_young_ones(
    app: Any, db_session: Any, test_sessionmaker: Any, clock: Any, make_user: Any, make_campaign: Any
) -> None:
    """A crash between writing a blob and committing its row leaves an orphan; start-up sweeps it away once it is
    an hour old. A younger one may be another process's upload half-way (gunicorn -w 4): it stays."""
    background = get(app)
    referenced = photo_row(build_env(db_session, test_sessionmaker, clock), make_user("contributor"), make_campaign())
    old, young = "e/abc/photo/deadbeef.v1", "e/abc/photo/young.v1"
    for key in (referenced, old, young):
        background.blobs.put(key, b"sealed bytes")
    _aged(background, old, clock.now().timestamp() - 2 * 3600)
    _aged(background, young, clock.now().timestamp() - 600)
    background._sweep_orphans()
    assert not background.blobs.exists(old)
    assert background.blobs.exists(young) and background.blobs.exists(referenced)


def test_start_up_against_an_empty_database_deletes_nothing(app: Any, db_session: Any, clock: Any) -> None:
    """A host pointed at an empty (or the wrong) database must not take the blobs for orphans."""
    from collection.audit.models import AuditEvent

    background = get(app)
    background.blobs.put("e/abc/photo/deadbeef.v1", b"sealed bytes of a real contribution")
    _aged(background, "e/abc/photo/deadbeef.v1", clock.now().timestamp() - 2 * 86400)
    background._sweep_orphans()
    assert background.blobs.exists("e/abc/photo/deadbeef.v1")
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "blobs.orphan_sweep_refused"))
    assert event.details["reason"] == "no_references" and event.details["uploads_listed"] == 1


def test_the_daily_tick_sweeps_only_old_orphans(
    app: Any, db_session: Any, test_sessionmaker: Any, clock: Any, make_user: Any, make_campaign: Any
) -> None:
    """At scale an upload may be half-way (blob written, row not committed): the tick's sweep leaves young orphans."""
    from collection.audit.models import AuditEvent

    background = get(app)
    referenced = photo_row(build_env(db_session, test_sessionmaker, clock), make_user("contributor"), make_campaign())
    old, fresh = "e/abc/photo/old.v1", "e/abc/photo/fresh.v1"
    background.blobs.put(referenced, b"sealed bytes of a committed upload")
    background.blobs.put(old, b"sealed bytes of an upload that never committed")
    background.blobs.put(fresh, b"sealed bytes of an upload that may commit any moment")
    _aged(background, old, clock.now().timestamp() - 2 * 86400)
    _aged(background, fresh, clock.now().timestamp())
    background.tick()
    assert not background.blobs.exists(old) and background.blobs.exists(fresh) and background.blobs.exists(referenced)
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "blobs.orphans_swept"))
    assert event.details["uploads"] == 1


def test_a_process_removes_old_package_leftovers_as_it_starts(app: Any, client: Any) -> None:
    """A fetched copy or a staged build a killed process left is plaintext faces: the next process start removes it
    once it is six hours old; a younger one may be another process's fetch or build in progress."""
    background = get(app)
    folder = background.settings.data_dir / "releases"
    folder.mkdir(parents=True)
    old, building, young = folder / ".fetched-a-p.zip", folder / ".building-b-p.zip", folder / ".fetched-c-p.zip"
    for path in (old, building, young):
        path.write_bytes(b"faces")
    for path in (old, building):
        _aged_path(path, time.time() - 7 * 3600)
    _aged_path(young, time.time() - 3600)
    client.get("/")
    assert background._started
    assert not old.exists() and not building.exists() and young.exists()


def _aged_path(path: Any, at: float) -> None:
    import os

    os.utime(path, (at, at))
