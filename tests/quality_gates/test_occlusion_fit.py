"""The occlusion fitting harness on synthetic measurements: labels per set, balanced fit, held-out report."""

from __future__ import annotations

import numpy as np
import pytest

from quality_gates import _fit_occlusion as fo
from quality_gates._eval_sets import EvalPhoto


def photo(set_name: str, item: str, occluded: bool, kind: str) -> EvalPhoto:
    return EvalPhoto(set_name, item, np.zeros((4, 4, 3), np.uint8), occluded, kind)


@pytest.mark.parametrize(
    ("p", "expected"),
    [
        (photo("cmu_faces", "cmu_faces/an2i_left_happy_sunglasses.png", True, "sunglasses/left"), (True, False)),
        (photo("cmu_faces", "cmu_faces/an2i_left_happy_open.png", False, "open/left"), (False, False)),
        (photo("yale_faces", "yale_faces/03_glasses.png", False, "glasses"), (False, False)),
        (photo("sunglasses_selfies", "x.jpg", True, "sunglasses"), (True, False)),
        (photo("mask_voc", "mask_voc/images/2.jpg#0", True, "with_mask"), (False, True)),
        (photo("mask_voc", "mask_voc/images/2.jpg#1", False, "without_mask"), (False, False)),
        (photo("rwmfd", "rwmfd/0000/0001.jpg", True, "mask_scene"), (None, True)),
    ],
)
def test_labels_follow_the_sets(p: EvalPhoto, expected: tuple[bool | None, bool | None]) -> None:
    assert fo.labels(p) == expected


def test_people_stay_together_in_folds() -> None:
    assert fo._group(photo("cmu_faces", "cmu_faces/an2i_up_sad_open.png", False, "open/up")) == "cmu_faces:an2i"
    assert fo._group(photo("mask_voc", "mask_voc/images/2.jpg#1", False, "without_mask")) == \
        "mask_voc:mask_voc/images/2.jpg"


def synthetic(n: int = 120, seed: int = 3) -> list[fo.Sample]:
    """Dark lenses mean sunglasses, skin-like lower faces mean no mask (with noise)."""
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(n):
        eyes, mouth = bool(i % 2), bool(i % 3 == 0)
        features = {name: float(rng.normal(0.5, 0.1)) for name in (*fo.EYE_FEATURES, *fo.MOUTH_FEATURES)}
        features["lens_dark"] = float(rng.normal(0.8 if eyes else 0.2, 0.1))
        features["lower_skin"] = float(rng.normal(0.2 if mouth else 0.8, 0.1))
        set_name = ("cmu_faces", "mask_voc", "yale_faces")[i % 3]
        samples.append(fo.Sample(set_name, f"{set_name}:{i // 4}", "x", eyes, mouth, features))
    return samples


def test_fit_learns_the_evidence_and_held_out_scores_separate_the_classes() -> None:
    samples = synthetic()
    bias, weights = fo.fit(samples, "eyes")
    assert weights["lens_dark"] > 1.0 and set(weights) == set(fo.EYE_FEATURES)
    _, mouth = fo.fit(samples, "mouth")
    assert mouth["lower_skin"] < -1.0
    scores = fo.held_out(samples)
    eyes = np.array([s.eyes for s in samples])
    assert scores["eyes"][eyes].min() > scores["eyes"][~eyes].max() - 0.5
    assert ((scores["eyes"] >= 0.5) == eyes).mean() > 0.95


def test_report_counts_review_as_caught() -> None:
    samples = [fo.Sample("cmu_faces", "g", "sunglasses/left", True, False, {}),
               fo.Sample("cmu_faces", "h", "open/left", False, False, {})]
    out = fo.report(samples, np.array([0.45, 0.45]), np.array([0.0, 0.0]))  # both in the review band
    assert out == {"cmu_faces/sunglasses": {"faces": 1, "recall": 1.0},
                   "cmu_faces/open": {"faces": 1, "false_reject": 1.0}}


def test_model_source_is_python_that_recreates_the_models() -> None:
    eye, mouth = (0.5, {"lens_dark": 2.0}), (-1.0, {"lower_skin": -3.0})
    namespace: dict[str, object] = {}
    exec(fo.model_source(eye, mouth), namespace)  # noqa: S102 - our own generated source
    assert namespace["EYE_MODEL"] == eye and namespace["MOUTH_MODEL"] == mouth
