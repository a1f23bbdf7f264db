"""The conformance checklist: every line is made to FAIL on purpose and then to PASS, on a real database with
sealed photos in a blob store."""

from __future__ import annotations

import datetime as dt
import io
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select, text

from collection.audit.checkpoints import CheckpointWriter
from collection.audit.log import Actor, AuditLog
from collection.audit.models import AuditEvent
from collection.compliance import Status
from collection.compliance.conformance import looks_plain
from collection.contributions.models import Photo
from collection.contributions.uploads import blob_key, keyholder
from collection.crypto import ContributorKey
from consent.clock import FixedClock
from consent.models import NoticeState, NoticeVersion
from consent.notice import notice_to_dict
from tests.collection.compliance_support import World, build_world, campaign_with_notice, contributor
from tests.collection.flow_support import MASTER
from tests.consent._consent_support import make_notice
from tests.consent._consent_support import text as ltext
from webapp.demo_media import face_photo


@pytest.fixture()
def world(db_session: Any, test_sessionmaker: Any, clock: Any, tmp_path: Path) -> World:
    return build_world(db_session, test_sessionmaker, clock, tmp_path / "checkpoints")


def check(world: World, key: str, **kw: Any) -> Any:
    return world.checker(**kw).checks[key]()


def _photo(world: World) -> Photo:
    photo = world.session.scalar(select(Photo))
    assert photo is not None
    return photo


# -- 1. consent for stored data -----------------------------------------------------------------------------------
def test_stored_photos_need_both_required_consents(world: World, make_user: Any, make_campaign: Any) -> None:
    campaign, version = campaign_with_notice(world, make_campaign)
    user = contributor(world, make_user, campaign, version, photos=1)
    assert check(world, "consent_for_stored_data").status is Status.PASS

    world.env.consent.withdraw(user.subject_id, campaign.id, ["sensitive"])  # withdrawn, data not yet erased
    world.session.commit()
    result = check(world, "consent_for_stored_data")
    assert result.status is Status.FAIL
    assert _photo(world).id in result.problems[0] and "sensitive_information" in result.problems[0]

    world.env.erasure.erase_enrollment(world.env.contributions.enrollment(user, campaign), "withdrawal")
    world.session.commit()
    assert check(world, "consent_for_stored_data").status is Status.PASS


# -- 2. retention ---------------------------------------------------------------------------------------------------
def test_nothing_is_kept_past_retention(world: World, make_user: Any, make_campaign: Any) -> None:
    campaign, version = campaign_with_notice(world, make_campaign, retention_days=30)
    user = contributor(world, make_user, campaign, version, photos=1)
    campaign.close(world.clock.now())
    world.session.commit()
    assert check(world, "retention").status is Status.PASS  # closed, retention still running

    world.clock.advance(days=31)
    enrollment = world.env.contributions.enrollment(user, campaign)
    result = check(world, "retention")
    assert result.status is Status.FAIL and enrollment.id in result.problems[0]

    run = world.retention.run(trigger="command")
    world.session.commit()
    assert check(world, "retention").status is Status.PASS
    assert [r.reason for r in run.erased] == ["retention"] and run.run.erased == 1
    assert world.retention.destroyed() == list(run.erased)
    assert world.env.vault.is_destroyed(enrollment.id)
    assert list(world.env.blobs.iter_keys(f"e/{enrollment.id}/")) == []
    assert world.session.scalar(select(AuditEvent).where(AuditEvent.action == "retention.run")) is not None


def test_the_retention_job_erases_through_the_job_runner(
    world: World, make_user: Any, make_campaign: Any, test_sessionmaker: Any
) -> None:
    from collection.audit.log import AuditLog
    from collection.compliance import RetentionService, enqueue_daily, register_retention_job
    from collection.crypto import KeyVault, MasterKey
    from collection.erasure.service import ErasureService
    from collection.job_queues import SynchronousQueue
    from collection.job_runner import JobRunner
    from collection.jobs import HandlerRegistry
    from consent.service import ConsentService, KeyStore

    clock, blobs = world.clock, world.env.blobs

    def service(session: Any) -> RetentionService:
        consent = ConsentService(session, clock, KeyStore(session, MASTER, clock), "")
        vault = KeyVault(session, MasterKey(MASTER), clock)
        erasure = ErasureService(session, clock, vault, blobs, consent, AuditLog(session, clock))
        return RetentionService(session, clock, erasure, AuditLog(session, clock))

    registry = HandlerRegistry()
    register_retention_job(registry, service)
    queue = SynchronousQueue(JobRunner(test_sessionmaker, registry, clock=clock), registry, clock=clock)
    campaign, version = campaign_with_notice(world, make_campaign, retention_days=1)
    user = contributor(world, make_user, campaign, version, photos=1)
    campaign.close(clock.now())
    world.session.commit()
    clock.advance(days=2)
    enqueue_daily(queue, world.session, clock.now())
    world.session.commit()  # the job runs after the commit, in its own session
    world.session.expire_all()
    assert world.env.contributions.enrollment(user, campaign).state.value == "erased"
    assert check(world, "retention").status is Status.PASS


