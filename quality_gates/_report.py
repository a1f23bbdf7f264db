"""Result types shared by every gate (photo, set/identity, voice).

A gate returns a `GateResult`: its name, a verdict (pass / fail / review), what it measured, the thresholds it
applied, a stable reason code and a message key the web layer translates ("gate.face_size.too_small").
"review" is the honest answer of a gate that cannot decide: the item goes to a human instead of being guessed.
`PhotoReport` aggregates the gates of one photo with the faces found. Everything is frozen and `to_dict()`
gives plain JSON-ready data. Face encodings are biometric data: they are kept on `FaceInfo` for the identity
gates but never appear in `to_dict()`.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

import numpy as np

JSONScalar = str | int | float | bool | None


class Verdict(enum.StrEnum):
    """Outcome of one gate or of a whole report."""

    PASS = "pass"
    FAIL = "fail"
    REVIEW = "review"


def _json_value(value: Any) -> Any:
    """Plain JSON form of a measured/threshold value (numpy scalars, tuples, non-finite floats)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return round(value, 4) if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return value


def _frozen_mapping(values: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType({str(k): _json_value(v) for k, v in (values or {}).items()})


@dataclass(frozen=True, eq=False)
class GateResult:
    """One gate's decision.

    `passed` is True only for a clean pass; `review` marks an undecided result (then `passed` is False).
    `reason` is a short code ("too_small", "mask"...) or None on a pass; `message_key` defaults to
    "gate.<name>.<reason>" ("gate.<name>.ok" on a pass, "gate.<name>.review" when undecided without reason).
    """

    name: str
    passed: bool
    measured: Mapping[str, Any] = field(default_factory=dict)
    threshold: Mapping[str, Any] = field(default_factory=dict)
    reason: str | None = None
    message_key: str = ""
    review: bool = False

    def __post_init__(self) -> None:
        if self.passed and self.review:
            raise ValueError("a gate result cannot both pass and need review")
        if not self.passed and not self.review and not self.reason:
            raise ValueError(f"failed gate {self.name!r} needs a reason code")
        object.__setattr__(self, "measured", _frozen_mapping(self.measured))
        object.__setattr__(self, "threshold", _frozen_mapping(self.threshold))
        if not self.message_key:
            suffix = self.reason or ("ok" if self.passed else "review")
            object.__setattr__(self, "message_key", f"gate.{self.name}.{suffix}")

    @classmethod
    def ok(
        cls, name: str, measured: Mapping[str, Any] | None = None, threshold: Mapping[str, Any] | None = None
    ) -> GateResult:
        """A passing result."""
        return cls(name, True, measured or {}, threshold or {})

    @classmethod
    def fail(
        cls,
        name: str,
        reason: str,
        measured: Mapping[str, Any] | None = None,
        threshold: Mapping[str, Any] | None = None,
    ) -> GateResult:
        """A failing result with its reason code."""
        return cls(name, False, measured or {}, threshold or {}, reason)

    @classmethod
    def needs_review(
        cls,
        name: str,
        reason: str,
        measured: Mapping[str, Any] | None = None,
        threshold: Mapping[str, Any] | None = None,
    ) -> GateResult:
        """An undecided result: a human must look."""
        return cls(name, False, measured or {}, threshold or {}, reason, review=True)

    @property
    def verdict(self) -> Verdict:
        if self.passed:
            return Verdict.PASS
        return Verdict.REVIEW if self.review else Verdict.FAIL

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, GateResult):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "verdict": self.verdict.value,
            "measured": dict(self.measured),
            "threshold": dict(self.threshold),
            "reason": self.reason,
            "message_key": self.message_key,
        }


def combine_verdicts(results: tuple[GateResult, ...] | list[GateResult]) -> Verdict:
    """Fail if any gate failed, else review if any needs review, else pass."""
    verdicts = {r.verdict for r in results}
    if Verdict.FAIL in verdicts:
        return Verdict.FAIL
    return Verdict.REVIEW if Verdict.REVIEW in verdicts else Verdict.PASS


Box = tuple[int, int, int, int]
"""A face box as (top, right, bottom, left) in original image pixels (face_recognition's order)."""


@dataclass(frozen=True, eq=False)
class FaceInfo:
    """One detected face, in original (orientation-corrected) pixel coordinates.

    `landmarks` are the 68 dlib points as (x, y); `encoding` is the 128-d dlib descriptor (biometric data:
    never serialised by `to_dict`). `detector` says which detector found it ("hog", "blaze" or "cnn").
    """

    box: Box
    landmarks: tuple[tuple[float, float], ...] = ()
    encoding: np.ndarray | None = field(default=None, repr=False)
    detector: str = "hog"
    score: float = 0.0

    @property
    def width(self) -> int:
        return self.box[1] - self.box[3]

    @property
    def height(self) -> int:
        return self.box[2] - self.box[0]

    @property
    def side(self) -> float:
        """Geometric mean of the box sides, in pixels."""
        return math.sqrt(max(self.width, 0) * max(self.height, 0))

    @property
    def inter_eye_px(self) -> float | None:
        """Distance between the centres of the eyes (points 37-42 and 43-48, 1-based), or None."""
        if len(self.landmarks) != 68:
            return None
        pts = np.asarray(self.landmarks, dtype=np.float64)
        return float(np.linalg.norm(pts[36:42].mean(axis=0) - pts[42:48].mean(axis=0)))

    def to_dict(self) -> dict[str, Any]:
        eye = self.inter_eye_px
        return {
            "box": [int(v) for v in self.box],
            "inter_eye_px": None if eye is None else round(eye, 2),
            "detector": self.detector,
        }


@dataclass(frozen=True, eq=False)
class PhotoReport:
    """All photo gates for one image. `faces[0]` is the dominant face when one was found."""

    verdict: Verdict
    gates: tuple[GateResult, ...]
    faces: tuple[FaceInfo, ...] = ()
    width: int = 0
    height: int = 0
    format: str | None = None
    captured_at: datetime | None = None
    phash: int | None = None

    @property
    def passed(self) -> bool:
        return self.verdict is Verdict.PASS

    @property
    def needs_review(self) -> bool:
        return self.verdict is Verdict.REVIEW

    @property
    def dominant_face(self) -> FaceInfo | None:
        return self.faces[0] if self.faces else None

    def gate(self, name: str) -> GateResult | None:
        """The result of the named gate, or None if it did not run."""
        return next((g for g in self.gates if g.name == name), None)

    @classmethod
    def from_gates(cls, gates: tuple[GateResult, ...], **kwargs: Any) -> PhotoReport:
        return cls(combine_verdicts(gates), gates, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "verdict": self.verdict.value,
            "needs_review": self.needs_review,
            "gates": [g.to_dict() for g in self.gates],
            "faces": [f.to_dict() for f in self.faces],
            "width": self.width,
            "height": self.height,
            "format": self.format,
            "captured_at": self.captured_at.isoformat() if self.captured_at else None,
            "phash": None if self.phash is None else f"{self.phash:016x}",
        }
