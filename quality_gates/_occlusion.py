"""Occlusion evidence for one face: covers of the eyes (sunglasses, hands) and of the nose and mouth (masks).

One cue is not enough on real photos, so several independent measurements are taken on a face crop aligned on
the eyes (roll removed, inter-eye distance normalised to `EYE_DIST` px) and combined:

- eyes: darkness of the lens area against the face's own skin (cheeks, forehead), whether the eye interior
  has the bright sclera / dark iris structure of a visible eye, and the OpenCV Haar eye detectors run inside
  each eye region (they find eyes behind clear glasses, not behind dark lenses);
- nose/mouth: colour distance of the lower face from the skin above it, the share of lower-face pixels that
  look like that skin, lip colour against the cheeks and how uniform the lower face is;
- detector: a face that the HOG detector missed and only a second detector (BlazeFace, dlib CNN) found is more
  often covered;
- appearance: what dlib's face-recognition network (trained on millions of faces) sees in the region: its
  128-filter level, averaged over the eye band and over the nose-and-mouth band of the aligned chip
  (`_resnet.FaceAppearance`). A linear read-out of each band's 16 main directions adds what the hand-made
  measurements miss (held out by person: sunglasses recall 0.88 -> 0.96 on cmu_faces and 0.75 -> 0.91 on
  selfies, unmasked faces flagged 42% -> 27%, see `_fit_occlusion`). The network runs (~25 ms) only when the
  measurements alone are unsure (`UNSURE_BAND`), and its identity encoding is not used here.

Scores are logistic combinations whose weights were fitted on the development sets in ../shared/data
(mask_voc, rwmfd, cmu_faces, yale_faces, sunglasses_selfies, and fgnet and cacd_vs as clean faces). Grey images
carry no colour evidence; the colour terms are then dropped rather than read as "no mask".
`quality_gates._fit_occlusion` measures the same features on the protocol's images, refits the models and
reports held-out figures; `fit --write` writes both pairs of models to `models/occlusion.json`, which the gate
reads.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from quality_gates._report import FaceInfo
from quality_gates._resnet import FaceAppearance
from quality_gates.errors import ModelUnavailable

MODEL_FILE = Path(__file__).with_name("models") / "occlusion.json"
ENCODING_SIZE = 128

EYE_DIST = 64.0
_CANVAS = (192, 224)  # width, height of the aligned crop
_LEFT_EYE_AT = (64.0, 80.0)


@dataclass(frozen=True)
class OcclusionFeatures:
    """Measurements behind the occlusion scores (all dimensionless)."""

    lens_dark: float
    lens_skin: float
    eye_interior: float
    eye_contrast: float
    haar_eyes: int
    lower_skin: float
    lower_dist: float
    lip_contrast: float
    lower_uniform: float
    lower_texture: float
    grey: bool
    hog_missed: bool

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class _Aligned:
    lab: np.ndarray
    gray: np.ndarray
    landmarks: np.ndarray
    grey: bool


@cache
def _eye_cascades() -> tuple[cv2.CascadeClassifier, ...]:
    names = ("haarcascade_eye_tree_eyeglasses.xml", "haarcascade_eye.xml")
    folder = cv2.data.haarcascades  # type: ignore[attr-defined]
    return tuple(cv2.CascadeClassifier(folder + name) for name in names)


def align_face(pixels: np.ndarray, face: FaceInfo) -> _Aligned:
    """Similarity-warp the face so the eye centres sit at fixed points EYE_DIST apart."""
    pts = np.asarray(face.landmarks, dtype=np.float64)
    left, right = pts[36:42].mean(axis=0), pts[42:48].mean(axis=0)
    vec = right - left
    scale = EYE_DIST / max(float(np.hypot(*vec)), 1e-6)
    angle = math.atan2(vec[1], vec[0])
    cos, sin = scale * math.cos(-angle), scale * math.sin(-angle)
    matrix = np.array([[cos, -sin, 0.0], [sin, cos, 0.0]])
    matrix[:, 2] = np.array(_LEFT_EYE_AT) - matrix[:, :2] @ left
    rgb = cv2.warpAffine(pixels, matrix, _CANVAS, flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    warped = pts @ matrix[:, :2].T + matrix[:, 2]
    chroma = np.abs(rgb.astype(np.int16) - rgb.mean(axis=2, keepdims=True).astype(np.int16))
    return _Aligned(lab, cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), warped, bool(chroma.mean() < 2.0))


def _box(cx: float, cy: float, half_w: float, top: float, bottom: float) -> tuple[slice, slice]:
    """Rows/cols of a box centred at cx, spanning cy+top..cy+bottom (in units of EYE_DIST)."""
    d = EYE_DIST
    x0, x1 = int(max(0, cx - half_w * d)), int(min(_CANVAS[0], cx + half_w * d))
    y0, y1 = int(max(0, cy + top * d)), int(min(_CANVAS[1], cy + bottom * d))
    return slice(y0, max(y1, y0 + 1)), slice(x0, max(x1, x0 + 1))


def _poly(points: np.ndarray, grow: float = 1.0) -> np.ndarray:
    centre = points.mean(axis=0)
    scaled = centre + (points - centre) * grow
    mask = np.zeros((_CANVAS[1], _CANVAS[0]), np.uint8)
    cv2.fillPoly(mask, [np.round(cv2.convexHull(scaled.astype(np.float32))).astype(np.int32)], 1)
    return mask.astype(bool)


def _regions(face: _Aligned) -> dict[str, np.ndarray]:
    lm = face.landmarks
    (lx, ly), rx = _LEFT_EYE_AT, _LEFT_EYE_AT[0] + EYE_DIST
    mid = (lx + rx) / 2
    brow_y = float(lm[17:27, 1].mean())
    shape = (_CANVAS[1], _CANVAS[0])
    boxes = {
        "lens": (mid, ly, 0.95, -0.22, 0.3),
        "cheek_l": (lx, ly, 0.16, 0.62, 0.85),
        "cheek_r": (rx, ly, 0.16, 0.62, 0.85),
        "under_l": (lx, ly, 0.18, 0.3, 0.45),
        "under_r": (rx, ly, 0.18, 0.3, 0.45),
        "forehead": (mid, brow_y, 0.3, -0.45, -0.12),
        "bridge": (mid, ly, 0.1, -0.25, 0.05),
    }
    masks: dict[str, np.ndarray] = {}
    for name, (cx, cy, hw, top, bottom) in boxes.items():
        masks[name] = np.zeros(shape, bool)
        masks[name][_box(cx, cy, hw, top, bottom)] = True
    masks["cheeks"] = masks.pop("cheek_l") | masks.pop("cheek_r")
    del masks["under_l"], masks["under_r"]
    masks["skin_ref"] = masks["forehead"] | masks.pop("bridge")
    masks["eyes"] = _poly(lm[36:42], 1.15) | _poly(lm[42:48], 1.15)
    masks["lens_skin"] = masks["lens"] & ~_poly(lm[36:42], 1.6) & ~_poly(lm[42:48], 1.6) & ~_poly(lm[27:31])
    masks["lens"] &= ~_poly(lm[27:31], 1.0)  # nose bridge between the lenses is not lens
    masks["eye_level"] = masks["lens_skin"]  # skin at eye level is never under a mask
    masks["mouth"] = _poly(lm[48:60], 1.0)
    masks["lower"] = _poly(np.vstack([lm[3:14], lm[31:36]]), 1.0) & ~_poly(lm[48:60], 1.25)
    return masks


def measure(pixels: np.ndarray, face: FaceInfo) -> OcclusionFeatures | None:
    """Occlusion measurements for a face with 68 landmarks (None without landmarks)."""
    if len(face.landmarks) != 68:
        return None
    aligned = align_face(pixels, face)
    regions = _regions(aligned)
    lum = aligned.lab[..., 0]
    skin_l = max(float(np.median(lum[regions["cheeks"] | regions["forehead"]])), 1.0)
    eye_vals = lum[regions["eyes"]]
    return OcclusionFeatures(
        lens_dark=float((lum[regions["lens"]] < 0.55 * skin_l).mean()),
        lens_skin=_skin_share(aligned, regions["cheeks"] | regions["forehead"], regions["lens_skin"]),
        eye_interior=float(np.median(eye_vals)) / skin_l,
        eye_contrast=float(np.percentile(eye_vals, 90) - np.percentile(eye_vals, 10)) / skin_l,
        haar_eyes=_haar_eyes(aligned.gray),
        **_lower_features(aligned, regions),
        grey=aligned.grey,
        hog_missed=face.detector != "hog",
    )


def _skin_share(face: _Aligned, ref_mask: np.ndarray, region: np.ndarray) -> float:
    """Share of `region` pixels that look like the skin sampled under `ref_mask` (chroma, and not dark)."""
    ref = face.lab[ref_mask]
    values = face.lab[region]
    if ref.size == 0 or values.size == 0:
        return 0.0
    centre = np.median(ref, axis=0)
    spread = np.clip(np.percentile(ref, 80, axis=0) - np.percentile(ref, 20, axis=0), 4.0, 8.0)
    skin_l = max(float(centre[0]), 1.0)
    lit = (values[:, 0] >= 0.5 * skin_l) & (values[:, 0] <= 1.3 * skin_l)
    if face.grey:
        return float(lit.mean())
    close = (np.abs(values[:, 1:] - centre[1:]) <= 1.2 * spread[1:]).all(axis=1)
    return float((close & lit).mean())


def _haar_eyes(gray: np.ndarray) -> int:
    """How many of the two eye regions the Haar eye detectors find an eye in (0..2)."""
    found = 0
    for cx in (_LEFT_EYE_AT[0], _LEFT_EYE_AT[0] + EYE_DIST):
        roi = cv2.equalizeHist(np.ascontiguousarray(gray[_box(cx, _LEFT_EYE_AT[1], 0.5, -0.42, 0.42)]))
        found += any(len(c.detectMultiScale(roi, 1.05, 3, minSize=(16, 16))) for c in _eye_cascades())
    return found


def _lower_features(face: _Aligned, regions: dict[str, np.ndarray]) -> dict[str, float]:
    lab = face.lab
    ref, lower, mouth = lab[regions["skin_ref"]], lab[regions["lower"]], lab[regions["mouth"]]
    weights = np.array([0.3, 1.0, 1.0]) if not face.grey else np.array([1.0, 0.0, 0.0])
    dist = float(np.sqrt((((np.median(lower, axis=0) - np.median(ref, axis=0)) * weights) ** 2).sum()))
    lip = float(np.median(mouth[:, 1]) - np.median(lower[:, 1])) if not face.grey else 0.0
    chroma_spread = float(np.mean(np.percentile(lower[:, 1:], 80, axis=0) - np.percentile(lower[:, 1:], 20, axis=0)))
    lap = np.abs(cv2.Laplacian(face.gray, cv2.CV_32F, ksize=3))
    texture = float(lap[regions["lower"]].mean()) / max(float(lap[regions["skin_ref"]].mean()), 1.0)
    return {
        # Two references (sunglasses hide the eye level, hair the forehead): the more skin-like answer wins.
        "lower_skin": max(_skin_share(face, regions["skin_ref"], regions["lower"]),
                          _skin_share(face, regions["eye_level"], regions["lower"])),
        "lower_dist": dist,
        "lip_contrast": lip,
        "lower_uniform": 0.0 if face.grey else 1.0 / (1.0 + chroma_spread),
        "lower_texture": texture,
    }


@dataclass(frozen=True)
class OcclusionScores:
    """Probabilities (0..1) that the eyes / the nose and mouth are covered; `appearance` says whether the face's
    appearance vectors were read (the measurements alone were unsure)."""

    eyes: float
    mouth: float
    hog_missed: bool
    appearance: bool = False


# The measurements decide alone when both of their probabilities are outside this band; inside it the face's
# appearance is read too. Held out by person on the development sets this loses nothing against always reading
# it (and flags fewer clean faces), while 2 faces in 3 skip the network.
UNSURE_BAND = (0.1, 0.9)


# The appearance vectors a model may weight: the network's eye and nose-and-mouth regions (never the identity
# encoding, which is biometric data and says who, not what covers the face).
VECTOR_NAMES = ("eye_region", "mouth_region")


@dataclass(frozen=True)
class LinearModel:
    """A logistic model on the measurements and, optionally, on 128-d appearance vectors (`VECTOR_NAMES`)."""

    bias: float
    weights: Mapping[str, float]
    vector_weights: Mapping[str, np.ndarray] = field(default_factory=dict)

    def probability(self, values: Mapping[str, float], appearance: FaceAppearance | None = None) -> float:
        z = self.bias + sum(w * values[name] for name, w in self.weights.items())
        for name, weights in self.vector_weights.items():
            if appearance is None:
                raise ValueError("this model needs the face's appearance vectors")
            z += float(weights @ appearance.vector(name))
        return 1.0 / (1.0 + math.exp(-max(min(z, 40.0), -40.0)))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"bias": round(self.bias, 6),
                               "weights": {k: round(v, 6) for k, v in self.weights.items()}}
        if self.vector_weights:
            out["vector_weights"] = {name: [round(float(v), 6) for v in weights]
                                     for name, weights in self.vector_weights.items()}
        return out

    @staticmethod
    def from_dict(data: Mapping[str, Any], with_vectors: bool) -> LinearModel:
        weights = {str(k): float(v) for k, v in data["weights"].items()}
        unknown = set(weights) - set(OcclusionFeatures.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown features {sorted(unknown)}")
        raw = data.get("vector_weights") or {}
        if bool(raw) != with_vectors:
            raise ValueError("vector_weights " + ("missing" if with_vectors else "not expected"))
        vectors = {}
        for name, values in raw.items():
            vector = np.asarray(values, dtype=np.float64)
            if name not in VECTOR_NAMES or vector.shape != (ENCODING_SIZE,):
                raise ValueError(f"vector_weights[{name!r}]: one of {VECTOR_NAMES}, {ENCODING_SIZE} values")
            vectors[name] = vector
        return LinearModel(float(data["bias"]), weights, vectors)


@dataclass(frozen=True)
class OcclusionModels:
    """(eyes, mouth) on the measurements alone, and (eyes, mouth) on the measurements plus appearance vectors."""

    measured: tuple[LinearModel, LinearModel]
    with_appearance: tuple[LinearModel, LinearModel]

    def to_dict(self) -> dict[str, Any]:
        return {"measurements": {"eyes": self.measured[0].to_dict(), "mouth": self.measured[1].to_dict()},
                "with_appearance": {"eyes": self.with_appearance[0].to_dict(),
                                    "mouth": self.with_appearance[1].to_dict()}}


@cache
def occlusion_models(path: Path = MODEL_FILE) -> OcclusionModels:
    """The fitted models from `models/occlusion.json` (read once per process)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        measured, seen = data["measurements"], data["with_appearance"]
        return OcclusionModels(
            (LinearModel.from_dict(measured["eyes"], False), LinearModel.from_dict(measured["mouth"], False)),
            (LinearModel.from_dict(seen["eyes"], True), LinearModel.from_dict(seen["mouth"], True)),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ModelUnavailable("occlusion", f"{path}: {exc}") from exc


def is_unsure(probability: float | np.ndarray) -> bool | np.ndarray:
    """Inside `UNSURE_BAND` (elementwise for arrays)."""
    low, high = UNSURE_BAND
    return (probability >= low) & (probability <= high)


AppearanceSource = FaceAppearance | Callable[[], "FaceAppearance | None"] | None


def _usable(appearance: FaceAppearance | None) -> bool:
    """Whether `appearance` looks like the network's output: every vector 128 finite values."""
    return appearance is not None and all(
        np.shape(appearance.vector(name)) == (ENCODING_SIZE,) and np.isfinite(appearance.vector(name)).all()
        for name in ("encoding", *VECTOR_NAMES))


def score_occlusion(features: OcclusionFeatures, appearance: AppearanceSource = None) -> OcclusionScores:
    """Eye-cover and mouth-cover probabilities: the measurements' own when they are sure; otherwise, when the
    face's appearance is available (given, or a callable computing it on demand), the appearance-aware models'."""
    models = occlusion_models()
    values = features.as_dict()
    eyes, mouth = (m.probability(values) for m in models.measured)
    if appearance is None or not (is_unsure(eyes) or is_unsure(mouth)):
        return OcclusionScores(eyes, mouth, features.hog_missed)
    seen = appearance() if callable(appearance) else appearance
    if seen is None or not _usable(seen):
        return OcclusionScores(eyes, mouth, features.hog_missed)
    eyes, mouth = (m.probability(values, seen) for m in models.with_appearance)
    return OcclusionScores(eyes, mouth, features.hog_missed, True)
