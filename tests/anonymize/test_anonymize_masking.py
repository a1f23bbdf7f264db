"""Bystander masking on scenes composed from face images shipped with scikit-image (LFW subset)."""

from __future__ import annotations

import io

import _anon_media as fx
import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from anonymize import (
    MASKING_DETECTORS,
    DetectorSettings,
    FaceBox,
    MaskSettings,
    anonymize_photo,
    detect_faces,
    detect_faces_near,
    disallowed_tags,
    face_encodings,
    faces_other_than,
    mask_bystanders,
)

pytestmark = pytest.mark.slow

# (LFW index, side in pixels, left, top): A is the largest face, B and C are smaller bystanders.
FACES = {"A": (0, 130, 20, 90), "B": (10, 90, 210, 30), "C": (20, 70, 320, 200)}
FILL = np.array(MaskSettings().fill, dtype=np.uint8)


def _face(index: int, side: int) -> np.ndarray:
    grey = (skdata.lfw_subset()[index] * 255).astype(np.uint8)
    return cv2.resize(grey, (side, side), interpolation=cv2.INTER_CUBIC)


def scene(faces: dict[str, tuple[int, int, int, int]] = FACES) -> np.ndarray:
    rng = np.random.default_rng(7)
    canvas = rng.integers(90, 150, size=(300, 400), dtype=np.uint8)
    for index, side, left, top in faces.values():
        canvas[top : top + side, left : left + side] = _face(index, side)
    return np.ascontiguousarray(np.stack([canvas] * 3, axis=-1))


def centre(name: str) -> tuple[int, int]:
    _, side, left, top = FACES[name]
    return top + side // 2, left + side // 2


def box(name: str) -> FaceBox:
    _, side, left, top = FACES[name]
    return FaceBox(left, top, left + side, top + side, name)


def lbp_faces(rgb: np.ndarray) -> list[FaceBox]:
    """An independent detector the masker never uses: the LBP cascade shipped with scikit-image."""
    from skimage.feature import Cascade

    detector = Cascade(skdata.lbp_frontal_face_cascade_filename())
    found = detector.detect_multi_scale(rgb, scale_factor=1.15, step_ratio=1, min_size=(24, 24), max_size=(240, 240))
    return [FaceBox(f["c"], f["r"], f["c"] + f["width"], f["r"] + f["height"], "lbp") for f in found]


@pytest.fixture(scope="module")
def original() -> np.ndarray:
    return scene()


@pytest.fixture(scope="module")
def dominant(original: np.ndarray):  # type: ignore[no-untyped-def]
    return mask_bystanders(original)


def test_dominant_face_is_kept_and_bystanders_are_solid_filled(original: np.ndarray, dominant) -> None:  # type: ignore[no-untyped-def]
    assert dominant.faces_found == 3
    assert dominant.subject_box is not None and box("A").overlap(FaceBox(*dominant.subject_box, "s")) > 0.5
    for name in ("B", "C"):
        y, x = centre(name)
        assert (dominant.image[y, x] == FILL).all()
        region = dominant.image[box(name).top : box(name).bottom, box(name).left : box(name).right]
        assert np.all(region == FILL, axis=-1).mean() > 0.9, f"{name} must be covered, not blurred"
    a = box("A")
    assert np.array_equal(
        dominant.image[a.top : a.bottom, a.left : a.right], original[a.top : a.bottom, a.left : a.right]
    )
    assert dominant.clean and dominant.rounds >= 1


def test_after_masking_no_detector_finds_a_bystander(original: np.ndarray, dominant) -> None:  # type: ignore[no-untyped-def]
    subject = FaceBox(*dominant.subject_box, "subject")
    assert len([b for b in lbp_faces(original) if b.overlap(subject) < 0.5]) >= 2
    assert faces_other_than(dominant.image, dominant.subject_box) == []
    assert [b for b in lbp_faces(dominant.image) if b.overlap(subject) < 0.5] == []


def test_subject_encoding_barely_moves(original: np.ndarray, dominant) -> None:  # type: ignore[no-untyped-def]
    subject = FaceBox(*dominant.subject_box, "subject")
    before, after = face_encodings(original, [subject])[0], face_encodings(dominant.image, [subject])[0]
    assert float(np.linalg.norm(before - after)) < 0.2


def _encoding_of(index: int) -> np.ndarray:
    """The encoding of LFW face `index` rendered alone (a different photo from the scene's)."""
    alone = scene({"X": (index, 120, 140, 90)})
    return face_encodings(alone, [FaceBox(140, 90, 260, 210, "known")])[0]


def test_subject_encoding_picks_the_contributor_even_when_smaller(original: np.ndarray) -> None:
    result = mask_bystanders(original, _encoding_of(10))
    assert result.subject_distance is not None and result.subject_distance < 0.6
    assert box("B").overlap(FaceBox(*result.subject_box, "s")) > 0.5
    for name in ("A", "C"):
        y, x = centre(name)
        assert (result.image[y, x] == FILL).all()


