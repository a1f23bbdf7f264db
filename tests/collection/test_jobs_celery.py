"""The Celery-on-Redis backend against the local Redis and real worker subprocesses, including SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from _db_support import ENV_VAR, DbTarget
from _jobs_support import EffectBase, JobEffect, build_registry, effect_count, transport_options_for_tests
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from collection.celery_app import RUN_TASK, CeleryConfig, CeleryQueue, create_celery_app
from collection.jobs import Job, JobState

pytestmark = pytest.mark.redis

BROKER = os.environ.get("DATADAM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
QUEUE = "datadam.test.jobs"
HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


@dataclass(frozen=True)
class Broker:
    url: str
    key_prefix: str


@pytest.fixture
def broker() -> Iterator[Broker]:
    """The dedicated Redis database, with this test's keys under their own prefix (deleted afterwards) so
    parallel test processes cannot disturb each other; skips when Redis is not reachable."""
    client = redis.Redis.from_url(BROKER, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip(f"Redis not reachable at {BROKER}")
    prefix = f"datadam-test-{uuid.uuid4().hex[:12]}:"
    yield Broker(BROKER, prefix)
    for key in client.scan_iter(match=f"{prefix}*"):
        client.delete(key)
    client.close()


@pytest.fixture
def sessions(infra_engine: Engine) -> sessionmaker[Session]:
    EffectBase.metadata.create_all(infra_engine)
    return sessionmaker(infra_engine, expire_on_commit=False)


@pytest.fixture
def celery_queue(broker: Broker, sessions: sessionmaker[Session]) -> CeleryQueue:
    """The web side: it only sends messages (the session builder is never called here)."""
    options = transport_options_for_tests(broker.key_prefix)
    config = CeleryConfig(broker_url=broker.url, queue=QUEUE, transport_options=options)
    registry = build_registry()
    app = create_celery_app(config, lambda: sessions, registry)
    return CeleryQueue(app, registry)


class Worker:
    def __init__(self, process: subprocess.Popen[bytes], log: Path) -> None:
        self.process, self.log = process, log

    @property
    def pid(self) -> int:
        return self.process.pid


@pytest.fixture
def start_worker(broker: Broker, db_target: DbTarget, tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    workers: list[Worker] = []

    def start(name: str, lease_seconds: float = 60, visibility_seconds: int = 3600) -> Worker:
        env = os.environ | {
            ENV_VAR: db_target.to_env(),
            "DATADAM_TEST_BROKER": broker.url,
            "DATADAM_TEST_REDIS_PREFIX": broker.key_prefix,
            "DATADAM_TEST_LEASE_SECONDS": str(lease_seconds),
            "DATADAM_TEST_VISIBILITY_SECONDS": str(visibility_seconds),
            "PYTHONPATH": os.pathsep.join([str(HERE), str(REPO)]),
        }
        log = tmp_path / f"worker-{name}.log"
        with log.open("wb") as out:
            command = [sys.executable, str(HERE / "_jobs_support.py"), "worker", name]
            process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
        worker = Worker(process, log)
        workers.append(worker)
        _wait_until(lambda: " ready." in log.read_text(errors="replace"), worker, timeout=60)
        return worker

    yield start
    for worker in workers:
        if worker.process.poll() is None:
            worker.process.terminate()
            try:
                worker.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()


def _wait_until(condition: Callable[[], bool], worker: Worker | None = None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if worker is not None and worker.process.poll() is not None:
            pytest.fail(f"worker exited early:\n{worker.log.read_text(errors='replace')[-4000:]}")
        if time.monotonic() > deadline:
            log = worker.log.read_text(errors="replace")[-4000:] if worker else ""
            pytest.fail(f"condition not reached in {timeout} s\n{log}")
        time.sleep(0.1)


def _job(sessions: sessionmaker[Session], job_id: str) -> Job:
    with sessions() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job


def _enqueue(queue: CeleryQueue, sessions: sessionmaker[Session], kind: str, payload: dict[str, Any]) -> str:
    with sessions() as session:
        job_id = queue.enqueue(session, kind, payload)
        session.commit()
    return job_id


def test_worker_runs_jobs_sent_after_commit(
    celery_queue: CeleryQueue, sessions: sessionmaker[Session], start_worker: Callable[..., Worker]
) -> None:
    worker = start_worker("w1")
    ids = [_enqueue(celery_queue, sessions, "test.effect", {"marker": f"c{i}"}) for i in range(3)]
    flaky = _enqueue(celery_queue, sessions, "test.fail_until", {"marker": "flaky", "failures": 1})
    _wait_until(lambda: all(_job(sessions, i).state is JobState.DONE for i in [*ids, flaky]), worker)
    assert [effect_count(sessions, f"c{i}") for i in range(3)] == [1, 1, 1]
    assert effect_count(sessions, "flaky") == 1 and _job(sessions, flaky).attempts == 2


def test_duplicate_messages_complete_the_job_once(
    celery_queue: CeleryQueue, sessions: sessionmaker[Session], start_worker: Callable[..., Worker]
) -> None:
    job_id = _enqueue(celery_queue, sessions, "test.effect", {"marker": "dup"})
    for _ in range(3):  # redeliveries, sweeps, a retry racing the original: all the same to the runner
        celery_queue.app.send_task(RUN_TASK, args=[job_id])
    worker = start_worker("w1")
    _wait_until(lambda: _job(sessions, job_id).state is JobState.DONE, worker)
    _wait_until(lambda: worker.log.read_text().count("succeeded") >= 4, worker)
    assert effect_count(sessions, "dup") == 1 and _job(sessions, job_id).attempts == 1


@pytest.mark.slow
def test_worker_killed_mid_task_job_completes_once_on_another_worker(
    celery_queue: CeleryQueue,
    sessions: sessionmaker[Session],
    start_worker: Callable[..., Worker],
    tmp_path: Path,
) -> None:
    started = tmp_path / "started"
    lease, visibility = 2.0, 3
    first = start_worker("doomed", lease_seconds=lease, visibility_seconds=visibility)
    job_id = _enqueue(celery_queue, sessions, "test.hang_once", {"marker": "once", "started_file": str(started)})
    _wait_until(started.exists, first)
    assert int(started.read_text()) == first.pid  # the task runs inside the worker we are about to kill

    os.kill(first.pid, signal.SIGKILL)
    first.process.wait(timeout=30)
    job = _job(sessions, job_id)
    assert job.state is JobState.RUNNING and job.attempts == 1
    assert effect_count(sessions, "once") == 0  # its transaction died with it

    second = start_worker("rescuer", lease_seconds=lease, visibility_seconds=visibility)
    _wait_until(lambda: _job(sessions, job_id).state is JobState.DONE, second, timeout=120)
    with sessions() as session:
        effects = session.scalars(select(JobEffect).where(JobEffect.marker == "once")).all()
    assert [e.pid for e in effects] == [second.pid]
    job = _job(sessions, job_id)
    assert (job.attempts, job.lease_owner, job.last_error) == (2, None, None)
