"""Evaluation (and fitting) of the identity-consistency gate on FG-NET and CACD-VS (../shared/data layout).

Protocol (issue 5, implemented exactly so figures are comparable):
- `fgnet/labels.csv` (columns path, subject_id, age_years): every subject with >= 4 photos gives a genuine set
  of all their photos, each with its decade bracket and exact age. For each photo of the set an impostor set
  replaces it with a photo of another subject whose age differs by at most 3 years, drawn with a fixed seed;
  the stranger photo carries its own age and bracket. Only the swapped photo is scored in an impostor set.
- Genuine false-flag rate (review or flag on a genuine photo) and impostor caught rate (review or flag on the
  swapped photo), split child (< 13 years, by the photo's age) / adult, with exact ages and brackets only.
- `cacd_vs/labels.csv` (pair_id, fold, label same/different, image_a, image_b): same/different accuracy of the
  pair decision (`pair_same_person`, brackets unknown) and of dlib's 0.6 tolerance.

Only the documented label files and the paths they list are used. Encodings come from
`quality_gates._identity.encode_photo` (safe decode, then the shared face analyzer, exactly as the photo gates
do); `face_encoding` caches its result per file content under /tmp (biometric data of research subjects: the
cache lives in a private temporary folder, never in the repository).

`fit_identity_model` fits the pair models and calibrations of `quality_gates._identity`; its output is what
the module's constants hold. `cross_validate_identity` reports figures for subjects held out of every fit.
"""

from __future__ import annotations

import csv
import hashlib
import multiprocessing
import os
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from quality_gates._eval_sets import unreadable_summary, usable_rows
from quality_gates._identity import (
    Calibrator,
    IdentityModel,
    IdentityRules,
    IdentityVerdict,
    PairModel,
    SetPhoto,
    calibration_features,
    check_set,
    encode_photo,
    genuine_features,
    impostor_features,
    impostor_probability,
    pair_same_person,
    photo_evidence,
)
from quality_gates.errors import ImageDecodeError

IMPOSTOR_SEED = 20240605
IMPOSTOR_MAX_AGE_GAP = 3
MIN_SET_SIZE = 4
CHILD_BELOW = 13
DLIB_TOLERANCE = 0.6


@cache
def encoder_tag() -> str:
    """Part of the cache key: a digest of the code that turns bytes into an encoding (the decoder and
    the analyzer), so a cache written by an older analyzer is never read as the current one's."""
    digest = hashlib.sha256()
    for module in ("_decode.py", "_faces.py"):
        digest.update((Path(__file__).with_name(module)).read_bytes())
    return digest.hexdigest()[:16]


def _cache_dir() -> Path:
    path = Path(tempfile.gettempdir()) / f"datadam-identity-cache-{os.getuid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def _cache_key(data: bytes) -> Path:
    return _cache_dir() / f"{hashlib.sha256(data).hexdigest()}-{encoder_tag()}.npy"


def _cached(key: Path) -> tuple[bool, np.ndarray | None]:
    if not key.exists():
        return False, None
    cached = np.load(key)
    return True, (cached if cached.size else None)


def face_encoding(path: Path) -> np.ndarray | None:
    """The 128-d encoding of the dominant face in an image file (None without a face or when the file cannot
    be decoded); cached by content."""
    data = path.read_bytes()
    key = _cache_key(data)
    hit, encoding = _cached(key)
    if hit:
        return encoding
    try:
        encoding = encode_photo(data)
    except ImageDecodeError:  # an undecodable photo fails `decode` in the product: like a photo without a face
        encoding = None
    partial = key.with_suffix(f".{os.getpid()}.tmp.npy")
    np.save(partial, np.zeros(0) if encoding is None else encoding)
    os.replace(partial, key)  # atomic: parallel workers never read a half-written file
    return encoding


def face_encodings(paths: Sequence[Path], workers: int | None = None) -> list[np.ndarray | None]:
    """`face_encoding` of many files; files not cached yet are encoded in parallel worker processes."""
    missing = [p for p in dict.fromkeys(paths) if not _cache_key(p.read_bytes()).exists()]
    workers = workers if workers is not None else min(os.cpu_count() or 1, 4)
    if len(missing) > 8 and workers > 1:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            list(pool.map(face_encoding, missing, chunksize=8))
    return [face_encoding(p) for p in paths]


