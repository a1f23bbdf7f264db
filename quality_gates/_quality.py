"""Image quality measurements on the face: sharpness and exposure.

Sharpness is the variance of the Laplacian of the face aligned to a fixed inter-eye distance (so a large face
is not favoured over a small one), divided by the face's own contrast (so a dim but sharp face is not called
blurry). Exposure is the mean luma of the inner face (landmark hull) and the fractions of its pixels clipped
at black (<= 5) or white (>= 250).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from quality_gates._report import FaceInfo

_INNER = (slice(56, 200), slice(40, 152))  # rows, cols of the aligned canvas: brows to chin, eye to eye


def sharpness(aligned_gray: np.ndarray) -> float:
    """Contrast-normalised Laplacian variance of an aligned face (higher = sharper)."""
    inner = aligned_gray[_INNER].astype(np.float64)
    lap = cv2.Laplacian(inner, cv2.CV_64F, ksize=3)
    contrast = max(float(inner.std()), 8.0)
    return float(lap.var()) / contrast


@dataclass(frozen=True)
class Exposure:
    mean_luma: float
    dark_fraction: float
    bright_fraction: float


def exposure(pixels: np.ndarray, face: FaceInfo) -> Exposure:
    """Luma statistics inside the hull of the 68 landmarks (the box when there are none)."""
    gray = cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)
    mask = np.zeros(gray.shape, np.uint8)
    if len(face.landmarks) == 68:
        hull = cv2.convexHull(np.round(np.asarray(face.landmarks)).astype(np.int32))
        cv2.fillConvexPoly(mask, hull, 1)
    else:
        top, right, bottom, left = face.box
        mask[top:bottom, left:right] = 1
    values = gray[mask.astype(bool)]
    if values.size == 0:
        values = gray.ravel()
    return Exposure(float(values.mean()), float((values <= 5).mean()), float((values >= 250).mean()))
