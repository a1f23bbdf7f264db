"""Photo gate logic on synthetic faces with the fake analyzer (no model is loaded here)."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest
from test_photo_decode import png_header_only

from quality_gates import (
    DecodedImage,
    FaceInfo,
    FakeFaceAnalyzer,
    PhotoRules,
    Verdict,
    _occlusion,
    check_duplicate,
    check_photo,
    hamming,
    perceptual_hash,
)
from quality_gates._pose import estimate_pose
from tests.quality_gates.conftest import encode, face_from_points, landmarks


def run(pixels: np.ndarray, faces: list[FaceInfo], rules: PhotoRules | None = None):  # noqa: ANN201
    return check_photo(pixels, rules or PhotoRules(), analyzer=FakeFaceAnalyzer(faces))


def verdicts(report) -> dict[str, str]:  # noqa: ANN001
    return {g.name: g.verdict.value for g in report.gates}


def test_clean_face_passes_every_gate(synthetic_face) -> None:  # noqa: ANN001
    pixels, face = synthetic_face()
    report = run(pixels, [face])
    assert verdicts(report) == {n: "pass" for n in ("decode", "face_found", "face_size", "pose", "occlusion",
                                                     "sharpness", "exposure")}
    assert report.verdict is Verdict.PASS
    assert report.faces[0].inter_eye_px == pytest.approx(90, rel=0.02)
    assert report.phash is not None


def test_no_face_fails_and_no_face_gate_pretends_to_pass(synthetic_face) -> None:  # noqa: ANN001
    pixels, _ = synthetic_face()
    report = run(pixels, [])
    assert verdicts(report) == {"decode": "pass", "face_found": "fail"}
    assert report.gate("face_found").reason == "no_face"
    assert report.verdict is Verdict.FAIL


def test_two_similar_faces_are_ambiguous_but_a_small_bystander_is_reported(synthetic_face) -> None:  # noqa: ANN001
    pixels, face = synthetic_face()
    twin = face_from_points(landmarks(100, 100, 85))
    assert run(pixels, [face, twin]).gate("face_found").reason == "multiple_faces"
    bystander = face_from_points(landmarks(60, 60, 25))
    report = run(pixels, [face, bystander])
    assert report.gate("face_found").passed
    assert report.gate("face_found").measured["faces"] == 2
    assert len(report.to_dict()["faces"]) == 2


def test_face_box_without_landmarks_goes_to_review(synthetic_face) -> None:  # noqa: ANN001
    pixels, face = synthetic_face()
    report = run(pixels, [FaceInfo(face.box, detector="cnn")])
    assert report.gate("face_found").verdict is Verdict.REVIEW
    assert report.verdict is Verdict.REVIEW


def test_small_face_fails_face_size(synthetic_face) -> None:  # noqa: ANN001
    pixels, face = synthetic_face(eye_dist=24)
    gate = run(pixels, [face]).gate("face_size")
    assert (gate.passed, gate.reason) == (False, "too_small")
    assert gate.measured["inter_eye_px"] == pytest.approx(24, rel=0.02)
    pixels, face = synthetic_face()
    strict = PhotoRules(min_face_side_fraction=0.9)
    assert run(pixels, [face], strict).gate("face_size").reason == "too_small_in_frame"


def test_a_small_picture_the_face_fills_is_low_resolution_not_a_distant_face(synthetic_face) -> None:  # noqa: ANN001
    pixels, face = synthetic_face(size=(120, 150), eye_dist=24)  # a thumbnail: the face fills the picture
    gate = run(pixels, [face]).gate("face_size")
    assert (gate.passed, gate.reason) == (False, "low_resolution")
    assert gate.measured["face_side_fraction"] >= 0.35 and gate.measured["face_side_px"] < 96
    pixels, face = synthetic_face(size=(480, 600), eye_dist=24)  # the same face far off in a large picture
    assert run(pixels, [face]).gate("face_size").reason == "too_small"


def test_face_size_is_reported_in_original_pixels_after_reduced_decode(synthetic_face) -> None:  # noqa: ANN001
    pixels, face = synthetic_face()
    image = DecodedImage(pixels, "JPEG", (pixels.shape[1] * 4, pixels.shape[0] * 4), scale=4.0)
    report = check_photo(image, PhotoRules(), analyzer=FakeFaceAnalyzer([face]))
    assert report.gate("face_size").measured["inter_eye_px"] == pytest.approx(360, rel=0.02)
    assert report.faces[0].box == tuple(round(v * 4) for v in face.box)
    assert (report.width, report.height) == (1920, 2400)


def test_tilted_head_fails_pose_on_roll(synthetic_face) -> None:  # noqa: ANN001
    pixels, face = synthetic_face(roll=35)
    gate = run(pixels, [face]).gate("pose")
    assert (gate.passed, gate.reason) == (False, "roll")
    assert gate.measured["roll_deg"] == pytest.approx(35, abs=1)


def test_pose_estimates_are_near_zero_for_a_frontal_face_and_grow_with_turn() -> None:
    frontal = estimate_pose(tuple(map(tuple, landmarks(300, 300, 100))), (600, 800))
    assert frontal is not None
    assert abs(frontal.yaw) < 8 and abs(frontal.roll) < 2 and abs(frontal.pitch) < 15
    turned = landmarks(300, 300, 100)
    turned[27:36, 0] += 35  # nose towards one side
    turned[48:68, 0] += 20
    turned[:17, 0] = np.where(turned[:17, 0] < 300, turned[:17, 0] + 45, turned[:17, 0])
    pose = estimate_pose(tuple(map(tuple, turned)), (600, 800))
    assert pose is not None and abs(pose.yaw) > 20


@pytest.mark.parametrize(("cover", "reason"), [("sunglasses", "eyes_covered"), ("mask", "mouth_covered")])
def test_covers_fail_occlusion(synthetic_face, cover: str, reason: str) -> None:  # noqa: ANN001
    pixels, face = synthetic_face(cover=cover)
    gate = run(pixels, [face]).gate("occlusion")
    assert (gate.passed, gate.reason) == (False, reason)


def test_hog_missed_face_counts_as_evidence_of_cover(synthetic_face) -> None:  # noqa: ANN001
    pixels, face = synthetic_face()
    hog = run(pixels, [face]).gate("occlusion")
    cnn = run(pixels, [dataclasses.replace(face, detector="cnn")]).gate("occlusion")
    assert cnn.measured["hog_missed"] is True and hog.measured["hog_missed"] is False
    assert cnn.measured["eye_cover"] > hog.measured["eye_cover"]


def test_blur_fails_sharpness(synthetic_face) -> None:  # noqa: ANN001
    pixels, face = synthetic_face()
    sharp = run(pixels, [face]).gate("sharpness")
    blurred = run(cv2.GaussianBlur(pixels, (0, 0), 6), [face]).gate("sharpness")
    assert sharp.passed
    assert (blurred.passed, blurred.reason) == (False, "blurry")
    assert blurred.measured["sharpness"] < sharp.measured["sharpness"] / 3


def test_exposure_dark_and_bright(synthetic_face) -> None:  # noqa: ANN001
    pixels, face = synthetic_face()
    dark = run((pixels * 0.12).astype(np.uint8), [face]).gate("exposure")
    bright = run(np.clip(pixels.astype(int) * 3, 0, 255).astype(np.uint8), [face]).gate("exposure")
    assert (dark.passed, dark.reason) == (False, "too_dark")
    assert (bright.passed, bright.reason) == (False, "too_bright")


def test_rules_choose_the_gates(synthetic_face) -> None:  # noqa: ANN001
    pixels, face = synthetic_face(roll=35)
    report = run(pixels, [face], PhotoRules(gates=("face_found", "face_size")))
    assert set(verdicts(report)) == {"decode", "face_found", "face_size"}
    assert report.passed


def test_undecodable_bytes_give_a_failed_decode_gate() -> None:
    analyzer = FakeFaceAnalyzer([])
    report = check_photo(b"not an image at all", analyzer=analyzer)
    assert [(g.name, g.reason) for g in report.gates] == [("decode", "unsupported_format")]
    bomb = check_photo(png_header_only(30_000, 30_000), analyzer=analyzer)
    assert bomb.gates[0].reason == "decompression_bomb"
    assert bomb.gates[0].threshold["limit"] == PhotoRules().max_pixels
    assert analyzer.calls == 0


def test_bytes_are_decoded_then_checked(synthetic_face) -> None:  # noqa: ANN001
    pixels, face = synthetic_face()
    report = check_photo(encode(pixels, "PNG"), analyzer=FakeFaceAnalyzer([face]))
    assert report.passed and report.format == "PNG"


def test_perceptual_hash_survives_reencoding_and_resizing_but_not_another_photo(synthetic_face) -> None:  # noqa: ANN001
    pixels, _ = synthetic_face()
    other, _ = synthetic_face(cover="mask")
    base = perceptual_hash(pixels)
    resized = cv2.resize(pixels, (240, 300), interpolation=cv2.INTER_AREA)
    jpeg = cv2.imdecode(np.frombuffer(encode(pixels, "JPEG", quality=60), np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]
    assert hamming(base, perceptual_hash(resized)) <= 4
    assert hamming(base, perceptual_hash(np.ascontiguousarray(jpeg))) <= 4
    assert hamming(base, perceptual_hash(other)) > 10
    assert hamming(base, perceptual_hash(np.ascontiguousarray(pixels[:, ::-1]))) > 10


def test_duplicate_gate_thresholds() -> None:
    rules = PhotoRules(duplicate_hamming_fail=4, duplicate_hamming_review=10)
    base = 0x0F0F_0F0F_0F0F_0F0F
    same = check_duplicate(base ^ 0b11, {"p1": base ^ (1 << 40), "p2": base}, rules)
    assert (same.passed, same.reason, same.measured["match"], same.measured["min_distance"]) == (
        False, "duplicate", "p2", 2)
    near = check_duplicate(base ^ 0xFF, [base], rules)
    assert near.verdict is Verdict.REVIEW and near.reason == "near_duplicate"
    assert check_duplicate(~base & (2**64 - 1), [base], rules).passed
    assert check_duplicate(base, [], rules).measured["compared"] == 0


def test_dominant_face_encoded_once_and_dropped_from_a_failed_photo(synthetic_face) -> None:  # noqa: ANN001
    pixels, face = synthetic_face()
    bystander = face_from_points(landmarks(60, 60, 25))
    analyzer = FakeFaceAnalyzer([face, bystander])
    report = check_photo(pixels, analyzer=analyzer)
    assert report.passed and analyzer.encoded == 1  # for the identity gate; the occlusion gate was sure without it
    assert report.faces[0].encoding is not None and report.faces[1].encoding is None
    assert report.gate("occlusion").measured["appearance"] is False
    covered, covered_face = synthetic_face(cover="sunglasses")
    rejecting = FakeFaceAnalyzer([covered_face])
    failed = check_photo(covered, analyzer=rejecting)
    assert not failed.passed and rejecting.encoded <= 1 and failed.faces[0].encoding is None


def test_unsure_occlusion_reads_the_encoding_and_a_failed_photo_does_not_keep_it(
        synthetic_face, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    unsure = _occlusion.LinearModel(0.0, {})  # probability 0.5, whatever is measured
    covering = _occlusion.LinearModel(5.0, {}, {"eye_region": np.zeros(128)})
    clear = _occlusion.LinearModel(-5.0, {}, {"mouth_region": np.zeros(128)})
    models = _occlusion.OcclusionModels((unsure, unsure), (covering, clear))
    monkeypatch.setattr(_occlusion, "occlusion_models", lambda *a: models)
    pixels, face = synthetic_face()
    analyzer = FakeFaceAnalyzer([face])
    report = check_photo(pixels, analyzer=analyzer)
    gate = report.gate("occlusion")
    assert (gate.passed, gate.reason, gate.measured["appearance"]) == (False, "eyes_covered", True)
    assert analyzer.encoded == 1 and report.faces[0].encoding is None