@dataclass(frozen=True, eq=False)
class FgnetData:
    """FG-NET photos with subject, exact age and encoding (rows without a face keep encoding None)."""

    paths: tuple[str, ...]
    subjects: np.ndarray = field(repr=False)
    ages: np.ndarray = field(repr=False)
    encodings: tuple[np.ndarray | None, ...] = field(repr=False)

    @property
    def distances(self) -> np.ndarray:
        enc = np.stack([np.full(128, np.nan) if e is None else e for e in self.encodings])
        return np.sqrt(((enc[:, None, :] - enc[None, :, :]) ** 2).sum(axis=-1))


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


Encoder = Callable[[Sequence[Path]], list[np.ndarray | None]]


def _age(row: dict[str, str]) -> bool:
    try:
        age = float(row.get("age_years") or "")
    except ValueError:
        return False
    return 0 <= age < 150 and bool((row.get("subject_id") or "").strip())


def load_fgnet(data_dir: Path, encode: Encoder = face_encodings, skipped: list[str] | None = None) -> FgnetData:
    """Read fgnet/labels.csv and encode every listed photo (unusable rows go to `skipped`)."""
    rows = usable_rows(data_dir, read_rows(data_dir / "fgnet" / "labels.csv"), ("path",), _age, skipped)
    return FgnetData(
        tuple(r["path"] for r in rows),
        np.array([r["subject_id"] for r in rows]),
        np.array([float(r["age_years"]) for r in rows]),
        tuple(encode([data_dir / r["path"] for r in rows])),
    )


