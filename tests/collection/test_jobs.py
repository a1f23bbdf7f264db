"""Jobs: enqueue in the caller's transaction, the runner's claim/fence/retry rules, and the in-process queue."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Mapping
from typing import Any

import pytest
from _jobs_support import EffectBase, build_registry, effect_count, record_effect
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from collection._after_commit import on_commit
from collection.errors import (
    CollectionError,
    DuplicateHandler,
    InvalidJobPayload,
    JobError,
    SkipJob,
    UnknownJobKind,
)
from collection.job_queues import NullQueue, SynchronousQueue
from collection.job_runner import JobRunner, Outcome, RunnerSettings
from collection.jobs import HandlerRegistry, Job, JobState
from consent.clock import FixedClock, SystemClock
from consent.db import new_id

T0 = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
FAST = RunnerSettings(lease_seconds=30, retry_base_seconds=0.01, retry_max_seconds=0.05)


@pytest.fixture
def sessions(infra_engine: Engine) -> sessionmaker[Session]:
    EffectBase.metadata.create_all(infra_engine)
    return sessionmaker(infra_engine, expire_on_commit=False)


@pytest.fixture
def registry() -> HandlerRegistry:
    return build_registry()


def _job(sessions: sessionmaker[Session], job_id: str) -> Job:
    with sessions() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job


def _insert(sessions: sessionmaker[Session], **values: Any) -> str:
    """A job row as some earlier process left it."""
    defaults: dict[str, Any] = {"kind": "test.effect", "payload": {"marker": "m"}, "created_at": T0}
    job = Job(**(defaults | values))
    with sessions() as session:
        session.add(job)
        session.commit()
        return job.id


# --- registry and enqueueing ---------------------------------------------------------------------


def test_registry_refuses_duplicates_and_unknown_kinds() -> None:
    registry = HandlerRegistry()

    @registry.handler("photo.gates", max_attempts=5)
    def gates(session: Session, payload: Mapping[str, Any]) -> None:
        return None

    assert registry.get("photo.gates").handler is gates and registry.get("photo.gates").max_attempts == 5
    with pytest.raises(DuplicateHandler):
        registry.register("photo.gates", gates)
    with pytest.raises(UnknownJobKind) as err:
        registry.get("photo.gatez")
    assert err.value.kind == "photo.gatez"
    with pytest.raises(ValueError):
        registry.register("other", gates, max_attempts=0)
    assert registry.kinds() == {"photo.gates"}
    for error in (DuplicateHandler, UnknownJobKind, InvalidJobPayload, SkipJob):
        assert issubclass(error, JobError) and issubclass(error, CollectionError)


def test_job_is_dispatched_only_after_commit(sessions: sessionmaker[Session], registry: HandlerRegistry) -> None:
    queue = NullQueue(registry, FixedClock(T0))
    with sessions() as session:
        job_id = queue.enqueue(session, "test.effect", {"marker": "a"})
        assert session.get(Job, job_id) is not None  # flushed into the caller's transaction
        assert queue.dispatched == []
        session.commit()
    assert queue.dispatched == [job_id]
    job = _job(sessions, job_id)
    assert (job.state, job.attempts, job.max_attempts, job.created_at) == (JobState.QUEUED, 0, 1 + 2, T0)


def test_rolled_back_enqueue_leaves_no_job_and_no_dispatch(
    sessions: sessionmaker[Session], registry: HandlerRegistry
) -> None:
    queue = NullQueue(registry)
    session = sessions()
    queue.enqueue(session, "test.effect", {"marker": "a"})
    session.rollback()
    queue.enqueue(session, "test.effect", {"marker": "b"})
    session.close()  # closing without commit rolls back too
    later = queue.enqueue(session, "test.effect", {"marker": "c"})
    session.commit()
    session.close()
    assert queue.dispatched == [later]
    with sessions() as check:
        assert check.scalar(select(func.count()).select_from(Job)) == 1


def test_jobs_and_other_after_commit_effects_share_one_mechanism(
    sessions: sessionmaker[Session], registry: HandlerRegistry
) -> None:
    """Job dispatch and e.g. blob deletion both wait for the commit, batch per backend, and vanish on rollback."""
    queue, other = NullQueue(registry), NullQueue(registry)
    effects: list[str] = []
    session = sessions()
    on_commit(session, lambda: effects.append("dropped"))
    queue.enqueue(session, "test.effect", {"marker": "x"})
    session.rollback()
    first = queue.enqueue(session, "test.effect", {"marker": "a"})
    second = queue.enqueue(session, "test.effect", {"marker": "b"})
    third = other.enqueue(session, "test.effect", {"marker": "c"})
    on_commit(session, lambda: effects.append("deleted"))
    on_commit(session, lambda: 1 / 0)  # a failing effect is logged; the others still run
    assert queue.dispatched == [] and effects == []
    session.commit()
    session.close()
    assert queue.dispatched == [first, second] and other.dispatched == [third] and effects == ["deleted"]


def test_enqueue_validates_kind_and_payload(sessions: sessionmaker[Session], registry: HandlerRegistry) -> None:
    queue = NullQueue(registry)
    with sessions() as session:
        with pytest.raises(UnknownJobKind):
            queue.enqueue(session, "no.such.kind", {})
        for bad in ({"when": dt.datetime.now()}, {"x": float("nan")}, ["not", "a", "mapping"]):
            with pytest.raises(InvalidJobPayload):
                queue.enqueue(session, "test.effect", bad)  # type: ignore[arg-type]
        session.commit()
        assert session.scalar(select(func.count()).select_from(Job)) == 0


def test_dedupe_key_coalesces_jobs_that_have_not_started(
    sessions: sessionmaker[Session], registry: HandlerRegistry
) -> None:
    queue = NullQueue(registry)
    with sessions() as session:
        first = queue.enqueue(session, "test.effect", {"marker": "s"}, dedupe_key="set-gates:s1")
        assert queue.enqueue(session, "test.effect", {"marker": "s"}, dedupe_key="set-gates:s1") == first
        other = queue.enqueue(session, "test.effect", {"marker": "s"}, dedupe_key="set-gates:s2")
        session.commit()
    with sessions() as session:
        assert queue.enqueue(session, "test.effect", {"marker": "s"}, dedupe_key="set-gates:s1") == first
        session.commit()
    assert queue.dispatched == [first, other]
    JobRunner(sessions, registry, FAST).run(first)  # it ran: a change now needs a new run
    with sessions() as session:
        again = queue.enqueue(session, "test.effect", {"marker": "s"}, dedupe_key="set-gates:s1")
        session.commit()
    assert again not in (first, other)


# --- the runner ----------------------------------------------------------------------------------


def test_synchronous_queue_runs_the_handler_once(sessions: sessionmaker[Session], registry: HandlerRegistry) -> None:
    queue = SynchronousQueue(JobRunner(sessions, registry, FAST), registry)
    with sessions() as session:
        job_id = queue.enqueue(session, "test.effect", {"marker": "sync"})
        session.commit()
    assert [r.outcome for r in queue.results] == [Outcome.DONE]
    job = _job(sessions, job_id)
    assert (job.state, job.attempts, job.lease_owner, job.lease_expires_at) == (JobState.DONE, 1, None, None)
    assert job.started_at is not None and job.finished_at is not None
    assert effect_count(sessions, "sync") == 1


def test_failed_attempts_roll_back_and_retry(sessions: sessionmaker[Session], registry: HandlerRegistry) -> None:
    queue = SynchronousQueue(JobRunner(sessions, registry, FAST), registry)
    with sessions() as session:
        job_id = queue.enqueue(session, "test.fail_until", {"marker": "flaky", "failures": 2})
        session.commit()
    assert [r.outcome for r in queue.results] == [Outcome.RETRY, Outcome.RETRY, Outcome.DONE]
    assert queue.results[0].retry_in == 0.01 and queue.results[1].retry_in == 0.02
    job = _job(sessions, job_id)
    assert (job.state, job.attempts) == (JobState.DONE, 3)
    assert job.last_error == "RuntimeError: planned failure 2"
    assert effect_count(sessions, "flaky") == 1  # the two failed runs' effects were rolled back


def test_retries_are_bounded(sessions: sessionmaker[Session], registry: HandlerRegistry) -> None:
    queue = SynchronousQueue(JobRunner(sessions, registry, FAST), registry)
    with sessions() as session:
        job_id = queue.enqueue(session, "test.fail_until", {"marker": "broken", "failures": 99})
        session.commit()
    assert [r.outcome for r in queue.results] == [Outcome.RETRY, Outcome.RETRY, Outcome.FAILED]
    job = _job(sessions, job_id)
    assert (job.state, job.attempts, job.last_error) == (JobState.FAILED, 3, "RuntimeError: planned failure 3")
    assert effect_count(sessions, "broken") == 0
    assert JobRunner(sessions, registry, FAST).run(job_id).outcome is Outcome.ALREADY_FINISHED


def test_skip_rolls_back_and_is_not_retried(sessions: sessionmaker[Session], registry: HandlerRegistry) -> None:
    queue = SynchronousQueue(JobRunner(sessions, registry, FAST), registry)
    with sessions() as session:
        job_id = queue.enqueue(session, "test.skip", {"marker": "gone"})
        session.commit()
    assert [r.outcome for r in queue.results] == [Outcome.SKIPPED]
    job = _job(sessions, job_id)
    assert (job.state, job.attempts, job.last_error) == (JobState.SKIPPED, 1, "photo was deleted")
    assert effect_count(sessions, "gone") == 0


def test_unknown_kind_at_run_time_fails_without_retry(
    sessions: sessionmaker[Session], registry: HandlerRegistry
) -> None:
    job_id = _insert(sessions, kind="retired.kind")
    result = JobRunner(sessions, registry, FAST).run(job_id)
    assert result.outcome is Outcome.FAILED and result.retry_in is None
    assert "retired.kind" in (_job(sessions, job_id).last_error or "")


def test_missing_job_is_a_no_op(sessions: sessionmaker[Session], registry: HandlerRegistry) -> None:
    assert JobRunner(sessions, registry, FAST).run(new_id()).outcome is Outcome.MISSING


def test_concurrent_duplicate_deliveries_run_once(sessions: sessionmaker[Session], registry: HandlerRegistry) -> None:
    job_id = _insert(sessions, payload={"marker": "dup"})
    runner = JobRunner(sessions, registry, FAST)
    barrier = threading.Barrier(4)
    outcomes: list[Outcome] = []

    def deliver() -> None:
        barrier.wait()
        outcomes.append(runner.run(job_id).outcome)

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count(Outcome.DONE) == 1
    assert set(outcomes) <= {Outcome.DONE, Outcome.BUSY, Outcome.ALREADY_FINISHED}
    assert effect_count(sessions, "dup") == 1 and _job(sessions, job_id).attempts == 1


def test_a_stalled_worker_that_lost_its_lease_commits_nothing(sessions: sessionmaker[Session]) -> None:
    """Worker A stalls past its lease, B takes over and finishes; when A wakes, its effects roll back."""
    clock = FixedClock(T0)
    release_a = threading.Event()
    a_waiting = threading.Event()
    registry = HandlerRegistry()

    def stall_first_time(session: Session, payload: Mapping[str, Any]) -> None:
        if not a_waiting.is_set():
            a_waiting.set()
            release_a.wait(timeout=60)  # stalled before writing anything, as a frozen worker would be
        record_effect(session, payload)

    registry.register("stall", stall_first_time)
    job_id = _insert(sessions, kind="stall", payload={"marker": "fenced"})
    settings = RunnerSettings(lease_seconds=10, heartbeat=False)
    results = {}
    thread = threading.Thread(
        target=lambda: results.setdefault("a", JobRunner(sessions, registry, settings, clock).run(job_id))
    )
    thread.start()
    assert a_waiting.wait(timeout=30)
    runner_b = JobRunner(sessions, registry, settings, clock)
    assert runner_b.run(job_id).outcome is Outcome.BUSY  # A's lease is still live
    clock.advance(seconds=11)
    assert runner_b.run(job_id).outcome is Outcome.DONE
    release_a.set()
    thread.join(timeout=60)
    assert results["a"].outcome is Outcome.LOST_LEASE
    assert effect_count(sessions, "fenced") == 1
    job = _job(sessions, job_id)
    assert (job.state, job.attempts) == (JobState.DONE, 2)


def test_busy_reports_the_remaining_lease(sessions: sessionmaker[Session], registry: HandlerRegistry) -> None:
    clock = FixedClock(T0)
    job_id = _insert(
        sessions, state=JobState.RUNNING, attempts=1, lease_owner="other", lease_expires_at=T0 + dt.timedelta(seconds=7)
    )
    result = JobRunner(sessions, registry, FAST, clock).run(job_id)
    assert (result.outcome, result.retry_in) == (Outcome.BUSY, 7.0)


def test_abandoned_job_on_its_last_attempt_fails(sessions: sessionmaker[Session], registry: HandlerRegistry) -> None:
    expired = T0 - dt.timedelta(seconds=1)
    job_id = _insert(
        sessions, state=JobState.RUNNING, attempts=3, max_attempts=3, lease_owner="dead", lease_expires_at=expired
    )
    assert JobRunner(sessions, registry, FAST, FixedClock(T0)).run(job_id).outcome is Outcome.FAILED
    job = _job(sessions, job_id)
    assert job.state is JobState.FAILED and job.last_error == "worker lost during attempt 3 of 3"


def test_heartbeat_keeps_a_long_job_leased(sessions: sessionmaker[Session]) -> None:
    """A handler running past its initial lease is not taken over: the heartbeat keeps extending it."""
    registry = HandlerRegistry()
    seen: dict[str, Any] = {}
    settings = RunnerSettings(lease_seconds=0.6)

    def long_job(session: Session, payload: Mapping[str, Any]) -> None:
        first_expiry = _job(sessions, payload["id"]).lease_expires_at
        assert first_expiry is not None
        while SystemClock().now() < first_expiry + dt.timedelta(seconds=0.5):
            threading.Event().wait(0.05)
        seen["other"] = JobRunner(sessions, registry, settings).run(payload["id"]).outcome
        record_effect(session, payload)

    registry.register("long", long_job)
    job_id = new_id()
    _insert(sessions, id=job_id, kind="long", payload={"marker": "long", "id": job_id})
    assert JobRunner(sessions, registry, settings).run(job_id).outcome is Outcome.DONE
    assert seen["other"] is Outcome.BUSY
    assert effect_count(sessions, "long") == 1


def test_superseded_retry_is_skipped(sessions: sessionmaker[Session]) -> None:
    """A failed attempt does not go back to the queue when a newer job with its dedupe key waits there."""
    registry = build_registry()
    queue = NullQueue(registry)

    def change_then_fail(session: Session, payload: Mapping[str, Any]) -> None:
        with sessions() as request:  # meanwhile a request changes the set and asks for a fresh run
            queue.enqueue(request, "test.effect", {"marker": "fresh"}, dedupe_key="set:1")
            request.commit()
        raise RuntimeError("gate crashed")

    registry.register("set.gates", change_then_fail)
    with sessions() as session:
        old = queue.enqueue(session, "set.gates", {}, dedupe_key="set:1")
        session.commit()
    assert JobRunner(sessions, registry, FAST).run(old).outcome is Outcome.SKIPPED
    assert _job(sessions, old).last_error == "superseded after: RuntimeError: gate crashed"
    with sessions() as session:
        waiting = session.scalars(select(Job).where(Job.state == JobState.QUEUED)).all()
    assert [(j.kind, j.dedupe_key) for j in waiting] == [("test.effect", "set:1")]


def test_a_periodic_sweep_resends_lost_jobs_but_leaves_fresh_ones_to_their_message(
    sessions: sessionmaker[Session],
) -> None:
    """What `datadam jobs tick` sends again under Celery: jobs whose worker died (lease expired) and jobs queued
    for longer than LOST_AFTER (their message was lost, or the broker was down when they were enqueued)."""
    from collection.celery_app import sweep
    from collection.jobs import LOST_AFTER

    now = T0 + dt.timedelta(hours=1)
    abandoned = _insert(sessions, state=JobState.RUNNING, lease_expires_at=now - dt.timedelta(seconds=1))
    leased = _insert(sessions, state=JobState.RUNNING, lease_expires_at=now + dt.timedelta(seconds=30))
    stale = _insert(sessions, created_at=now - LOST_AFTER - dt.timedelta(seconds=1))
    fresh = _insert(sessions, created_at=now - dt.timedelta(seconds=10))
    done = _insert(sessions, state=JobState.DONE, created_at=T0)

    class Broker:
        def __init__(self) -> None:
            self.sent: list[str] = []

        def send_task(self, name: str, args: list[str]) -> None:
            self.sent.append(args[0])

    periodic, on_start = Broker(), Broker()
    assert sweep(periodic, sessions, FixedClock(now), queued_for=LOST_AFTER) == 2  # type: ignore[arg-type]
    assert set(periodic.sent) == {abandoned, stale}
    sweep(on_start, sessions, FixedClock(now))  # type: ignore[arg-type]  # a starting worker takes every queued job
    assert set(on_start.sent) == {abandoned, stale, fresh} and leased not in on_start.sent and done not in on_start.sent
