"""A photo's state follows the set's latest identity verdict: a verdict is relative to the rest of the set, so a
photo held for review by an earlier one must not stay held (with no reason left to show) once the set clears it."""

from __future__ import annotations

import pytest

from collection.contributions.gates import state_with_identity
from collection.contributions.models import Photo, PhotoState


def photo(own: str, state: PhotoState, note: str | None = None) -> Photo:
    return Photo(gates={"verdict": own, "gates": []}, state=state, contributor_note=note)


@pytest.mark.parametrize(
    ("own", "state", "identity", "expected"),
    [
        ("pass", PhotoState.PASSED, "flag", PhotoState.FAILED),
        ("pass", PhotoState.PASSED, "review", PhotoState.NEEDS_REVIEW),
        ("pass", PhotoState.NEEDS_REVIEW, "pass", PhotoState.PASSED),  # held by an earlier verdict, now cleared
        ("pass", PhotoState.FAILED, "pass", PhotoState.PASSED),  # flagged earlier, the set now agrees
        ("fail", PhotoState.FAILED, "pass", PhotoState.FAILED),  # its own gates failed it
        ("review", PhotoState.NEEDS_REVIEW, "pass", PhotoState.NEEDS_REVIEW),  # its own gates could not decide
        ("pass", PhotoState.ACCEPTED, "flag", PhotoState.ACCEPTED),  # a person decided
        ("pass", PhotoState.REJECTED, "pass", PhotoState.REJECTED),
    ],
)
def test_state_follows_own_gates_and_latest_identity(own: str, state: PhotoState, identity: str,
                                                     expected: PhotoState) -> None:
    assert state_with_identity(photo(own, state), identity) is expected


def test_a_review_the_contributor_asked_for_is_kept() -> None:
    asked = photo("fail", PhotoState.NEEDS_REVIEW, note="that is me with a beard")
    assert state_with_identity(asked, "pass") is PhotoState.NEEDS_REVIEW


def test_a_face_that_may_be_covered_is_left_out_of_the_comparison(db_session, test_sessionmaker, clock,  # noqa: ANN001
                                                                   make_user, make_campaign, monkeypatch) -> None:  # noqa: ANN001
    """Until a person clears it, a photo whose occlusion check could not decide is no reference for the others (a
    covered face moves the distances of every photo compared with it), but it is compared with the uncovered ones;
    once accepted, it is a reference too. With fewer than two photos to compare, no earlier verdict stands."""
    import numpy as np

    from collection.contributions.gates import GateJobs, cover_unsure
    from tests.collection.flow_support import build_env, consent_and_enroll, publish_notice

    env = build_env(db_session, test_sessionmaker, clock)
    campaign = make_campaign()
    photo_set = consent_and_enroll(env, make_user("contributor"), campaign, publish_notice(env, campaign))
    unsure = {"verdict": "review", "gates": [{"name": "occlusion", "passed": False, "verdict": "review",
                                              "reason": "possibly_covered"}]}
    clean = {"verdict": "pass", "gates": [{"name": "occlusion", "passed": True, "verdict": "pass"}]}
    rows = []
    for i, (gates, state) in enumerate([(clean, PhotoState.PASSED), (clean, PhotoState.PASSED),
                                        (unsure, PhotoState.NEEDS_REVIEW)]):
        row = Photo(set_id=photo_set.id, campaign_id=campaign.id, user_id=photo_set.user_id, bracket="20-29",
                    state=state, blob_key=f"k{i}", content_mac=f"m{i}", gates=gates, age_years=25,
                    identity={"verdict": "flag"})
        db_session.add(row)
        rows.append(row)
    db_session.flush()
    same = np.zeros(128)
    monkeypatch.setattr(GateJobs, "_encoding", lambda self, s, p: same + (0.05 if p is rows[1] else 0.0))
    monkeypatch.setattr(GateJobs, "_require_consent", lambda self, *a: None)
    jobs = GateJobs(db_session, env_context(env))
    assert [cover_unsure(r) for r in rows] == [False, False, True]
    jobs.identity({"set_id": photo_set.id})
    assert photo_set.identity["photo_ids"] == [rows[0].id, rows[1].id]  # the matrix of references
    assert rows[0].identity["verdict"] == "pass"
    assert rows[2].identity["verdict"] == "pass" and rows[2].state is PhotoState.NEEDS_REVIEW  # compared, held
    rows[2].state = PhotoState.ACCEPTED  # a person looked: nothing covers the face
    jobs.identity({"set_id": photo_set.id})
    assert rows[2].id in photo_set.identity["photo_ids"] and rows[2].identity["verdict"] == "pass"

    # two photos replaced by faces that may be covered: the one left has nothing to be compared with, so the
    # earlier verdict on it (a flag that failed it) does not stand
    rows[0].identity, rows[0].state = {"verdict": "flag"}, PhotoState.FAILED
    for r in rows[1:]:
        r.state, r.gates = PhotoState.NEEDS_REVIEW, unsure
    jobs.identity({"set_id": photo_set.id})
    assert rows[0].identity == {} and rows[0].state is PhotoState.PASSED and photo_set.identity == {}
    assert rows[1].identity["verdict"] == "pass"  # still compared with the one uncovered photo


