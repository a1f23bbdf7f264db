"""Identity consistency (`check_set`) on synthetic 128-d encodings with controlled distances (deterministic).

Genuine photos scatter around a person's base vector (pairwise distance ~0.38-0.46, as dlib gives the same
person a few years apart); a stranger sits further away. The fitted FG-NET model and thresholds are used.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from quality_gates import (
    GateResult,
    IdentityRules,
    IdentityVerdict,
    RulesError,
    SetPhoto,
    Verdict,
    check_set,
    pair_same_person,
    parse_bracket,
)
from quality_gates._identity import DEFAULT_IDENTITY_MODEL, photo_evidence

ADULT_AGES = [20, 24, 28, 31, 35, 40]
CHILD_AGES = [1, 2, 3, 4, 5, 6, 8, 10]


def decade(age: float) -> tuple[int, int]:
    low = int(age // 10) * 10
    return (low, low + 9)


def person(ages: list[int], seed: int, spread: float = 0.025) -> tuple[np.ndarray, list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    base = rng.normal(scale=0.045, size=128)
    return base, [base + rng.normal(scale=spread, size=128) for _ in ages]


def look_alike(base: np.ndarray, offset: float, seed: int, spread: float = 0.025) -> np.ndarray:
    """Another face `offset` away from `base` along a random direction (plus the usual photo scatter)."""
    rng = np.random.default_rng(seed)
    direction = rng.normal(size=128)
    return base + offset * direction / np.linalg.norm(direction) + rng.normal(scale=spread, size=128)


def photos(ages: list[int], encodings: list[np.ndarray | None], with_ages: bool = True) -> list[SetPhoto]:
    return [SetPhoto(e, decade(a), float(a) if with_ages else None) for a, e in zip(ages, encodings, strict=True)]


def verdicts(ages: list[int], encodings: list[np.ndarray | None], with_ages: bool = True) -> list[str]:
    return [p.verdict.value for p in check_set(photos(ages, encodings, with_ages)).photos]


def test_genuine_adult_set_is_consistent() -> None:
    _, encodings = person(ADULT_AGES, seed=1)
    report = check_set(photos(ADULT_AGES, encodings))
    assert report.consistent
    assert report.exact_ages
    assert all(p.verdict is IdentityVerdict.PASS and p.reason is None for p in report.photos)
    assert all(p.score is not None and p.score > 0.9 for p in report.photos)


@pytest.mark.parametrize("with_ages", [True, False])
def test_stranger_in_an_adult_set_is_flagged_and_only_that_photo(with_ages: bool) -> None:
    _, encodings = person(ADULT_AGES, seed=1)
    _, (stranger,) = person([28], seed=99)
    encodings[2] = stranger
    report = check_set(photos(ADULT_AGES, encodings, with_ages))
    assert not report.consistent
    assert report.exact_ages is with_ages
    assert [p.verdict.value for p in report.photos] == ["pass", "pass", "flag", "pass", "pass", "pass"]
    assert report.photos[2].reason == "different_person"
    assert report.photos[2].score is not None and report.photos[2].score < 0.1


def test_genuine_child_set_passes_although_distances_are_larger() -> None:
    _, encodings = person(CHILD_AGES, seed=2, spread=0.028)
    report = check_set(photos(CHILD_AGES, encodings))
    distances = report.distances[np.triu_indices(len(CHILD_AGES), 1)]
    assert distances.mean() > 0.44
    assert report.consistent


@pytest.mark.parametrize("offset", [0.45, 0.6])
def test_look_alike_child_among_childhood_photos_is_caught(offset: float) -> None:
    base, encodings = person(CHILD_AGES, seed=2, spread=0.028)
    encodings[3] = look_alike(base, offset, seed=5, spread=0.028)
    result = verdicts(CHILD_AGES, encodings)
    assert result[3] in ("flag", "review")
    assert result.count("pass") == len(CHILD_AGES) - 1


def test_same_distance_is_judged_differently_at_different_ages() -> None:
    # 0.62 between a 2- and a 3-year-old photo: like two different toddlers. The same 0.62 between the photo
    # at 2 and one at 27: ordinary for one person growing up. Between adults a year apart it is suspicious.
    distances = np.array([[0.0, 0.62], [0.62, 0.0]])
    toddlers = photo_evidence(distances, np.array([2.0, 3.0]), True)[0]
    growing_up = photo_evidence(distances, np.array([2.0, 27.0]), True)[0]
    adults = photo_evidence(distances, np.array([30.0, 31.0]), True)[0]
    assert toddlers < 0 < growing_up
    assert adults < 0


def test_photo_without_face_goes_to_review_and_the_rest_is_still_judged() -> None:
    _, encodings = person(ADULT_AGES, seed=1)
    with_gap: list[np.ndarray | None] = list(encodings)
    with_gap[1] = None
    report = check_set(photos(ADULT_AGES, with_gap))
    assert report.photos[1].verdict is IdentityVerdict.REVIEW
    assert report.photos[1].reason == "no_face" and report.photos[1].score is None
    assert [p.verdict for i, p in enumerate(report.photos) if i != 1] == [IdentityVerdict.PASS] * 5
    assert not report.consistent
    assert np.isnan(report.distances[1]).all() and np.isnan(report.distances[:, 1]).all()


def test_single_usable_photo_has_nothing_to_contradict() -> None:
    _, (only,) = person([30], seed=3)
    report = check_set([SetPhoto(only, (30, 39), 30.0)])
    assert report.consistent
    assert report.photos[0].verdict is IdentityVerdict.PASS and report.photos[0].score is None
    assert check_set([]).consistent


@pytest.mark.parametrize("offset", [0.0, 0.6])
def test_childhood_photo_with_only_adult_references_goes_to_review(offset: float) -> None:
    # Decades apart, dlib distances cannot tell a person from a stranger: a human decides, however close.
    ages = [3, 30, 35, 40, 45]
    base, encodings = person(ages, seed=4)
    encodings[0] = look_alike(base, offset, seed=6)
    report = check_set(photos(ages, encodings))
    assert report.photos[0].verdict is IdentityVerdict.REVIEW
    assert report.photos[0].reason == "weak_evidence"
    assert report.photos[0].nearest_gap_years == 27.0
    assert [p.verdict for p in report.photos[1:]] == [IdentityVerdict.PASS] * 4


def test_adult_photos_a_decade_apart_are_still_verified() -> None:
    ages = [25, 35, 45, 55]
    base, encodings = person(ages, seed=4)
    assert check_set(photos(ages, encodings)).consistent
    _, (stranger,) = person([35], seed=98)
    encodings[1] = stranger
    report = check_set(photos(ages, encodings)).photos
    assert report[1].verdict is not IdentityVerdict.PASS
    # The others keep only two references decades apart, one of them a stranger: not flagged, but a human
    # confirms them (weak evidence) rather than the gate guessing.
    assert all(p.verdict is not IdentityVerdict.FLAG for i, p in enumerate(report) if i != 1)
    assert report[1].score is not None and report[1].score == min(p.score or 1.0 for p in report)


def test_mixed_known_and_unknown_ages_use_the_bracket_model() -> None:
    _, encodings = person(ADULT_AGES, seed=1)
    entries = photos(ADULT_AGES, list(encodings))
    entries[0] = SetPhoto(encodings[0], (20, 29), None)
    assert not check_set(entries).exact_ages


def test_report_is_deterministic_json_without_encodings() -> None:
    _, encodings = person(ADULT_AGES, seed=1)
    first = check_set(photos(ADULT_AGES, encodings)).to_dict()
    assert check_set(photos(ADULT_AGES, encodings)).to_dict() == first
    text = json.dumps(first)
    assert set(first) == {"consistent", "age_mode", "photos", "distance_matrix"}
    assert set(first["photos"][0]) == {"verdict", "score", "reason", "message_key", "evidence",
                                       "nearest_gap_years"}
    matrix = np.array(first["distance_matrix"], dtype=float)
    assert np.allclose(matrix, matrix.T) and np.allclose(np.diag(matrix), 0.0)
    assert str(round(float(encodings[0][0]), 4)) not in text


def test_verdict_as_gate_result() -> None:
    _, encodings = person(ADULT_AGES, seed=1)
    _, (stranger,) = person([28], seed=99)
    encodings[2] = stranger
    gates = [p.to_gate() for p in check_set(photos(ADULT_AGES, encodings)).photos]
    assert all(isinstance(g, GateResult) and g.name == "identity" for g in gates)
    assert gates[2].verdict is Verdict.FAIL and gates[2].message_key == "gate.identity.different_person"
    assert gates[0].verdict is Verdict.PASS


def test_malformed_encoding_is_refused() -> None:
    with pytest.raises(ValueError):
        check_set([SetPhoto(np.zeros(64), (0, 9), 3.0), SetPhoto(np.zeros(128), (0, 9), 4.0)])
    with pytest.raises(ValueError):
        check_set([SetPhoto(np.full(128, math.nan), (0, 9), 3.0), SetPhoto(np.zeros(128), (0, 9), 4.0)])


def test_pair_decision() -> None:
    base, (a, b) = person([30, 31], seed=7)
    assert pair_same_person(a, b)
    _, (other,) = person([30], seed=8)
    assert not pair_same_person(a, other)


@pytest.mark.parametrize(("text", "bracket"), [("0-9", (0, 9)), (" 10 - 19 ", (10, 19)), ("20–29", (20, 29)),
                                               ("60+", (60, 69)), ("5 to 7", (5, 7))])
def test_parse_bracket(text: str, bracket: tuple[int, int]) -> None:
    assert parse_bracket(text) == bracket


@pytest.mark.parametrize("text", ["", "teen", "9-0", "-5", "1-2-3"])
def test_parse_bracket_refuses_nonsense(text: str) -> None:
    with pytest.raises(ValueError):
        parse_bracket(text)


def test_rules_from_json_and_validation() -> None:
    rules = IdentityRules.from_dict({"review_adult": 0.4, "flag_adult": 0.95})
    assert (rules.review_adult, rules.flag_adult) == (0.4, 0.95)
    for bad, key in (({"review_child": 0.99, "flag_child": 0.5}, "review_child"), ({"speed": 1}, "speed"),
                     ({"review_adult": "high"}, "review_adult"), ({"weak_pass_below": 2}, "weak_pass_below")):
        with pytest.raises(RulesError) as caught:
            IdentityRules.from_dict(bad)
        assert caught.value.key == key


def test_stricter_rules_send_more_to_review() -> None:
    base, encodings = person(CHILD_AGES, seed=2, spread=0.028)
    encodings[3] = look_alike(base, 0.3, seed=5, spread=0.028)
    lenient = check_set(photos(CHILD_AGES, encodings), IdentityRules(review_child=0.99, flag_child=1.0))
    strict = check_set(photos(CHILD_AGES, encodings), IdentityRules(review_child=0.0, flag_child=1.0))
    assert lenient.photos[3].verdict is IdentityVerdict.PASS
    assert all(p.verdict is IdentityVerdict.REVIEW for p in strict.photos)


def test_model_grows_genuine_distance_with_age_gap_faster_in_childhood() -> None:
    pair = DEFAULT_IDENTITY_MODEL.exact
    from quality_gates._identity import genuine_features

    def mean(a: float, b: float) -> float:
        return float(genuine_features(np.array(a), np.array(b)) @ np.array(pair.genuine_mean))

    assert mean(2, 12) > mean(30, 40) + 0.1
    assert mean(30, 31) < mean(30, 50)
