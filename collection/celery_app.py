"""Background jobs, part 4: the Celery-on-Redis backend, for running gates on separate worker machines.

Nothing is built at import time: `create_celery_app` takes plain configuration, a builder of the session
factory (called lazily, once per worker process, after any fork) and the handler registry, and returns a
Celery app with one task, `datadam.jobs.run(job_id)`, that hands the id to `collection.job_runner.JobRunner`.
The web side enqueues through `CeleryQueue`, which only needs the app to send messages.

Delivery guarantees: late acks (a message is acknowledged after the task returns), rejection with requeue
when the worker process dies, prefetch of one. With Redis, a message whose worker vanished entirely (SIGKILL,
power loss) comes back after `visibility_timeout_seconds`; each worker also sweeps the database for
abandoned jobs when it starts, and `datadam.jobs.sweep` can run periodically under `celery beat`. Duplicates
are harmless: the runner's atomic claim makes every extra delivery a no-op.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from celery import Celery, Task, bootsteps
from kombu.exceptions import KombuError

from collection.job_runner import JobRunner, RunnerSettings
from collection.jobs import HandlerRegistry, RowQueue, SessionFactory, runnable_job_ids
from consent.clock import Clock, SystemClock

logger = logging.getLogger(__name__)

RUN_TASK = "datadam.jobs.run"
SWEEP_TASK = "datadam.jobs.sweep"
_RETRY_MARGIN_SECONDS = 0.5


@dataclass(frozen=True)
class CeleryConfig:
    """Plain settings, read once by the app factory from the validated configuration."""

    broker_url: str
    queue: str = "datadam.jobs"
    visibility_timeout_seconds: int = 3600
    sweep_every_seconds: float | None = 60.0  # under `celery beat`; None disables the periodic sweep
    transport_options: Mapping[str, Any] | None = None  # extra kombu Redis options, e.g. restore intervals


class _WorkerRuntime:
    """Builds the session factory and runner lazily, once per process (engines must not cross a fork)."""

    def __init__(
        self,
        build_sessions: Callable[[], SessionFactory],
        registry: HandlerRegistry,
        settings: RunnerSettings,
        clock: Clock,
    ) -> None:
        self._build_sessions, self._registry = build_sessions, registry
        self._settings, self.clock = settings, clock
        self._pid: int | None = None
        self._sessions: SessionFactory | None = None
        self._runner: JobRunner | None = None

    def sessions(self) -> SessionFactory:
        if self._sessions is None or self._pid != os.getpid():
            self._pid, self._sessions = os.getpid(), self._build_sessions()
            self._runner = None
        return self._sessions

    def runner(self) -> JobRunner:
        sessions = self.sessions()
        if self._runner is None:
            self._runner = JobRunner(sessions, self._registry, self._settings, self.clock)
        return self._runner


def create_celery_app(
    config: CeleryConfig,
    build_sessions: Callable[[], SessionFactory],
    registry: HandlerRegistry,
    runner_settings: RunnerSettings | None = None,
    clock: Clock | None = None,
) -> Celery:
    """A Celery app whose `datadam.jobs.run` task runs `jobs` rows through `JobRunner`."""
    app = Celery("datadam", set_as_current=False)
    app.conf.update(_celery_settings(config))
    runtime = _WorkerRuntime(build_sessions, registry, runner_settings or RunnerSettings(), clock or SystemClock())
    _register_tasks(app, runtime)
    app.steps["consumer"].add(_sweep_on_start_step(app, runtime))
    return app


def _sweep_on_start_step(app: Celery, runtime: _WorkerRuntime) -> type[bootsteps.StartStopStep]:
    """A consumer bootstep of this app only (no process-wide signal): sweep once the worker connects."""

    class SweepOnStart(bootsteps.StartStopStep):
        requires = {"celery.worker.consumer.tasks:Tasks"}

        def start(self, parent: Any) -> None:
            sent = sweep(app, runtime.sessions(), runtime.clock)
            logger.info("start-up sweep sent %d queued or abandoned jobs", sent)

    return SweepOnStart


def _celery_settings(config: CeleryConfig) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "broker_url": config.broker_url,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {
            "visibility_timeout": config.visibility_timeout_seconds,
            **(config.transport_options or {}),
        },
        "task_default_queue": config.queue,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "task_ignore_result": True,
        "task_serializer": "json",
        "accept_content": ["json"],
        "enable_utc": True,
        "timezone": "UTC",
    }
    if config.sweep_every_seconds:
        settings["beat_schedule"] = {SWEEP_TASK: {"task": SWEEP_TASK, "schedule": config.sweep_every_seconds}}
    return settings


def _register_tasks(app: Celery, runtime: _WorkerRuntime) -> None:
    @app.task(name=RUN_TASK, bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
    def run_job(task: Task, job_id: str) -> str:
        result = runtime.runner().run(job_id)
        if result.retry_in is not None:  # a failed attempt's backoff, or another worker's live lease
            raise task.retry(countdown=result.retry_in + _RETRY_MARGIN_SECONDS)
        return result.outcome.value

    @app.task(name=SWEEP_TASK)
    def sweep_jobs() -> int:
        return sweep(app, runtime.sessions(), runtime.clock)


def sweep(app: Celery, sessions: SessionFactory, clock: Clock, queued_for: dt.timedelta | None = None) -> int:
    """Send a run message for every queued or abandoned job (`queued_for`: only jobs queued at least that long);
    returns how many were sent."""
    now = clock.now()
    with sessions() as session:
        job_ids = runnable_job_ids(session, now, queued_before=None if queued_for is None else now - queued_for)
    return _send(app, job_ids)


def _send(app: Celery, job_ids: list[str]) -> int:
    sent = 0
    for job_id in job_ids:
        try:
            app.send_task(RUN_TASK, args=[job_id])
            sent += 1
        except (KombuError, OSError) as exc:  # broker down: the row stays queued; a later sweep sends it
            logger.error("job %s not sent to the broker: %s", job_id, type(exc).__name__)
    return sent


class CeleryQueue(RowQueue):
    """Enqueue side of the Celery backend: rows in the caller's transaction, messages after the commit."""

    def __init__(self, app: Celery, registry: HandlerRegistry, clock: Clock | None = None) -> None:
        super().__init__(registry, clock)
        self.app = app

    def _dispatch(self, job_ids: list[str]) -> None:
        _send(self.app, job_ids)
