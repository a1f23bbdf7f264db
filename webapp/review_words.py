"""The operator's review page in words: the gates' measured values and thresholds (`GateResult.measured` and
`.threshold`, stored on the photo rows as codes and raw numbers) and the set gate's identity verdicts.

Gate evidence: every key the gates write is named in the reader's language with its unit; booleans read as
yes/no, the face detector's name is explained and numbers are rounded for reading. A key new to this table is
shown as it is stored (the evidence is never hidden).

Identity: `quality_gates.check_set` gives each photo "pass", "review" (the check could not decide: too little or
ambiguous evidence) or "flag" (likely someone else), and marks the set `consistent` only when every photo
passed. So "not consistent" says nothing about a mismatch when no photo is flagged: the headline here says which
photos a person must compare instead, and the per-photo line keeps "undecided" apart from "likely someone else".
These words never change a gate's decision."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

# --- gate evidence ------------------------------------------------------------------------------------------
# Measured values and thresholds by key (quality_gates._photo, _identity; `side_px`, `fraction` and
# `laplacian_var` are the names of reports stored by earlier versions of the gates).
EVIDENCE_KEYS: dict[str, Any] = {
    # decode
    "format": _l("File format"),
    "width": _l("Width (px)"),
    "height": _l("Height (px)"),
    "error": _l("Problem"),
    "what": _l("Limit exceeded"),
    "value": _l("Size found"),
    "detected": _l("Format detected"),
    "limit": _l("Size limit"),
    # face found
    "faces": _l("Faces found"),
    "other_face_ratio": _l("Largest other face, relative to the main face"),
    "max_other_face_ratio": _l("Largest other face allowed, relative to the main face"),
    "detector": _l("Found by"),
    # face size
    "face_side_px": _l("Face side (px)"),
    "side_px": _l("Face side (px)"),
    "inter_eye_px": _l("Distance between the eyes (px)"),
    "face_side_fraction": _l("Face side, share of the picture"),
    "fraction": _l("Face side, share of the picture"),
    "min_face_side_px": _l("Smallest face side (px)"),
    "min_side_px": _l("Smallest face side (px)"),
    "min_inter_eye_px": _l("Smallest distance between the eyes (px)"),
    "min_face_side_fraction": _l("Smallest face side, share of the picture"),
    # pose
    "yaw_deg": _l("Turn left/right (degrees)"),
    "pitch_deg": _l("Tilt up/down (degrees)"),
    "roll_deg": _l("Tilt sideways (degrees)"),
    "max_yaw_deg": _l("Largest turn left/right (degrees)"),
    "max_pitch_deg": _l("Largest tilt up/down (degrees)"),
    "max_roll_deg": _l("Largest sideways tilt (degrees)"),
    # occlusion
    "eye_cover": _l("Eye cover score (0-1)"),
    "mouth_cover": _l("Nose and mouth cover score (0-1)"),
    "hog_missed": _l("Missed by the main face detector"),
    "appearance": _l("Face appearance also checked"),
    "eye_cover_fail": _l("Eye cover score that fails"),
    "mouth_cover_fail": _l("Nose and mouth cover score that fails"),
    "eye_cover_review": _l("Eye cover score sent to a person"),
    "mouth_cover_review": _l("Nose and mouth cover score sent to a person"),
    "review_margin": _l("Margin below the fail score sent to a person"),  # reports stored before 2026-11-22
    # sharpness
    "sharpness": _l("Sharpness score"),
    "laplacian_var": _l("Sharpness score"),
    "min_sharpness": _l("Lowest sharpness score"),
    "min_laplacian_var": _l("Lowest sharpness score"),
    # exposure
    "mean_luma": _l("Face brightness (0-255)"),
    "dark_fraction": _l("Share of the face too dark"),
    "bright_fraction": _l("Share of the face too bright"),
    "min_face_luma": _l("Lowest face brightness"),
    "max_face_luma": _l("Highest face brightness"),
    "max_clipped_fraction": _l("Largest share of the face too dark or too bright"),
    # duplicate
    "min_distance": _l("Difference from the most similar photo (bits)"),
    "compared": _l("Photos compared"),
    "match": _l("Most similar photo"),
    "fail_within_bits": _l("Same photo at or below (bits)"),
    "review_within_bits": _l("Near copy at or below (bits)"),
    # identity
    "score": _l("Same-person score (0-1)"),
    "evidence": _l("Evidence (above 0: same person)"),
    "nearest_gap_years": _l("Age gap to the closest-in-age photo (years)"),
}

# Values that are codes, by key.
EVIDENCE_VALUES: dict[str, dict[str, Any]] = {
    "detector": {
        "hog": _l("HOG (dlib's main face detector)"),
        "blaze": _l("BlazeFace (second detector, used when HOG finds no face; often a covered face)"),
        "cnn": _l("CNN (dlib's third detector, used when the others find no face)"),
    },
    "error": {
        "unsupported_format": _l("format not accepted"),
        "corrupt": _l("damaged file"),
        "unreadable": _l("could not be read"),
        "too_large": _l("file too large"),
        "decompression_bomb": _l("declares far more pixels than allowed"),
    },
    "what": {"bytes": _l("file size (bytes)"), "pixels": _l("number of pixels"), "width": _l("width (px)"),
             "height": _l("height (px)")},
}


@dataclass(frozen=True)
class Evidence:
    """One measured value or threshold as shown: `label` in words, `value` formatted, `key` the stored code."""

    key: str
    label: str
    value: str


def evidence_value(key: str, value: Any) -> str:
    """A stored value for reading: yes/no, a worded code, a rounded number, "—" for none."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, str):
        word = EVIDENCE_VALUES.get(key, {}).get(value)
        return value if word is None else str(word)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1 else f"{value:.1f}"
    return str(value)


