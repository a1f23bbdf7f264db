"""A release build holds no database transaction while it anonymizes (seconds per photo), and its steps are safe
to interrupt, repeat and race.

The first test is the reviewer's defect on a real database that two threads share (a SQLite file with the app's
own session settings - WAL, BEGIN IMMEDIATE - or a private PostgreSQL schema): while the build job is inside
its slow step, another session must be able to write at once. The others run the job on the suite's rolled-back
connection and change the world from inside the slow step: an erasure, a withdrawal, a rival worker, the
leftovers of a crashed attempt."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _db_support import DbTarget, normalise_url
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from anonymize import package_statement_sha256
from collection.accounts import AccountService, Role, SignupData, email_blind_index
from collection.audit.log import AuditLog
from collection.campaigns import Campaign, CampaignStatus
from collection.contributions.models import Enrollment
from collection.contributions.withdrawal import withdraw_consent
from collection.crypto import KeyVault, MasterKey
from collection.job_queues import NullQueue
from collection.job_runner import JobRunner, Outcome, RunnerSettings
from collection.jobs import HandlerRegistry, Job
from collection.models import metadata
from collection.releases import (
    Release,
    ReleasedPhoto,
    ReleaseItem,
    ReleaseService,
    ReleaseSettings,
    ReleaseState,
    ReleaseStateError,
    ReleaseSubject,
)
from collection.releases.jobs import BUILD_ERROR, queue_build, register_build_job
from consent.clock import FixedClock
from consent.sealed import FieldCipher
from consent.service import ConsentService, KeyStore
from tests.collection.flow_support import MASTER, build_env, publish_notice
from tests.collection.test_releases import WITH_RELEASE, ScrubOnly, add_accepted_set, draft, service, stored
from tests.conftest import FAST_HASHER, MASTER_KEY
from webapp.db import IMMEDIATE_OPTION, make_engine, make_sessionmaker
from webapp.demo_media import face_photo

WAIT = 10.0  # seconds: a generous bound for events; nothing sleeps
BUSY = 2.0  # how long the other writer waits for the lock before it counts as blocked


class Paused(ScrubOnly):
    """Anonymizes like ScrubOnly, but on the `at`-th photo runs `during()` (default: tells the test it is inside
    the slow step and waits until the test is done looking)."""

    def __init__(self, at: int = 1, during: Callable[[], None] | None = None) -> None:
        self.at, self.seen = at, 0
        self.reached, self.resume = threading.Event(), threading.Event()
        self.during = during or self._pause

    def _pause(self) -> None:
        self.reached.set()
        assert self.resume.wait(WAIT), "the test never let the build go on"

    def photo(self, data: bytes, subject_encoding: np.ndarray | None) -> ReleasedPhoto:
        self.seen += 1
        if self.seen == self.at:
            self.during()
        return super().photo(data, subject_encoding)


def job_world(
    clock: Any, sessions: Callable[[], Session], blobs: Any, root: Path, media: Any
) -> tuple[JobRunner, NullQueue, list[Session]]:
    """The build job on a runner with its own sessions; `used` collects the sessions the job worked in."""
    registry, used = HandlerRegistry(), []

    def on_session(session: Session) -> ReleaseService:
        used.append(session)
        consent = ConsentService(session, clock, KeyStore(session, MASTER, clock), "")
        vault = KeyVault(session, MasterKey(MASTER), clock)
        settings = ReleaseSettings(root / "packages", verify_faces=False, use_exiftool=False)
        return ReleaseService(
            session, clock, consent, vault, blobs, AuditLog(session, clock), MASTER, settings, media=media
        )

    register_build_job(registry, on_session)
    runner = JobRunner(sessions, registry, RunnerSettings(lease_seconds=60), clock=clock)
    return runner, NullQueue(registry, clock), used


# -- another writer while the build runs, on a database two threads really share ---------------------------------------
@pytest.fixture
def shared_engine(db_target: DbTarget) -> Iterator[Engine]:
    """The app's engine (`webapp.db.make_engine`) on a fresh database: SQLite file or private PG schema."""
    cipher = FieldCipher.from_master_key(MASTER_KEY)
    if db_target.url.startswith("sqlite"):
        engine = make_engine(db_target.url, cipher)
    else:
        options = {"options": f"-csearch_path={db_target.schema}"}
        engine = make_engine(normalise_url(db_target.url), cipher, connect_args=options)
    metadata.create_all(engine)
    yield engine
    engine.dispose()


