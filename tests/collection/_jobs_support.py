"""Job handlers with observable side effects, shared by the job tests and the Celery worker subprocess.

Run as a script it starts a Celery worker (solo pool: the task runs in this very process, so SIGKILL of this
pid kills the worker mid-task):  python _jobs_support.py worker NAME
Configuration comes from the environment: DATADAM_TEST_DB_TARGET (see _db_support), DATADAM_TEST_BROKER,
DATADAM_TEST_REDIS_PREFIX, DATADAM_TEST_LEASE_SECONDS, DATADAM_TEST_VISIBILITY_SECONDS.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from collection.errors import SkipJob
from collection.jobs import HandlerRegistry


class EffectBase(DeclarativeBase):
    """Separate metadata: test tables never join the application's `Base.metadata`."""


class JobEffect(EffectBase):
    """One row per committed handler run: counting them proves effects happened exactly once."""

    __tablename__ = "test_job_effects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    marker: Mapped[str] = mapped_column(String(64))
    pid: Mapped[int] = mapped_column(Integer)


def record_effect(session: Session, payload: Mapping[str, Any]) -> None:
    session.add(JobEffect(marker=payload["marker"], pid=os.getpid()))
    session.flush()


def hang_on_first_run(session: Session, payload: Mapping[str, Any]) -> None:
    """Write the effect, then on the very first run announce it and hang (the test kills us there)."""
    record_effect(session, payload)
    started = Path(payload["started_file"])
    if not started.exists():
        started.write_text(str(os.getpid()))
        time.sleep(float(payload.get("hang_seconds", 300)))


def fail_until(session: Session, payload: Mapping[str, Any]) -> None:
    """Writes its effect, then fails the first `failures` runs (the effects of failed runs must roll back).

    Runs are counted in `<marker>-run` rows committed on a separate connection, outside the job's transaction.
    """
    run_marker = payload["marker"] + "-run"
    runs = session.query(JobEffect).filter_by(marker=run_marker).count()
    with Session(bind=session.get_bind()) as side:
        side.add(JobEffect(marker=run_marker, pid=os.getpid()))
        side.commit()
    record_effect(session, payload)
    if runs < int(payload["failures"]):
        raise RuntimeError(f"planned failure {runs + 1}")


def skip(session: Session, payload: Mapping[str, Any]) -> None:
    record_effect(session, payload)
    raise SkipJob("photo was deleted")


def build_registry() -> HandlerRegistry:
    registry = HandlerRegistry()
    registry.register("test.effect", record_effect)
    registry.register("test.hang_once", hang_on_first_run, max_attempts=3)
    registry.register("test.fail_until", fail_until, max_attempts=3)
    registry.register("test.skip", skip)
    return registry


def effect_count(sessions: sessionmaker[Session], marker: str) -> int:
    with sessions() as session:
        return session.query(JobEffect).filter_by(marker=marker).count()


def transport_options_for_tests(key_prefix: str) -> dict[str, Any]:
    return {
        # Every Redis key of one test under its own prefix: parallel test processes share the Redis database.
        "global_keyprefix": key_prefix,
        # Look for messages of dead workers every second (kombu's default is about every 100 s).
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
    }


def _worker_main(name: str) -> None:
    from _db_support import DbTarget

    from collection.celery_app import CeleryConfig, create_celery_app
    from collection.job_runner import RunnerSettings

    target = DbTarget.from_env()
    config = CeleryConfig(
        broker_url=os.environ["DATADAM_TEST_BROKER"],
        queue="datadam.test.jobs",
        visibility_timeout_seconds=int(os.environ.get("DATADAM_TEST_VISIBILITY_SECONDS", "3600")),
        transport_options=transport_options_for_tests(os.environ["DATADAM_TEST_REDIS_PREFIX"]),
    )
    settings = RunnerSettings(
        lease_seconds=float(os.environ.get("DATADAM_TEST_LEASE_SECONDS", "60")), retry_base_seconds=0.2
    )

    def build_sessions() -> sessionmaker[Session]:
        return sessionmaker(target.engine(), expire_on_commit=False)

    app = create_celery_app(config, build_sessions, build_registry(), settings)
    app.worker_main(
        [
            "worker",
            "--pool=solo",
            "--concurrency=1",
            f"--hostname={name}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel=INFO",
        ]
    )


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "worker":
        raise SystemExit("usage: _jobs_support.py worker NAME")
    _worker_main(sys.argv[2])
