"""Building a release in the background: anonymizing every photo (scrub, find and mask bystanders, re-check)
takes seconds per photo, far longer than a web request may take. The operator's "build" queues one job per
release; whichever backend runs jobs (in-process threads, Celery workers) builds it, and the release page shows
the job's progress until the build is recorded.

The job builds in three steps (`build_in_steps`) and holds no database transaction during the slow one: on
SQLite, whose sessions take the write lock as they begin, a build held in one transaction blocked every request
and the job's own heartbeat for as long as it ran. Each step is safe to repeat: a worker that dies mid-way leaves
at most a staged package file (replaced or removed by the next attempt) and, at scale, a stored copy no row
refers to (removed by the orphan sweep), and a second worker that finds the
release built meanwhile discards its own package.

A build that fails for a reason the operator can act on (nothing to release, the package could not be written,
someone's data was erased while it ran) is rolled back and its message kept on the release
(`build_summary["build_error"]`); the release stays a draft and can be built again. Anything unexpected
propagates, so the job runner retries it and, after the last attempt, marks the job failed with the error,
which the page shows too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from collection.accounts.models import User
from collection.jobs import HandlerRegistry, Job, JobQueue, JobState, outside_transaction
from collection.releases.errors import ReleaseError, ReleaseStateError
from collection.releases.models import Release
from collection.releases.service import ReleaseService
from consent.canonical import format_timestamp

RELEASE_BUILD_JOB = "release.build"
BUILD_ERROR = "build_error"


def build_dedupe_key(release_id: str) -> str:
    return f"release-build:{release_id}"


def register_build_job(registry: HandlerRegistry, service: Callable[[Session], ReleaseService]) -> None:
    """Register the build job; `service(session)` makes a ReleaseService on the job's own session."""

    def handle(session: Session, payload: Mapping[str, Any]) -> None:
        build_now(service(session), str(payload["release_id"]), payload.get("actor_id"))

    registry.register(RELEASE_BUILD_JOB, handle, max_attempts=2)


def build_now(service: ReleaseService, release_id: str, actor_id: str | None, out_path: Path | None = None) -> Release:
    """Build `release_id` unless it is built already (a repeated message does nothing); a ReleaseError is kept on
    the release as its `build_error` (flushed, like the build; the caller commits)."""
    try:
        return build_in_steps(service, release_id, actor_id, out_path)
    except ReleaseError as exc:
        release = service.locked(release_id)
        error = {"message": str(exc), "kind": type(exc).__name__, "at": format_timestamp(service.clock.now()),
                 "code": getattr(exc, "code", ""), "excluded": getattr(exc, "excluded", {})}  # the web layer words it
        release.build_summary = {**(release.build_summary or {}), BUILD_ERROR: error}
        service.session.flush()
        return release


def build_in_steps(
    service: ReleaseService, release_id: str, actor_id: str | None, out_path: Path | None = None
) -> Release:
    """Build `release_id` unless it is built already, holding no transaction while the package is written and
    verified: read the plan and commit, write with no transaction, then record it in a new transaction that the
    caller commits. Whatever the service flushed before a ReleaseError is rolled back. Raises ReleaseError."""
    session = service.session
    release = service.get(release_id)
    if release.built:
        return release
    actor = session.get(User, actor_id) if actor_id else None
    with session.begin_nested():
        plan = service.plan_build(release, out_path)
    with outside_transaction(session):
        built = service.write_package(plan)
    release = service.locked(release_id)
    if release.built:  # another worker recorded its build meanwhile: that one stands
        service.discard(built)
        return release
    with session.begin_nested():
        return service.record_build(actor, built)


def queue_build(queue: JobQueue, session: Session, release: Release, actor: User | None) -> str:
    """Queue the build of a draft release (flushed; dispatched after the caller's commit). A build already
    waiting or running is returned instead of a second one. Raises ReleaseStateError when it is built."""
    if release.built:
        raise ReleaseStateError(release.id, "this release is already built: draft a new release instead",
                                code="already_built")
    running = build_job(session, release.id)
    if running is not None and running.state in (JobState.QUEUED, JobState.RUNNING):
        return running.id
    summary = dict(release.build_summary or {})
    summary.pop(BUILD_ERROR, None)
    release.build_summary = summary
    payload = {"release_id": release.id, "actor_id": actor.id if actor else None}
    return queue.enqueue(session, RELEASE_BUILD_JOB, payload, dedupe_key=build_dedupe_key(release.id))


def build_job(session: Session, release_id: str) -> Job | None:
    """The newest build job of the release, if any."""
    q = select(Job).where(Job.dedupe_key == build_dedupe_key(release_id)).order_by(Job.created_at.desc())
    return session.scalars(q.limit(1)).first()