def seeded(session: Session, sessions: sessionmaker[Session], clock: Any) -> tuple[Any, Any, Any]:
    """A campaign, an operator, and one consenting contributor with two accepted photos."""
    accounts = AccountService(session, clock, b"k" * 32, hasher=FAST_HASHER, email_index=email_blind_index(MASTER))
    operator = accounts.create_staff("operator@example.com", "correct horse battery", Role.OPERATOR, "Op")
    contributor = accounts.sign_up(
        SignupData("c@example.com", "correct horse battery", "참여자", dt.date(1995, 3, 4), "ko")
    )
    brackets = [{"key": k, "min_age": lo, "max_age": lo + 9, "photos": 2} for k, lo in (("0-9", 0), ("10-19", 10))]
    campaign = Campaign(
        slug="faces-lock", title_ko="얼굴", title_en="Faces", status=CampaignStatus.DRAFT, brackets=brackets,
        photo_rules={}, voice_prompts=[], payment_krw=1000, min_age=14, max_age=60, created_at=clock.now(),
    )
    session.add(campaign)
    campaign.open(clock.now())
    session.commit()
    env = build_env(session, sessions, clock)
    version = publish_notice(env, campaign)
    photos = [stored(face_photo(i, size=160)) for i in (1, 2)]
    add_accepted_set(env, contributor, campaign, version, photos, WITH_RELEASE, env.blobs)
    return env, campaign, operator


def write_at_once(engine: Engine) -> float:
    """Seconds another writer needed to take the write lock and write (raises if it could not within BUSY)."""
    started = time.perf_counter()
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql(f"PRAGMA busy_timeout={int(BUSY * 1000)}")
            conn.commit()
        with conn.execution_options(**{IMMEDIATE_OPTION: True}).begin():  # what every request does first
            conn.execute(update(Job).where(Job.id == "probe").values(last_error="probe"))
    return time.perf_counter() - started


def test_other_writers_are_not_blocked_while_a_release_builds(shared_engine: Engine, tmp_path: Path) -> None:
    clock = FixedClock(dt.datetime(2026, 11, 21, 9, 0, tzinfo=dt.UTC))
    sessions = make_sessionmaker(shared_engine)
    with sessions() as session:
        env, campaign, operator = seeded(session, sessions, clock)
        media = Paused()
        runner, queue, used = job_world(clock, sessions, env.blobs, tmp_path, media)
        release = draft(service(env, tmp_path), campaign, actor=operator)
        job_id = queue_build(queue, session, release, operator)
        session.commit()
        release_id = release.id

    outcome: list[Outcome] = []
    worker = threading.Thread(target=lambda: outcome.append(runner.run(job_id).outcome), daemon=True)
    worker.start()
    try:
        assert media.reached.wait(WAIT), "the build never reached its first photo"
        in_transaction = [s.in_transaction() for s in used]
        waited = write_at_once(shared_engine)  # before the fix: "database is locked" after BUSY seconds (SQLite)
    finally:
        media.resume.set()
        worker.join(WAIT)
    assert in_transaction == [False], "the build held a transaction while anonymizing"
    assert waited < BUSY
    assert outcome == [Outcome.DONE]
    with sessions() as session:
        row = session.get(Release, release_id)
        assert row is not None and row.state is ReleaseState.VERIFIED and row.items == 2
        assert package_statement_sha256(row.package_path or "") == row.statement_sha256
        assert session.scalar(select(func.count()).select_from(ReleaseSubject)) == 1


# -- the steps, under changes made while the slow step runs (on the suite's rolled-back connection) ------------------
@pytest.fixture()
def env(db_session: Any, test_sessionmaker: Any, clock: Any) -> Any:
    return build_env(db_session, test_sessionmaker, clock)


@pytest.fixture()
def world(env: Any, make_campaign: Any, make_user: Any) -> dict[str, Any]:
    campaign = make_campaign()
    version = publish_notice(env, campaign)
    contributor = make_user("contributor")
    photos = [stored(face_photo(i, size=160)) for i in (1, 2)]
    add_accepted_set(env, contributor, campaign, version, photos, WITH_RELEASE, env.blobs)
    return {"campaign": campaign, "contributor": contributor, "operator": make_user("operator")}


def run_build(env: Any, world: dict[str, Any], test_sessionmaker: Any, root: Path, media: Any) -> Any:
    runner, queue, _ = job_world(env.clock, test_sessionmaker, env.blobs, root, media)
    release = draft(service(env, root), world["campaign"], actor=world["operator"])
    job_id = queue_build(queue, env.session, release, world["operator"])
    env.session.commit()
    assert runner.run(job_id).outcome is Outcome.DONE
    env.session.expire_all()
    return release


def packages(root: Path) -> list[str]:
    folder = root / "packages"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_data_erased_while_building_is_never_placed_or_recorded(
    env: Any, world: dict[str, Any], test_sessionmaker: Any, tmp_path: Path
) -> None:
    contributor = world["contributor"]

    def erase() -> None:  # every blob is read by then: the package would be complete
        enrollment = env.session.scalar(select(Enrollment).where(Enrollment.user_id == contributor.id))
        env.erasure.erase_enrollment(enrollment, "admin_request")
        env.session.commit()

    release = run_build(env, world, test_sessionmaker, tmp_path, Paused(at=2, during=erase))
    assert release.state is ReleaseState.DRAFT and not release.built and release.package_path is None
    error = release.build_summary[BUILD_ERROR]
    assert error["kind"] == "ReleaseBuildFailed" and "erased" in error["message"] and error["code"] == "data_changed"
    assert packages(tmp_path) == []  # neither the package nor its staging file
    assert env.session.scalar(select(func.count()).select_from(ReleaseItem)) == 0


