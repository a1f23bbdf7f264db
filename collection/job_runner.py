"""Background jobs, part 2: `JobRunner` claims one job, runs its handler and records the result on the row.

Shared by every backend (in-process threads, Celery tasks, the test queues): safe to call for any id, any
number of times, from any number of processes at once. See `collection.jobs` for the claim-and-fence protocol.
A heartbeat renews the lease while a handler runs, so a lease expires only when its worker is gone (killed,
frozen, cut off from the database). Failures are recorded on the row and retried up to the kind's
`max_attempts` with exponential backoff. All workers' clocks must agree: leases compare wall-clock times.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from collection.errors import SkipJob, UnknownJobKind
from collection.jobs import HandlerRegistry, Job, JobState, SessionFactory
from consent.clock import Clock, SystemClock
from consent.db import new_id

logger = logging.getLogger(__name__)

_ERROR_TEXT_LIMIT = 2000


class Outcome(enum.StrEnum):
    """What one `JobRunner.run` call did.

    DONE: the handler ran; its effects were committed together with the job's completion.
    RETRY: the attempt failed and the job is queued again; run it after `retry_in` seconds.
    FAILED: the attempt failed and was the last one, or no handler exists for the kind.
    SKIPPED: the handler raised SkipJob, or a newer queued job with the same dedupe key supersedes a retry.
    BUSY: another worker holds a live lease; look again after `retry_in` seconds.
    LOST_LEASE: this worker stalled past its lease and another took over; its effects were rolled back.
    ALREADY_FINISHED: a duplicate delivery of a finished job. MISSING: no such row (enqueue rolled back).
    """

    DONE = "done"
    RETRY = "retry"
    FAILED = "failed"
    SKIPPED = "skipped"
    BUSY = "busy"
    LOST_LEASE = "lost_lease"
    ALREADY_FINISHED = "already_finished"
    MISSING = "missing"


@dataclass(frozen=True)
class RunResult:
    job_id: str
    outcome: Outcome
    retry_in: float | None = None


@dataclass(frozen=True)
class RunnerSettings:
    """Plain configuration of the runner; a handler must finish or heartbeat within `lease_seconds`."""

    lease_seconds: float = 60.0
    heartbeat: bool = True
    retry_base_seconds: float = 5.0
    retry_max_seconds: float = 300.0

    def backoff(self, attempts: int) -> float:
        return float(min(self.retry_base_seconds * 2 ** max(attempts - 1, 0), self.retry_max_seconds))


@dataclass(frozen=True)
class _Claim:
    job_id: str
    kind: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    dedupe_key: str | None


class JobRunner:
    """Claims, runs and records one job; shared by every queue backend. Safe to call for any id, any number of
    times, from any number of processes."""

    def __init__(
        self,
        sessions: SessionFactory,
        registry: HandlerRegistry,
        settings: RunnerSettings | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._sessions = sessions
        self._registry = registry
        self.settings = settings or RunnerSettings()
        self._clock = clock or SystemClock()

    def run(self, job_id: str) -> RunResult:
        token = new_id()
        claim = self._claim(job_id, token)
        if isinstance(claim, RunResult):
            return claim
        with self._heartbeat(job_id, token):
            result = self._execute(claim, token)
        logger.info("job %s (%s) attempt %d: %s", job_id, claim.kind, claim.attempts, result.outcome.value)
        return result

    def _claim(self, job_id: str, token: str) -> _Claim | RunResult:
        lease = dt.timedelta(seconds=self.settings.lease_seconds)
        with self._sessions() as session, session.begin():
            now = self._clock.now()
            claimed = session.execute(Job.claim(job_id, token, now, lease)).rowcount  # type: ignore[attr-defined]
            job = session.get(Job, job_id, populate_existing=True)
            if job is None:
                return RunResult(job_id, Outcome.MISSING)
            if claimed:
                return _Claim(job.id, job.kind, job.payload, job.attempts, job.max_attempts, job.dedupe_key)
            return self._unclaimable(session, job, now)

    def _unclaimable(self, session: Session, job: Job, now: dt.datetime) -> RunResult:
        if job.finished:
            return RunResult(job.id, Outcome.ALREADY_FINISHED)
        if job.state is JobState.RUNNING and job.lease_expires_at and job.lease_expires_at >= now:
            return RunResult(job.id, Outcome.BUSY, (job.lease_expires_at - now).total_seconds())
        # Claimable but out of attempts: its last worker died mid-run. Fail it rather than loop forever.
        error = f"worker lost during attempt {job.attempts} of {job.max_attempts}"
        session.execute(
            update(Job)
            .where(Job.id == job.id, Job.state == job.state, Job.lease_owner.is_not_distinct_from(job.lease_owner))
            .values(
                state=JobState.FAILED,
                last_error=error,
                finished_at=now,
                lease_owner=None,
                lease_expires_at=None,
            )
            .execution_options(synchronize_session=False)
        )
        return RunResult(job.id, Outcome.FAILED)

    def _execute(self, claim: _Claim, token: str) -> RunResult:
        try:
            handler = self._registry.get(claim.kind).handler
        except UnknownJobKind as exc:
            return self._finish_without_effects(claim, token, JobState.FAILED, str(exc))
        with self._sessions() as session:
            try:
                handler(session, claim.payload)
                done = session.execute(
                    Job.release(claim.job_id, token, state=JobState.DONE, finished_at=self._clock.now())
                ).rowcount  # type: ignore[attr-defined]
                if not done:
                    session.rollback()
                    return RunResult(claim.job_id, Outcome.LOST_LEASE)
                session.commit()
                return RunResult(claim.job_id, Outcome.DONE)
            except SkipJob as exc:
                session.rollback()
                return self._finish_without_effects(claim, token, JobState.SKIPPED, exc.reason)
            except Exception as exc:  # the job runner records every handler failure on the row (house rule 8)
                session.rollback()
                logger.warning(
                    "job %s (%s) attempt %d raised %s",
                    claim.job_id,
                    claim.kind,
                    claim.attempts,
                    type(exc).__name__,
                    exc_info=True,
                )
                return self._record_failure(claim, token, _error_text(exc))

    def _finish_without_effects(self, claim: _Claim, token: str, state: JobState, error: str) -> RunResult:
        with self._sessions() as session, session.begin():
            stmt = Job.release(claim.job_id, token, state=state, last_error=error, finished_at=self._clock.now())
            released = session.execute(stmt).rowcount  # type: ignore[attr-defined]
        outcome = Outcome.SKIPPED if state is JobState.SKIPPED else Outcome.FAILED
        return RunResult(claim.job_id, outcome if released else Outcome.LOST_LEASE)

    def _record_failure(self, claim: _Claim, token: str, error: str) -> RunResult:
        if claim.attempts >= claim.max_attempts:
            return self._finish_without_effects(claim, token, JobState.FAILED, error)
        if claim.dedupe_key and self._superseded(claim):
            return self._finish_without_effects(claim, token, JobState.SKIPPED, f"superseded after: {error}")
        try:
            with self._sessions() as session, session.begin():
                stmt = Job.release(claim.job_id, token, state=JobState.QUEUED, last_error=error)
                requeued = session.execute(stmt).rowcount  # type: ignore[attr-defined]
        except IntegrityError:  # a newer queued job with our dedupe key appeared just now
            return self._finish_without_effects(claim, token, JobState.SKIPPED, f"superseded after: {error}")
        if not requeued:
            return RunResult(claim.job_id, Outcome.LOST_LEASE)
        return RunResult(claim.job_id, Outcome.RETRY, self.settings.backoff(claim.attempts))

    def _superseded(self, claim: _Claim) -> bool:
        with self._sessions() as session:
            stmt = select(Job.id).where(Job.dedupe_key == claim.dedupe_key, Job.state == JobState.QUEUED)
            return session.execute(stmt).first() is not None

    @contextlib.contextmanager
    def _heartbeat(self, job_id: str, token: str) -> Iterator[None]:
        if not self.settings.heartbeat:
            yield
            return
        stop = threading.Event()
        thread = threading.Thread(
            target=self._beat, args=(job_id, token, stop), daemon=True, name=f"job-heartbeat-{job_id[:8]}"
        )
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def _beat(self, job_id: str, token: str, stop: threading.Event) -> None:
        lease = dt.timedelta(seconds=self.settings.lease_seconds)
        while not stop.wait(self.settings.lease_seconds / 3):
            try:
                with self._sessions() as session, session.begin():
                    stmt = (
                        update(Job)
                        .where(Job.id == job_id, Job.lease_owner == token, Job.state == JobState.RUNNING)
                        .values(lease_expires_at=self._clock.now() + lease)
                        .execution_options(synchronize_session=False)
                    )
                    session.execute(stmt)
            except SQLAlchemyError as exc:  # e.g. SQLite busy; the next beat tries again
                logger.warning("job %s heartbeat failed: %s", job_id, type(exc).__name__)


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:_ERROR_TEXT_LIMIT]
