"""The consent registry (search, history, bulk verification), the erasure ledger's proof, the access-log report
and sign-off rules, erasure deadlines for deletion requests, and the records of processing."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from collection.audit.log import Actor, AuditLog
from collection.compliance import (
    AccessReviewError,
    RightsKind,
    erasure_obligations,
    erasure_proofs,
    month_bounds,
    records_of_processing,
)
from collection.contributions.models import Enrollment, EnrollmentState, SetState
from collection.contributions.withdrawal import withdraw_consent
from collection.erasure.models import ErasureRecord
from collection.erasure.service import LEDGER_PREFIX
from consent.clock import FixedClock
from tests.collection.compliance_support import World, build_world, campaign_with_notice, contributor, store_photo
from tests.collection.flow_support import consent_and_enroll
from webapp.demo_media import face_photo


@pytest.fixture()
def world(db_session: Any, test_sessionmaker: Any, clock: Any, tmp_path: Path) -> World:
    return build_world(db_session, test_sessionmaker, clock, tmp_path / "checkpoints")


def test_search_history_and_bulk_verification(world: World, make_user: Any, make_campaign: Any) -> None:
    campaign, version = campaign_with_notice(world, make_campaign)
    user, other = (contributor(world, make_user, campaign, version, photos=0) for _ in range(2))
    withdrawal = world.env.consent.withdraw(user.subject_id, campaign.id)
    world.session.commit()
    records = world.registry.search(user.subject_id)
    assert [r.event for r in records] == ["given", "withdrawn"]
    assert world.registry.search(withdrawal.id) == [withdrawal]
    assert world.registry.search("no-such-id") == [] and world.registry.search("  ") == []
    [history] = world.registry.history(user.subject_id)
    assert history.campaign_slug == campaign.slug and not history.holds_required
    assert all(c.valid for c in history.events)

    officer = Actor("officer-1", "compliance")
    assert world.registry.verify_all(officer).ok
    forged = world.env.consent.records(other.subject_id)[0]
    forged.receipt = forged.receipt.replace('"given"', '"withdrawn"', 1)  # an edited receipt
    withdrawal.subject_id = other.subject_id  # a row moved to another person
    world.session.flush()
    result = world.registry.verify_all(officer, campaign.id)
    assert (result.total, result.valid) == (3, 1)
    problems = {c.record.id: c.problem for c in result.failures}
    assert problems[withdrawal.id].startswith("row_mismatch") and forged.id in problems

    # the stored notice text edited after people signed it (a database edit): their receipts no longer match it
    from consent.models import NoticeVersion

    stored = world.session.get(NoticeVersion, version.id)
    content = dict(stored.content)
    content["title"] = {"ko": "바뀐 제목", "en": "Another title"}
    stored.content = content
    world.session.flush()
    [history] = world.registry.history(user.subject_id)
    assert all(not c.valid and (c.problem or "").startswith("notice_mismatch") for c in history.events)
    assert all(c.signed_sha256 == version.sha256("ko") for c in history.events)  # what was signed, shown as signed


def test_the_erasure_ledger_proves_each_erasure(world: World, make_user: Any, make_campaign: Any) -> None:
    campaign, version = campaign_with_notice(world, make_campaign)
    user = contributor(world, make_user, campaign, version, photos=2)
    enrollment = world.env.contributions.enrollment(user, campaign)
    record = world.env.erasure.erase_enrollment(enrollment, "withdrawal")
    [before] = erasure_proofs(world.session, world.env.blobs)
    assert before.blobs_remaining == 4 and not before.proven  # blobs go only once the erasure commits
    world.session.commit()
    [proof] = erasure_proofs(world.session, world.env.blobs)
    assert proof.proven and proof.key_destroyed_at == record.key_destroyed_at
    assert (proof.blobs_remaining, proof.rows_remaining, proof.record.rows_deleted) == (0, 0, 2)

    other = contributor(world, make_user, campaign, version, photos=1)  # a ledger row whose erasure never ran
    world.session.add(
        ErasureRecord(subject_id=other.subject_id, user_id=other.id, campaign_id=campaign.id, reason="withdrawal")
    )
    world.session.flush()
    unproven = next(p for p in erasure_proofs(world.session, world.env.blobs) if p.record.user_id == other.id)
    assert unproven.key_live and unproven.rows_remaining == 1 and not unproven.proven



def test_joining_again_after_an_erasure_starts_afresh_and_the_old_proof_holds(
    world: World, make_user: Any, make_campaign: Any
) -> None:
    campaign, version = campaign_with_notice(world, make_campaign)
    user = contributor(world, make_user, campaign, version, photos=2)
    old = world.env.contributions.enrollment(user, campaign)
    outcome = withdraw_consent(world.env.consent, user.subject_id, campaign.id, erasure=world.env.erasure)
    world.session.commit()
    assert outcome.erasure_due and old.state is EnrollmentState.ERASED

    world.clock.advance(days=2)  # changing one's mind takes a while
    fresh = consent_and_enroll(world.env, user, campaign, version)  # signs anew and joins
    assert fresh.enrollment_id != old.id and fresh.state is SetState.DRAFT and fresh.photos == []
    assert world.env.contributions.enrollment(user, campaign).id == fresh.enrollment_id
    assert world.env.contributions.photo_set(user, campaign).id == fresh.id
    assert [s.id for s in world.env.contributions.sets_of(user)] == [fresh.id]  # the erased set is history
    store_photo(world, fresh, campaign.brackets[0]["key"], face_photo(7, size=160))
    world.session.commit()

    [proof] = erasure_proofs(world.session, world.env.blobs)
    assert proof.enrollment_id == old.id and proof.proven  # the new photo is not counted against the old erasure
    assert proof.record.enrollment_id == old.id
    # a restore from backup re-applies the ledger: the erased enrollment again, never the new one
    assert world.env.erasure.reapply() == 0
    # ... also from a ledger row and copy written before 0010, which name no enrollment (matched by time)
    proof.record.enrollment_id = None
    world.session.flush()
    assert erasure_proofs(world.session, world.env.blobs)[0].enrollment_id == old.id
    for key in list(world.env.blobs.iter_keys(LEDGER_PREFIX)):
        entry = json.loads(world.env.blobs.get(key))
        world.env.blobs.put(key, json.dumps({k: v for k, v in entry.items() if k != "enrollment_id"}).encode())
    assert world.env.erasure.reapply() == 0
    world.session.refresh(fresh)
    assert not world.env.vault.is_destroyed(fresh.enrollment_id) and len(fresh.photos) == 1

    world.session.add(Enrollment(campaign_id=campaign.id, user_id=user.id, joined_at=world.clock.now()))
    with pytest.raises(IntegrityError):  # one live enrollment per person and campaign, whatever the caller does
        world.session.flush()
    world.session.rollback()


def test_the_access_report_and_its_sign_off(world: World, make_user: Any) -> None:
    operator, officer = make_user("operator"), make_user("compliance")
    log = AuditLog(world.session, FixedClock(dt.datetime(2026, 10, 3, tzinfo=dt.UTC)))
    for i in range(3):
        log.record(Actor(operator.id, "operator"), "photo.viewed", "photo", f"p{i % 2}", size="full")
    log.record(Actor(officer.id, "compliance"), "release.downloaded", "release", "r1")
    log.record(Actor("subject-1", "contributor"), "photo.viewed", "photo", "p9")  # their own photo: not staff
    log.record(Actor(operator.id, "operator"), "review.claimed", "photo_set", "s1")  # not a view
    world.session.flush()
    report = world.reviews.report("2026-10")
    assert len(report.lines) == 4
    assert [(s.actor_id, s.views, s.objects) for s in report.staff] == [(operator.id, 3, 2), (officer.id, 1, 1)]
    assert world.reviews.report("2026-09").lines == ()

    with pytest.raises(AccessReviewError) as exc:
        world.reviews.sign_off(officer, "2026-11", world.reviews.report("2026-11").digest)
    assert exc.value.code == "not_over"
    with pytest.raises(AccessReviewError) as exc:
        world.reviews.sign_off(officer, "2026-10", "0" * 64)
    assert exc.value.code == "report_changed"
    review = world.reviews.sign_off(officer, "2026-10", report.digest, "reviewed")
    assert (review.views, review.digest, review.signed_off_by) == (4, report.digest, officer.id)
    with pytest.raises(AccessReviewError) as exc:
        world.reviews.sign_off(officer, "2026-10", report.digest)
    assert exc.value.code == "already_signed_off"
    assert month_bounds("2026-12") == (
        dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
        dt.datetime(2027, 1, 1, tzinfo=dt.UTC),
    )


def test_a_deletion_request_owes_an_erasure_within_five_days(world: World, make_user: Any, make_campaign: Any) -> None:
    campaign, version = campaign_with_notice(world, make_campaign)
    user = contributor(world, make_user, campaign, version, photos=0)
    request = world.rights.submit(user, RightsKind.DELETION, campaign.id)
    world.clock.advance(days=6)
    [owed] = erasure_obligations(world.session, world.clock.now())
    assert (owed.source, owed.ref, owed.overdue(world.clock.now())) == ("deletion_request", request.id, True)
    world.rights.complete(make_user("compliance"), request, "Deleted.")
    sources = {o.source: o for o in erasure_obligations(world.session, world.clock.now())}
    assert sources["deletion_request"].late and set(sources) == {"deletion_request"}


def test_records_of_processing_come_from_the_published_notices(
    world: World, make_user: Any, make_campaign: Any
) -> None:
    campaign, version = campaign_with_notice(world, make_campaign, retention_days=90)
    make_campaign(open_it=False)  # a draft campaign is not processing anything yet
    contributor(world, make_user, campaign, version, photos=0)
    records = records_of_processing(world.session, world.clock.now(), "en")
    [activity] = records.activities
    assert activity.slug == campaign.slug and activity.notice_version_id == f"{campaign.slug}@v1"
    assert activity.purpose == version.notice.purpose.en and activity.sensitive
    assert [r.name for r in activity.recipients] == ["Accredited research institutes"]
    assert "face_image" in activity.data_categories and activity.retention_days == 90
    assert activity.contributors_held == 1 and activity.retention_ends is None
    assert records.controllers[0].name == version.notice.controller.name.en
    ko = records_of_processing(world.session, world.clock.now(), "ko")
    assert ko.activities[0].recipients[0].name == "인증된 연구 기관"
    assert json.dumps(ko.security_measures, ensure_ascii=False).count("AES-256-GCM") == 1


def test_after_a_deletion_request_taking_part_anew_takes_a_new_signature(
    world: World, make_user: Any, make_campaign: Any
) -> None:
    from collection.errors import ConsentRequired

    campaign, version = campaign_with_notice(world, make_campaign)
    user = contributor(world, make_user, campaign, version, photos=1)
    old = world.env.contributions.enrollment(user, campaign)
    world.clock.advance(days=3)
    world.env.erasure.erase_enrollment(old, "admin_request")  # erased on request: the consent stays in force
    world.session.commit()
    world.clock.advance(days=1)
    with pytest.raises(ConsentRequired):
        world.env.contributions.enroll(user, campaign)  # the old signature does not carry a new part
    world.session.rollback()
    fresh = consent_and_enroll(world.env, user, campaign, version)
    assert fresh.enrollment_id != old.id


def test_a_rejoined_enrollment_still_owes_its_retention_erasure(
    world: World, make_user: Any, make_campaign: Any
) -> None:
    from collection.compliance.deadlines import overdue_erasures

    campaign, version = campaign_with_notice(world, make_campaign, retention_days=30)
    user = contributor(world, make_user, campaign, version, photos=1)
    withdraw_consent(world.env.consent, user.subject_id, campaign.id, erasure=world.env.erasure)
    world.session.commit()
    world.clock.advance(days=1)
    fresh = consent_and_enroll(world.env, user, campaign, version)
    store_photo(world, fresh, campaign.brackets[0]["key"], face_photo(3, size=160))
    campaign.close(world.clock.now())
    world.session.commit()
    world.clock.advance(days=40)
    owed = [o for o in overdue_erasures(world.session, world.clock.now()) if o.source == "retention"]
    assert [o.ref for o in owed] == [fresh.enrollment_id]  # the erased one owed nothing; the new one does
    from collection.compliance.deadlines import erasure_obligations

    withdrawn = [o for o in erasure_obligations(world.session, world.clock.now()) if o.source == "withdrawal"]
    assert len(withdrawn) == 1 and withdrawn[0].ref != fresh.enrollment_id and withdrawn[0].completed_at is not None



def test_recordings_erased_alone_leave_the_photos_owing_their_retention_erasure(
    world: World, make_user: Any, make_campaign: Any
) -> None:
    from collection.compliance.deadlines import overdue_erasures
    from collection.erasure.service import VOICE_WITHDRAWAL

    campaign, version = campaign_with_notice(world, make_campaign, retention_days=30)
    user = contributor(world, make_user, campaign, version, photos=1)
    enrollment = world.env.contributions.enrollment(user, campaign)
    world.session.add(ErasureRecord(subject_id=user.subject_id, user_id=user.id, campaign_id=campaign.id,
                                    enrollment_id=enrollment.id, reason=VOICE_WITHDRAWAL,
                                    requested_at=world.clock.now(), completed_at=world.clock.now()))
    campaign.close(world.clock.now())
    world.session.commit()
    world.clock.advance(days=40)
    owed = [o.ref for o in overdue_erasures(world.session, world.clock.now()) if o.source == "retention"]
    assert owed == [enrollment.id]  # only the recordings went; the photos are still held past retention
