"""The evaluation protocol's pieces on generated inputs, and the measured goals on ../shared/data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from quality_gates._eval_sets import Unreadable, crop_box, occlusion_sets, upscale_short_side
from quality_gates.evaluation import (
    evaluate_face_size,
    labelled_inter_eye,
    occlusion_metrics,
    photo_goals,
    read_pts,
)
from tests.quality_gates.conftest import TEMPLATE, encode


def write_pts(path: Path, points: np.ndarray) -> None:
    lines = "\n".join(f"{x:.3f} {y:.3f}" for x, y in points)
    path.write_text(f"version: 1\nn_points: {len(points)}\n{{\n{lines}\n}}\n")


def test_pts_round_trip_and_ibug_scheme(tmp_path: Path) -> None:
    points = TEMPLATE * 80 + 200
    write_pts(tmp_path / "a.pts", points)
    read = read_pts(tmp_path / "a.pts")
    assert read.shape == (68, 2)
    distance, scheme = labelled_inter_eye(read)
    assert scheme == "ibug" and distance == pytest.approx(80, rel=0.01)


def test_fgnet_scheme_is_recognised_from_geometry() -> None:
    rng = np.random.default_rng(3)
    points = rng.uniform(0, 400, (68, 2))  # FG-NET order: iBUG eye indices land on scattered points
    left_eye = np.array([[100, 200], [120, 190], [140, 200], [120, 210]], float)
    points[27:31] = left_eye
    points[32:36] = left_eye + [90, 0]
    points[31], points[36] = left_eye.mean(axis=0), left_eye.mean(axis=0) + [90, 0]
    distance, scheme = labelled_inter_eye(points)
    assert scheme == "fgnet" and distance == pytest.approx(90)


def test_unrecognised_points_are_not_used() -> None:
    assert labelled_inter_eye(np.random.default_rng(1).uniform(0, 400, (68, 2))) is None
    assert labelled_inter_eye(np.zeros((5, 2))) is None


def test_occlusion_metrics_both_bases() -> None:
    outcomes = [
        {"occluded": True, "face_found": True, "flagged": True, "rejected": True},
        {"occluded": True, "face_found": True, "flagged": False, "rejected": False},
        {"occluded": True, "face_found": False, "flagged": False, "rejected": False},
        {"occluded": False, "face_found": True, "flagged": False, "rejected": False},
        {"occluded": False, "face_found": True, "flagged": True, "rejected": False},  # sent to a person
        {"occluded": False, "face_found": False, "flagged": False, "rejected": False},
    ]
    m = occlusion_metrics(outcomes)
    assert m["face_found_rate"] == pytest.approx(4 / 6, abs=1e-4)
    assert (m["recall_among_found"], m["recall_per_photo"]) == (0.5, pytest.approx(0.6667, abs=1e-4))
    assert m["recall_outright_among_found"] == 0.5
    # review counts as a false reject; the outright figure counts only what was rejected without a person
    assert (m["false_reject_among_found"], m["false_reject_per_photo"]) == (0.5, pytest.approx(0.6667, abs=1e-4))
    assert m["false_reject_outright_among_found"] == 0.0


def test_goals_are_judged_from_the_figures() -> None:
    kinds = {
        "mask_voc": {"with_mask": {"recall_among_found": 0.96}, "without_mask": {"false_reject_among_found": 0.04}},
        "cmu_faces": {"sunglasses": {"recall_among_found": 0.97}},
        "sunglasses_selfies": {"sunglasses": {"recall_among_found": 0.90}},
        "yale_faces": {"glasses": {"false_reject_among_found": 0.0}},
    }
    result = {"face_size": {"within_10pct": 0.97},
              "occlusion": {name: {"by_kind": k} for name, k in kinds.items()}}
    goals = photo_goals(result)
    assert goals["met"] == {"face_size": True, "masks": True, "sunglasses": False}
    assert goals["figures"]["clear_glasses_pass"] == 1.0


def test_mask_voc_crop_follows_the_protocol() -> None:
    pixels = np.zeros((240, 240, 3), np.uint8)
    crop = crop_box(pixels, (100, 50, 150, 150), 0.6, 200)  # box 50 x 100: margins 30 / 60, clipped at 0 / 240
    assert crop.shape[0] == round((min(240, 210) - 0) * 2) and crop.shape[1] == round((180 - 70) * 2)
    assert upscale_short_side(np.zeros((120, 128, 3), np.uint8)).shape[:2] == (360, 384)


def test_sets_are_found_by_their_label_files_only(tmp_path: Path) -> None:
    (tmp_path / "yale_faces").mkdir()
    (tmp_path / "yale_faces" / "labels.csv").write_text("path,subject,condition(glasses|...)\n"
                                                        "yale_faces/s1_anything.png,1,glasses\n")
    (tmp_path / "yale_faces" / "s1_anything.png").write_bytes(encode(np.full((243, 320, 3), 90, np.uint8), "PNG"))
    (tmp_path / "cmu_faces").mkdir()  # no labels.csv: not a set
    sets = occlusion_sets(tmp_path)
    assert list(sets) == ["yale_faces"]
    (photo,) = list(sets["yale_faces"])
    assert (photo.occluded, photo.kind, photo.pixels.shape[0]) == (False, "glasses", 360)
    assert evaluate_face_size(tmp_path) is None


def test_missing_corrupt_and_blank_rows_are_left_out_and_reported(tmp_path: Path) -> None:
    """Data nobody here has seen may list a file that is gone or broken: the rest is still evaluated, and every
    row left out is reported with its reason."""
    (tmp_path / "yale_faces").mkdir()
    (tmp_path / "yale_faces" / "labels.csv").write_text(
        "path,subject,condition\n"
        "yale_faces/01_glasses.png,1,glasses\n"
        "yale_faces/02_gone.png,2,normal\n"
        "yale_faces/03_broken.png,3,normal\n"
        ",,\n")
    (tmp_path / "yale_faces" / "01_glasses.png").write_bytes(encode(np.full((243, 320, 3), 90, np.uint8), "PNG"))
    (tmp_path / "yale_faces" / "03_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (tmp_path / "fgnet" / "images").mkdir(parents=True)
    (tmp_path / "fgnet" / "labels.csv").write_text("path,subject_id,age_years,landmarks_68pt\n"
                                                   "fgnet/images/001A02.JPG,001,2,fgnet/points/001a02.pts\n")
    skipped: list[Unreadable] = []
    photos = list(occlusion_sets(tmp_path, skipped)["yale_faces"])
    assert [p.item_id for p in photos] == ["yale_faces/01_glasses.png"]
    reasons = {s.item_id: s.reason.split(":")[0] for s in skipped}
    assert reasons == {"yale_faces/02_gone.png": "FileNotFoundError",
                       "yale_faces/03_broken.png": "UnidentifiedImageError", "(blank row)": "IsADirectoryError"}
    size = evaluate_face_size(tmp_path, workers=1)
    assert size is not None and size["unreadable"] == 1 and size["labelled"] == 0
    assert "001A02.JPG" in size["unreadable_examples"][0]


@pytest.mark.realdata
@pytest.mark.slow
def test_face_size_goal_on_fgnet(shared_data: Path) -> None:
    result = evaluate_face_size(shared_data)
    assert result is not None and result["labelled"] >= 100
    assert result["within_10pct"] >= 0.95
