"""The in-process queue: worker threads, retries with backoff, and re-queueing what a dead process left."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from _jobs_support import EffectBase, build_registry, effect_count
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from collection.job_queues import InProcessQueue
from collection.job_runner import JobRunner, RunnerSettings
from collection.jobs import HandlerRegistry, Job, JobState
from consent.clock import Clock, FixedClock

FAST = RunnerSettings(lease_seconds=30, retry_base_seconds=0.01, retry_max_seconds=0.05)


@pytest.fixture
def sessions(infra_engine: Engine) -> sessionmaker[Session]:
    EffectBase.metadata.create_all(infra_engine)
    return sessionmaker(infra_engine, expire_on_commit=False)


@pytest.fixture
def registry() -> HandlerRegistry:
    return build_registry()


@pytest.fixture
def make_queue(sessions: sessionmaker[Session], registry: HandlerRegistry) -> Iterator[Any]:
    started: list[InProcessQueue] = []

    def make(sweep_seconds: float = 30.0, clock: Clock | None = None) -> InProcessQueue:
        runner = JobRunner(sessions, registry, FAST, clock)
        queue = InProcessQueue(runner, registry, sessions, workers=2, sweep_seconds=sweep_seconds, clock=clock)
        started.append(queue)
        return queue

    yield make
    for queue in started:
        queue.stop()


def _states(sessions: sessionmaker[Session]) -> dict[str, JobState]:
    with sessions() as session:
        return {job.id: job.state for job in session.scalars(select(Job))}


def test_jobs_run_after_commit_in_worker_threads(sessions: sessionmaker[Session], make_queue: Any) -> None:
    queue = make_queue()
    queue.start()
    with sessions() as session:
        ids = [queue.enqueue(session, "test.effect", {"marker": f"m{i}"}) for i in range(6)]
        ids.append(queue.enqueue(session, "test.fail_until", {"marker": "flaky", "failures": 1}))
        session.commit()
    assert queue.wait_idle(timeout=60)
    assert set(_states(sessions).values()) == {JobState.DONE}
    assert [effect_count(sessions, f"m{i}") for i in range(6)] == [1] * 6
    assert effect_count(sessions, "flaky") == 1
    with sessions() as session:
        assert session.get(Job, ids[-1]).attempts == 2  # type: ignore[union-attr]


def test_rolled_back_enqueue_never_runs(sessions: sessionmaker[Session], make_queue: Any) -> None:
    queue = make_queue()
    queue.start()
    with sessions() as session:
        queue.enqueue(session, "test.effect", {"marker": "ghost"})
        session.rollback()
    assert queue.wait_idle(timeout=30)
    assert _states(sessions) == {} and effect_count(sessions, "ghost") == 0


def test_start_requeues_what_a_dead_process_left(sessions: sessionmaker[Session], make_queue: Any) -> None:
    """Jobs committed but never run (the process died first) and jobs whose worker died mid-run are picked up
    at start; a job still leased by a live worker elsewhere is left alone until its lease runs out."""
    clock = FixedClock(dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC))
    dead = make_queue(clock=clock)  # never started: a process that crashed right after its commits
    with sessions() as session:
        queued = dead.enqueue(session, "test.effect", {"marker": "queued"})
        abandoned = dead.enqueue(session, "test.effect", {"marker": "abandoned"})
        leased = dead.enqueue(session, "test.effect", {"marker": "leased"})
        session.commit()
    lease = dt.timedelta(seconds=60)
    with sessions() as session:  # two were mid-run: one by a worker that died, one by a live one
        session.execute(Job.claim(abandoned, "dead-worker", clock.now() - dt.timedelta(minutes=5), lease))
        session.execute(Job.claim(leased, "live-worker", clock.now(), lease))
        session.commit()

    fresh = make_queue(sweep_seconds=0.1, clock=clock)
    fresh.start()
    assert fresh.wait_idle(timeout=60)
    assert _states(sessions) == {queued: JobState.DONE, abandoned: JobState.DONE, leased: JobState.RUNNING}
    assert [effect_count(sessions, m) for m in ("queued", "abandoned", "leased")] == [1, 1, 0]
    with sessions() as session:
        assert session.get(Job, abandoned).attempts == 2  # type: ignore[union-attr]
        assert session.get(Job, leased).lease_owner == "live-worker"  # type: ignore[union-attr]

    clock.advance(seconds=61)  # the live worker stopped renewing: the periodic sweep takes the job over
    _wait_until(lambda: _states(sessions)[leased] is JobState.DONE)
    assert effect_count(sessions, "leased") == 1


def _wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def test_stop_leaves_unstarted_jobs_for_the_next_start(sessions: sessionmaker[Session], make_queue: Any) -> None:
    first = make_queue()
    first.start()
    first.stop()
    with sessions() as session:
        job_id = first.enqueue(session, "test.effect", {"marker": "later"})
        session.commit()
    assert _states(sessions) == {job_id: JobState.QUEUED}
    second = make_queue()
    second.start()
    assert second.wait_idle(timeout=30)
    assert _states(sessions) == {job_id: JobState.DONE} and effect_count(sessions, "later") == 1


def test_periodic_sweep_finds_jobs_dispatched_nowhere(sessions: sessionmaker[Session], make_queue: Any) -> None:
    """A job row committed by another process (its dispatch went elsewhere) is found by the next sweep."""
    other_process = make_queue()
    queue = make_queue(sweep_seconds=0.2)
    queue.start()
    with sessions() as session:
        job_id = other_process.enqueue(session, "test.effect", {"marker": "swept"})
        session.commit()
    _wait_until(lambda: _states(sessions)[job_id] is JobState.DONE)
    assert effect_count(sessions, "swept") == 1
