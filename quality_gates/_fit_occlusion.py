"""Fitting and cross-validating the occlusion models (`_occlusion.EYE_MODEL`, `MOUTH_MODEL`) on a folder laid out
like ../shared/data. A maintenance entry point, like `_eval_identity fit`:

    python -m quality_gates._fit_occlusion cv  --data ../shared/data    # held-out figures, current vs refitted
    python -m quality_gates._fit_occlusion fit --data ../shared/data    # source of the refitted models to paste

Features are measured exactly as the occlusion gate measures them (the shared analyzer's dominant face, then
`_occlusion.measure`), on the images the evaluation protocol prepares (`_eval_sets.occlusion_sets`). Only faces
the analyzer finds can be fitted; photos without a found face fail `face_found` in the product anyway.

Labels: eyes covered = cmu_faces "sunglasses" and sunglasses_selfies; eyes clear = cmu_faces "open",
yale_faces (every condition, clear glasses included) and mask_voc (webcam faces, eyes visible). Mouth covered =
mask_voc masks and rwmfd; mouth clear = mask_voc without mask, cmu_faces, yale_faces and sunglasses_selfies.
Held-out figures come from folds that keep each image set's people together as far as the labels allow
(grouped by set and person where a person id exists, else by image), so a face is never judged by a model
fitted on the same face.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from quality_gates._eval_identity import fit_logistic
from quality_gates._eval_sets import EvalPhoto, occlusion_sets
from quality_gates._faces import default_analyzer
from quality_gates._occlusion import EYE_MODEL, MOUTH_MODEL, measure
from quality_gates._rules import DEFAULT_RULES

EYE_FEATURES = ("lens_dark", "lens_skin", "eye_interior", "eye_contrast", "haar_eyes", "hog_missed", "grey")
MOUTH_FEATURES = ("lower_skin", "lower_dist", "lip_contrast", "lower_uniform", "lower_texture", "hog_missed", "grey")


@dataclass(frozen=True)
class Sample:
    set_name: str
    group: str
    kind: str
    eyes: bool | None  # None: this set says nothing about the eyes
    mouth: bool | None
    features: dict[str, float]


def labels(photo: EvalPhoto) -> tuple[bool | None, bool | None]:
    """(eyes covered, mouth covered) for a photo of the protocol's sets; None where the set says nothing."""
    kind = photo.kind.split("/")[0]
    if photo.set_name == "cmu_faces":
        return kind == "sunglasses", False
    if photo.set_name == "yale_faces":
        return False, False
    if photo.set_name == "sunglasses_selfies":
        return True, False
    if photo.set_name == "mask_voc":
        return False, photo.occluded
    if photo.set_name == "rwmfd":
        return None, True
    return None, None


def _group(photo: EvalPhoto) -> str:
    """The person where the file name carries one (cmu: `person_...`, yale: `NN_...`), else the image."""
    name = Path(photo.item_id.split("#")[0]).name
    if photo.set_name in ("cmu_faces", "yale_faces"):
        return f"{photo.set_name}:{name.split('_')[0]}"
    return f"{photo.set_name}:{photo.item_id.split('#')[0]}"


def _sample(photo: EvalPhoto) -> Sample | None:
    faces = default_analyzer().analyze(photo.pixels, encode=False)
    if not faces:
        return None
    features = measure(photo.pixels, faces[0])
    if features is None:
        return None
    eyes, mouth = labels(photo)
    return Sample(photo.set_name, _group(photo), photo.kind, eyes, mouth, features.as_dict())


def collect(data_dir: Path, workers: int | None = None) -> list[Sample]:
    """Samples of every found face, cached under /tmp per data folder and analyzer/occlusion code."""
    from quality_gates.evaluation import _map

    digest = hashlib.sha256(str(data_dir.resolve()).encode())
    for module in ("_decode.py", "_faces.py", "_blaze.py", "_occlusion.py", "_eval_sets.py", "_fit_occlusion.py"):
        digest.update(Path(__file__).with_name(module).read_bytes())
    cache = Path(tempfile.gettempdir()) / f"datadam-occlusion-{os.getuid()}-{digest.hexdigest()[:16]}.json"
    if cache.is_file():
        return [Sample(**row) for row in json.loads(cache.read_text(encoding="utf-8"))]
    photos = [p for photos in occlusion_sets(data_dir).values() for p in photos]
    samples = [s for s in _map(_sample, photos, workers) if s is not None]
    cache.write_text(json.dumps([s.__dict__ for s in samples]), encoding="utf-8")
    return samples


def _matrix(samples: Sequence[Sample], names: Sequence[str]) -> np.ndarray:
    rows = [[1.0, *(s.features[n] for n in names)] for s in samples]
    return np.asarray(rows, dtype=np.float64).reshape(-1, len(names) + 1)


