"""Background jobs, part 3: queue backends that run in this process.

`InProcessQueue` is the embedded default: worker threads beside the web app, which on start re-queue from the
database every job left queued or abandoned by a dead worker. `NullQueue` (writes rows, runs nothing) and
`SynchronousQueue` (runs each job right after the commit) are for tests. The Celery backend is in
`collection.celery_app`. All of them satisfy `collection.jobs.JobQueue`.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time

from sqlalchemy.exc import SQLAlchemyError

from collection.job_runner import JobRunner, Outcome, RunResult
from collection.jobs import HandlerRegistry, RowQueue, SessionFactory, runnable_job_ids
from consent.clock import Clock

logger = logging.getLogger(__name__)


class NullQueue(RowQueue):
    """Writes job rows and runs nothing; `dispatched` lists the ids handed over after commit (for tests)."""

    def __init__(self, registry: HandlerRegistry, clock: Clock | None = None) -> None:
        super().__init__(registry, clock)
        self.dispatched: list[str] = []

    def _dispatch(self, job_ids: list[str]) -> None:
        self.dispatched.extend(job_ids)


class SynchronousQueue(RowQueue):
    """Runs each job in the committing thread right after the commit, retries included (for tests)."""

    def __init__(self, runner: JobRunner, registry: HandlerRegistry, clock: Clock | None = None) -> None:
        super().__init__(registry, clock)
        self._runner = runner
        self.results: list[RunResult] = []

    def _dispatch(self, job_ids: list[str]) -> None:
        for job_id in job_ids:
            result = self._runner.run(job_id)
            while result.outcome is Outcome.RETRY:
                self.results.append(result)
                result = self._runner.run(job_id)
            self.results.append(result)


class InProcessQueue(RowQueue):
    """Worker threads in this process: the embedded default backend.

    `start()` sweeps the database for queued jobs and jobs whose worker died (expired lease) and runs them;
    the sweep repeats every `sweep_seconds`, which also catches a dispatch lost between commit and hand-over.
    """

    def __init__(
        self,
        runner: JobRunner,
        registry: HandlerRegistry,
        sessions: SessionFactory,
        *,
        workers: int = 1,
        sweep_seconds: float = 30.0,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(registry, clock)
        self._runner, self._sessions = runner, sessions
        self._workers, self._sweep_seconds = workers, sweep_seconds
        self._cond = threading.Condition()
        self._ready: list[str] = []
        self._delayed: list[tuple[float, int, str]] = []
        self._seq = itertools.count()
        self._busy = 0
        self._next_sweep = 0.0
        self._stopping = False
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Re-queue what the database holds (queued jobs, jobs whose worker died), then start the workers."""
        with self._cond:
            self._stopping = False
        self._sweep()
        for index in range(self._workers):
            thread = threading.Thread(target=self._work, name=f"jobs-worker-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 30.0) -> None:
        """Finish running jobs and stop; queued ones stay in the database for the next start."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def wait_idle(self, timeout: float) -> bool:
        """Block until nothing is ready, delayed or running (True), or `timeout` seconds pass (False)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._ready or self._delayed or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def _dispatch(self, job_ids: list[str]) -> None:
        with self._cond:
            for job_id in job_ids:
                if job_id not in self._ready:
                    self._ready.append(job_id)
            self._cond.notify_all()

    def _later(self, job_id: str, seconds: float) -> None:
        with self._cond:
            heapq.heappush(self._delayed, (time.monotonic() + seconds, next(self._seq), job_id))
            self._cond.notify_all()

    def _sweep(self) -> None:
        with self._sessions() as session:
            job_ids = runnable_job_ids(session, self._clock.now())
        with self._cond:
            self._next_sweep = time.monotonic() + self._sweep_seconds
        self._dispatch(job_ids)

    def _work(self) -> None:
        while (task := self._next()) is not None:
            try:
                if task is _SWEEP:
                    self._sweep()
                else:
                    result = self._runner.run(task)
                    if result.retry_in is not None:
                        self._later(task, result.retry_in)
            except SQLAlchemyError as exc:  # database unavailable: rows are intact, a later sweep retries
                logger.error("job worker: %s while running %s", type(exc).__name__, task)
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()

    def _next(self) -> str | None:
        """The next job id to run, or `_SWEEP` when a sweep is due (both count as busy); None on stop."""
        with self._cond:
            while not self._stopping:
                now = time.monotonic()
                if now >= self._next_sweep:
                    self._next_sweep = now + self._sweep_seconds
                    self._busy += 1
                    return _SWEEP
                while self._delayed and self._delayed[0][0] <= now:
                    self._ready.append(heapq.heappop(self._delayed)[2])
                if self._ready:
                    self._busy += 1
                    return self._ready.pop(0)
                wake = min([self._next_sweep] + [d[0] for d in self._delayed[:1]])
                self._cond.wait(wake - now)
            return None


_SWEEP = "<sweep>"
