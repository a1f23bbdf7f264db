"""Campaign rules for the photo gates: thresholds with defaults, validated when loaded from JSON.

Campaigns store their rules as a JSON object; `PhotoRules.from_dict` accepts any subset of the fields below,
rejects unknown keys and wrong types or ranges with a `RulesError` naming the key. The seed rule "face at least
2 cm x 2 cm" is expressed here in pixels (box side, inter-eye distance) and as a fraction of the image.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from quality_gates.errors import RulesError

KNOWN_FORMATS = ("JPEG", "PNG", "WEBP", "HEIF")
"""Pillow format names the decoder can be allowed to open (HEIF covers .heic/.heif via pillow_heif)."""


@dataclass(frozen=True)
class PhotoRules:
    """Thresholds of every photo gate. Units are in the field names (px, deg, fraction 0..1)."""

    # Upload safety (checked before and while decoding).
    allowed_formats: tuple[str, ...] = KNOWN_FORMATS
    max_bytes: int = 30 * 1024 * 1024
    max_pixels: int = 64_000_000
    max_dimension_px: int = 16_384
    # Working resolution: JPEGs are decoded at a reduced scale (draft mode) down to about this longer side.
    work_max_side_px: int = 1600
    # face_found: other faces larger than this fraction of the dominant face's side make the photo ambiguous. At 0.7
    # a photo of three adults side by side (dlib/faces 2008_001322, second face 0.70 of the first) passed as one
    # person's. Among single-subject photos (FG-NET, CACD-VS, press and camera photos), 3 of 878 show a second
    # face: two at most 0.5 of the first and one at 0.84, so 0.6 costs none of them.
    max_other_face_ratio: float = 0.6
    # face_size: box side (sqrt of width*height) and inter-eye distance in original pixels.
    min_face_side_px: int = 96
    min_inter_eye_px: float = 32.0
    # "At least 2 cm x 2 cm" on a 10 x 15 cm print is 20% of the shorter side; 15% leaves room for tight crops.
    min_face_side_fraction: float = 0.15
    # pose, in degrees, from the 68 landmarks.
    max_yaw_deg: float = 30.0
    max_pitch_deg: float = 25.0
    max_roll_deg: float = 20.0
    # occlusion: scores in 0..1 (1 = certainly covered). A score from the review line up to the fail line goes to a
    # person; only a sure score is rejected outright. The review line is `occlusion_review_from` (never above the
    # fail line). A campaign that set `occlusion_review_margin` (rules before 2026-11-22 had the line at fail minus
    # that margin) keeps exactly that meaning.
    # On the development sets (in sample) the eye score put 11 of 13 clear-eyed faces it flagged (webcam faces
    # behind thick frames, dim light) and 18 of 187 real sunglasses in 0.5..0.8, and the mouth score 7 of 11
    # flagged clean faces and 22 of 162 masks: with the fail line at 0.8 those faces get a person's look instead
    # of being told wrongly that their eyes or mouth are covered.
    mouth_cover_fail: float = 0.8
    eye_cover_fail: float = 0.8
    occlusion_review_from: float = 0.4
    occlusion_review_margin: float | None = None
    # sharpness: Laplacian-based score on the face crop resized to a fixed size (size-normalised).
    min_sharpness: float = 4.0
    # exposure on the face region (luma 0..255) and clipped fractions.
    min_face_luma: float = 40.0
    max_face_luma: float = 220.0
    max_clipped_fraction: float = 0.15
    # duplicate: 64-bit perceptual hash; distance <= fail is the same photo, <= review is near-identical.
    duplicate_hamming_fail: int = 4
    duplicate_hamming_review: int = 10
    gates: tuple[str, ...] = field(
        default=("face_found", "face_size", "pose", "occlusion", "sharpness", "exposure")
    )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PhotoRules:
        """Build rules from a JSON object; raises RulesError naming the first bad key."""
        if not isinstance(data, Mapping):
            raise RulesError("<root>", "rules must be a JSON object")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for key, raw in data.items():
            if key not in fields:
                raise RulesError(str(key), "unknown rule")
            values[key] = _coerce(key, raw, getattr(cls(), key))
        rules = cls(**values)
        rules.validate()
        return rules

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    def occlusion_review_line(self, fail: float) -> float:
        """Where a person starts to look, at or below the fail line `fail` (validated to stay above 0)."""
        if self.occlusion_review_margin is not None:
            return fail - self.occlusion_review_margin
        return min(self.occlusion_review_from, fail)

    def validate(self) -> None:
        """Check ranges and cross-field consistency; raises RulesError."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, int | float) and value < 0:
                raise RulesError(f.name, "must not be negative")
        for key in ("max_other_face_ratio", "min_face_side_fraction", "mouth_cover_fail", "eye_cover_fail",
                    "occlusion_review_from", "occlusion_review_margin", "max_clipped_fraction"):
            value = getattr(self, key)
            if value is not None and not 0.0 <= value <= 1.0:
                raise RulesError(key, "must be between 0 and 1")
        for key in ("mouth_cover_fail", "eye_cover_fail"):
            if self.occlusion_review_line(getattr(self, key)) <= 0.0:  # at 0 every face would go to a person
                raise RulesError(key, "must be above 0" if self.occlusion_review_margin is None else
                                 "must be above occlusion_review_margin (the review line under it would be 0)")
        if self.occlusion_review_from <= 0.0:
            raise RulesError("occlusion_review_from", "must be above 0 (at 0 every face would go to a person)")
        self._validate_consistency()

    def _validate_consistency(self) -> None:
        unknown = [f for f in self.allowed_formats if f not in KNOWN_FORMATS]
        if unknown or not self.allowed_formats:
            raise RulesError("allowed_formats", f"choose from {', '.join(KNOWN_FORMATS)}")
        unknown_gates = [g for g in self.gates if g not in ALL_PHOTO_GATES]
        if unknown_gates:
            raise RulesError("gates", f"unknown gate(s) {', '.join(unknown_gates)}")
        if self.min_face_luma >= self.max_face_luma:
            raise RulesError("min_face_luma", "must be below max_face_luma")
        if self.duplicate_hamming_fail > self.duplicate_hamming_review:
            raise RulesError("duplicate_hamming_fail", "must not exceed duplicate_hamming_review")
        if self.duplicate_hamming_review > 64:
            raise RulesError("duplicate_hamming_review", "a 64-bit hash differs in at most 64 bits")


ALL_PHOTO_GATES = ("face_found", "face_size", "pose", "occlusion", "sharpness", "exposure")


def _coerce(key: str, raw: Any, default: Any) -> Any:
    """Check one JSON value against the type of the field's default."""
    if isinstance(default, tuple):
        if not isinstance(raw, list | tuple) or not all(isinstance(v, str) for v in raw):
            raise RulesError(key, "must be a list of strings")
        return tuple(v.upper() if key == "allowed_formats" else v for v in raw)
    if raw is None and default is None:  # an optional rule left unset
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise RulesError(key, f"must be a number, got {type(raw).__name__}")
    if not math.isfinite(raw):
        raise RulesError(key, "must be finite")
    if isinstance(default, int) and not isinstance(default, bool):
        if isinstance(raw, float) and not raw.is_integer():
            raise RulesError(key, "must be a whole number")
        return int(raw)
    return float(raw)


DEFAULT_RULES = PhotoRules()
