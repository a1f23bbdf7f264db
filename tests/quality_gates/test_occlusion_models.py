"""The shipped occlusion models: they load with the expected shape, the network's appearance is read only when
the measurements are unsure, and broken model files are refused with a clear error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from quality_gates._occlusion import (
    ENCODING_SIZE,
    MODEL_FILE,
    UNSURE_BAND,
    OcclusionFeatures,
    OcclusionScores,
    is_unsure,
    occlusion_models,
    score_occlusion,
)
from quality_gates._photo import occlusion_verdict
from quality_gates._resnet import FaceAppearance
from quality_gates._rules import DEFAULT_RULES, PhotoRules
from quality_gates.errors import ModelUnavailable


def test_shipped_models_have_both_pairs() -> None:
    models = occlusion_models()
    assert not models.measured[0].vector_weights and not models.measured[1].vector_weights
    eyes, mouth = models.with_appearance
    assert set(eyes.vector_weights) == {"eye_region"} and set(mouth.vector_weights) == {"mouth_region"}
    for weights in (eyes.vector_weights["eye_region"], mouth.vector_weights["mouth_region"]):
        assert weights.shape == (ENCODING_SIZE,) and np.isfinite(weights).all() and np.abs(weights).max() > 0.1
    assert models.measured[0].weights["lens_dark"] > 0 and models.measured[1].weights["lower_skin"] < 0
    about = json.loads(MODEL_FILE.read_text(encoding="utf-8"))
    assert about["vector_dims"] == 16 and sum(about["faces_per_set"].values()) > 1000


def features(**overrides: float) -> OcclusionFeatures:
    base = dict(lens_dark=0.02, lens_skin=0.6, eye_interior=0.8, eye_contrast=0.6, haar_eyes=2, lower_skin=0.85,
                lower_dist=5.0, lip_contrast=6.0, lower_uniform=0.1, lower_texture=1.0, grey=False,
                hog_missed=False)
    return OcclusionFeatures(**{**base, **overrides})  # type: ignore[arg-type]


def appearance(eye_region: np.ndarray | None = None) -> FaceAppearance:
    zeros = np.zeros(ENCODING_SIZE)
    return FaceAppearance(zeros + 0.05, zeros if eye_region is None else eye_region, zeros)


class Counting:
    def __init__(self, value: FaceAppearance | None) -> None:
        self.value, self.calls = value, 0

    def __call__(self) -> FaceAppearance | None:
        self.calls += 1
        return self.value


def unsure_features() -> OcclusionFeatures:
    """Lens darkness scanned until the measurements' eye score falls inside the unsure band."""
    eyes = occlusion_models().measured[0]
    for dark in np.linspace(0, 1, 401):
        candidate = features(lens_dark=float(dark), haar_eyes=1, lens_skin=0.3)
        if is_unsure(eyes.probability(candidate.as_dict())):
            return candidate
    raise AssertionError("no lens darkness gives an unsure eye score")


def test_a_sure_measurement_never_runs_the_network() -> None:
    scores = score_occlusion(features(), (source := Counting(appearance())))
    assert source.calls == 0 and not scores.appearance
    assert scores.eyes < UNSURE_BAND[0] and scores.mouth < UNSURE_BAND[0]


def test_an_unsure_measurement_reads_the_region_which_moves_the_score() -> None:
    unsure = unsure_features()
    weights = occlusion_models().with_appearance[0].vector_weights["eye_region"]
    toward = 0.5 * weights / np.linalg.norm(weights)
    low = score_occlusion(unsure, (source := Counting(appearance(-toward))))
    high = score_occlusion(unsure, appearance(toward))
    assert source.calls == 1 and low.appearance and high.appearance and high.eyes > low.eyes
    # No appearance to be had, or vectors that are not the network's: the measurements' own score stands.
    broken = FaceAppearance(np.zeros(3), np.zeros(ENCODING_SIZE), np.zeros(ENCODING_SIZE))
    for missing in (None, Counting(None), broken, appearance(np.full(ENCODING_SIZE, np.nan))):
        plain = score_occlusion(unsure, missing)
        assert not plain.appearance and is_unsure(plain.eyes)


def file_with(seen: dict[str, object]) -> str:
    measured = {"eyes": {"bias": 0, "weights": {}}, "mouth": {"bias": 0, "weights": {}}}
    return json.dumps({"measurements": measured, "with_appearance": seen})


