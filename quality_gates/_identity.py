"""Identity consistency of a contributor's photo set across ages (`check_set`).

A set holds photos of one person at many ages; one photo of somebody else must be caught, while the same
person's childhood photos (which dlib's 128-d encodings match poorly) must not be flagged. The method is a
calibrated, age-aware likelihood ratio:

1. For every pair of photos the face distance is compared with two Gaussian models fitted on FG-NET, each a
   function of the two ages: same person (mean and spread grow with the age gap, much faster in childhood) and
   different people of those ages (young children look alike). Their log ratio is the pair's evidence,
   clipped to +-`llr_clip` so one odd photo cannot dominate.
2. A photo's evidence is the sum over the rest of the set weighted by 1 / (1 + age gap / `gap_scale_years`):
   photos of nearby ages say the most, decades apart say little.
3. A logistic calibration (also fitted on FG-NET, with subject-level cross-validation) turns evidence and age
   into the probability that the photo is of somebody else; thresholds per child/adult give pass, review or
   flag. Few or only distant-age references give evidence near zero, which lands in review: a human decides.

Ages: exact ages when every photo has one, else the middle of each bracket with models fitted that way (the
bracket-only figures are reported separately). Encodings are biometric data; the report carries distances
and scores, never encodings. Model constants come from `quality_gates._eval_identity.fit_identity_model`.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from quality_gates._report import GateResult
from quality_gates.errors import RulesError

AgeBracket = tuple[int, int]
"""Inclusive age range in whole years, e.g. (0, 9) for "0-9"."""

_BRACKET_RE = re.compile(r"^\s*(\d{1,3})\s*(?:-|–|to)\s*(\d{1,3})\s*$|^\s*(\d{1,3})\s*\+\s*$")
OPEN_BRACKET_SPAN = 10


def parse_bracket(text: str) -> AgeBracket:
    """"0-9" -> (0, 9); "60+" -> (60, 69). Raises ValueError for anything else."""
    match = _BRACKET_RE.match(text)
    if not match:
        raise ValueError(f"not an age bracket: {text!r}")
    if match.group(3) is not None:
        low = int(match.group(3))
        return (low, low + OPEN_BRACKET_SPAN - 1)
    low, high = int(match.group(1)), int(match.group(2))
    if high < low:
        raise ValueError(f"age bracket upside down: {text!r}")
    return (low, high)


def _pair_ages(age_a: np.ndarray, age_b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    low, high = np.minimum(age_a, age_b), np.maximum(age_a, age_b)
    return low, high, np.log(high + 2.0) - np.log(low + 2.0)


def genuine_features(age_a: np.ndarray, age_b: np.ndarray) -> np.ndarray:
    """Regressors of the same-person distance model: log-age gap (and its square), year gap, youth."""
    low, high, dt = _pair_ages(age_a, age_b)
    youth = np.exp(-low / 8.0)
    return np.stack([np.ones_like(dt), dt, dt**2, (high - low) / 10.0, youth, youth * dt], axis=-1)


def impostor_features(age_a: np.ndarray, age_b: np.ndarray) -> np.ndarray:
    """Regressors of the different-people distance model: youth of each photo and the log-age gap."""
    low, high, dt = _pair_ages(age_a, age_b)
    young_low, young_high = np.exp(-low / 8.0), np.exp(-high / 8.0)
    return np.stack([np.ones_like(dt), young_low, young_high, young_low * young_high, dt, dt**2], axis=-1)


def calibration_features(evidence: np.ndarray, age: np.ndarray) -> np.ndarray:
    """Inputs of the logistic calibration: evidence and intercept, each varying smoothly with age."""
    shape = np.stack([np.exp(-age / 3.0), np.exp(-age / 8.0), np.ones_like(age)], axis=-1)
    return np.concatenate([evidence[:, None] * shape, shape], axis=-1)


MIN_SD = 0.03
ADULT_AGE = 35.0


@dataclass(frozen=True)
class PairModel:
    """Gaussian same-person and different-people distance models; coefficients on the feature functions."""

    genuine_mean: tuple[float, ...]
    genuine_sd: tuple[float, ...]
    impostor_mean: tuple[float, ...]
    impostor_sd: tuple[float, ...]

    def log_ratio(self, distance: np.ndarray, age_a: np.ndarray, age_b: np.ndarray) -> np.ndarray:
        """log p(distance | same person) - log p(distance | different people), elementwise."""
        fg, fi = genuine_features(age_a, age_b), impostor_features(age_a, age_b)
        mean_g = fg @ np.asarray(self.genuine_mean)
        sd_g = np.maximum(fg @ np.asarray(self.genuine_sd), MIN_SD)
        mean_i = fi @ np.asarray(self.impostor_mean)
        sd_i = np.maximum(fi @ np.asarray(self.impostor_sd), MIN_SD)
        log_g = -0.5 * ((distance - mean_g) / sd_g) ** 2 - np.log(sd_g)
        log_i = -0.5 * ((distance - mean_i) / sd_i) ** 2 - np.log(sd_i)
        return np.asarray(log_g - log_i)


@dataclass(frozen=True)
class Calibrator:
    """Logistic map from (evidence, age) to the probability that a photo shows somebody else."""

    weights: tuple[float, ...]

    def impostor_probability(self, evidence: np.ndarray, age: np.ndarray) -> np.ndarray:
        logits = calibration_features(evidence, age) @ np.asarray(self.weights)
        return np.asarray(1.0 / (1.0 + np.exp(np.clip(logits, -50, 50) * -1.0)))


@dataclass(frozen=True)
class IdentityModel:
    """Everything fitted: pair models and calibrations for exact ages and for bracket middles."""

    exact: PairModel
    bracket: PairModel
    calibrate_exact: Calibrator
    calibrate_bracket: Calibrator
    gap_scale_years: float = 3.0
    llr_clip: float = 4.0


@dataclass(frozen=True)
class IdentityRules:
    """Decision thresholds on the impostor probability (0..1) per age group; `from_dict` validates JSON.

    The review/flag defaults are fitted on FG-NET (`_eval_identity.fit_rules`): review where 4.5% of genuine
    child photos and 0.5% of genuine adult photos would be held out of the fit, flag at a quarter of that.

    A photo whose references are all far in age (summed pair weight below `min_reference_weight`, e.g. only
    photos 20+ years apart) passes only when its impostor probability is below `weak_pass_below`; otherwise
    it goes to review ("weak_evidence").
    """

    review_child: float = 0.6261
    flag_child: float = 0.9250
    review_adult: float = 0.4565
    flag_adult: float = 0.7948
    child_below_years: float = 13.0
    min_reference_weight: float = 1.0
    weak_pass_below: float = 0.3

    @classmethod
    def from_dict(cls, data: Any) -> IdentityRules:
        """Rules from a JSON object (any subset of the fields); raises RulesError naming the bad key."""
        if not isinstance(data, dict):
            raise RulesError("<root>", "rules must be a JSON object")
        names = {f for f in cls.__dataclass_fields__}
        values: dict[str, float] = {}
        for key, raw in data.items():
            if key not in names:
                raise RulesError(str(key), "unknown rule")
            if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
                raise RulesError(key, "must be a finite number")
            values[key] = float(raw)
        rules = cls(**values)
        rules.validate()
        return rules

    def validate(self) -> None:
        """Check ranges and order (review <= flag); raises RulesError."""
        for group in ("child", "adult"):
            review, flag = getattr(self, f"review_{group}"), getattr(self, f"flag_{group}")
            if not 0.0 <= review <= flag <= 1.0:
                raise RulesError(f"review_{group}", f"need 0 <= review_{group} <= flag_{group} <= 1")
        for key in ("child_below_years", "min_reference_weight"):
            if getattr(self, key) < 0:
                raise RulesError(key, "must not be negative")
        if not 0.0 <= self.weak_pass_below <= 1.0:
            raise RulesError("weak_pass_below", "must be between 0 and 1")


@dataclass(frozen=True, eq=False)
class SetPhoto:
    """One photo of a set: its 128-d encoding (None without a usable face), bracket and optional exact age."""

    encoding: np.ndarray | None = field(repr=False)
    bracket: AgeBracket
    age_years: float | None = None

    @property
    def model_age(self) -> float:
        """Exact age when known, else the middle of the bracket."""
        if self.age_years is not None:
            return float(self.age_years)
        return (self.bracket[0] + self.bracket[1]) / 2.0


class IdentityVerdict(enum.StrEnum):
    PASS = "pass"
    FLAG = "flag"
    REVIEW = "review"


@dataclass(frozen=True)
class PhotoIdentity:
    """Identity decision for one photo.

    `score` is the probability (0..1, at even prior odds) that the photo shows the same person as the rest of
    the set, None when it could not be scored; `evidence` the weighted log-likelihood-ratio sum behind it;
    `nearest_gap_years` the age gap to the closest-in-age usable photo.
    """

    verdict: IdentityVerdict
    score: float | None
    reason: str | None = None
    evidence: float | None = None
    nearest_gap_years: float | None = None

    @property
    def message_key(self) -> str:
        return f"gate.identity.{self.reason or 'ok'}"

    def to_gate(self) -> GateResult:
        """The decision as a `GateResult` named "identity" (flag -> fail, review -> needs review)."""
        measured = {"score": self.score, "evidence": self.evidence,
                    "nearest_gap_years": self.nearest_gap_years}
        if self.verdict is IdentityVerdict.PASS:
            return GateResult.ok("identity", measured)
        if self.verdict is IdentityVerdict.FLAG:
            return GateResult.fail("identity", self.reason or "different_person", measured)
        return GateResult.needs_review("identity", self.reason or "uncertain", measured)

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "score": None if self.score is None else round(self.score, 4),
            "reason": self.reason,
            "message_key": self.message_key,
            "evidence": None if self.evidence is None else round(self.evidence, 3),
            "nearest_gap_years": self.nearest_gap_years,
        }


@dataclass(frozen=True, eq=False)
class IdentitySetReport:
    """Per-photo decisions (in input order), `consistent` (every photo passed) and the distance matrix.

    `distances[i][j]` is the face distance between photos i and j (NaN where a photo has no encoding).
    """

    photos: tuple[PhotoIdentity, ...]
    consistent: bool
    distances: np.ndarray = field(repr=False)
    exact_ages: bool

    def to_dict(self) -> dict[str, Any]:
        dist = [[None if math.isnan(v) else round(float(v), 4) for v in row] for row in self.distances]
        return {
            "consistent": self.consistent,
            "age_mode": "exact" if self.exact_ages else "bracket",
            "photos": [p.to_dict() for p in self.photos],
            "distance_matrix": dist,
        }


def check_set(photos: Sequence[SetPhoto], rules: IdentityRules | None = None,
              model: IdentityModel | None = None) -> IdentitySetReport:
    """Judge every photo of one contributor's set against the others (see the module docstring).

    A photo without an encoding goes to review ("no_face"); a set with a single usable photo passes it
    (there is nothing to be inconsistent with). Never raises for content; ValueError for a malformed encoding.
    """
    rules = rules or DEFAULT_IDENTITY_RULES
    model = model or DEFAULT_IDENTITY_MODEL
    usable = [i for i, p in enumerate(photos) if p.encoding is not None]
    distances = _distance_matrix(photos, usable)
    exact = bool(usable) and all(photos[i].age_years is not None for i in usable)
    decisions: dict[int, PhotoIdentity] = {}
    if len(usable) == 1:
        decisions[usable[0]] = PhotoIdentity(IdentityVerdict.PASS, None)
    elif usable:
        ages = np.array([photos[i].model_age for i in usable], dtype=np.float64)
        sub = distances[np.ix_(usable, usable)]
        decisions.update(zip(usable, _decide(sub, ages, exact, rules, model), strict=True))
    missing = PhotoIdentity(IdentityVerdict.REVIEW, None, "no_face")
    results = tuple(decisions.get(i, missing) for i in range(len(photos)))
    consistent = all(r.verdict is IdentityVerdict.PASS for r in results)
    return IdentitySetReport(results, consistent, distances, exact)


def _distance_matrix(photos: Sequence[SetPhoto], usable: list[int]) -> np.ndarray:
    """Euclidean face distances between all photos; NaN in rows/columns of photos without an encoding."""
    n = len(photos)
    out = np.full((n, n), np.nan)
    if not usable:
        return out
    enc = np.stack([_as_encoding(photos[i].encoding) for i in usable])
    diff = enc[:, None, :] - enc[None, :, :]
    out[np.ix_(usable, usable)] = np.sqrt((diff**2).sum(axis=-1))
    return out


def _as_encoding(value: np.ndarray | None) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64).reshape(-1)
    if arr.shape != (128,) or not np.all(np.isfinite(arr)):
        raise ValueError("a face encoding must be 128 finite numbers")
    return arr


def reference_weights(ages: np.ndarray, model: IdentityModel | None = None) -> np.ndarray:
    """Weight of each pair, 1 / (1 + age gap / gap_scale_years), zero on the diagonal."""
    model = model or DEFAULT_IDENTITY_MODEL
    weights = 1.0 / (1.0 + np.abs(ages[:, None] - ages[None, :]) / model.gap_scale_years)
    np.fill_diagonal(weights, 0.0)
    return np.asarray(weights)


def photo_evidence(distances: np.ndarray, ages: np.ndarray, exact: bool,
                   model: IdentityModel | None = None) -> np.ndarray:
    """Gap-weighted sum of clipped pair log-likelihood ratios for each photo against all the others."""
    model = model or DEFAULT_IDENTITY_MODEL
    pair = model.exact if exact else model.bracket
    age_a, age_b = np.meshgrid(ages, ages, indexing="ij")
    ratio = np.clip(pair.log_ratio(distances, age_a, age_b), -model.llr_clip, model.llr_clip)
    return np.asarray((reference_weights(ages, model) * ratio).sum(axis=1))


def impostor_probability(evidence: np.ndarray, ages: np.ndarray, exact: bool,
                         model: IdentityModel | None = None) -> np.ndarray:
    model = model or DEFAULT_IDENTITY_MODEL
    calibrator = model.calibrate_exact if exact else model.calibrate_bracket
    return calibrator.impostor_probability(evidence, ages)


def _decide(distances: np.ndarray, ages: np.ndarray, exact: bool, rules: IdentityRules,
            model: IdentityModel) -> list[PhotoIdentity]:
    evidence = photo_evidence(distances, ages, exact, model)
    prob = impostor_probability(evidence, ages, exact, model)
    support = reference_weights(ages, model).sum(axis=1)
    gaps = np.abs(ages[:, None] - ages[None, :]) + np.diag(np.full(len(ages), np.inf))
    out = []
    for p, ev, age, gap, weight in zip(prob, evidence, ages, gaps.min(axis=1), support, strict=True):
        verdict, reason = _verdict(float(p), float(age), float(weight), rules)
        out.append(PhotoIdentity(verdict, float(1.0 - p), reason, float(ev), float(gap)))
    return out


def _verdict(prob: float, age: float, support: float,
             rules: IdentityRules) -> tuple[IdentityVerdict, str | None]:
    child = age < rules.child_below_years
    review = rules.review_child if child else rules.review_adult
    flag = rules.flag_child if child else rules.flag_adult
    if prob >= flag:
        return IdentityVerdict.FLAG, "different_person"
    if prob >= review:
        return IdentityVerdict.REVIEW, "uncertain"
    # Only distant ages to compare with (a baby photo among adult ones): pass only on clear evidence.
    if support < rules.min_reference_weight and prob >= rules.weak_pass_below:
        return IdentityVerdict.REVIEW, "weak_evidence"
    return IdentityVerdict.PASS, None


def pair_same_person(encoding_a: np.ndarray, encoding_b: np.ndarray, age_a: float = ADULT_AGE,
                     age_b: float = ADULT_AGE, model: IdentityModel | None = None) -> bool:
    """Whether two photos more likely show the same person (pair log-likelihood ratio > 0).

    Ages default to an adult of unknown age; the exact-age pair model is used.
    """
    model = model or DEFAULT_IDENTITY_MODEL
    distance = float(np.linalg.norm(_as_encoding(encoding_a) - _as_encoding(encoding_b)))
    ratio = model.exact.log_ratio(np.array(distance), np.array(float(age_a)), np.array(float(age_b)))
    return bool(ratio > 0)


# Fitted by quality_gates._eval_identity.fit_identity_model / fit_rules on FG-NET dev (49 subjects, 621 photos
# with a face, encodings from the shared face analyzer). Refit and paste when the encoder or the data changes.
DEFAULT_IDENTITY_MODEL = IdentityModel(
    exact=PairModel(
        genuine_mean=(0.398826, 0.439375, 0.0488073, -0.0913676, -0.0583246, -0.325416),
        genuine_sd=(0.0781491, 0.0226886, 0.00341827, -0.00795257, -0.00485489, -0.0271832),
        impostor_mean=(0.765965, -0.0310898, -0.304371, 0.0399067, 0.00375456, 0.0037451),
        impostor_sd=(0.0788339, -0.0363838, 0.0366729, -0.0138793, 0.00717396, -0.000712495),
    ),
    bracket=PairModel(
        genuine_mean=(0.422856, 0.23555, 0.074866, -0.0565767, 0.059006, -0.247452),
        genuine_sd=(0.0799467, -0.0127978, -0.0348456, 0.00877266, 0.0193204, 0.0966244),
        impostor_mean=(0.756062, -0.0549739, -0.11844, -0.146467, 0.0111774, 0.0072108),
        impostor_sd=(0.0814464, -0.0253833, -0.0260033, 0.0809707, 0.00492085, -0.00269986),
    ),
    calibrate_exact=Calibrator((-1.15228, 1.2671, -0.832565, -2.80364, 2.44981, -0.438842)),
    calibrate_bracket=Calibrator((-4.6909, 2.81868, -0.84258, 1.29359, -0.392679, 0.118869)),
)
DEFAULT_IDENTITY_RULES = IdentityRules()


def encode_photo(data: bytes, analyzer: Any = None) -> np.ndarray | None:
    """The 128-d encoding of the dominant face of an uploaded photo (None when no face), as the photo gates
    compute it: safe decode, then the shared face analyzer. The one place encodings for identity are made.

    Raises ImageDecodeError (or a subclass) for undecodable bytes.
    """
    from quality_gates._decode import decode_image
    from quality_gates._faces import default_analyzer

    faces = (analyzer or default_analyzer()).analyze(decode_image(data).pixels)
    if not faces or faces[0].encoding is None:
        return None
    return np.asarray(faces[0].encoding, dtype=np.float64)
