"""Background jobs, part 1: the `jobs` table, the handler registry and enqueueing, shared by all backends.

A job is a row first and a message second. `enqueue` writes the row in the caller's transaction and hands the
id to the backend only after that transaction commits (a rolled-back request leaves no job, and a job never
runs before the rows it needs are visible). Delivery is at least once (redelivery after a crash, a duplicate
dispatch, a start-up sweep); effects happen once because `collection.job_runner.JobRunner`

1. claims the row atomically: `UPDATE jobs SET state='running', lease_owner=<token> ... WHERE id=? AND
   (state='queued' OR (state='running' AND lease expired))`; a second delivery finds nothing to claim;
2. runs the handler in one transaction that also marks the job done, fenced on the lease token
   (`... WHERE lease_owner=<token>`): a worker that lost its lease matches no row and rolls back its effects.
   A slow handler (seconds per item) first reads what it needs and leaves its transaction
   (`outside_transaction`), so that no lock is held while it works; what it then writes is still committed
   together with the job's completion, and it must re-read and re-check whatever it relies on, since rows may
   have changed meanwhile.

Payloads carry ids, never personal data. The backends: `collection.job_queues` (in-process threads, plus null
and synchronous queues for tests) and `collection.celery_app` (Celery on Redis).
"""

from __future__ import annotations

import abc
import contextlib
import datetime as dt
import enum
import json
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import JSON, ColumnElement, Enum, Index, String, Text, Update, event, or_, select, text, update
from sqlalchemy.orm import Mapped, Session, SessionTransaction, mapped_column

from collection._after_commit import on_commit_batched
from collection._sql import insert_ignore
from collection.errors import DuplicateHandler, InvalidJobPayload, UnknownJobKind
from consent.clock import Clock, SystemClock
from consent.db import Base, IdPk, UTCDateTime, new_id

logger = logging.getLogger(__name__)

Handler = Callable[[Session, Mapping[str, Any]], None]
SessionFactory = Callable[[], Session]


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


_QUEUED_ONLY = text("state = 'queued'")


