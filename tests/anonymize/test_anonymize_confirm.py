"""Clusters only the Haar cascades saw must look like a face to be painted (`confirmed_faces`), on scikit-image's
astronaut photo: her face, a patch of the photo without one, and the same with the colour changed or removed.
(Masked faces under coloured light are in test_anonymize_realdata.)"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from anonymize import MASKING_DETECTORS, DetectorSettings, FaceBox, confirmed_faces
from anonymize._faces import FaceCluster, _colour_corrections, _skin_share

pytestmark = pytest.mark.slow

FACE = FaceBox(170, 70, 270, 170, "haar:frontalface_default")  # dlib finds her face at (175, 76, 266, 167)
SUIT = FaceBox(300, 400, 400, 500, "haar:frontalface_default")  # no face, no skin colour


def _alone(box: FaceBox) -> FaceCluster:
    return FaceCluster(box, (box,))


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return np.ascontiguousarray(skdata.astronaut())


def test_haar_only_texture_is_dropped_and_her_face_is_kept(astronaut: np.ndarray) -> None:
    face, suit = _alone(FACE), _alone(SUIT)
    for settings in (DetectorSettings(), MASKING_DETECTORS):
        assert confirmed_faces(astronaut, [face, suit], settings) == [face]


def test_a_face_without_skin_colour_is_kept_when_the_cnn_finds_it(astronaut: np.ndarray) -> None:
    """Under a blue cast no pixel of her face is skin-coloured; dlib's CNN still finds the face."""
    cast = astronaut.astype(np.int16)
    cast[..., 0] //= 3
    cast[..., 2] += 60
    blue = np.clip(cast, 0, 255).astype(np.uint8)
    face = _alone(FACE)
    assert confirmed_faces(blue, [face, _alone(SUIT)]) == [face]


def test_grey_paint_does_not_change_the_colour_judgement(astronaut: np.ndarray) -> None:
    """Masking paints faces grey between rounds; the colour corrections must not drift with it."""
    painted = astronaut.copy()
    painted[:, 256:] = 128
    after, alone = _colour_corrections(painted), _colour_corrections(np.ascontiguousarray(astronaut[:, :256]))
    assert after is not None and alone is not None and len(after) == len(alone) >= 1
    assert all(np.abs(a.astype(int) - b.astype(int)).max() <= 1 for a, b in zip(after, alone, strict=True))


def test_a_dim_or_hazy_photo_is_corrected_before_looking_for_skin(astronaut: np.ndarray) -> None:
    dim = (astronaut // 3).astype(np.uint8)
    hazy = (0.5 * astronaut + 0.5 * np.array([40, 90, 255])).astype(np.uint8)  # half blue light added
    for photo in (dim, hazy):
        corrections = _colour_corrections(photo)
        assert corrections is not None
        assert _skin_share(photo, FACE, corrections) > 0.5
        assert _skin_share(photo, SUIT, corrections) < 0.05
    assert _skin_share(hazy, FACE) < 0.05  # as shot, the blue light leaves no skin colour


def test_colourless_photos_and_other_detectors_are_not_judged(astronaut: np.ndarray) -> None:
    grey = np.ascontiguousarray(np.stack([cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)] * 3, axis=-1))
    suit = _alone(SUIT)
    assert confirmed_faces(grey, [suit]) == [suit]  # no colour to judge by: every detection counts
    nearly_black = (astronaut // 8).astype(np.uint8)
    assert confirmed_faces(nearly_black, [suit]) == [suit]
    seen_by_dlib = _alone(FaceBox(*SUIT.as_tuple(), "hog:1"))
    assert confirmed_faces(astronaut, [seen_by_dlib]) == [seen_by_dlib]
    assert confirmed_faces(astronaut, [suit], DetectorSettings(haar_only_skin_share=0.0)) == [suit]
