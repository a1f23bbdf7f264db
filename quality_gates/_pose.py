"""Head pose (yaw, pitch, roll in degrees) from the 68 dlib landmarks.

Roll is the angle of the eye line. Yaw and pitch come from `cv2.solvePnP` fitting a generic 3-D face model
(six points: nose tip, chin, outer eye corners, mouth corners) with a pinhole camera whose focal length is the
image width; accurate to a few degrees, which is what a +-25-30 degree rule needs. Pitch is reported relative to
the model's neutral position (a frontal face gives about 0; positive = looking up).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

# Generic face model (mm), indices into the 68-point scheme (0-based).
_MODEL_POINTS = np.array([
    (0.0, 0.0, 0.0),          # 30 nose tip
    (0.0, -330.0, -65.0),     # 8 chin
    (-225.0, 170.0, -135.0),  # 36 outer corner of the image-left eye
    (225.0, 170.0, -135.0),   # 45 outer corner of the image-right eye
    (-150.0, -150.0, -125.0),  # 48 left mouth corner
    (150.0, -150.0, -125.0),  # 54 right mouth corner
], dtype=np.float64)
_LANDMARK_INDEX = (30, 8, 36, 45, 48, 54)


@dataclass(frozen=True)
class HeadPose:
    yaw: float
    pitch: float
    roll: float


def estimate_pose(landmarks: tuple[tuple[float, float], ...], image_size: tuple[int, int]) -> HeadPose | None:
    """Yaw/pitch/roll in degrees for 68 landmarks in an image of (width, height); None if it cannot fit."""
    if len(landmarks) != 68:
        return None
    pts = np.asarray(landmarks, dtype=np.float64)
    image_points = pts[list(_LANDMARK_INDEX)]
    width, height = image_size
    camera = np.array([[width, 0, width / 2], [0, width, height / 2], [0, 0, 1]], dtype=np.float64)
    ok, rvec, _ = cv2.solvePnP(_MODEL_POINTS, image_points, camera, np.zeros(4), flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok:
        return None
    yaw, pitch = _yaw_pitch(cv2.Rodrigues(rvec)[0])
    eye_vec = pts[42:48].mean(axis=0) - pts[36:42].mean(axis=0)
    roll = math.degrees(math.atan2(eye_vec[1], eye_vec[0]))
    return HeadPose(yaw=yaw, pitch=-pitch, roll=roll)


def _yaw_pitch(rotation: np.ndarray) -> tuple[float, float]:
    """Yaw (about the vertical axis) and pitch (about the horizontal) of a model-to-camera rotation."""
    # The model's y axis points up and the camera's y down: flip so a frontal face is the identity.
    flipped = np.diag([1.0, -1.0, -1.0]) @ rotation
    sy = math.hypot(flipped[0, 0], flipped[1, 0])
    pitch = math.degrees(math.atan2(flipped[2, 1], flipped[2, 2]))
    yaw = math.degrees(math.atan2(-flipped[2, 0], sy))
    return yaw, pitch
