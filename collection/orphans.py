"""The daily orphan sweep: blobs no row refers to are removed once they are old enough that no writer can still
be about to commit the row (`SAFE_AGE`). Uploads write their blob before their row commits, and a release build
stores its package before its row records it, so a crash or a rollback in between leaves an orphan; with several
processes either may be half-way at any moment, which is why only old orphans go.

`datadam jobs tick` enqueues the sweep once a day (`enqueue_daily_sweep`, deduplicated by day as the retention
run is); a worker runs it, and the audit log records how many blobs it removed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.orm import Session

from collection.audit.log import Actor, AuditLog
from collection.contributions.uploads import sweep_orphan_blobs
from collection.jobs import HandlerRegistry, JobQueue
from collection.releases.stored import sweep_orphan_packages
from collection.storage import BlobStore
from consent.clock import Clock

ORPHAN_SWEEP_JOB = "blobs.orphan_sweep"
SAFE_AGE = dt.timedelta(days=1)


def sweep_orphans(
    session: Session, blobs: BlobStore, clock: Clock, safe_age: dt.timedelta = SAFE_AGE
) -> dict[str, int]:
    """Remove contribution blobs and stored package parts that no row refers to and that were written more than
    `safe_age` ago; audit the counts (flushed; the caller commits). Returns them by kind. Raises StorageError."""
    before = clock.now() - safe_age
    removed = {
        "uploads": sweep_orphan_blobs(session, blobs, written_before=before),
        "packages": sweep_orphan_packages(session, blobs, written_before=before),
    }
    AuditLog(session, clock).record(Actor.system(), "blobs.orphans_swept", "blob_store", None,
                                    written_before=before.isoformat(), **removed)
    session.flush()
    return removed


def register_orphan_sweep_job(registry: HandlerRegistry, blobs: BlobStore, clock: Callable[[], Clock]) -> None:
    """Register the sweep job on `blobs`; `clock()` gives the clock of the moment (tests fake it)."""

    def handle(session: Session, payload: Mapping[str, Any]) -> None:
        sweep_orphans(session, blobs, clock())

    registry.register(ORPHAN_SWEEP_JOB, handle, max_attempts=3)


def sweep_dedupe_key(now: dt.datetime) -> str:
    return f"orphan-sweep:{now.astimezone(dt.UTC).date().isoformat()}"


def enqueue_daily_sweep(queue: JobQueue, session: Session, now: dt.datetime) -> str:
    """Enqueue the day's sweep (flushed; dispatched after the caller's commit); again the same day while it waits
    returns that job, and a sweep repeated anyway finds nothing more."""
    key = sweep_dedupe_key(now)
    return queue.enqueue(session, ORPHAN_SWEEP_JOB, {"day": key.split(":", 1)[1]}, dedupe_key=key)
