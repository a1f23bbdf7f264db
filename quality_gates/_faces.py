"""Face detection, landmarks and encodings behind the `FaceAnalyzer` protocol.

`DlibFaceAnalyzer` is the real implementation (dlib models shipped by face_recognition_models, loaded lazily,
once per process). Speed policy, measured: HOG runs once on a copy resized to 720 px on the longer side (50-100
ms instead of seconds at full size; small images are scaled up to it, cheaper than dlib's 2x upsampling). When
HOG finds no face, BlazeFace (`_blaze`, ~5-10 ms) looks next: it finds most masked faces and soft webcam faces
that HOG misses. dlib's CNN (MMOD) detector is a third, optional look (`use_cnn_fallback`, off by default): on
the occlusion sets it added 4 faces of ~440 that BlazeFace missed, at ~0.5 s per photo even on a 288 px copy
(dlib-bin has no BLAS), and at full resolution it takes gigabytes and many seconds, so it never runs there.
Faces HOG missed are marked with the detector that found them (`"blaze"`, `"cnn"`) and the occlusion gate
treats that as evidence. Landmarks and the 128-d encoding are computed on a crop around each face, resized so
the face is at most ~300 px, and mapped back to the coordinates of the array given; the encoder is dlib's
ResNet run in numpy (`_resnet`, same encodings, ~4x faster than dlib-bin's BLAS-less build). `FakeFaceAnalyzer` returns
preset faces for tests of gate logic.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import cv2
import numpy as np
from threadpoolctl import threadpool_limits

from quality_gates import _blaze
from quality_gates._report import FaceInfo
from quality_gates._resnet import CHIP_PADDING, CHIP_SIZE, FaceAppearance, FaceResNet, load_resnet
from quality_gates.errors import ModelUnavailable

DETECT_MAX_SIDE = 720
CNN_MAX_SIDE = 288
CROP_FACE_SIDE = 300
HOG_THRESHOLD = 0.0
HOG_HINT_THRESHOLD = -0.65  # a weaker HOG response: something face-like worth the CNN's second look


class FaceAnalyzer(Protocol):
    """Finds faces in an RGB uint8 array; results in that array's pixel coordinates, largest first."""

    def analyze(self, pixels: np.ndarray, *, encode: bool = True) -> list[FaceInfo]: ...

    def detect_cnn(self, pixels: np.ndarray) -> list[FaceInfo]:
        """Boxes from the second (CNN) detector only; no landmarks."""
        ...

    def appearance(self, pixels: np.ndarray, face: FaceInfo) -> FaceAppearance | None:
        """The 128-d encoding and the local region descriptors of a face already found (with its 68 landmarks)
        in `pixels`; None without landmarks."""
        ...


@dataclass
class _Models:
    hog: Any
    cnn: Any
    shape: Any
    encoder: FaceResNet

    def describe(self, crop: np.ndarray, shape: Any) -> FaceAppearance:
        """dlib's face chip (150 px, padding 0.25) through the encoder network."""
        import dlib

        chip = np.asarray(dlib.get_face_chip(crop, shape, size=CHIP_SIZE, padding=CHIP_PADDING))
        return self.encoder.describe(chip)


_models: _Models | None = None
_models_lock = threading.Lock()


def _load_models() -> _Models:
    """Load the dlib models once per process (thread-safe)."""
    global _models
    with _models_lock:
        if _models is None:
            _models = _read_models()
        return _models


def _read_models() -> _Models:
    try:
        import dlib
        import face_recognition_models as frm
    except ImportError as exc:  # pragma: no cover - dependencies are pinned
        raise ModelUnavailable("dlib", str(exc)) from exc
    # The encoder's matrix products are small: OpenBLAS threads gain nothing on them, and their busy-waiting
    # took CPU from dlib and OpenCV (measured: the bench's gate 13 -> 18 photos/s with one BLAS thread).
    threadpool_limits(limits=1, user_api="blas")
    try:
        return _Models(
            hog=dlib.get_frontal_face_detector(),
            cnn=dlib.cnn_face_detection_model_v1(frm.cnn_face_detector_model_location()),
            shape=dlib.shape_predictor(frm.pose_predictor_model_location()),
            encoder=load_resnet(frm.face_recognition_model_location()),
        )
    except RuntimeError as exc:
        raise ModelUnavailable("face_recognition_models", str(exc)) from exc


def resize_to_side(pixels: np.ndarray, side: int) -> tuple[np.ndarray, float]:
    """Resize (area down, linear up) so the longer side is `side`; returns (array, factor)."""
    height, width = pixels.shape[:2]
    factor = side / max(height, width)
    if abs(factor - 1.0) < 0.02:
        return pixels, 1.0
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
    return cv2.resize(pixels, size, interpolation=interpolation), factor


