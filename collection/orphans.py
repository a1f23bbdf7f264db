"""The daily orphan sweep: blobs no row refers to are removed once they are old enough that no writer can still
be about to commit the row (`SAFE_AGE`). Uploads write their blob before their row commits, and a release build
stores its package before its row records it, so a crash or a rollback in between leaves an orphan; with several
processes either may be half-way at any moment, which is why only old orphans go.

The sweep holds no transaction while it walks the store (on SQLite every session takes the write lock as it
begins, so a long walk would make uploads and reviews fail "database is locked"): it reads the references, lists
outside any transaction, re-checks the candidates in one short query, deletes outside any transaction again, and
audits the counts at the end.

A safety valve stands before any delete: when no row refers to anything while the store holds blobs, or when the
orphans found are more than `REFUSE_SHARE` of what is listed (and more than `REFUSE_FLOOR`), the sweep deletes
nothing and audits `blobs.orphan_sweep_refused` with the counts. A host pointed at an empty or the wrong database
must not delete the dataset; an operator looks, and removes real orphans by hand if that is what they are.

`datadam jobs tick` enqueues the sweep once a day (`enqueue_daily_sweep`, deduplicated by day as the retention
run is); a worker runs it, and the audit log records how many blobs it removed. The embedded server's start-up
runs it for uploads only, with `STARTUP_SAFE_AGE` (another process of the same host may be mid-upload).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from collection.audit.log import Actor, AuditLog
from collection.contributions.uploads import UPLOAD_PREFIX, referenced_uploads, upload_references
from collection.jobs import HandlerRegistry, JobQueue, outside_transaction
from collection.releases.stored import PREFIX as PACKAGE_PREFIX
from collection.releases.stored import package_references, referenced_packages, upload_prefix
from collection.storage import BlobStore, list_unreferenced
from consent.clock import Clock

ORPHAN_SWEEP_JOB = "blobs.orphan_sweep"
SAFE_AGE = dt.timedelta(days=1)
STARTUP_SAFE_AGE = dt.timedelta(hours=1)
REFUSE_SHARE = 0.05  # more orphans than this share of what is listed looks like the wrong database
REFUSE_FLOOR = 20  # ... once they are more than a handful (a small store has a few real orphans now and then)
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Kind:
    """One kind of blob the sweep looks after. `unit` maps a blob key to what a row refers to (the key itself, or a
    package's upload prefix); the valve counts units, so a package stored in many parts counts once."""

    name: str
    prefix: str
    references: Callable[[Session], set[str]]
    still_referenced: Callable[[Session, Collection[str]], set[str]]
    unit: Callable[[str], str]


KINDS = (
    _Kind("uploads", UPLOAD_PREFIX, upload_references, referenced_uploads, lambda key: key),
    _Kind("packages", PACKAGE_PREFIX, package_references, referenced_packages, upload_prefix),
)


@dataclass
class _Found:
    kind: _Kind
    listed: set[str]  # units listed
    orphans: list[str]  # blob keys


def sweep_orphans(
    session: Session, blobs: BlobStore, clock: Clock, safe_age: dt.timedelta = SAFE_AGE,
    kinds: Sequence[str] = ("uploads", "packages"),
) -> dict[str, int]:
    """Remove contribution blobs and stored package parts that no row refers to and that were written more than
    `safe_age` ago, unless the safety valve refuses; audit the counts (flushed; the caller commits). Commits what
    the session holds on entry (only reads may be pending). Returns the counts removed by kind (all 0 when
    refused). Raises StorageError."""
    before = clock.now() - safe_age
    chosen = [k for k in KINDS if k.name in kinds]
    references = {k.name: k.references(session) for k in chosen}
    with outside_transaction(session):
        found = [_list(blobs, k, references[k.name], before) for k in chosen]
    refusal = _refusal(found, references)
    audit = AuditLog(session, clock)
    if refusal is not None:
        logger.error("orphan sweep refused to delete anything: %s", refusal)
        audit.record(Actor.system(), "blobs.orphan_sweep_refused", "blob_store", None,
                     written_before=before.isoformat(), **refusal)
        session.flush()
        return {f.kind.name: 0 for f in found}
    doomed = {f.kind.name: _not_referenced_now(session, f) for f in found}
    with outside_transaction(session):
        for keys in doomed.values():
            for key in keys:
                blobs.delete(key)
    removed = {name: len(keys) for name, keys in doomed.items()}
    if any(removed.values()):
        logger.info("orphan sweep removed %s", removed)
    audit.record(Actor.system(), "blobs.orphans_swept", "blob_store", None,
                 written_before=before.isoformat(), **removed)
    session.flush()
    return removed


def _list(blobs: BlobStore, kind: _Kind, references: set[str], before: dt.datetime) -> _Found:
    units: set[str] = set()

    def referenced(key: str) -> bool:
        unit = kind.unit(key)
        units.add(unit)
        return unit in references

    _, orphans = list_unreferenced(blobs, kind.prefix, referenced, before)
    return _Found(kind, units, orphans)


def _refusal(found: list[_Found], references: Mapping[str, set[str]]) -> dict[str, Any] | None:
    """The counts to audit when the sweep must delete nothing, else None."""
    counts: dict[str, Any] = {}
    for f in found:
        orphan_units = {f.kind.unit(key) for key in f.orphans}
        counts[f"{f.kind.name}_listed"] = len(f.listed)
        counts[f"{f.kind.name}_orphans"] = len(orphan_units)
        counts[f"{f.kind.name}_references"] = len(references[f.kind.name])
    no_references = not any(references.values()) and any(f.listed for f in found)
    too_many = [f.kind.name for f in found
                if counts[f"{f.kind.name}_orphans"] > max(REFUSE_FLOOR, REFUSE_SHARE * len(f.listed))]
    if not no_references and not too_many:
        return None
    counts["reason"] = "no_references" if no_references else "too_many_orphans"
    counts["kinds"] = too_many
    return counts


def _not_referenced_now(session: Session, found: _Found) -> list[str]:
    """The orphans still referred to by no row: a blob under a fixed key may have been referred to again since the
    listing (one short read)."""
    if not found.orphans:
        return []
    again = found.kind.still_referenced(session, {found.kind.unit(key) for key in found.orphans})
    return [key for key in found.orphans if found.kind.unit(key) not in again]


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
