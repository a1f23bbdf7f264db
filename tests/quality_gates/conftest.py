"""Fixtures for the photo-gate tests: synthetic faces (68 landmarks and a drawn face image), encoded uploads.

The landmark template is the mean dlib 68-point shape of frontal faces, in units of the inter-eye distance
around the midpoint of the eyes (numbers only; no image is shipped).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable

import cv2
import numpy as np
import pytest
from PIL import Image

from quality_gates import FaceInfo, _occlusion
from quality_gates._occlusion import ENCODING_SIZE, LinearModel

TEMPLATE = np.array((
    (-1.085, 0.014), (-1.063, 0.310), (-1.025, 0.598), (-0.980, 0.892),
    (-0.887, 1.166), (-0.722, 1.402), (-0.511, 1.604), (-0.265, 1.766),
    (0.013, 1.812), (0.288, 1.763), (0.535, 1.598), (0.751, 1.399),
    (0.923, 1.160), (1.019, 0.892), (1.067, 0.599), (1.100, 0.310),
    (1.120, 0.012), (-0.925, -0.182), (-0.789, -0.300), (-0.596, -0.336),
    (-0.393, -0.310), (-0.206, -0.235), (0.194, -0.230), (0.386, -0.303),
    (0.587, -0.330), (0.783, -0.297), (0.932, -0.176), (-0.002, -0.027),
    (-0.005, 0.163), (-0.002, 0.354), (-0.002, 0.548), (-0.213, 0.669),
    (-0.113, 0.702), (-0.004, 0.743), (0.110, 0.702), (0.214, 0.667),
    (-0.687, 0.001), (-0.568, -0.070), (-0.426, -0.064), (-0.300, 0.025),
    (-0.440, 0.048), (-0.577, 0.048), (0.302, 0.031), (0.423, -0.060),
    (0.570, -0.062), (0.690, 0.003), (0.575, 0.048), (0.436, 0.051),
    (-0.457, 1.001), (-0.287, 0.955), (-0.122, 0.926), (0.002, 0.953),
    (0.127, 0.925), (0.290, 0.946), (0.462, 0.996), (0.306, 1.165),
    (0.138, 1.240), (0.003, 1.251), (-0.129, 1.240), (-0.293, 1.171),
    (-0.386, 1.021), (-0.124, 1.016), (0.002, 1.031), (0.127, 1.016),
    (0.391, 1.011), (0.135, 1.101), (0.004, 1.117), (-0.125, 1.106),
))

SKIN = (205, 160, 135)


def landmarks(cx: float, cy: float, eye_dist: float, roll_deg: float = 0.0) -> np.ndarray:
    """The template placed with its eye midpoint at (cx, cy), scaled and rotated in the image plane."""
    angle = math.radians(roll_deg)
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    return TEMPLATE @ rot.T * eye_dist + np.array([cx, cy])


def face_from_points(points: np.ndarray, detector: str = "hog") -> FaceInfo:
    left, top = points.min(axis=0)
    right, bottom = points.max(axis=0)
    box = (int(top - 0.4 * (bottom - top)), int(right), int(bottom), int(left))
    return FaceInfo(box, tuple((float(x), float(y)) for x, y in points), np.zeros(128), detector, 1.0)


def draw_face(points: np.ndarray, size: tuple[int, int], cover: str | None = None) -> np.ndarray:
    """A textured skin-coloured face with eyes (sclera, iris), brows, nose and lips; optionally covered by
    dark sunglasses ("sunglasses") or a light-blue surgical mask ("mask")."""
    width, height = size
    rng = np.random.default_rng(7)
    img = np.full((height, width, 3), (90, 110, 100), np.uint8)
    hull = cv2.convexHull(np.vstack([points[:17], points[17:27] - [0, 0.5 * _eye(points)]]).astype(np.int32))
    cv2.fillConvexPoly(img, hull, SKIN)
    noise = rng.normal(0, 6, img.shape)
    img = np.clip(img + noise, 0, 255).astype(np.uint8)
    d = _eye(points)
    for eye in (points[36:42], points[42:48]):
        cv2.fillPoly(img, [eye.astype(np.int32)], (245, 245, 240))
        centre = eye.mean(axis=0).astype(int)
        cv2.circle(img, tuple(int(v) for v in centre), max(2, int(0.09 * d)), (60, 40, 30), -1)
        cv2.polylines(img, [eye.astype(np.int32)], True, (50, 35, 30), max(1, int(0.02 * d)))
    for brow in (points[17:22], points[22:27]):
        cv2.polylines(img, [brow.astype(np.int32)], False, (70, 50, 40), max(2, int(0.06 * d)))
    cv2.polylines(img, [points[31:36].astype(np.int32)], False, (150, 100, 90), max(1, int(0.03 * d)))
    cv2.fillPoly(img, [points[48:60].astype(np.int32)], (175, 70, 80))
    cv2.polylines(img, [points[60:68].astype(np.int32)], True, (90, 30, 40), max(1, int(0.02 * d)))
    if cover == "sunglasses":
        for eye in (points[36:42], points[42:48]):
            c = eye.mean(axis=0)
            cv2.ellipse(img, (int(c[0]), int(c[1])), (int(0.42 * d), int(0.3 * d)), 0, 0, 360, (20, 20, 25), -1)
        cv2.line(img, tuple(points[39].astype(int)), tuple(points[42].astype(int)), (20, 20, 25), max(2, int(0.05 * d)))
    elif cover == "mask":
        top = points[28]
        poly = np.vstack([points[1:16], [points[15][0], top[1]], [points[1][0], top[1]]]).astype(np.int32)
        cv2.fillPoly(img, [poly], (165, 200, 225))
    return cv2.GaussianBlur(img, (3, 3), 0)


def _eye(points: np.ndarray) -> float:
    return float(np.linalg.norm(points[36:42].mean(axis=0) - points[42:48].mean(axis=0)))


def encode(pixels: np.ndarray, fmt: str = "JPEG", **params: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format=fmt, **params)
    return buf.getvalue()


@pytest.fixture
def encoding_blind_occlusion(monkeypatch: pytest.MonkeyPatch) -> None:
    """The occlusion gate's appearance-aware models with the region descriptors' weights set to zero.

    A drawn face has no real network appearance (the fake analyzer gives zeros), so gate-logic tests on drawn
    faces score the hand-made measurements only; the shipped models are tested on real photos.
    """
    shipped = _occlusion.occlusion_models()
    eyes, mouth = (LinearModel(m.bias, m.weights, {vector: np.zeros(ENCODING_SIZE)})
                   for m, vector in zip(shipped.measured, ("eye_region", "mouth_region"), strict=True))
    blind = _occlusion.OcclusionModels(shipped.measured, (eyes, mouth))
    monkeypatch.setattr(_occlusion, "occlusion_models", lambda *a: blind)


@pytest.fixture
def synthetic_face(encoding_blind_occlusion: None) -> Callable[..., tuple[np.ndarray, FaceInfo]]:
    """make(cover=None, size=(480, 600), eye_dist=90, roll=0, detector="hog") -> (pixels, face)."""

    def make(cover: str | None = None, size: tuple[int, int] = (480, 600), eye_dist: float = 90.0,
             roll: float = 0.0, detector: str = "hog") -> tuple[np.ndarray, FaceInfo]:
        points = landmarks(size[0] / 2, size[1] * 0.42, eye_dist, roll)
        return draw_face(points, size, cover), face_from_points(points, detector)

    return make