# -- 3. encryption ------------------------------------------------------------------------------------------------
def test_every_biometric_blob_is_sealed_under_a_live_key(world: World, make_user: Any, make_campaign: Any) -> None:
    campaign, version = campaign_with_notice(world, make_campaign)
    contributor(world, make_user, campaign, version, photos=1)
    photo = _photo(world)
    assert check(world, "encryption").status is Status.PASS

    world.env.blobs.put(photo.blob_key, face_photo(0))  # stored in clear
    result = check(world, "encryption")
    assert result.status is Status.FAIL and "opens as image" in result.problems[0]
    world.put_sealed(photo.photo_set, photo.blob_key, photo.version, face_photo(0))
    assert check(world, "encryption").status is Status.PASS

    photo.encoding_key = blob_key(keyholder(photo.photo_set), "encoding", photo.id, photo.version)
    buf = io.BytesIO()
    np.save(buf, np.zeros(128))
    world.env.blobs.put(photo.encoding_key, buf.getvalue())  # a face encoding in clear
    result = check(world, "encryption")
    assert result.status is Status.FAIL and "face encoding" in result.problems[0] and "array" in result.problems[0]
    world.put_sealed(photo.photo_set, photo.encoding_key, photo.version, buf.getvalue())
    assert check(world, "encryption").status is Status.PASS

    world.session.delete(world.session.get(ContributorKey, keyholder(photo.photo_set)))
    world.session.flush()
    result = check(world, "encryption")
    assert result.status is Status.FAIL and "no key row" in result.problems[0]


def _wav() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(np.zeros(1600, dtype=np.int16).tobytes())
    return out.getvalue()


def test_plain_media_is_recognised_and_sealed_bytes_are_not(world: World) -> None:
    buf = io.BytesIO()
    np.save(buf, np.ones((2, 2)))
    assert looks_plain(face_photo(1)) == "image"
    assert looks_plain(buf.getvalue()) == "array"
    assert looks_plain(_wav()) == "audio"
    sealed = world.env.vault.seal("enrollment-x", "e/enrollment-x/photo/p.v1", 1, face_photo(1))
    assert looks_plain(sealed) is None