def _probability(model: tuple[float, dict[str, float]], samples: Sequence[Sample]) -> np.ndarray:
    bias, weights = model
    z = np.array([bias + sum(w * s.features[n] for n, w in weights.items()) for s in samples])
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))


def fit(samples: Sequence[Sample], part: str, l2: float = 1.0) -> tuple[float, dict[str, float]]:
    """Logistic model for `part` ("eyes" or "mouth") on the samples labelled for it, classes weighted equally
    per set so one large set does not decide alone."""
    names = EYE_FEATURES if part == "eyes" else MOUTH_FEATURES
    used = [s for s in samples if getattr(s, part) is not None]
    y = np.array([1.0 if getattr(s, part) else 0.0 for s in used])
    coef = fit_logistic(_matrix(used, names), y, l2=l2, sample_weight=_balance(used, y))
    return float(coef[0]), {n: float(c) for n, c in zip(names, coef[1:], strict=True)}


def _balance(samples: Sequence[Sample], y: np.ndarray) -> np.ndarray:
    """Weights making each (set, label) cell count the same in total."""
    cells: dict[tuple[str, float], int] = {}
    for s, label in zip(samples, y, strict=True):
        cells[(s.set_name, float(label))] = cells.get((s.set_name, float(label)), 0) + 1
    return np.array([len(samples) / (len(cells) * cells[(s.set_name, float(label))])
                     for s, label in zip(samples, y, strict=True)])


def _folds(samples: Sequence[Sample], k: int, seed: int = 5) -> list[set[str]]:
    groups = sorted({s.group for s in samples})
    order = np.random.default_rng(seed).permutation(len(groups))
    return [{groups[i] for i in order[f::k]} for f in range(k)]


def held_out(samples: Sequence[Sample], k: int = 5, l2: float = 1.0) -> dict[str, np.ndarray]:
    """Out-of-fold probabilities of both refitted models for every sample."""
    eyes, mouth = np.zeros(len(samples)), np.zeros(len(samples))
    for test in _folds(samples, k):
        train = [s for s in samples if s.group not in test]
        idx = [i for i, s in enumerate(samples) if s.group in test]
        part = [samples[i] for i in idx]
        eyes[idx] = _probability(fit(train, "eyes", l2), part)
        mouth[idx] = _probability(fit(train, "mouth", l2), part)
    return {"eyes": eyes, "mouth": mouth}


def report(samples: Sequence[Sample], eyes: np.ndarray, mouth: np.ndarray) -> dict[str, Any]:
    """The protocol's occlusion figures among found faces: a face is caught when either score reaches the
    review line (fail threshold minus the review margin), as the gate decides."""
    rules = DEFAULT_RULES
    caught = (eyes >= rules.eye_cover_fail - rules.occlusion_review_margin) | \
        (mouth >= rules.mouth_cover_fail - rules.occlusion_review_margin)
    out: dict[str, Any] = {}
    for key in sorted({(s.set_name, s.kind.split("/")[0]) for s in samples}):
        idx = [i for i, s in enumerate(samples) if (s.set_name, s.kind.split("/")[0]) == key]
        occluded = bool(samples[idx[0]].eyes or samples[idx[0]].mouth)
        rate = float(np.mean(caught[idx]))
        out[f"{key[0]}/{key[1]}"] = {"faces": len(idx), ("recall" if occluded else "false_reject"): round(rate, 4)}
    return out


def model_source(eye: tuple[float, dict[str, float]], mouth: tuple[float, dict[str, float]]) -> str:
    def one(name: str, model: tuple[float, dict[str, float]]) -> str:
        body = ", ".join(f'"{k}": {v:.4f}' for k, v in model[1].items())
        return f"{name}: tuple[float, dict[str, float]] = ({model[0]:.3f}, {{\n    {body},\n}})\n"

    return one("EYE_MODEL", eye) + one("MOUTH_MODEL", mouth)


def main(argv: Sequence[str] | None = None) -> int:  # pragma: no cover - maintenance entry point
    import argparse

    parser = argparse.ArgumentParser(description="Fit or cross-validate the occlusion models.")
    parser.add_argument("action", choices=("cv", "fit"))
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--l2", type=float, default=1.0)
    args = parser.parse_args(argv)
    samples = collect(args.data)
    if args.action == "fit":
        print(model_source(fit(samples, "eyes", args.l2), fit(samples, "mouth", args.l2)))
        return 0
    cv = held_out(samples, l2=args.l2)
    current = report(samples, _probability(EYE_MODEL, samples), _probability(MOUTH_MODEL, samples))
    print(json.dumps({"faces": len(samples), "current_model_in_sample": current,
                      "refitted_held_out": report(samples, cv["eyes"], cv["mouth"])}, indent=2))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

