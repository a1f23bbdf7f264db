"""The app's boundaries that outlive a request: the blob store, the job handler registry, the job runner and the
configured queue backend (in-process threads, Celery on Redis, or synchronous for tests). Built once per app by
the factory; the in-process workers start with the first request (so CLI commands start no threads)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from collection.audit.checkpoints import CheckpointWriter
from collection.audit.log import AuditLog
from collection.compliance import RetentionService, enqueue_daily, register_retention_job
from collection.contributions.gates import GateContext, reconcile_failed_checks, register_handlers
from collection.crypto import KeyVault, MasterKey
from collection.erasure.service import ErasureService
from collection.job_queues import InProcessQueue, SynchronousQueue
from collection.job_runner import JobRunner
from collection.jobs import HandlerRegistry, Job, JobQueue
from collection.orphans import (
    STARTUP_SAFE_AGE,
    enqueue_daily_sweep,
    register_orphan_sweep_job,
    sweep_dedupe_key,
    sweep_orphans,
)
from collection.releases import ReleaseService, ReleaseSettings
from collection.releases.jobs import register_build_job
from collection.releases.package_access import remove_plaintext_leftovers
from collection.storage import BlobStore, LocalBlobStore, S3BlobStore, make_s3_client
from consent.clock import Clock, SystemClock
from consent.service import ConsentService, KeyStore
from webapp.config import Settings
from webapp.db import session_factory

KEY = "datadam.background"
CHECKPOINT_JOB = "audit.checkpoint"
logger = logging.getLogger(__name__)


class Background:
    def __init__(self, app: Flask, settings: Settings) -> None:
        self.settings = settings
        self.blobs: BlobStore = make_blob_store(settings)
        self.registry = HandlerRegistry()
        self._app = app
        self._clock: Clock = SystemClock()
        self.runner = JobRunner(self.sessions, self.registry, clock=self._clock)
        self._started = False
        self._leftovers_removed = False
        self._lock = threading.Lock()
        self.queue: JobQueue = self._make_queue()
        register_handlers(
            self.registry,
            GateContext(
                master_key=settings.master_key_bytes,
                blobs=self.blobs,
                queue=lambda: self.queue,
                clock=self.clock,
            ),
        )
        register_retention_job(self.registry, self._retention_service)
        register_build_job(self.registry, self.release_service)
        register_orphan_sweep_job(self.registry, self.blobs, self.clock)
        self.registry.register(CHECKPOINT_JOB, self._write_checkpoint)
        self._ticker: threading.Thread | None = None

    # -- periodic work: retention and the orphan sweep daily, audit checkpoints hourly --------------------------
    # The services jobs run on their own session (the request-scoped ones live in webapp.services).
    def _keys(self, session: Session, clock: Clock) -> KeyStore:
        return KeyStore(session, self.settings.master_key_bytes, clock)

    def _consent_and_vault(self, session: Session, clock: Clock) -> tuple[ConsentService, KeyVault]:
        consent = ConsentService(session, clock, self._keys(session, clock), policy_url="")
        return consent, KeyVault(session, MasterKey(self.settings.master_key_bytes), clock)

    def _retention_service(self, session: Session) -> RetentionService:
        clock = self.clock()
        audit = AuditLog(session, clock)
        consent, vault = self._consent_and_vault(session, clock)
        erasure = ErasureService(session, clock, vault, self.blobs, consent, audit)
        return RetentionService(session, clock, erasure, audit)

    def release_service(self, session: Session) -> ReleaseService:
        clock = self.clock()
        consent, vault = self._consent_and_vault(session, clock)
        # Hosts at scale share the bucket, not a disk: packages go there too (sealed) so any host can serve them.
        settings = ReleaseSettings(package_dir=self.settings.data_dir / "releases",
                                   store_packages=self.settings.blob_backend == "s3")
        return ReleaseService(session, clock, consent, vault, self.blobs, AuditLog(session, clock),
                              self.settings.master_key_bytes, settings)

    def _checkpoints(self, session: Session) -> CheckpointWriter:
        clock = self.clock()
        return CheckpointWriter(session, clock, self._keys(session, clock), self.settings.checkpoint_folder)

    def _write_checkpoint(self, session: Session, _payload: Mapping[str, Any]) -> None:
        self._checkpoints(session).write()

    def _sweep_orphans(self) -> None:
        """Start-up sweep of the embedded server: upload blobs with no row, at least `STARTUP_SAFE_AGE` old (with
        `gunicorn -w 4` another process of this host may be mid-upload), behind the sweep's safety valve."""
        if isinstance(self.blobs, LocalBlobStore):
            self.blobs.remove_temp_files()
        session = self.sessions()
        try:
            sweep_orphans(session, self.blobs, self.clock(), safe_age=STARTUP_SAFE_AGE, kinds=("uploads",))
            session.commit()
        finally:
            session.close()

    def tick(self) -> int:
        """Enqueue the periodic jobs that are due (one retention run and one orphan-blob sweep a day, one audit
        checkpoint an hour), put checks whose job failed for good in front of a person, and with Celery re-send the
        jobs a dead worker or an unreachable broker lost. Returns how many lost jobs were sent again."""
        session = self.sessions()
        try:
            now = self.clock().now()
            reconcile_failed_checks(session)
            if not _exists(session, f"retention:{now.date().isoformat()}"):
                enqueue_daily(self.queue, session, now)
            if not _exists(session, sweep_dedupe_key(now)):
                enqueue_daily_sweep(self.queue, session, now)
            hour = f"checkpoint:{now:%Y-%m-%dT%H}"
            if not _exists(session, hour):
                self.queue.enqueue(session, CHECKPOINT_JOB, {"hour": hour}, dedupe_key=hour)
            session.commit()
        finally:
            session.close()
        if self.settings.job_backend != "celery":
            return 0  # in-process workers re-queue from the database themselves
        from collection.celery_app import sweep
        from collection.jobs import LOST_AFTER

        return sweep(self.celery_app(), lambda: self.sessions(), self.clock(), queued_for=LOST_AFTER)

    def _tick_forever(self, every_seconds: float) -> None:
        while True:
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - a failed tick is logged and tried again at the next one
                logger.exception("periodic tick failed")
            time.sleep(every_seconds)

    def clock(self) -> Clock:
        return self._app.extensions.get("datadam.clock") or self._clock

    def sessions(self) -> Session:
        return session_factory(self._app)()

    def _make_queue(self) -> JobQueue:
        backend = self.settings.job_backend
        if backend == "sync":
            return SynchronousQueue(self.runner, self.registry)
        if backend == "celery":
            from collection.celery_app import CeleryQueue

            return CeleryQueue(self.celery_app(), self.registry)
        return InProcessQueue(self.runner, self.registry, self.sessions, workers=1)

    def celery_app(self) -> Any:
        from collection.celery_app import CeleryConfig, create_celery_app

        if not hasattr(self, "_celery"):
            self.remove_plaintext_leftovers()  # a Celery worker's process starts here (`datadam worker`)
            self._celery = create_celery_app(
                CeleryConfig(broker_url=self.settings.broker_url), lambda: self.sessions, self.registry
            )
        return self._celery

    def remove_plaintext_leftovers(self) -> None:
        """Remove the fetched copies and staged builds that killed processes left in this host's package folder
        (plaintext faces no erasure reaches), once per process; those of live processes are younger."""
        with self._lock:
            if self._leftovers_removed:
                return
            self._leftovers_removed = True
        try:
            removed = remove_plaintext_leftovers(self.settings.data_dir / "releases")
        except OSError:
            logger.exception("could not remove package leftovers")
            return
        if removed:
            logger.info("removed %d package leftovers of interrupted fetches or builds", removed)

    def start(self) -> None:
        """Start in-process workers once (they first re-queue unfinished jobs from the database), after removing
        package leftovers (every backend: web processes reach here on their first request)."""
        with self._lock:
            if self._started:
                return
            self._started = True
        self.remove_plaintext_leftovers()
        if isinstance(self.queue, InProcessQueue):
            self._sweep_orphans()  # single process: no upload can be half-way through right now
            self.queue.start()
            self._ticker = threading.Thread(target=self._tick_forever, args=(900.0,), name="jobs-ticker", daemon=True)
            self._ticker.start()


def _exists(session: Session, dedupe_key: str) -> bool:
    return session.scalar(select(Job.id).where(Job.dedupe_key == dedupe_key).limit(1)) is not None


def make_blob_store(settings: Settings) -> BlobStore:
    if settings.blob_backend == "s3":
        # /healthz probes the bucket with its own client: two seconds and one attempt, not boto3's patient default
        probe = _s3_client(settings, timeout=2.0, max_attempts=1)
        return S3BlobStore(settings.s3_bucket, _s3_client(settings), probe_client=probe)
    return LocalBlobStore(settings.data_dir / "blobs")


def _s3_client(settings: Settings, **tuning: Any) -> Any:
    return make_s3_client(endpoint_url=settings.s3_endpoint_url or None, region_name=settings.s3_region,
                          path_style=bool(settings.s3_endpoint_url), **tuning)


def init_app(app: Flask, settings: Settings) -> Background:
    background = Background(app, settings)
    app.extensions[KEY] = background

    @app.before_request
    def _start_workers() -> None:
        # Only once the schema check has passed: the workers' first act is to read the jobs table.
        if not background._started and app.extensions.get("datadam.schema_ok"):
            background.start()

    return background


def get(app: Flask) -> Background:
    return app.extensions[KEY]
