"""The real dlib analyzer and the full gate on real photos from ../shared/data (slow: loads the models)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from quality_gates import DlibFaceAnalyzer, PhotoRules, check_photo, decode_image
from tests.quality_gates.conftest import encode

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def analyzer() -> DlibFaceAnalyzer:
    return DlibFaceAnalyzer()


def test_no_face_in_a_generated_picture(analyzer: DlibFaceAnalyzer) -> None:
    rng = np.random.default_rng(0)
    pixels = (rng.uniform(0, 1, (300, 400, 1)) * np.array([[[90, 160, 220]]])).astype(np.uint8)
    report = check_photo(encode(pixels, "JPEG"), analyzer=analyzer)
    assert report.gate("face_found").reason == "no_face"
    assert not report.passed


@pytest.mark.realdata
def test_inter_eye_matches_face_recognition_landmarks(shared_data: Path, analyzer: DlibFaceAnalyzer) -> None:
    import face_recognition

    path = shared_data / "face_recognition" / "examples" / "obama.jpg"
    report = check_photo(path.read_bytes(), analyzer=analyzer)
    assert report.gate("face_found").passed and len(report.faces) == 1
    image = face_recognition.load_image_file(str(path))
    marks = face_recognition.face_landmarks(image)[0]
    reference = np.linalg.norm(np.mean(marks["left_eye"], axis=0) - np.mean(marks["right_eye"], axis=0))
    assert report.faces[0].inter_eye_px == pytest.approx(reference, rel=0.05)
    assert report.gate("face_size").passed and report.gate("pose").passed


@pytest.mark.realdata
def test_group_photo_is_ambiguous(shared_data: Path, analyzer: DlibFaceAnalyzer) -> None:
    path = shared_data / "face_recognition" / "examples" / "knn_examples" / "test" / "kit_with_rose.jpg"
    report = check_photo(path.read_bytes(), analyzer=analyzer)
    assert report.gate("face_found").reason == "multiple_faces"
    assert len(report.faces) == 2
    # three adults side by side, the second face 0.70 of the first: no one of them dominates
    trio = check_photo((shared_data / "dlib" / "faces" / "2008_001322.jpg").read_bytes(), analyzer=analyzer)
    found = trio.gate("face_found")
    assert found.reason == "multiple_faces" and 0.6 < found.measured["other_face_ratio"] < 0.75


@pytest.mark.realdata
def test_exif_rotated_upload_finds_the_same_face(shared_data: Path, analyzer: DlibFaceAnalyzer) -> None:
    path = shared_data / "face_recognition" / "examples" / "obama.jpg"
    upright = check_photo(path.read_bytes(), analyzer=analyzer).faces[0]
    with Image.open(path) as img:
        stored = img.convert("RGB").transpose(Image.Transpose.ROTATE_90)  # what a sideways camera stores
        exif = Image.Exif()
        exif[0x0112] = 6  # viewer must rotate 90 degrees clockwise
        buf = io.BytesIO()
        stored.save(buf, format="JPEG", quality=95, exif=exif.tobytes())
    rotated = check_photo(buf.getvalue(), analyzer=analyzer)
    assert rotated.gate("face_found").passed
    assert np.allclose(rotated.faces[0].box, upright.box, atol=12)


@pytest.mark.realdata
def test_reduced_decode_reports_original_pixels_and_keeps_the_encoding(
    shared_data: Path, analyzer: DlibFaceAnalyzer
) -> None:
    path = shared_data / "face_recognition" / "examples" / "obama.jpg"
    small = check_photo(path.read_bytes(), analyzer=analyzer).faces[0]
    with Image.open(path) as img:
        big = img.convert("RGB").resize((img.width * 4, img.height * 4), Image.Resampling.BICUBIC)
    data = encode(np.asarray(big), "JPEG", quality=92)
    assert decode_image(data).scale > 1.0  # decoded at reduced size
    large = check_photo(data, PhotoRules(max_pixels=80_000_000), analyzer=analyzer).faces[0]
    assert large.inter_eye_px == pytest.approx(small.inter_eye_px * 4, rel=0.05)
    assert small.encoding is not None and large.encoding is not None
    assert np.linalg.norm(small.encoding - large.encoding) < 0.3


@pytest.mark.realdata
def test_sunglasses_and_clear_glasses_on_real_photos(shared_data: Path, analyzer: DlibFaceAnalyzer) -> None:
    from quality_gates._eval_sets import cmu_faces, yale_faces

    # Subject 03 of the Yale set wears dark sunglasses in its "glasses" photo: not a clear-glasses example.
    clear = [p for p in yale_faces(shared_data) if p.kind == "glasses" and not p.item_id.endswith("03_glasses.png")]
    dark = [p for p in cmu_faces(shared_data) if p.kind == "sunglasses/straight"]
    passed = [check_photo(p.pixels, analyzer=analyzer).gate("occlusion") for p in clear[:6]]
    caught = [check_photo(p.pixels, analyzer=analyzer).gate("occlusion") for p in dark[:6]]
    assert sum(g is not None and g.passed for g in passed) >= 5
    assert sum(g is not None and not g.passed for g in caught) >= 5


@pytest.mark.realdata
def test_gate_encoding_equals_the_analyzer_encoding(shared_data: Path, analyzer: DlibFaceAnalyzer) -> None:
    data = (shared_data / "face_recognition" / "examples" / "obama2.jpg").read_bytes()
    report = check_photo(data, analyzer=analyzer)
    assert report.verdict.value != "fail", report.to_dict()
    direct = analyzer.analyze(decode_image(data).pixels)[0].encoding
    assert report.faces[0].encoding is not None and direct is not None
    assert np.linalg.norm(report.faces[0].encoding - direct) < 0.02
