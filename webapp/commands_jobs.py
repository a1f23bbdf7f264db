"""`datadam worker` (Celery on Redis, for scale) and `datadam jobs` (inspect and re-queue background work)."""

from __future__ import annotations

import os

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import func, select

from collection.jobs import Job
from webapp.background import get as background
from webapp.db import get_session


@click.command("worker")
@click.option("--concurrency", "-c", default=2, show_default=True, help="Worker processes.")
@click.option("--loglevel", "-l", default="info", show_default=True)
@click.option("--name", "-n", default=None,
              help="Worker name (default: datadam-<pid>@<host>, so several workers on one host are told apart).")
@with_appcontext
def worker(concurrency: int, loglevel: str, name: str | None) -> None:
    """Run a Celery worker for the job queue (DATADAM_JOB_BACKEND=celery, broker DATADAM_BROKER_URL)."""
    bg = background(current_app)
    if bg.settings.job_backend != "celery":
        raise click.ClickException("set DATADAM_JOB_BACKEND=celery to use workers (the embedded default runs jobs "
                                   "in the web process)")
    app = bg.celery_app()
    app.worker_main(["worker", f"--loglevel={loglevel}", f"--concurrency={concurrency}",
                     f"--hostname={name or f'datadam-{os.getpid()}@%h'}",
                     "-Q", app.conf.task_default_queue or "datadam.jobs"])


@click.group("jobs")
def jobs() -> None:
    """Background jobs."""


@jobs.command("status")
@with_appcontext
def jobs_status() -> None:
    """Count jobs by kind and state."""
    rows = get_session().execute(select(Job.kind, Job.state, func.count()).group_by(Job.kind, Job.state))
    for kind, state, count in sorted(rows, key=lambda r: (r[0], str(r[1]))):
        click.echo(f"{kind:<16} {state.value if hasattr(state, 'value') else state:<8} {count}")


@jobs.command("run-pending")
@with_appcontext
def jobs_run_pending() -> None:
    """Run every queued job (and jobs whose worker died) now, in this process."""
    from collection.jobs import runnable_job_ids

    bg = background(current_app)
    ids = runnable_job_ids(get_session(), bg.clock().now())
    get_session().close()
    for job_id in ids:
        result = bg.runner.run(job_id)
        click.echo(f"{job_id} {result.outcome.value}")


@jobs.command("tick")
@with_appcontext
def jobs_tick() -> None:
    """Enqueue due periodic jobs (daily retention, hourly audit checkpoint) and, with Celery, re-send jobs a dead
    worker or an unreachable broker lost. Run from cron every minute when using Celery."""
    resent = background(current_app).tick()
    click.echo(f"periodic jobs checked; lost jobs sent again: {resent}")