@pytest.mark.parametrize("content", [
    "not json",
    json.dumps({"measurements": {"eyes": {"bias": 0, "weights": {}}}}),
    file_with({"eyes": {"bias": 0, "weights": {"nonsense": 1}, "vector_weights": {"eye_region": [0] * 128}},
               "mouth": {"bias": 0, "weights": {}, "vector_weights": {"mouth_region": [0] * 128}}}),
    file_with({"eyes": {"bias": 0, "weights": {}, "vector_weights": {"eye_region": [1, 2]}},
               "mouth": {"bias": 0, "weights": {}, "vector_weights": {"mouth_region": [0] * 128}}}),
    file_with({"eyes": {"bias": 0, "weights": {}, "vector_weights": {"nose_ring": [0] * 128}},
               "mouth": {"bias": 0, "weights": {}, "vector_weights": {"mouth_region": [0] * 128}}}),
    file_with({"eyes": {"bias": 0, "weights": {}}, "mouth": {"bias": 0, "weights": {}}}),
])
def test_a_broken_model_file_is_a_clear_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "occlusion.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ModelUnavailable, match="occlusion"):
        occlusion_models(path)
    with pytest.raises(ModelUnavailable):
        occlusion_models(tmp_path / "missing.json")


@pytest.mark.parametrize(("eyes", "mouth", "reason", "passed", "review"), [
    (0.2, 0.1, None, True, False),
    (0.6, 0.1, "possibly_covered", False, True),  # unsure: a person looks, the contributor is not told "covered"
    (0.1, 0.7, "possibly_covered", False, True),
    (0.85, 0.1, "eyes_covered", False, False),  # sure: rejected outright with the reason
    (0.1, 0.9, "mouth_covered", False, False),
])
def test_only_a_sure_score_rejects_outright(eyes: float, mouth: float, reason: str | None, passed: bool,
                                           review: bool) -> None:
    result = occlusion_verdict(OcclusionScores(eyes, mouth, False), DEFAULT_RULES, {})
    assert (result.reason, result.passed, result.review) == (reason, passed, review)


def test_a_campaign_can_keep_the_stricter_lines() -> None:
    strict = PhotoRules.from_dict({"eye_cover_fail": 0.5, "occlusion_review_margin": 0.1})
    assert occlusion_verdict(OcclusionScores(0.6, 0.1, False), strict, {}).reason == "eyes_covered"
    assert occlusion_verdict(OcclusionScores(0.45, 0.1, False), strict, {}).reason == "possibly_covered"
    assert occlusion_verdict(OcclusionScores(0.35, 0.1, False), strict, {}).passed


@pytest.mark.parametrize(("stored", "eye_line", "mouth_line"), [
    ({}, 0.4, 0.4),
    ({"eye_cover_fail": 0.6}, 0.4, 0.4),  # an override of the fail line alone keeps the usual review line
    ({"mouth_cover_fail": 0.3}, 0.4, 0.3),  # a fail line under it: no band below it, never everything
    ({"occlusion_review_from": 0.6}, 0.6, 0.6),
    # rules stored before the review line was its own rule keep their meaning: fail minus the margin
    ({"occlusion_review_margin": 0.0}, 0.8, 0.8),  # no band
    ({"occlusion_review_margin": 0.2}, 0.6, 0.6),
    ({"eye_cover_fail": 0.5, "mouth_cover_fail": 0.5, "occlusion_review_margin": 0.1}, 0.4, 0.4),
])
def test_stored_overrides_keep_a_sane_review_line(stored: dict[str, float], eye_line: float,
                                                  mouth_line: float) -> None:
    rules = PhotoRules.from_dict(stored)
    assert rules.occlusion_review_line(rules.eye_cover_fail) == pytest.approx(eye_line)
    assert rules.occlusion_review_line(rules.mouth_cover_fail) == pytest.approx(mouth_line)
    assert occlusion_verdict(OcclusionScores(0.0, 0.0, False), rules, {}).passed  # a clean face passes


@pytest.mark.parametrize("stored", [
    {"mouth_cover_fail": 0.0},
    {"occlusion_review_from": 0.0},
    {"mouth_cover_fail": 0.05, "occlusion_review_margin": 0.1},  # the line under it would be below 0
])
def test_rules_that_would_send_every_face_to_a_person_are_refused(stored: dict[str, float]) -> None:
    from quality_gates.errors import RulesError

    with pytest.raises(RulesError, match="must be above"):
        PhotoRules.from_dict(stored)
