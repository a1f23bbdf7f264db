"""GateResult / PhotoReport: invariants, verdicts, JSON form without biometric data."""

from __future__ import annotations

import json

import numpy as np
import pytest

from quality_gates import FaceInfo, GateResult, PhotoReport, Verdict, combine_verdicts


def test_message_keys_default_from_name_and_reason() -> None:
    assert GateResult.ok("pose").message_key == "gate.pose.ok"
    assert GateResult.fail("face_size", "too_small").message_key == "gate.face_size.too_small"
    assert GateResult.needs_review("occlusion", "possibly_covered").verdict is Verdict.REVIEW


def test_invalid_combinations_are_refused() -> None:
    with pytest.raises(ValueError):
        GateResult("pose", True, review=True)
    with pytest.raises(ValueError):
        GateResult("pose", False)  # a failure needs a reason code


def test_measured_values_are_frozen_and_json_ready() -> None:
    result = GateResult.fail("face_size", "too_small", {"side": np.float32(3.14159), "n": np.int64(2),
                                                          "inf": float("inf")})
    with pytest.raises(TypeError):
        result.measured["side"] = 1  # type: ignore[index]
    data = json.loads(json.dumps(result.to_dict()))
    assert data["measured"] == {"side": 3.1416, "n": 2, "inf": None}
    assert data["reason"] == "too_small" and data["passed"] is False


def test_combined_verdict_fail_beats_review_beats_pass() -> None:
    ok, review, fail = GateResult.ok("a"), GateResult.needs_review("b", "x"), GateResult.fail("c", "y")
    assert combine_verdicts([ok, ok]) is Verdict.PASS
    assert combine_verdicts([ok, review]) is Verdict.REVIEW
    assert combine_verdicts([review, fail]) is Verdict.FAIL


def test_report_serialises_faces_without_encodings() -> None:
    points = tuple((float(i), float(i)) for i in range(68))
    face = FaceInfo((10, 110, 120, 5), points, np.ones(128), "hog", 1.0)
    report = PhotoReport.from_gates((GateResult.ok("decode"), GateResult.needs_review("pose", "unmeasurable")),
                                    faces=(face,), width=200, height=300, phash=0xABC)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["passed"] is False and data["needs_review"] is True
    assert data["faces"] == [{"box": [10, 110, 120, 5], "inter_eye_px": pytest.approx(8.485, abs=0.01),
                              "detector": "hog"}]
    assert "encoding" not in json.dumps(data)
    assert data["phash"] == "0000000000000abc"
    assert report.gate("pose") is not None and report.gate("sharpness") is None


def test_inter_eye_uses_the_eye_contour_centres() -> None:
    points = [(0.0, 0.0)] * 68
    points[36:42] = [(10.0, 20.0)] * 6
    points[42:48] = [(40.0, 60.0)] * 6
    assert FaceInfo((0, 1, 1, 0), tuple(points)).inter_eye_px == pytest.approx(50.0)
    assert FaceInfo((0, 1, 1, 0)).inter_eye_px is None