# -- 4. audit log -----------------------------------------------------------------------------------------------
def _untriggered(session: Any, sql: str) -> None:
    """Tamper as a database superuser would: bypass the append-only trigger."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"))
        session.execute(text(sql))
        session.execute(text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only"))
    else:
        session.execute(text("DROP TRIGGER IF EXISTS audit_events_no_update"))
        session.execute(text(sql))
    session.expire_all()


def test_the_audit_log_must_match_its_signed_checkpoint(world: World, make_user: Any, make_campaign: Any) -> None:
    campaign, version = campaign_with_notice(world, make_campaign)
    contributor(world, make_user, campaign, version, photos=1)
    result = check(world, "audit_log")
    assert result.status is Status.FAIL and "no signed checkpoint" in result.problems[0]

    from consent.service import KeyStore

    CheckpointWriter(
        world.session, world.clock, KeyStore(world.session, MASTER, world.clock), world.checkpoints
    ).write()
    result = check(world, "audit_log")
    assert result.status is Status.PASS, result.problems

    _untriggered(world.session, "UPDATE audit_events SET action = 'photo.removed' WHERE position = 1")
    result = check(world, "audit_log")
    assert result.status is Status.FAIL and any("edited" in p for p in result.problems)


# -- 5. releases --------------------------------------------------------------------------------------------------
def test_releases_line_is_not_applicable_without_the_release_workflow(world: World) -> None:
    result = check(world, "releases_verified", releases_module="collection.no_such_releases")
    assert result.status is Status.NOT_APPLICABLE


def test_every_approved_release_was_verified_first(world: World, make_campaign: Any) -> None:
    models = pytest.importorskip("collection.releases.models")
    assert check(world, "releases_verified").status is Status.NOT_APPLICABLE  # nothing built yet
    campaign = make_campaign()
    now = world.clock.now()
    release = models.Release(
        campaign_id=campaign.id,
        licensee="lab",
        purpose="research",
        created_at=now,
        built_at=now,
        state=models.ReleaseState.APPROVED,
        approved_at=now,
    )
    world.session.add(release)
    world.session.flush()
    result = check(world, "releases_verified")
    assert result.status is Status.FAIL and release.id in result.problems[0]

    release.verify_report, release.verified_at = {"ok": True, "failures": []}, now - dt.timedelta(hours=1)
    world.session.flush()
    assert check(world, "releases_verified").status is Status.PASS


# -- 6. rights requests -----------------------------------------------------------------------------------------
def test_no_rights_request_is_past_its_deadline(world: World, make_user: Any, make_campaign: Any) -> None:
    from collection.compliance import RightsKind

    campaign, version = campaign_with_notice(world, make_campaign)
    user = contributor(world, make_user, campaign, version, photos=0)
    request = world.rights.submit(user, RightsKind.ACCESS, campaign.id)
    world.session.commit()
    world.clock.advance(days=10, hours=1)
    result = check(world, "rights_requests")
    assert result.status is Status.FAIL and request.id in result.problems[0]

    world.rights.complete(make_user("compliance"), request, "Your data is on the My data page.")
    world.session.commit()
    result = check(world, "rights_requests")
    assert result.status is Status.PASS and "1 were answered after" in result.evidence[1]


# -- 7. notices ---------------------------------------------------------------------------------------------------
def test_every_published_notice_is_complete(world: World, make_campaign: Any) -> None:
    campaign, _ = campaign_with_notice(world, make_campaign)
    assert check(world, "notices_complete").status is Status.PASS

    incomplete = make_notice(campaign=campaign.slug, version=2, purpose=ltext("", ""))
    world.session.add(  # a version that skipped the publishing check (e.g. written by hand or by an old bug)
        NoticeVersion(
            campaign_id=campaign.id, number=2, state=NoticeState.PUBLISHED, content=notice_to_dict(incomplete)
        )
    )
    world.session.flush()
    result = check(world, "notices_complete")
    assert result.status is Status.FAIL and "purpose" in result.problems[0]


# -- 8. erasure within 5 days -------------------------------------------------------------------------------------
def test_erasure_is_completed_within_five_days(world: World, make_user: Any, make_campaign: Any) -> None:
    campaign, version = campaign_with_notice(world, make_campaign)
    late, prompt = (contributor(world, make_user, campaign, version, photos=0) for _ in range(2))
    for user in (late, prompt):
        world.env.consent.withdraw(user.subject_id, campaign.id)
    world.session.commit()
    world.clock.advance(days=1)
    world.env.erasure.erase_enrollment(world.env.contributions.enrollment(prompt, campaign), "withdrawal")
    world.session.commit()
    assert check(world, "erasure_timely").status is Status.PASS  # one done in a day, one still within 5 days

    world.clock.advance(days=5)
    late_enrollment = world.env.contributions.enrollment(late, campaign)
    result = check(world, "erasure_timely")
    assert result.status is Status.FAIL and f"withdrawal {late_enrollment.id}" in result.problems[0]
    world.env.erasure.erase_enrollment(late_enrollment, "withdrawal")
    world.session.commit()
    result = check(world, "erasure_timely")
    assert result.status is Status.FAIL and "erased only" in result.problems[0]  # done, but late

    world.clock.advance(days=370)  # the late erasure is outside the twelve months the report covers
    assert check(world, "erasure_timely").status is Status.PASS


# -- 9. monthly access review -------------------------------------------------------------------------------------
def test_staff_views_are_reviewed_monthly(world: World, make_user: Any) -> None:
    operator, officer = make_user("operator"), make_user("compliance")
    october = AuditLog(world.session, FixedClock(dt.datetime(2026, 10, 15, 12, tzinfo=dt.UTC)))
    october.record(Actor(operator.id, "operator"), "photo.viewed", "photo", "p1", size="full")
    world.session.flush()
    result = check(world, "access_reviewed")
    assert result.status is Status.FAIL and result.problems == (
        "2026-10: staff views of biometric objects not signed off",
    )

    report = world.reviews.report("2026-10")
    world.reviews.sign_off(officer, "2026-10", report.digest, "one view, during review")
    assert check(world, "access_reviewed").status is Status.PASS


def test_the_whole_report_lists_every_line(world: World) -> None:
    report = world.checker().run()
    assert [r.key for r in report.results] == list(world.checker().checks)
    assert not report.ok  # no checkpoint yet
    assert report.count(Status.FAIL) == 1 and report.results[3].key == "audit_log"