def test_a_withdrawal_while_building_is_listed_at_once(
    env: Any, world: dict[str, Any], test_sessionmaker: Any, tmp_path: Path
) -> None:
    contributor, campaign = world["contributor"], world["campaign"]

    def withdraw() -> None:
        withdraw_consent(env.consent, contributor.subject_id, campaign.id, ["release"], erasure=env.erasure)
        env.session.commit()

    release = run_build(env, world, test_sessionmaker, tmp_path, Paused(during=withdraw))
    assert release.state is ReleaseState.VERIFIED
    subject = env.session.scalars(select(ReleaseSubject).where(ReleaseSubject.release_id == release.id)).one()
    assert subject.withdrawn_at is not None
    svc = service(env, tmp_path)
    assert [w.sequence for w in svc.withdrawal_lists(release)] == [1]


def test_a_crashed_attempt_leaves_nothing_the_next_one_trips_on(
    env: Any, world: dict[str, Any], test_sessionmaker: Any, tmp_path: Path
) -> None:
    svc = service(env, tmp_path)
    release = draft(svc, world["campaign"], actor=world["operator"])
    target = svc.default_package_path(release)
    target.parent.mkdir(parents=True)
    target.write_bytes(b"PK moved into place, never recorded")  # died between the move and the commit
    (target.parent / f".building-dead-{target.name}").write_bytes(b"PK half")  # died while writing
    runner, queue, _ = job_world(env.clock, test_sessionmaker, env.blobs, tmp_path, ScrubOnly())
    job_id = queue_build(queue, env.session, release, world["operator"])
    env.session.commit()
    assert runner.run(job_id).outcome is Outcome.DONE
    env.session.expire_all()
    assert release.state is ReleaseState.VERIFIED
    assert package_statement_sha256(target) == release.statement_sha256
    assert packages(tmp_path) == [target.name]


def test_a_worker_that_finds_the_release_built_meanwhile_keeps_that_build(
    env: Any, world: dict[str, Any], test_sessionmaker: Any, tmp_path: Path
) -> None:
    svc = service(env, tmp_path)
    release = draft(svc, world["campaign"], actor=world["operator"])
    statement: list[str] = []

    def rival() -> None:  # e.g. the worker that took over an expired lease
        svc.build(None, release)
        env.session.commit()
        statement.append(release.statement_sha256)

    runner, queue, _ = job_world(env.clock, test_sessionmaker, env.blobs, tmp_path, Paused(during=rival))
    job_id = queue_build(queue, env.session, release, world["operator"])
    env.session.commit()
    assert runner.run(job_id).outcome is Outcome.DONE
    env.session.expire_all()
    assert release.statement_sha256 == statement[0] and release.built_by is None  # the rival's, untouched
    assert package_statement_sha256(release.package_path) == statement[0]
    assert packages(tmp_path) == [Path(release.package_path).name]
    assert env.session.scalar(select(func.count()).select_from(ReleaseItem)) == release.items


def test_a_verification_is_not_recorded_against_a_package_that_changed_meanwhile(
    env: Any, world: dict[str, Any], tmp_path: Path
) -> None:
    svc = service(env, tmp_path)
    release = draft(svc, world["campaign"], actor=world["operator"])
    svc.build(None, release)
    env.session.commit()
    check = svc.prepare_verification(release)
    report = svc.check_package(check)
    release.package_path = None  # erased while the check ran
    env.session.commit()
    with pytest.raises(ReleaseStateError, match="changed while it was being verified"):
        svc.record_verification(None, check, report)
    assert release.verified_at is not None and release.verify_report["package"] == check.package.as_posix()


def test_recording_a_build_and_an_erasure_take_the_campaign_lock_in_turn(shared_engine: Engine) -> None:
    """An erasure committing while a build is recorded must be seen by one of them: on PostgreSQL both take the
    campaign row's lock first (`lock_releases_of`), so the second waits for the first to commit."""
    from collection.releases.withdrawals import lock_releases_of

    clock = FixedClock(dt.datetime(2026, 11, 21, 9, 0, tzinfo=dt.UTC))
    sessions = make_sessionmaker(shared_engine)  # as the app makes them (SQLite: immediate transactions)
    with sessions() as setup:
        _env, campaign, _operator = seeded(setup, sessions, clock)
        campaign_id = campaign.id
    holder, waiter = sessions(), sessions()
    lock_releases_of(holder, campaign_id)  # the build's record step holds it
    got = threading.Event()

    def erasure() -> None:
        lock_releases_of(waiter, campaign_id)
        got.set()
        waiter.commit()

    thread = threading.Thread(target=erasure)
    thread.start()
    assert not got.wait(1.0), "the second taker did not wait for the lock"
    holder.commit()
    assert got.wait(WAIT), "the second taker never got the lock"
    thread.join(WAIT)
    holder.close()
    waiter.close()