def decade(age: float) -> tuple[int, int]:
    low = int(age // 10) * 10
    return (low, low + 9)


@dataclass(frozen=True)
class Trial:
    """One set to score: photo indices into FgnetData, the position judged and whether it is a stranger."""

    subject: str
    members: tuple[int, ...]
    impostor_at: int | None = None


def build_trials(data: FgnetData, subjects: Sequence[str] | None = None,
                 seed: int = IMPOSTOR_SEED) -> tuple[list[Trial], list[Trial]]:
    """Genuine sets and one impostor set per photo (stranger within 3 years of age, fixed seed)."""
    rng = np.random.default_rng(seed)
    chosen = set(subjects) if subjects is not None else None
    genuine: list[Trial] = []
    impostor: list[Trial] = []
    # A photo without a found face fails `face_found` and never reaches the identity gate: leave it out.
    encoded = np.array([e is not None for e in data.encodings], dtype=bool)
    for subject in sorted(set(data.subjects.tolist())):
        members = tuple(int(i) for i in np.flatnonzero((data.subjects == subject) & encoded))
        if len(members) < MIN_SET_SIZE:
            continue
        swaps = [_stranger(data, subject, i, rng, encoded) for i in members]
        if chosen is not None and subject not in chosen:
            continue
        genuine.append(Trial(subject, members))
        for pos, stranger in enumerate(swaps):
            if stranger is not None:
                swapped = members[:pos] + (stranger,) + members[pos + 1:]
                impostor.append(Trial(subject, swapped, pos))
    return genuine, impostor


def _stranger(data: FgnetData, subject: str, photo: int, rng: np.random.Generator,
              encoded: np.ndarray) -> int | None:
    pool = np.flatnonzero((data.subjects != subject) & encoded
                          & (np.abs(data.ages - data.ages[photo]) <= IMPOSTOR_MAX_AGE_GAP))
    return int(rng.choice(pool)) if pool.size else None


def set_photos(data: FgnetData, trial: Trial, with_ages: bool) -> list[SetPhoto]:
    return [SetPhoto(data.encodings[i], decade(data.ages[i]), data.ages[i] if with_ages else None)
            for i in trial.members]


# --- fitting ------------------------------------------------------------------------------------------------

def _model_ages(ages: np.ndarray, with_ages: bool) -> np.ndarray:
    return ages if with_ages else np.array([(lo + hi) / 2 for lo, hi in map(decade, ages)])


def fit_pair_model(data: FgnetData, subjects: Sequence[str], with_ages: bool) -> PairModel:
    """Least-squares mean and mean-absolute-deviation spread models on every pair among `subjects`."""
    keep = np.isin(data.subjects, list(subjects)) & np.array([e is not None for e in data.encodings])
    idx = np.flatnonzero(keep)
    ages = _model_ages(data.ages[idx], with_ages)
    upper = np.triu_indices(len(idx), 1)
    dist = data.distances[np.ix_(idx, idx)][upper]
    a, b = ages[upper[0]], ages[upper[1]]
    same = (data.subjects[idx][upper[0]] == data.subjects[idx][upper[1]])
    g_mean, g_sd = _fit_mean_sd(genuine_features(a[same], b[same]), dist[same])
    i_mean, i_sd = _fit_mean_sd(impostor_features(a[~same], b[~same]), dist[~same])
    return PairModel(g_mean, g_sd, i_mean, i_sd)


def _fit_mean_sd(features: np.ndarray, target: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    mean, *_ = np.linalg.lstsq(features, target, rcond=None)
    spread = np.abs(target - features @ mean) * np.sqrt(np.pi / 2)  # E|x - mu| = sd * sqrt(2/pi)
    sd, *_ = np.linalg.lstsq(features, spread, rcond=None)
    return tuple(float(v) for v in mean), tuple(float(v) for v in sd)


def fit_logistic(features: np.ndarray, labels: np.ndarray, l2: float = 1e-2, steps: int = 50,
                 sample_weight: np.ndarray | None = None) -> np.ndarray:
    """Ridge-penalised (optionally sample-weighted) logistic regression by Newton steps (labels 1 = positive)."""
    weights = np.zeros(features.shape[1])
    w = np.ones(len(labels)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    for _ in range(steps):
        prob = 1.0 / (1.0 + np.exp(-np.clip(features @ weights, -50, 50)))
        grad = features.T @ (w * (prob - labels)) + l2 * weights
        hess = features.T @ (features * (w * prob * (1 - prob))[:, None]) + l2 * np.eye(len(weights))
        step = np.linalg.solve(hess, grad)
        weights -= step
        if np.abs(step).max() < 1e-9:
            break
    return weights


@dataclass(frozen=True, eq=False)
class Scored:
    """Evidence rows of scored trials: evidence, model age, true age, label (1 = stranger)."""

    evidence: np.ndarray
    model_age: np.ndarray
    true_age: np.ndarray
    label: np.ndarray

    @staticmethod
    def concat(parts: Sequence[Scored]) -> Scored:
        return Scored(*(np.concatenate([getattr(p, f) for p in parts])
                        for f in ("evidence", "model_age", "true_age", "label")))


def score_trials(data: FgnetData, trials: Sequence[Trial], with_ages: bool, model: IdentityModel) -> Scored:
    """Evidence of every genuine photo (impostor_at None) or of the swapped photo."""
    rows: list[tuple[float, float, float, int]] = []
    dist_all = data.distances
    for trial in trials:
        members = np.array(trial.members)
        ages = _model_ages(data.ages[members], with_ages)
        ev = photo_evidence(dist_all[np.ix_(members, members)], ages, with_ages, model)
        judged = range(len(members)) if trial.impostor_at is None else [trial.impostor_at]
        label = 0 if trial.impostor_at is None else 1
        rows.extend((ev[k], ages[k], data.ages[members[k]], label) for k in judged)
    arr = np.array(rows, dtype=np.float64).reshape(-1, 4)
    return Scored(arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3])


def _subject_folds(subjects: Sequence[str], folds: int, seed: int) -> list[list[str]]:
    order = np.random.default_rng(seed).permutation(len(subjects))
    return [[subjects[i] for i in order[k::folds]] for k in range(folds)]


def out_of_fold_evidence(data: FgnetData, subjects: Sequence[str], with_ages: bool, folds: int = 7,
                         seed: int = 7) -> Scored:
    """Evidence for each subject's trials from pair models fitted without that subject."""
    parts = []
    for test in _subject_folds(list(subjects), folds, seed):
        train = [s for s in subjects if s not in test]
        pair = fit_pair_model(data, train, with_ages)
        model = _with_pair(pair)
        genuine, impostor = build_trials(data, test)
        parts.append(score_trials(data, genuine + impostor, with_ages, model))
    return Scored.concat(parts)


def _with_pair(pair: PairModel) -> IdentityModel:
    """A model using `pair` for both age modes (calibration not needed to compute evidence)."""
    neutral = Calibrator((0.0,) * 6)
    return IdentityModel(pair, pair, neutral, neutral)


def fit_calibrator(scored: Scored) -> Calibrator:
    features = calibration_features(scored.evidence, scored.model_age)
    return Calibrator(tuple(float(w) for w in fit_logistic(features, scored.label)))


def fit_identity_model(data: FgnetData, subjects: Sequence[str] | None = None) -> IdentityModel:
    """Pair models on all pairs of `subjects`, calibrations on their out-of-fold evidence."""
    subjects = list(subjects) if subjects is not None else _eligible_subjects(data)
    parts: dict[bool, tuple[PairModel, Calibrator]] = {}
    for with_ages in (True, False):
        pair = fit_pair_model(data, subjects, with_ages)
        calibrator = fit_calibrator(out_of_fold_evidence(data, subjects, with_ages))
        parts[with_ages] = (pair, calibrator)
    return IdentityModel(parts[True][0], parts[False][0], parts[True][1], parts[False][1])


def _eligible_subjects(data: FgnetData) -> list[str]:
    names, counts = np.unique(data.subjects, return_counts=True)
    return [str(s) for s, c in zip(names, counts, strict=True) if c >= MIN_SET_SIZE]


def fit_rules(data: FgnetData, model: IdentityModel, subjects: Sequence[str] | None = None,
              ff_child: float = 0.045, ff_adult: float = 0.005, flag_share: float = 0.25) -> IdentityRules:
    """Review thresholds at target out-of-fold genuine false-flag rates (exact ages); flag thresholds where a
    quarter of those (`flag_share`) would remain: strong evidence goes to flag, the rest to review."""
    subjects = list(subjects) if subjects is not None else _eligible_subjects(data)
    scored = out_of_fold_evidence(data, subjects, True)
    prob = impostor_probability(scored.evidence, scored.model_age, True, model)
    genuine = scored.label == 0
    child = scored.model_age < CHILD_BELOW
    thresholds = {}
    for name, group, target in (("child", child, ff_child), ("adult", ~child, ff_adult)):
        values = prob[genuine & group]
        thresholds[f"review_{name}"] = float(np.quantile(values, 1 - target))
        thresholds[f"flag_{name}"] = float(max(np.quantile(values, 1 - target * flag_share),
                                               thresholds[f"review_{name}"]))
    return IdentityRules(**thresholds)


# --- evaluation ---------------------------------------------------------------------------------------------

def judge_trials(data: FgnetData, trials: Sequence[Trial], with_ages: bool, rules: IdentityRules | None,
                 model: IdentityModel | None) -> list[tuple[bool, float, bool]]:
    """(caught, true age, is_impostor) for every judged photo, through the public `check_set`."""
    out = []
    for trial in trials:
        report = check_set(set_photos(data, trial, with_ages), rules, model)
        judged = range(len(trial.members)) if trial.impostor_at is None else [trial.impostor_at]
        for k in judged:
            caught = report.photos[k].verdict is not IdentityVerdict.PASS
            out.append((caught, float(data.ages[trial.members[k]]), trial.impostor_at is not None))
    return out


def rates(judged: Sequence[tuple[bool, float, bool]]) -> dict[str, Any]:
    """False-flag and caught rates, child (< 13) / adult, with counts."""
    out: dict[str, Any] = {}
    for group, test in (("child", lambda a: a < CHILD_BELOW), ("adult", lambda a: a >= CHILD_BELOW)):
        gen = [c for c, a, imp in judged if not imp and test(a)]
        imp_ = [c for c, a, imp in judged if imp and test(a)]
        out[group] = {
            "genuine_photos": len(gen),
            "false_flag_rate": _mean(gen),
            "impostor_photos": len(imp_),
            "caught_rate": _mean(imp_),
        }
    return out


def _mean(values: Sequence[bool]) -> float | None:
    return round(float(np.mean(values)), 4) if values else None


def evaluate_fgnet(data: FgnetData, subjects: Sequence[str] | None = None, rules: IdentityRules | None = None,
                   model: IdentityModel | None = None) -> dict[str, Any]:
    genuine, impostor = build_trials(data, subjects)
    return {
        "subjects": len(genuine),
        "with_ages": rates(judge_trials(data, genuine + impostor, True, rules, model)),
        "brackets_only": rates(judge_trials(data, genuine + impostor, False, rules, model)),
    }


def evaluate_cacd(data_dir: Path, encode: Encoder = face_encodings,
                  model: IdentityModel | None = None) -> dict[str, Any] | None:
    """Same/different accuracy on CACD-VS pairs (a pair without a face counts as wrong)."""
    labels = data_dir / "cacd_vs" / "labels.csv"
    if not labels.is_file():
        return None
    skipped: list[str] = []
    rows = usable_rows(data_dir, read_rows(labels), ("image_a", "image_b"),
                       lambda row: (row.get("label") or "").strip().lower() in ("same", "different"), skipped)
    encoded = encode([data_dir / row[k] for row in rows for k in ("image_a", "image_b")])
    ours, tolerance, no_face = [], [], 0
    for index, row in enumerate(rows):
        same = row["label"].strip().lower() == "same"
        a, b = encoded[2 * index], encoded[2 * index + 1]
        if a is None or b is None:
            no_face += 1
            ours.append(False)
            tolerance.append(False)
            continue
        ours.append(pair_same_person(a, b, model=model) == same)
        tolerance.append((float(np.linalg.norm(a - b)) <= DLIB_TOLERANCE) == same)
    return {"pairs": len(ours), "accuracy": _mean(ours), "accuracy_dlib_0.6": _mean(tolerance),
            "pairs_without_face": no_face, **unreadable_summary(skipped)}



def evaluate_identity(data_dir: Path | str) -> dict[str, Any]:
    """Every identity metric of the protocol on a folder laid out like ../shared/data (absent sets skipped).

    Encodings are cached under /tmp per file content (see `face_encoding`)."""
    data_dir = Path(data_dir)
    out: dict[str, Any] = {}
    if (data_dir / "fgnet" / "labels.csv").is_file():
        skipped: list[str] = []
        data = load_fgnet(data_dir, skipped=skipped)
        out["fgnet"] = evaluate_fgnet(data)
        out["fgnet"]["photos_without_face"] = sum(e is None for e in data.encodings)
        out["fgnet"].update(unreadable_summary(skipped))
    cacd = evaluate_cacd(data_dir)
    if cacd is not None:
        out["cacd_vs"] = cacd
    return out


def cross_validate_identity(data: FgnetData, folds: int = 7, seed: int = 11) -> dict[str, Any]:
    """Held-out figures: model and thresholds fitted without each fold's subjects, then applied to them."""
    subjects = _eligible_subjects(data)
    judged_exact: list[tuple[bool, float, bool]] = []
    judged_bracket: list[tuple[bool, float, bool]] = []
    for test in _subject_folds(subjects, folds, seed):
        train = [s for s in subjects if s not in test]
        model = fit_identity_model(data, train)
        rules = fit_rules(data, model, train)
        genuine, impostor = build_trials(data, test)
        judged_exact += judge_trials(data, genuine + impostor, True, rules, model)
        judged_bracket += judge_trials(data, genuine + impostor, False, rules, model)
    return {"folds": folds, "subjects": len(subjects), "with_ages": rates(judged_exact),
            "brackets_only": rates(judged_bracket)}


def model_source(model: IdentityModel, rules: IdentityRules) -> str:
    """Python source of the fitted model (to paste at the end of quality_gates/_identity.py) and the fitted
    thresholds as comment lines (the defaults of IdentityRules)."""

    def floats(values: Sequence[float]) -> str:
        return "(" + ", ".join(f"{v:.6g}" for v in values) + ")"

    def pair(p: PairModel) -> str:
        return (f"PairModel(\n        genuine_mean={floats(p.genuine_mean)},\n"
                f"        genuine_sd={floats(p.genuine_sd)},\n"
                f"        impostor_mean={floats(p.impostor_mean)},\n"
                f"        impostor_sd={floats(p.impostor_sd)},\n    )")

    return (f"DEFAULT_IDENTITY_MODEL = IdentityModel(\n    exact={pair(model.exact)},\n"
            f"    bracket={pair(model.bracket)},\n"
            f"    calibrate_exact=Calibrator({floats(model.calibrate_exact.weights)}),\n"
            f"    calibrate_bracket=Calibrator({floats(model.calibrate_bracket.weights)}),\n)\n"
            "# IdentityRules defaults:\n"
            + "".join(f"#    {name}: float = {getattr(rules, name):.4f}\n"
                      for name in ("review_child", "flag_child", "review_adult", "flag_adult")))


if __name__ == "__main__":  # pragma: no cover - maintenance entry point
    import argparse
    import json

    parser = argparse.ArgumentParser(description="Fit or cross-validate the identity model on FG-NET.")
    parser.add_argument("action", choices=("fit", "cv", "eval"))
    parser.add_argument("--data", type=Path, required=True)
    args = parser.parse_args()
    if args.action == "eval":
        print(json.dumps(evaluate_identity(args.data), indent=2))
    else:
        fgnet = load_fgnet(args.data)
        if args.action == "cv":
            print(json.dumps(cross_validate_identity(fgnet), indent=2))
        else:
            fitted = fit_identity_model(fgnet)
            print(model_source(fitted, fit_rules(fgnet, fitted)))
