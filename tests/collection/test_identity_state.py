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
