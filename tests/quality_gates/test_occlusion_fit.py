"""The occlusion fitting harness on synthetic measurements: labels per set, balanced fit, held-out report."""

from __future__ import annotations

import json

import numpy as np
import pytest

from quality_gates import _fit_occlusion as fo
from quality_gates._eval_sets import EvalPhoto
from quality_gates._occlusion import ENCODING_SIZE, occlusion_models


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
        (photo("fgnet", "fgnet/images/001A02.JPG", False, "clean/1"), (False, False)),
        (photo("cacd_vs", "cacd_vs/images/0001_0.jpg", False, "clean/0001"), (False, False)),
    ],
)
def test_labels_follow_the_sets(p: EvalPhoto, expected: tuple[bool | None, bool | None]) -> None:
    assert fo.labels(p) == expected


def test_people_stay_together_in_folds() -> None:
    assert fo._group(photo("cmu_faces", "cmu_faces/an2i_up_sad_open.png", False, "open/up")) == "cmu_faces:an2i"
    assert fo._group(photo("mask_voc", "mask_voc/images/2.jpg#1", False, "without_mask")) == \
        "mask_voc:mask_voc/images/2.jpg"
    assert fo._group(photo("fgnet", "fgnet/images/001A02.JPG", False, "clean/1")) == "fgnet:1"


def synthetic(n: int = 120, seed: int = 3, eye_signal: float = 0.3) -> list[fo.Sample]:
    """Dark lenses mean sunglasses, skin-like lower faces mean no mask (with noise); the eye-region descriptors
    carry the sunglasses along one direction (with strength `eye_signal`) among random variation."""
    rng = np.random.default_rng(seed)
    direction = rng.normal(size=ENCODING_SIZE)
    direction /= np.linalg.norm(direction)
    samples = []
    for i in range(n):
        eyes, mouth = bool(i % 2), bool(i % 3 == 0)
        features = {name: float(rng.normal(0.5, 0.1)) for name in (*fo.EYE_FEATURES, *fo.MOUTH_FEATURES)}
        features["lens_dark"] = float(rng.normal(0.8 if eyes else 0.2, 0.1))
        features["lower_skin"] = float(rng.normal(0.2 if mouth else 0.8, 0.1))
        eye_region = rng.normal(0, 0.1, ENCODING_SIZE) + (eye_signal if eyes else -eye_signal) * direction
        vectors = {"encoding": rng.normal(0, 0.1, ENCODING_SIZE).tolist(), "eye_region": eye_region.tolist(),
                   "mouth_region": rng.normal(0, 0.1, ENCODING_SIZE).tolist()}
        set_name = ("cmu_faces", "mask_voc", "yale_faces")[i % 3]
        samples.append(fo.Sample(set_name, f"{set_name}:{i // 4}", "x", eyes, mouth, features, vectors))
    return samples


def test_fit_learns_the_evidence_and_held_out_scores_separate_the_classes() -> None:
    samples = synthetic()
    eyes_model = fo.fit(samples, "eyes")
    assert eyes_model.weights["lens_dark"] > 1.0 and set(eyes_model.weights) == set(fo.EYE_FEATURES)
    assert not eyes_model.vector_weights
    assert fo.fit(samples, "mouth").weights["lower_skin"] < -1.0
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


def test_region_directions_add_what_the_measurements_miss() -> None:
    """Lens darkness made useless (pure noise): only the eye-region descriptor still tells sunglasses apart."""
    samples = synthetic(eye_signal=0.3)
    rng = np.random.default_rng(9)
    for s in samples:
        s.features["lens_dark"] = float(rng.normal(0.5, 0.1))
    eyes = np.array([s.eyes for s in samples])
    blind = fo.held_out(samples)["eyes"]
    seeing = fo.held_out(samples, vector_dims=4)["eyes"]
    assert ((blind >= 0.5) == eyes).mean() < 0.75
    assert ((seeing >= 0.5) == eyes).mean() > 0.95
    model = fo.fit(samples, "eyes", vector_dims=4)
    assert set(model.vector_weights) == {"eye_region"}
    assert model.vector_weights["eye_region"].shape == (ENCODING_SIZE,)
    # The folded 128 weights give the same probability as the projection they came from.
    assert model.probability(samples[1].features, fo._appearance(samples[1])) > 0.9
    assert model.probability(samples[0].features, fo._appearance(samples[0])) < 0.1


def test_model_file_round_trips_through_the_loader(tmp_path) -> None:  # noqa: ANN001
    content = fo.model_file(synthetic(), vector_dims=4)
    path = tmp_path / "occlusion.json"
    path.write_text(json.dumps(content), encoding="utf-8")
    models = occlusion_models(path)
    assert content["faces_per_set"] == {"cmu_faces": 40, "mask_voc": 40, "yale_faces": 40}
    assert models.to_dict() == {k: content[k] for k in ("measurements", "with_appearance")}
    assert not models.measured[0].vector_weights and set(models.with_appearance[1].vector_weights) == {"mouth_region"}


def test_gate_scores_take_the_encoding_models_only_where_the_measurements_are_unsure() -> None:
    measured = {"eyes": np.array([0.02, 0.5, 0.95, 0.02]), "mouth": np.array([0.01, 0.01, 0.01, 0.3])}
    encoded = {"eyes": np.array([0.9, 0.9, 0.1, 0.8]), "mouth": np.array([0.9, 0.2, 0.9, 0.7])}
    gate = fo.gate_scores(measured, encoded)
    assert gate["eyes"].tolist() == [0.02, 0.9, 0.95, 0.8]
    assert gate["mouth"].tolist() == [0.01, 0.2, 0.01, 0.7]