def resize_to_max_side(pixels: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Downscale (area interpolation) so the longer side is <= max_side; returns (array, factor<=1)."""
    height, width = pixels.shape[:2]
    factor = min(1.0, max_side / max(height, width))
    if factor >= 1.0:
        return pixels, 1.0
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return cv2.resize(pixels, size, interpolation=cv2.INTER_AREA), factor


def equalize_lightness(pixels: np.ndarray) -> np.ndarray:
    """CLAHE on the Lab lightness: measured to help the CNN find dim and masked webcam faces."""
    lab = cv2.cvtColor(pixels, cv2.COLOR_RGB2LAB)
    lab[:, :, 0] = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(lab[:, :, 0])
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)


@dataclass(frozen=True)
class _Detection:
    left: float
    top: float
    right: float
    bottom: float
    score: float
    detector: str

    def scaled(self, factor: float) -> _Detection:
        return replace(self, left=self.left / factor, top=self.top / factor, right=self.right / factor,
                       bottom=self.bottom / factor)

    @property
    def side(self) -> float:
        return float(np.sqrt(max(self.right - self.left, 0) * max(self.bottom - self.top, 0)))


class DlibFaceAnalyzer:
    """The real analyzer: dlib HOG, BlazeFace and dlib CNN fallbacks, 68-point landmarks and the ResNet face encoder."""

    def __init__(self, detect_max_side: int = DETECT_MAX_SIDE, cnn_max_side: int = CNN_MAX_SIDE,
                 use_cnn_fallback: bool = False, use_blaze: bool = True) -> None:
        self.detect_max_side = detect_max_side
        self.cnn_max_side = cnn_max_side
        self.use_cnn_fallback = use_cnn_fallback
        self.use_blaze = use_blaze

    def analyze(self, pixels: np.ndarray, *, encode: bool = True) -> list[FaceInfo]:
        """Detect (HOG, then BlazeFace, then CNN), add landmarks and optionally the encoding."""
        detections = self._detect(pixels)
        faces = [self._describe(pixels, det, encode) for det in detections]
        return sorted(faces, key=lambda f: f.side, reverse=True)

    def detect_cnn(self, pixels: np.ndarray) -> list[FaceInfo]:
        return [_box_only(d) for d in self._cnn(pixels)]

    def appearance(self, pixels: np.ndarray, face: FaceInfo) -> FaceAppearance | None:
        """From the face's own landmarks (no second landmark pass); None without landmarks."""
        if len(face.landmarks) != 68:
            return None
        import dlib

        top, right, bottom, left = face.box
        crop, origin, factor = _face_crop(pixels, _Detection(left, top, right, bottom, face.score, face.detector))
        points = [dlib.point(round((x - origin[0]) * factor), round((y - origin[1]) * factor))
                  for x, y in face.landmarks]
        rect = dlib.rectangle(*(round(v) for v in _to_crop((left, top, right, bottom), origin, factor)))
        return _load_models().describe(crop, dlib.full_object_detection(rect, points))

    def _detect(self, pixels: np.ndarray) -> list[_Detection]:
        # HOG's window is 80 px: on a copy whose longer side is 720 px that is 11% of the longer side, i.e. 15%
        # of the shorter side of a 4:3 photo, the smallest face the default rules accept. Small images are
        # scaled up to the same size (cheaper than dlib's 2x upsampling, and at most 2x), large ones down.
        longer = max(pixels.shape[:2])
        copy, factor = resize_to_side(pixels, min(self.detect_max_side, 2 * longer))
        found = self._hog(copy)
        strong = [d.scaled(factor) for d in found if d.score >= HOG_THRESHOLD]
        if strong:
            return strong
        if self.use_blaze:
            second = [d.scaled(factor) for d in self._blaze(copy)]
            if second:
                return second
        if not self.use_cnn_fallback or not found:
            return []
        # Measured on the shared sets: the CNN finds masked or covered faces HOG misses, and most of them
        # leave a weak HOG response; photos without any (landscapes, documents) skip the slow CNN.
        return self._cnn(pixels)

    def _hog(self, copy: np.ndarray) -> list[_Detection]:
        rects, scores, _ = _load_models().hog.run(copy, 0, HOG_HINT_THRESHOLD)
        return [_Detection(r.left(), r.top(), r.right(), r.bottom(), float(s), "hog")
                for r, s in zip(rects, scores, strict=True)]

    def _blaze(self, copy: np.ndarray) -> list[_Detection]:
        return [_Detection(f.left, f.top, f.right, f.bottom, f.score, "blaze") for f in _blaze.detect(copy)]

    def _cnn(self, pixels: np.ndarray) -> list[_Detection]:
        small, factor = resize_to_max_side(pixels, self.cnn_max_side)
        found = _load_models().cnn(equalize_lightness(small), 0)
        return [_Detection(d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom(), float(d.confidence),
                           "cnn").scaled(factor) for d in found]

    def _describe(self, pixels: np.ndarray, det: _Detection, encode: bool) -> FaceInfo:
        crop, origin, factor = _face_crop(pixels, det)
        import dlib

        models = _load_models()
        rect = dlib.rectangle(*(round(v) for v in _to_crop((det.left, det.top, det.right, det.bottom),
                                                             origin, factor)))
        shape = models.shape(crop, rect)
        points = tuple((p.x / factor + origin[0], p.y / factor + origin[1]) for p in shape.parts())
        encoding = models.describe(crop, shape).encoding if encode else None
        box = _clip_box(det, pixels.shape)
        return FaceInfo(box, points, encoding, det.detector, det.score)


def _face_crop(pixels: np.ndarray, det: _Detection) -> tuple[np.ndarray, tuple[int, int], float]:
    """A crop with a 60% margin around the face, downscaled so the face side is <= CROP_FACE_SIDE."""
    height, width = pixels.shape[:2]
    margin = 0.6 * max(det.right - det.left, det.bottom - det.top)
    x0, y0 = max(0, int(det.left - margin)), max(0, int(det.top - margin))
    x1, y1 = min(width, int(det.right + margin) + 1), min(height, int(det.bottom + margin) + 1)
    crop = pixels[y0:y1, x0:x1]
    factor = min(1.0, CROP_FACE_SIDE / max(det.side, 1.0))
    if factor < 1.0:
        size = (max(1, round(crop.shape[1] * factor)), max(1, round(crop.shape[0] * factor)))
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(crop), (x0, y0), factor


def _to_crop(box: tuple[float, float, float, float], origin: tuple[int, int],
             factor: float) -> tuple[float, float, float, float]:
    left, top, right, bottom = box
    return ((left - origin[0]) * factor, (top - origin[1]) * factor,
            (right - origin[0]) * factor, (bottom - origin[1]) * factor)


def _clip_box(det: _Detection, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """(top, right, bottom, left) clipped to the image."""
    height, width = shape[:2]
    return (max(0, round(det.top)), min(width, round(det.right)), min(height, round(det.bottom)),
            max(0, round(det.left)))


def _box_only(det: _Detection) -> FaceInfo:
    return FaceInfo((round(det.top), round(det.right), round(det.bottom), round(det.left)),
                    detector=det.detector, score=det.score)


class FakeFaceAnalyzer:
    """Returns preset faces (or the result of a callable) for tests of gate logic; never loads a model."""

    def __init__(self, faces: Sequence[FaceInfo] | Callable[[np.ndarray], Sequence[FaceInfo]] = (),
                 cnn_faces: Sequence[FaceInfo] = ()) -> None:
        self._faces = faces
        self._cnn_faces = list(cnn_faces)
        self.calls = 0
        self.encoded = 0
        self._encodings: dict[tuple[int, int, int, int], np.ndarray | None] = {}

    def analyze(self, pixels: np.ndarray, *, encode: bool = True) -> list[FaceInfo]:
        self.calls += 1
        faces = list(self._faces(pixels) if callable(self._faces) else self._faces)
        self._encodings = {f.box: f.encoding for f in faces}
        if not encode:
            faces = [replace(f, encoding=None) for f in faces]
        return sorted(faces, key=lambda f: f.side, reverse=True)

    def detect_cnn(self, pixels: np.ndarray) -> list[FaceInfo]:
        return list(self._cnn_faces)

    def appearance(self, pixels: np.ndarray, face: FaceInfo) -> FaceAppearance | None:
        """The preset face's encoding (the one with the same box), with all-zero region descriptors; None when
        that face has no preset encoding. `encoded` counts the calls."""
        self.encoded += 1
        encoding = self._encodings.get(face.box)
        if encoding is None:
            return None
        return FaceAppearance(encoding, np.zeros(128), np.zeros(128))


_default_analyzer: DlibFaceAnalyzer | None = None


def default_analyzer() -> DlibFaceAnalyzer:
    """The process-wide real analyzer (models load on its first use, not here)."""
    global _default_analyzer
    if _default_analyzer is None:
        _default_analyzer = DlibFaceAnalyzer()
    return _default_analyzer