def test_without_a_kept_subject_every_face_is_masked(original: np.ndarray) -> None:
    copy = original.copy()
    unmatched = mask_bystanders(original, _encoding_of(40), settings=MaskSettings(subject_tolerance=0.3))
    assert unmatched.subject_box is None and unmatched.subject_distance is not None
    assert unmatched.subject_distance > 0.3
    everyone = mask_bystanders(original, keep_subject=False)
    for result in (unmatched, everyone):
        assert result.subject_box is None and result.clean
        assert all((result.image[centre(n)] == FILL).all() for n in FACES)
    assert np.array_equal(copy, original), "the input array must not be modified"


def test_input_must_be_an_rgb_array(original: np.ndarray) -> None:
    with pytest.raises(ValueError):
        mask_bystanders(original[..., 0])


def test_anonymize_photo_scrubs_masks_and_rechecks_the_encoded_file(original: np.ndarray) -> None:
    source = fx.jpeg_with_everything(Image.fromarray(original), trailer=False)
    photo = anonymize_photo(source)
    assert disallowed_tags(photo.media.data) == [] and "GPS" in photo.media.removed
    assert photo.faces_masked >= 2 and photo.mask.clean
    with Image.open(io.BytesIO(photo.media.data)) as decoded:
        released = np.asarray(decoded.convert("RGB"))
    subject = FaceBox(*photo.mask.subject_box, "subject")
    assert [b for b in lbp_faces(released) if b.overlap(subject) < 0.5] == []


def test_a_40_px_bystander_in_a_large_photo_is_masked() -> None:
    """A phone-sized photo (3000 x 2250) is searched whole: a face of 40 px (scikit-image's astronaut, reduced)
    would fall below dlib's 80 px window at 2x on a copy reduced to 2000 px."""
    astronaut = skdata.astronaut()  # her face is ~90 px wide in the 512 px original
    small = cv2.resize(astronaut, None, fx=40 / 90, fy=40 / 90, interpolation=cv2.INTER_AREA)
    canvas = np.random.default_rng(3).integers(90, 150, size=(2250, 3000, 3), dtype=np.uint8)
    canvas[300:800, 300:800] = cv2.resize(_face(0, 500), (500, 500))[..., None]
    top, left = 1500, 2200
    canvas[top : top + small.shape[0], left : left + small.shape[1]] = small
    face_centre = (top + round(121 * 40 / 90), left + round(220 * 40 / 90))

    result = mask_bystanders(canvas)

    assert result.subject_box is not None and FaceBox(*result.subject_box, "s").overlap(
        FaceBox(300, 300, 800, 800, "lfw")) > 0.5
    assert (result.image[face_centre] == FILL).all()
    assert result.clean


def test_a_search_near_a_region_finds_there_what_the_whole_search_finds(original: np.ndarray) -> None:
    """The re-check after painting searches only around the paint, at the whole search's working scale, and
    reports boxes in the image's own coordinates; overlapping regions are searched once."""
    height, width = original.shape[:2]
    around_b = box("B").expanded(0.5, width, height)
    shifted = FaceBox(around_b.left + 10, around_b.top + 10, around_b.right + 10, around_b.bottom + 10, "r")
    near = detect_faces_near(original, [around_b, shifted], MASKING_DETECTORS)
    whole = detect_faces(original, MASKING_DETECTORS)

    def hog_on_b(boxes: list[FaceBox]) -> list[FaceBox]:
        return [b for b in boxes if b.detector.startswith("hog") and b.overlap(box("B")) > 0.5]

    assert len(hog_on_b(near)) == len(hog_on_b(whole)) >= 1
    assert max(n.iou(w) for n in hog_on_b(near) for w in hog_on_b(whole)) > 0.8
    assert all(b.overlap(FaceBox(around_b.left, around_b.top, shifted.right, shifted.bottom, "u")) == 1.0
               for b in near)
    assert not any(b.overlap(box("A")) > 0.5 or b.overlap(box("C")) > 0.5 for b in near)


def test_a_photo_is_clean_only_when_the_whole_encoded_file_shows_no_other_face(
    original: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    import anonymize._pipeline as pipeline

    source = fx.jpeg_with_everything(Image.fromarray(original), trailer=False)
    assert anonymize_photo(source).clean
    # A search of the encoded file that keeps finding something: the rounds run out and the photo is not clean.
    monkeypatch.setattr(pipeline, "mask_remaining", lambda *args, **kwargs: [(0, 0, 4, 4)])
    assert not anonymize_photo(source).clean


def test_the_cnn_searches_a_copy_reduced_to_its_own_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    import anonymize._faces as faces

    seen: list[tuple[int, ...]] = []
    monkeypatch.setattr(faces, "_cnn", lambda rgb, settings: seen.append(rgb.shape) or [])
    detect_faces(np.zeros((1500, 3000, 3), np.uint8), DetectorSettings(cnn=True, cnn_max_side=600))
    assert seen == [(300, 600, 3)]