def evidence(values: Mapping[str, Any] | None) -> list[Evidence]:
    """The measured values (or thresholds) of one gate, worded; an unknown key keeps its stored name."""
    out = []
    for key, value in (values or {}).items():
        label = EVIDENCE_KEYS.get(str(key))
        out.append(Evidence(str(key), str(key) if label is None else str(label), evidence_value(str(key), value)))
    return out


# --- identity across the set -------------------------------------------------------------------------------
@dataclass(frozen=True)
class IdentityHeadline:
    """What the set gate's verdicts add up to: `tone` ok | warn | bad, the badge and a sentence."""

    tone: str
    badge: str
    text: str


def _numbers(ids: Sequence[str], numbers: Mapping[str, int]) -> str:
    return ", ".join(f"#{numbers[i]}" for i in sorted(ids, key=lambda i: numbers[i]))


def identity_headline(verdicts: Mapping[str, str], numbers: Mapping[str, int],
                      consistent: bool | None) -> IdentityHeadline | None:
    """The headline over the distance matrix from each shown photo's identity verdict (`verdicts`: photo id ->
    pass | review | flag). Only a flagged photo makes it a possible mismatch; "review" photos are undecided."""
    flagged = [i for i, v in verdicts.items() if v == "flag" and i in numbers]
    undecided = [i for i, v in verdicts.items() if v == "review" and i in numbers]
    if flagged:
        text = _("The automatic check found that photo(s) %(photos)s likely show someone else. Compare them with "
                 "the rest of the set before deciding.", photos=_numbers(flagged, numbers))
        if undecided:
            text += " " + _("It could not decide about %(photos)s.", photos=_numbers(undecided, numbers))
        return IdentityHeadline("bad", _("may include someone else"), text)
    if undecided:
        return IdentityHeadline("warn", _("a person must compare"), _(
            "No photo was found to show someone else. The automatic check could not decide about %(photos)s: "
            "compare them with the other photos yourself. Undecided is not a mismatch.",
            photos=_numbers(undecided, numbers)))
    if consistent is True or (verdicts and all(v == "pass" for v in verdicts.values())):
        return IdentityHeadline("ok", _("consistent"), _("Every compared photo matched the rest of the set."))
    if consistent is False:
        return IdentityHeadline("warn", _("a person must compare"),
                                _("Not every photo passed the automatic comparison: compare the photos yourself."))
    return None


IDENTITY_VERDICTS: dict[str, Any] = {
    "pass": _l("same person"),
    "flag": _l("likely someone else"),
    "review": _l("undecided (not a mismatch)"),
}


def identity_verdict_label(verdict: str | None) -> str:
    word = IDENTITY_VERDICTS.get(verdict or "")
    return str(verdict or "") if word is None else str(word)


@dataclass(frozen=True)
class Comparison:
    """What one photo was compared against: how many photos, the most alike one and the age gap to the closest
    in age (each None when the stored data does not say)."""

    compared: int | None
    closest: int | None  # the page number of the most alike photo
    closest_distance: float | None
    nearest_gap_years: float | None


def comparison(photo_id: str, identity: Mapping[str, Any] | None, set_identity: Mapping[str, Any] | None,
               numbers: Mapping[str, int]) -> Comparison:
    ids = list((set_identity or {}).get("photo_ids") or [])
    rows = (set_identity or {}).get("distance_matrix") or []
    compared = closest = None
    distance = None
    if photo_id in ids and len(ids) == len(rows):
        row = rows[ids.index(photo_id)]
        others = [(d, other) for other, d in zip(ids, row, strict=False)
                  if other != photo_id and isinstance(d, int | float)]
        compared = len(others)
        if others:
            distance, other = min(others)
            closest = numbers.get(other)
    gap = (identity or {}).get("nearest_gap_years")
    return Comparison(compared, closest, distance, float(gap) if isinstance(gap, int | float) else None)


def comparison_text(c: Comparison) -> str:
    """"Compared with 5 other photos; most alike: #2 (distance 0.41); closest in age: 2 years apart." (parts the
    data lacks are left out)."""
    parts = []
    if c.compared is not None:
        parts.append(_("Compared with %(n)d other photos.", n=c.compared))
    if c.closest is not None and c.closest_distance is not None:
        parts.append(_("Most alike: photo #%(n)d (distance %(d)s).", n=c.closest, d=f"{c.closest_distance:.2f}"))
    if c.nearest_gap_years is not None:
        parts.append(_("Closest in age: %(years)s years apart.", years=f"{c.nearest_gap_years:g}"))
    return " ".join(parts)


IDENTITY_REASONS: dict[str, Any] = {
    "uncertain": _l("The evidence was mixed: neither clearly the same person nor clearly someone else."),
    "weak_evidence": _l("The other photos are all far from this age, so the comparison says little."),
    "no_face": _l("No face could be measured in it, so it was not compared."),
    "different_person": _l("The face differs from the others more than the age gaps explain."),
}


def identity_explanation(verdict: str | None, reason: str | None) -> str:
    """What the verdict means for the operator, and why the check reached it (when the reason is known)."""
    parts = []
    if verdict == "review":
        parts.append(_("The automatic check could not decide whether this photo shows the same person. This is "
                       "not evidence of someone else: look at it next to the other photos."))
    elif verdict == "flag":
        parts.append(_("The automatic check found that this photo likely shows someone else."))
    why = IDENTITY_REASONS.get(reason or "")
    if why is not None and verdict in ("review", "flag"):
        parts.append(str(why))
    return " ".join(parts)
