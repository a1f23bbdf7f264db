"""The photo-gate thresholds in the operator's language: every key `quality_gates.PhotoRules` accepts, with its
meaning, unit and default (the table under the campaign form's thresholds box), and the closest key for a
misspelt one. The keys and defaults are read from the library, so the table cannot fall behind it."""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l

# Keys the campaign form sets through their own fields (`CampaignForm.values`): writing them in the box would be
# overwritten, so the box refuses them and the table points to the field.
FIELD_RULES = {
    "min_face_side_px": _l("Minimum face size (px)"),
    "min_inter_eye_px": _l("Minimum distance between the eyes (px)"),
    "max_bytes": _l("Maximum file size (MB)"),
}

MEANINGS = {
    "allowed_formats": _l("File formats accepted"),
    "max_bytes": _l("Largest file accepted"),
    "max_pixels": _l("Most pixels an image may have (larger ones are refused before decoding)"),
    "max_dimension_px": _l("Longest side an image may have"),
    "work_max_side_px": _l("Longest side the checks work at (larger photos are scaled down for checking)"),
    "max_other_face_ratio": _l("Another face larger than this share of the main face's side makes the photo "
                               "ambiguous"),
    "min_face_side_px": _l("Smallest face (side of the face box) in the original photo"),
    "min_inter_eye_px": _l("Smallest distance between the eye centres in the original photo"),
    "min_face_side_fraction": _l("Smallest face side as a share of the photo's shorter side (the “2 cm on a 10 × "
                                 "15 cm print” rule, whatever the scan resolution)"),
    "max_yaw_deg": _l("Largest head turn to the left or right"),
    "max_pitch_deg": _l("Largest head tilt up or down"),
    "max_roll_deg": _l("Largest head tilt towards a shoulder"),
    "mouth_cover_fail": _l("Mouth-cover score at which the photo fails (1 = certainly covered)"),
    "eye_cover_fail": _l("Eye-cover score at which the photo fails (1 = certainly covered)"),
    "occlusion_review_from": _l("Cover score from which a person looks at the photo"),
    "occlusion_review_margin": _l("Older campaigns only: a person looks from the fail score minus this margin "
                                  "(replaces the line above when set)"),
    "min_sharpness": _l("Least sharpness of the face"),
    "min_face_luma": _l("Darkest average brightness of the face"),
    "max_face_luma": _l("Brightest average brightness of the face"),
    "max_clipped_fraction": _l("Largest share of the face that is pure black or pure white"),
    "duplicate_hamming_fail": _l("Photos whose fingerprints differ in at most this many bits are the same photo "
                                 "(refused)"),
    "duplicate_hamming_review": _l("Photos whose fingerprints differ in at most this many bits are near-identical "
                                   "(a person looks)"),
    "gates": _l("Checks that run: face_found, face_size, pose, occlusion, sharpness, exposure"),
}

UNITS = {
    "allowed_formats": _l("list of JPEG, PNG, WEBP, HEIF"),
    "max_bytes": _l("bytes"),
    "max_pixels": _l("pixels"),
    "max_dimension_px": "px",
    "work_max_side_px": "px",
    "max_other_face_ratio": _l("share, 0 to 1"),
    "min_face_side_px": "px",
    "min_inter_eye_px": "px",
    "min_face_side_fraction": _l("share, 0 to 1"),
    "max_yaw_deg": _l("degrees"),
    "max_pitch_deg": _l("degrees"),
    "max_roll_deg": _l("degrees"),
    "mouth_cover_fail": _l("score, 0 to 1"),
    "eye_cover_fail": _l("score, 0 to 1"),
    "occlusion_review_from": _l("score, 0 to 1"),
    "occlusion_review_margin": _l("score, 0 to 1"),
    "min_sharpness": _l("score"),
    "min_face_luma": _l("brightness, 0 to 255"),
    "max_face_luma": _l("brightness, 0 to 255"),
    "max_clipped_fraction": _l("share, 0 to 1"),
    "duplicate_hamming_fail": _l("bits, 0 to 64"),
    "duplicate_hamming_review": _l("bits, 0 to 64"),
    "gates": _l("list of check names"),
}


@dataclass(frozen=True)
class RuleRow:
    key: str
    meaning: str
    unit: str
    default: str
    field: str | None  # the form field that sets this rule instead of the box, in the reader's language


def _shown(value: Any) -> str:
    if value is None:
        return str(_l("not set"))
    if isinstance(value, tuple | list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return f"{value:,}" if isinstance(value, int) else str(value)


def rule_rows() -> list[RuleRow]:
    """One row per key `PhotoRules.from_dict` accepts, in the library's order, with the library's default."""
    from quality_gates import PhotoRules

    defaults = PhotoRules()
    return [
        RuleRow(f.name, str(MEANINGS.get(f.name, "")), str(UNITS.get(f.name, "")), _shown(getattr(defaults, f.name)),
                str(FIELD_RULES[f.name]) if f.name in FIELD_RULES else None)
        for f in dataclasses.fields(PhotoRules)
    ]


def closest_rule(key: str) -> str | None:
    """The accepted key `key` most likely meant (``max_yaw`` -> ``max_yaw_deg``), or None."""
    from quality_gates import PhotoRules

    names = [f.name for f in dataclasses.fields(PhotoRules)]
    starts = [n for n in names if n.startswith(key) or key.startswith(n)] if len(key) >= 4 else []
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    return (starts or close or [None])[0]


def face_size_hint() -> Any:
    """What the pixel floor means next to the 2 cm rule, with the library's defaults (300 dpi is a common scan)."""
    from quality_gates import PhotoRules

    rules = PhotoRules()
    return _l("The “at least 2 cm” rule is checked as a share of the photo: by default the face must span %(share)s "
              "of its shorter side (min_face_side_fraction below), whatever resolution the print was scanned at. "
              "This pixel floor only refuses faces too small to compare: the default %(px)d px is about %(cm)s cm "
              "on a print scanned at 300 dpi (2 cm at 300 dpi would be %(two_cm)d px).",
              share=f"{rules.min_face_side_fraction:.0%}", px=rules.min_face_side_px,
              cm=f"{rules.min_face_side_px / 300 * 2.54:.1f}", two_cm=round(2 / 2.54 * 300))