def env_context(env):  # noqa: ANN001, ANN201
    from collection.contributions.gates import GateContext
    from tests.collection.flow_support import MASTER

    return GateContext(master_key=MASTER, blobs=env.blobs, queue=lambda: env.queue, clock=lambda: env.clock)


class _Recorder:
    """A job queue that only records what was enqueued."""

    def __init__(self) -> None:
        self.jobs: list[tuple[str, dict, str | None]] = []

    def enqueue(self, session, kind, payload, dedupe_key=None):  # noqa: ANN001, ANN201
        self.jobs.append((kind, dict(payload), dedupe_key))
        return "job"


@pytest.mark.parametrize(("covered", "second_review"), [(True, True), (False, True), (True, False)])
def test_accepting_a_face_that_may_be_covered_reruns_the_identity_check(  # noqa: PLR0913
        db_session, test_sessionmaker, clock, make_user, make_campaign, covered, second_review) -> None:  # noqa: ANN001
    """Once a person accepts a photo the occlusion gate could not decide, it becomes a reference for the others,
    so the set's identity check runs again for the second reviewer; accepting only photos the gates decided queues
    nothing, and a set accepted for good keeps the evidence its reviewer decided on."""
    from collection.contributions.models import SetState
    from collection.contributions.uploads import SET_IDENTITY_JOB
    from collection.review.service import PhotoVerdict, ReviewService
    from tests.collection.flow_support import build_env, consent_and_enroll, publish_notice

    env = build_env(db_session, test_sessionmaker, clock)
    campaign = make_campaign()
    campaign.second_review = second_review
    photo_set = consent_and_enroll(env, make_user("contributor"), campaign, publish_notice(env, campaign))
    occlusion = {"name": "occlusion", "passed": not covered, "verdict": "review" if covered else "pass"}
    rows = []
    for i in range(2):
        gates = {"verdict": "pass", "gates": [occlusion if i else {"name": "occlusion", "passed": True}]}
        row = Photo(set_id=photo_set.id, campaign_id=campaign.id, user_id=photo_set.user_id, bracket="20-29",
                    state=PhotoState.NEEDS_REVIEW if covered and i else PhotoState.PASSED, blob_key=f"k{i}",
                    content_mac=f"m{i}", gates=gates, age_years=25)
        db_session.add(row)
        rows.append(row)
    photo_set.state = SetState.SUBMITTED
    db_session.flush()
    queue = _Recorder()
    review = ReviewService(db_session, clock, env.consent, env.review.audit, queue)  # type: ignore[arg-type]
    operator = make_user("operator")
    assert review.queue() == [photo_set]  # the job queue does not hide the review queue (it once did)
    review.claim(operator, photo_set)
    review.decide(operator, photo_set, [PhotoVerdict(r.id, True) for r in rows], campaign)
    rerun = covered and second_review
    expected = [(SET_IDENTITY_JOB, {"set_id": photo_set.id}, f"identity:{photo_set.id}")] if rerun else []
    assert queue.jobs == expected
