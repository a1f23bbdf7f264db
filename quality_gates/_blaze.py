"""BlazeFace short-range: the second face detector, run by OpenCV's DNN module on the shipped TFLite model.

dlib's HOG misses most faces under a mask and many small, soft webcam faces; dlib's CNN finds some of them at
~0.5 s per photo here. BlazeFace (MediaPipe's selfie-range detector, `models/README.md`) finds them in ~5-10
ms. Measured on the occlusion sets of ../shared/data: mask_voc masked faces 24/28 (HOG 1/28, dlib CNN 8/28),
unmasked webcam faces 33/35 (HOG 11/35), sunglasses selfies 97/110.

The network sees the whole photo letterboxed to 128x128, so it finds faces that fill a good part of the frame
(a selfie or a portrait), which is what the photo gates accept anyway; small faces are HOG's job. Output boxes
are mapped onto dlib's box convention (same centre, 0.93 of the side, measured on 236 faces both detectors
found) so dlib's landmark model can be run on them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from quality_gates.errors import ModelUnavailable

MODEL_PATH = Path(__file__).with_name("models") / "face_detection_short_range.tflite"
INPUT_SIDE = 128
MIN_SCORE = 0.5  # MediaPipe's default; among the bench's camera JPEGs only a feather passes it falsely
NMS_IOU = 0.3
# dlib box from a BlazeFace box (measured medians over faces both found): same centre x, centre 2% of the width
# higher, side 0.93 of the width.
DLIB_SIDE = 0.93
DLIB_DY = -0.02


@dataclass(frozen=True)
class BlazeFace:
    """A face found by BlazeFace, in the pixel coordinates of the array given, already on dlib's convention."""

    left: float
    top: float
    right: float
    bottom: float
    score: float
    keypoints: tuple[tuple[float, float], ...]  # right eye, left eye, nose tip, mouth, right ear, left ear


@cache
def _anchors() -> np.ndarray:
    """SSD anchor centres of the short-range model: stride 8 with 2 anchors per cell, stride 16 with 6."""
    centres: list[tuple[float, float]] = []
    for stride, per_cell in ((8, 2), (16, 6)):
        grid = INPUT_SIDE // stride
        for y in range(grid):
            for x in range(grid):
                centres.extend([((x + 0.5) / grid, (y + 0.5) / grid)] * per_cell)
    return np.asarray(centres, dtype=np.float32)


class _Net:
    """The loaded network; forward passes are serialised (an OpenCV Net is not safe to share across threads)."""

    def __init__(self) -> None:
        try:
            self.net = cv2.dnn.readNetFromTFLite(str(MODEL_PATH))
        except cv2.error as exc:
            raise ModelUnavailable("blazeface", str(exc)) from exc
        self.lock = threading.Lock()

    def forward(self, blob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with self.lock:
            self.net.setInput(blob)
            scores, boxes = self.net.forward(["classificators", "regressors"])
        return scores, boxes


_net: _Net | None = None
_net_lock = threading.Lock()


def _load() -> _Net:
    global _net
    with _net_lock:
        if _net is None:
            if not MODEL_PATH.is_file():
                raise ModelUnavailable("blazeface", f"{MODEL_PATH} is missing")
            _net = _Net()
        return _net


def detect(pixels: np.ndarray, min_score: float = MIN_SCORE) -> list[BlazeFace]:
    """Faces in an RGB uint8 array, best first, boxes on dlib's convention in the array's coordinates."""
    height, width = pixels.shape[:2]
    side = max(height, width)
    if side == 0:
        return []
    factor = INPUT_SIDE / side
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    small = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR)
    square = np.zeros((INPUT_SIDE, INPUT_SIDE, 3), np.uint8)
    oy, ox = (INPUT_SIDE - size[1]) // 2, (INPUT_SIDE - size[0]) // 2
    square[oy:oy + size[1], ox:ox + size[0]] = small[:, :, :3]
    blob = cv2.dnn.blobFromImage(square, 1 / 127.5, (INPUT_SIDE, INPUT_SIDE), (127.5, 127.5, 127.5))
    raw_scores, raw_boxes = _load().forward(blob)
    scores = 1.0 / (1.0 + np.exp(-np.clip(raw_scores[0, :, 0].astype(np.float64), -80.0, 80.0)))
    anchors = _anchors()
    found: list[BlazeFace] = []
    for index in np.argsort(-scores):
        if scores[index] < min_score:
            break
        face = _decode(raw_boxes[0, index], anchors[index], float(scores[index]), (ox, oy), factor)
        if all(_iou(face, other) < NMS_IOU for other in found):
            found.append(face)
    return found


def _decode(raw: np.ndarray, anchor: np.ndarray, score: float, offset: tuple[int, int],
            factor: float) -> BlazeFace:
    """One anchor's regression (in input pixels relative to the anchor) to a dlib-convention box."""
    def point(dx: float, dy: float) -> tuple[float, float]:
        x = (dx + anchor[0] * INPUT_SIDE - offset[0]) / factor
        y = (dy + anchor[1] * INPUT_SIDE - offset[1]) / factor
        return float(x), float(y)

    cx, cy = point(float(raw[0]), float(raw[1]))
    width = float(raw[2]) / factor
    half = DLIB_SIDE * width / 2
    cy += DLIB_DY * width
    keypoints = tuple(point(float(raw[4 + 2 * k]), float(raw[5 + 2 * k])) for k in range(6))
    return BlazeFace(cx - half, cy - half, cx + half, cy + half, score, keypoints)


def _iou(a: BlazeFace, b: BlazeFace) -> float:
    width = max(0.0, min(a.right, b.right) - max(a.left, b.left))
    inter = width * max(0.0, min(a.bottom, b.bottom) - max(a.top, b.top))
    union = (a.right - a.left) * (a.bottom - a.top) + (b.right - b.left) * (b.bottom - b.top) - inter
    return inter / union if union > 0 else 0.0
