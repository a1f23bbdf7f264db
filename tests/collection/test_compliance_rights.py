"""Rights requests: the 10-day timer, and each kind carried out through the existing paths (erasure for
deletion, a suspension row for suspension, the self-service export for access), with an audit event per step."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from collection.audit.models import AuditEvent
from collection.compliance import RightsKind, RightsRequestError, RightsState, is_suspended, overdue_requests
from collection.compliance.rights import timer
from collection.contributions.models import EnrollmentState
from collection.erasure.models import ErasureRecord
from tests.collection.compliance_support import World, build_world, campaign_with_notice, contributor


@pytest.fixture()
def world(db_session: Any, test_sessionmaker: Any, clock: Any, tmp_path: Path) -> World:
    return build_world(db_session, test_sessionmaker, clock, tmp_path / "checkpoints")


@pytest.fixture()
def setup(world: World, make_user: Any, make_campaign: Any) -> tuple[Any, Any, Any]:
    campaign, version = campaign_with_notice(world, make_campaign)
    return contributor(world, make_user, campaign, version, photos=1), campaign, make_user("compliance")


def _actions(world: World, object_id: str) -> list[str]:
    """The audit actions recorded on an object, sorted (events of the same instant have no order until sequenced)."""
    return sorted(world.session.scalars(select(AuditEvent.action).where(AuditEvent.object_id == object_id)))


def test_a_request_gets_a_ten_day_deadline_and_is_flagged_when_late(world: World, setup: Any) -> None:
    user, campaign, _ = setup
    request = world.rights.submit(user, RightsKind.CORRECTION, campaign.id, "  my birth year is 1994  ")
    assert request.due_at - request.received_at == dt.timedelta(days=10)
    assert request.details == "my birth year is 1994" and request.subject_id == user.subject_id
    assert timer(request, world.clock.now()).days_left == 10
    world.clock.advance(days=11)
    assert timer(request, world.clock.now()).overdue and timer(request, world.clock.now()).days_left == -1
    assert overdue_requests(world.session, world.clock.now()) == [request]
    assert _actions(world, request.id) == ["rights.requested"]


def test_the_same_open_request_twice_and_foreign_campaigns_are_refused(
    world: World, setup: Any, make_campaign: Any
) -> None:
    user, campaign, _ = setup
    world.rights.submit(user, RightsKind.ACCESS, campaign.id)
    with pytest.raises(RightsRequestError) as exc:
        world.rights.submit(user, RightsKind.ACCESS, campaign.id)
    assert exc.value.code == "already_open"
    world.rights.submit(user, RightsKind.ACCESS, None)  # account-wide is another scope
    with pytest.raises(RightsRequestError) as exc:
        world.rights.submit(user, RightsKind.DELETION, make_campaign().id)
    assert exc.value.code == "not_enrolled"


def test_deletion_of_one_campaign_goes_through_erasure(world: World, setup: Any) -> None:
    user, campaign, officer = setup
    request = world.rights.submit(user, RightsKind.DELETION, campaign.id, "please delete my photos")
    world.rights.start(officer, request)
    outcome = world.rights.complete(officer, request, "Deleted: the key that encrypted your photos is destroyed.")
    world.session.commit()
    enrollment = world.env.contributions.enrollment(user, campaign)
    record = world.session.get(ErasureRecord, outcome["erasure_ids"][0])
    assert enrollment.state is EnrollmentState.ERASED and world.env.vault.is_destroyed(enrollment.id)
    assert record is not None and record.reason == "admin_request" and record.subject_id == user.subject_id
    assert request.state is RightsState.COMPLETED and request.details == ""  # their own words go too
    assert request.closed_by == officer.id and not request.overdue(world.clock.now())
    assert _actions(world, request.id) == ["rights.completed", "rights.requested", "rights.started"]
    assert list(world.env.blobs.iter_keys(f"e/{enrollment.id}/")) == []


def test_account_wide_deletion_erases_every_enrollment_and_the_identity(
    world: World, setup: Any, make_campaign: Any
) -> None:
    from tests.collection.flow_support import consent_and_enroll, publish_notice

    user, campaign, officer = setup
    other = make_campaign()
    consent_and_enroll(world.env, user, other, publish_notice(world.env, other))
    request = world.rights.submit(user, RightsKind.DELETION, None)
    with pytest.raises(RightsRequestError) as refused:  # the service itself asks for the officer's confirmation
        world.rights.complete(officer, request, "Your account and all your data are deleted.")
    assert refused.value.code == "unconfirmed" and user.erased_at is None
    outcome = world.rights.complete(officer, request, "Your account and all your data are deleted.", confirmed=True)
    world.session.commit()
    assert len(outcome["erasure_ids"]) == 2
    assert user.erased_at is not None and user.email is None


def test_suspension_marks_the_enrollment_until_lifted(world: World, setup: Any) -> None:
    user, campaign, officer = setup
    enrollment = world.env.contributions.enrollment(user, campaign)
    request = world.rights.submit(user, RightsKind.SUSPENSION, campaign.id)
    assert not is_suspended(world.session, enrollment.id)
    outcome = world.rights.complete(officer, request, "Processing is suspended until you tell us otherwise.")
    assert outcome == {"suspended_enrollments": [enrollment.id]}
    assert is_suspended(world.session, enrollment.id)
    assert world.rights.lift_suspension(officer, enrollment.id) == 1
    assert not is_suspended(world.session, enrollment.id)
    assert {"processing.suspended", "processing.resumed"} <= set(_actions(world, enrollment.id))


def test_access_points_to_the_export_and_refusal_needs_a_note(world: World, setup: Any) -> None:
    user, campaign, officer = setup
    access = world.rights.submit(user, RightsKind.ACCESS, campaign.id)
    assert world.rights.complete(officer, access, "Download it from My data.") == {"export": "self_service"}
    with pytest.raises(RightsRequestError) as exc:
        world.rights.complete(officer, access, "again")
    assert exc.value.code == "invalid_state"

    correction = world.rights.submit(user, RightsKind.CORRECTION, campaign.id, "wrong age")
    with pytest.raises(RightsRequestError):
        world.rights.refuse(officer, correction, "   ")
    world.rights.refuse(officer, correction, "The age was read from the photo's date; it is correct.")
    assert correction.state is RightsState.REFUSED
    assert _actions(world, correction.id) == ["rights.refused", "rights.requested"]
    assert [t.request for t in world.rights.timers()] == []
    assert len(world.rights.timers(include_closed=True)) == 2
