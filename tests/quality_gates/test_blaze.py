"""BlazeFace, the second face detector: the shipped model, its decoding, and what it finds on real photos."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from quality_gates import DlibFaceAnalyzer, _blaze
from quality_gates._eval_sets import mask_voc
from quality_gates._faces import resize_to_side

MODEL_SHA256 = "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8"


def test_the_shipped_model_is_the_documented_file() -> None:
    assert hashlib.sha256(_blaze.MODEL_PATH.read_bytes()).hexdigest() == MODEL_SHA256
    readme = (_blaze.MODEL_PATH.parent / "README.md").read_text(encoding="utf-8")
    assert MODEL_SHA256 in readme and _blaze.MODEL_PATH.name in readme
    licence = (_blaze.MODEL_PATH.parent / "LICENSE-mediapipe.txt").read_text(encoding="utf-8")
    assert licence.split()[:4] == ["Apache", "License", "Version", "2.0,"]


def test_anchor_grid_matches_the_network_output() -> None:
    anchors = _blaze._anchors()
    assert anchors.shape == (896, 2)
    # stride 8: 16x16 cells, 2 anchors each, first cell centre at half a cell
    assert anchors[0] == pytest.approx((0.5 / 16, 0.5 / 16)) and anchors[1] == pytest.approx(anchors[0])
    # stride 16 starts after 512 anchors: 8x8 cells, 6 anchors each
    assert anchors[512] == pytest.approx((0.5 / 8, 0.5 / 8)) and anchors[-1] == pytest.approx((7.5 / 8, 7.5 / 8))


def test_decoding_undoes_the_letterbox() -> None:
    # A 400x200 (w x h) image is scaled by 128/400 and padded 32 px above and below; an anchor at the input's
    # centre with zero offsets is the centre of the image, and the width maps back through the same factor.
    factor = 128 / 400
    raw = np.zeros(16, np.float32)
    raw[2] = raw[3] = 40.0
    face = _blaze._decode(raw, np.array([0.5, 0.5], np.float32), 0.9, (0, 32), factor)
    width = 40.0 / factor
    assert (face.left + face.right) / 2 == pytest.approx(200.0)
    assert (face.top + face.bottom) / 2 == pytest.approx(100.0 + _blaze.DLIB_DY * width)
    assert face.right - face.left == pytest.approx(_blaze.DLIB_SIDE * width)
    assert face.keypoints[0] == pytest.approx((200.0, 100.0))


@pytest.mark.slow
def test_nothing_found_in_noise_or_an_empty_array() -> None:
    rng = np.random.default_rng(1)
    noise = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
    assert _blaze.detect(noise) == []
    assert _blaze.detect(np.zeros((0, 0, 3), np.uint8)) == []


@pytest.mark.slow
@pytest.mark.realdata
def test_finds_masked_webcam_faces_that_hog_misses(shared_data: Path) -> None:
    """On mask_voc's masked faces (protocol crops) HOG finds almost none; BlazeFace most (measured 24 of 28)."""
    photos = [p for p in mask_voc(shared_data) if p.occluded]
    assert len(photos) >= 10
    hog_only = DlibFaceAnalyzer(use_blaze=False)
    chain = DlibFaceAnalyzer()
    by_hog = sum(bool(hog_only.analyze(p.pixels, encode=False)) for p in photos)
    found = [chain.analyze(p.pixels, encode=False) for p in photos]
    by_chain = sum(bool(f) for f in found)
    assert by_hog <= 0.2 * len(photos)
    assert by_chain >= 0.75 * len(photos)
    assert all(f[0].detector == "blaze" and len(f[0].landmarks) == 68 for f in found if f and f[0].detector != "hog")


@pytest.mark.slow
@pytest.mark.realdata
def test_blaze_box_lands_on_the_face_hog_finds(shared_data: Path) -> None:
    """The mapped box is on dlib's convention: same face, similar size, as HOG's box on a clear portrait."""
    from quality_gates import decode_image

    pixels = decode_image((shared_data / "face_recognition" / "examples" / "obama.jpg").read_bytes()).pixels
    copy, factor = resize_to_side(pixels, 720)
    hog = DlibFaceAnalyzer(use_blaze=False).analyze(copy, encode=False)[0]
    blaze = _blaze.detect(copy)[0]
    top, right, bottom, left = hog.box
    assert abs((blaze.left + blaze.right) / 2 - (left + right) / 2) < 0.1 * (right - left)
    assert abs((blaze.top + blaze.bottom) / 2 - (top + bottom) / 2) < 0.1 * (bottom - top)
    assert (blaze.right - blaze.left) / (right - left) == pytest.approx(1.0, abs=0.15)