class Job(Base):
    """One unit of background work; `dedupe_key` coalesces jobs that have not started (see `write_job`)."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index(
            "ix_jobs_dedupe_key_queued",
            "dedupe_key",
            unique=True,
            sqlite_where=_QUEUED_ONLY,
            postgresql_where=_QUEUED_ONLY,
        ),
        Index("ix_jobs_state_created_at", "state", "created_at"),
    )

    id: Mapped[IdPk]
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[JobState] = mapped_column(
        Enum(
            JobState,
            native_enum=False,
            length=16,
            validate_strings=True,
            create_constraint=True,
            name="job_state",
            values_callable=lambda states: [s.value for s in states],
        ),
        default=JobState.QUEUED,
    )
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=3)
    last_error: Mapped[str | None] = mapped_column(Text)
    dedupe_key: Mapped[str | None] = mapped_column(String(200))
    lease_owner: Mapped[str | None] = mapped_column(String(32))
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    @property
    def finished(self) -> bool:
        return self.state in (JobState.DONE, JobState.FAILED, JobState.SKIPPED)

    @classmethod
    def claimable(cls, now: dt.datetime) -> ColumnElement[bool]:
        """Queued, or running under a lease that expired (its worker is gone)."""
        stale = (cls.state == JobState.RUNNING) & (cls.lease_expires_at < now)
        return or_(cls.state == JobState.QUEUED, stale)

    @classmethod
    def lost(cls, now: dt.datetime, queued_before: dt.datetime) -> ColumnElement[bool]:
        """Running under an expired lease, or queued since before `queued_before`: what a periodic sweep re-sends
        and what the health check reports as stuck (fresh queued jobs are left to their own message)."""
        stale = (cls.state == JobState.RUNNING) & (cls.lease_expires_at < now)
        return or_(stale, (cls.state == JobState.QUEUED) & (cls.created_at < queued_before))

    @classmethod
    def claim(cls, job_id: str, token: str, now: dt.datetime, lease: dt.timedelta) -> Update:
        return (
            update(cls)
            .where(cls.id == job_id, cls.attempts < cls.max_attempts, cls.claimable(now))
            .values(
                state=JobState.RUNNING,
                lease_owner=token,
                lease_expires_at=now + lease,
                attempts=cls.attempts + 1,
                started_at=now,
            )
            .execution_options(synchronize_session=False)
        )

    @classmethod
    def release(cls, job_id: str, token: str, **values: Any) -> Update:
        """Leave `running` (to any state), only if `token` still holds the lease."""
        return (
            update(cls)
            .where(cls.id == job_id, cls.lease_owner == token, cls.state == JobState.RUNNING)
            .values(lease_owner=None, lease_expires_at=None, **values)
            .execution_options(synchronize_session=False)
        )

    def __repr__(self) -> str:
        return f"<Job {self.id} {self.kind} {self.state.value} attempt {self.attempts}/{self.max_attempts}>"


# --- handlers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobKind:
    name: str
    handler: Handler
    max_attempts: int = 3


class HandlerRegistry:
    """Maps a job kind to the callable `handler(session, payload)` that does the work.

    A handler works in the session it is given and never commits: the runner commits its effects together
    with the job's completion. The one exception is `outside_transaction`, for slow work. It raises `SkipJob`
    when the work became pointless, anything else to fail the attempt (retried up to `max_attempts`).
    """

    def __init__(self) -> None:
        self._kinds: dict[str, JobKind] = {}

    def register(self, kind: str, handler: Handler, *, max_attempts: int = 3) -> None:
        """Raises DuplicateHandler if `kind` already has a handler, ValueError if max_attempts < 1."""
        if kind in self._kinds:
            raise DuplicateHandler(kind)
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._kinds[kind] = JobKind(kind, handler, max_attempts)

    def handler(self, kind: str, *, max_attempts: int = 3) -> Callable[[Handler], Handler]:
        """Decorator form of `register`."""

        def decorate(handler: Handler) -> Handler:
            self.register(kind, handler, max_attempts=max_attempts)
            return handler

        return decorate

    def get(self, kind: str) -> JobKind:
        """Raises UnknownJobKind."""
        try:
            return self._kinds[kind]
        except KeyError:
            raise UnknownJobKind(kind) from None

    def kinds(self) -> frozenset[str]:
        return frozenset(self._kinds)


@contextlib.contextmanager
def outside_transaction(session: Session) -> Iterator[None]:
    """Run a handler's slow part (seconds per item: anonymizing, face search) holding no transaction.

    On SQLite every session begins IMMEDIATE, so a transaction left open through slow work blocks every other
    writer (requests, the job's own heartbeat) until it ends; on PostgreSQL it pins row locks and old row
    versions. So a slow handler reads what it needs, then does the work inside this block, then re-reads and
    writes its effects, which the runner commits together with the job's completion.

    Entering commits what the session holds: only reads, or set-up that stands whatever becomes of the job
    (such as creating a signing key on its first use), never the job's effects. Inside the block the session
    must not be used: beginning a transaction there raises RuntimeError instead of taking the lock.
    """
    session.commit()
    event.listen(session, "after_transaction_create", _refuse_transaction)
    try:
        yield
    finally:
        event.remove(session, "after_transaction_create", _refuse_transaction)
        if session.in_transaction():  # only after a refused use: it never reached the database
            session.rollback()


def _refuse_transaction(_session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        raise RuntimeError("a job used its database session during work meant to run outside any transaction")


# --- enqueueing ------------------------------------------------------------------------------


class JobQueue(Protocol):
    def enqueue(self, session: Session, kind: str, payload: Mapping[str, Any], dedupe_key: str | None = None) -> str:
        """Write the job in `session`'s transaction (flushed, not committed); dispatch it after the commit.

        Returns the job id; with a `dedupe_key` that matches a job that has not started, that job's id.
        Raises UnknownJobKind, InvalidJobPayload.
        """
        ...


def write_job(
    session: Session,
    registry: HandlerRegistry,
    kind: str,
    payload: Mapping[str, Any],
    dedupe_key: str | None = None,
    *,
    now: dt.datetime,
) -> tuple[str, bool]:
    """Insert a queued job; returns (job id, created).

    With a `dedupe_key`, a job with the same key that is still queued (not started, so it will see the newest
    data) is reused instead and created is False. A job already running does not absorb new work.
    Raises UnknownJobKind, InvalidJobPayload.
    """
    spec, job_id = registry.get(kind), new_id()
    values = {
        "id": job_id,
        "kind": kind,
        "payload": _json_object(kind, payload),
        "state": JobState.QUEUED,
        "attempts": 0,
        "max_attempts": spec.max_attempts,
        "dedupe_key": dedupe_key,
        "created_at": now,
    }
    if dedupe_key is None:
        session.add(Job(**values))
        session.flush()
        return job_id, True
    if insert_ignore(session, _JOB_TABLE, values, ["dedupe_key"], _QUEUED_ONLY):
        return job_id, True
    stmt = select(Job.id).where(Job.dedupe_key == dedupe_key, Job.state == JobState.QUEUED)
    return session.execute(stmt).scalar_one(), False


def _json_object(kind: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(payload, Mapping):
        raise InvalidJobPayload(kind, "payload must be a mapping")
    try:
        return dict(json.loads(json.dumps(dict(payload), allow_nan=False)))
    except (TypeError, ValueError) as exc:
        raise InvalidJobPayload(kind, f"not JSON-serialisable ({type(exc).__name__})") from None


Dispatch = Callable[[list[str]], None]


def dispatch_after_commit(session: Session, dispatch: Dispatch, job_id: str) -> None:
    """Call `dispatch([job_id, ...])` once `session`'s outermost transaction commits; forget it on rollback.

    Ids written inside a savepoint that is later rolled back are still dispatched; the runner finds no row and
    does nothing. A dispatch lost in a crash after commit is found again by the start-up sweep.
    """
    on_commit_batched(session, dispatch, job_id, dispatch)


# `datadam jobs tick` (cron, every minute) re-sends what a dead worker or an unreachable broker lost: jobs whose
# lease expired, and jobs queued this long without being picked up. A duplicate message is harmless (the runner
# claims a job once); this only bounds how long a lost one waits.
LOST_AFTER = dt.timedelta(minutes=2)


def runnable_job_ids(session: Session, now: dt.datetime, limit: int = 1000,
                     queued_before: dt.datetime | None = None) -> list[str]:
    """Jobs a sweep should (re)dispatch: queued ones and running ones whose worker lost its lease.
    `queued_before`: only queued jobs created before it (a periodic sweep leaves fresh ones to their message)."""
    wanted = Job.claimable(now) if queued_before is None else Job.lost(now, queued_before)
    stmt = select(Job.id).where(wanted).order_by(Job.created_at).limit(limit)
    return list(session.execute(stmt).scalars())


_JOB_TABLE: Any = Job.__table__


class RowQueue(abc.ABC):
    """Base of every backend: `enqueue` writes the row now, `_dispatch` hands ids on after the commit."""

    def __init__(self, registry: HandlerRegistry, clock: Clock | None = None) -> None:
        self.registry = registry
        self._clock = clock or SystemClock()

    def enqueue(self, session: Session, kind: str, payload: Mapping[str, Any], dedupe_key: str | None = None) -> str:
        """See `JobQueue.enqueue`. Raises UnknownJobKind, InvalidJobPayload."""
        job_id, created = write_job(session, self.registry, kind, payload, dedupe_key, now=self._clock.now())
        if created:
            dispatch_after_commit(session, self._dispatch, job_id)
        return job_id

    @abc.abstractmethod
    def _dispatch(self, job_ids: list[str]) -> None:
        """Hand committed job ids to the backend. Must not raise: a lost dispatch is recovered by a sweep."""
