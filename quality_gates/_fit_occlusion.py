"""Fitting and cross-validating the occlusion models (`models/occlusion.json`) on a folder laid out like
../shared/data. A maintenance entry point, like `_eval_identity fit`:

    python -m quality_gates._fit_occlusion cv  --data ../shared/data          # held-out figures
    python -m quality_gates._fit_occlusion fit --data ../shared/data --write  # refit models/occlusion.json

Features are measured exactly as the occlusion gate measures them (the shared analyzer's dominant face, its
appearance vectors, then `_occlusion.measure`), on the images the evaluation protocol prepares
(`_eval_sets.occlusion_sets`), plus FG-NET and CACD-VS photos as clean faces of many ages and sources. Only faces
the analyzer finds can be fitted; photos without a found face fail `face_found` in the product anyway.

Labels: eyes covered = cmu_faces "sunglasses" and sunglasses_selfies; eyes clear = cmu_faces "open",
yale_faces (every condition, clear glasses included), mask_voc (webcam faces, eyes visible), fgnet and cacd_vs.
Mouth covered = mask_voc masks and rwmfd; mouth clear = mask_voc without mask, cmu_faces, yale_faces,
sunglasses_selfies, fgnet and cacd_vs.

Two models per part are fitted: on the hand-made measurements alone, and on the measurements plus the part's
region descriptor from the face-recognition network (`_resnet.FaceAppearance`: eye band for the eyes, nose-and-
mouth band for the mouth); the gate uses the second only where the first is unsure (`_occlusion.UNSURE_BAND`),
and `cv` reports that combination as the gate's figure. A descriptor enters through its `VECTOR_DIMS` main
directions (principal components over the training faces, whitened), so the read-out has 16 free weights rather
than 128; the fitted weights are folded back onto the 128 values, so the product needs no projection step.
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
from quality_gates._eval_sets import EvalPhoto, column, load_rgb, occlusion_sets, read_labels
from quality_gates._faces import default_analyzer
from quality_gates._occlusion import (
    ENCODING_SIZE,
    MODEL_FILE,
    VECTOR_NAMES,
    LinearModel,
    OcclusionModels,
    is_unsure,
    measure,
    occlusion_models,
)
from quality_gates._resnet import FaceAppearance
from quality_gates._rules import DEFAULT_RULES

EYE_FEATURES = ("lens_dark", "lens_skin", "eye_interior", "eye_contrast", "haar_eyes", "hog_missed", "grey")
MOUTH_FEATURES = ("lower_skin", "lower_dist", "lip_contrast", "lower_uniform", "lower_texture", "hog_missed", "grey")
VECTOR_DIMS = 16
PART_VECTORS = {"eyes": ("eye_region",), "mouth": ("mouth_region",)}
CLEAN_SETS = ("fgnet", "cacd_vs")


@dataclass(frozen=True)
class Sample:
    set_name: str
    group: str
    kind: str
    eyes: bool | None  # None: this set says nothing about the eyes
    mouth: bool | None
    features: dict[str, float]
    vectors: dict[str, list[float]] | None = None  # `_occlusion.VECTOR_NAMES`: the region descriptors only


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
    if photo.set_name in CLEAN_SETS:
        return False, False
    return None, None


def _group(photo: EvalPhoto) -> str:
    """The person where the labels or file name carry one (cmu: `person_...`, yale: `NN_...`, fgnet: subject,
    cacd_vs: the pair), else the image."""
    name = Path(photo.item_id.split("#")[0]).name
    if photo.set_name in ("cmu_faces", "yale_faces"):
        return f"{photo.set_name}:{name.split('_')[0]}"
    if photo.set_name in CLEAN_SETS:
        return f"{photo.set_name}:{photo.kind.split('/', 1)[-1]}"
    return f"{photo.set_name}:{photo.item_id.split('#')[0]}"


def clean_faces(data_dir: Path) -> list[EvalPhoto]:
    """FG-NET and CACD-VS photos as clean faces (kind `clean/<subject or pair>`), as found."""
    photos = []
    for row in read_labels(data_dir / "fgnet"):
        photos.append(EvalPhoto("fgnet", row["path"], load_rgb(data_dir / row["path"]), False,
                                f"clean/{column(row, 'subject')}"))
    for row in read_labels(data_dir / "cacd_vs"):
        for key in ("image_a", "image_b"):
            photos.append(EvalPhoto("cacd_vs", row[key], load_rgb(data_dir / row[key]), False,
                                    f"clean/{column(row, 'pair')}"))
    return photos


def _sample(photo: EvalPhoto) -> Sample | None:
    analyzer = default_analyzer()
    faces = analyzer.analyze(photo.pixels, encode=False)
    if not faces:
        return None
    features = measure(photo.pixels, faces[0])
    if features is None:
        return None
    eyes, mouth = labels(photo)
    seen = analyzer.appearance(photo.pixels, faces[0])
    vectors = None if seen is None else {name: [float(v) for v in seen.vector(name)] for name in VECTOR_NAMES}
    return Sample(photo.set_name, _group(photo), photo.kind, eyes, mouth, features.as_dict(), vectors)


def collect(data_dir: Path, workers: int | None = None) -> list[Sample]:
    """Samples of every found face, cached under /tmp per data folder and analyzer/occlusion code."""
    from quality_gates.evaluation import _map

    digest = hashlib.sha256(str(data_dir.resolve()).encode())
    for module in ("_decode.py", "_faces.py", "_blaze.py", "_resnet.py", "_occlusion.py", "_eval_sets.py",
                   "_fit_occlusion.py"):
        digest.update(Path(__file__).with_name(module).read_bytes())
    cache = Path(tempfile.gettempdir()) / f"datadam-occlusion-{os.getuid()}-{digest.hexdigest()[:16]}.json"
    if cache.is_file():
        return [Sample(**row) for row in json.loads(cache.read_text(encoding="utf-8"))]
    photos = [p for photos in occlusion_sets(data_dir).values() for p in photos] + clean_faces(data_dir)
    samples = [s for s in _map(_sample, photos, workers) if s is not None]
    cache.write_text(json.dumps([s.__dict__ for s in samples]), encoding="utf-8")
    return samples


def _matrix(samples: Sequence[Sample], names: Sequence[str]) -> np.ndarray:
    rows = [[1.0, *(s.features[n] for n in names)] for s in samples]
    return np.asarray(rows, dtype=np.float64).reshape(-1, len(names) + 1)


def _probability(model: LinearModel, samples: Sequence[Sample]) -> np.ndarray:
    return np.array([model.probability(s.features, _appearance(s) if model.vector_weights else None)
                     for s in samples])


def _appearance(sample: Sample) -> FaceAppearance | None:
    """The sample's region descriptors as the gate sees them; the fit never holds an identity encoding."""
    if not sample.vectors:
        return None
    regions = {name: np.asarray(sample.vectors[name], dtype=np.float64) for name in VECTOR_NAMES}
    return FaceAppearance(np.full(ENCODING_SIZE, np.nan), **regions)


@dataclass(frozen=True)
class _Projection:
    """Whitened principal directions of one appearance vector over the training samples."""

    mean: np.ndarray
    axes: np.ndarray  # (dims, 128), each row scaled so projected values have unit variance

    @staticmethod
    def fit(vectors: np.ndarray, dims: int) -> _Projection:
        mean = vectors.mean(axis=0)
        _, singular, vt = np.linalg.svd(vectors - mean, full_matrices=False)
        scale = np.sqrt(max(len(vectors) - 1, 1)) / np.maximum(singular[:dims], 1e-9)
        return _Projection(mean, vt[:dims] * scale[:, None])

    def project(self, vectors: np.ndarray) -> np.ndarray:
        return np.asarray((vectors - self.mean) @ self.axes.T)


def fit(samples: Sequence[Sample], part: str, l2: float = 1.0, vector_dims: int = 0) -> LinearModel:
    """Logistic model for `part` ("eyes" or "mouth") on the samples labelled for it, classes weighted equally
    per set so one large set does not decide alone. With `vector_dims` > 0 the main directions of the part's
    region descriptor (`PART_VECTORS`) join the measurements (samples without one are then left out)."""
    names = EYE_FEATURES if part == "eyes" else MOUTH_FEATURES
    used = [s for s in samples if getattr(s, part) is not None and (vector_dims == 0 or s.vectors)]
    y = np.array([1.0 if getattr(s, part) else 0.0 for s in used])
    columns = [_matrix(used, names)]
    projections: dict[str, _Projection] = {}
    for vector in PART_VECTORS[part] if vector_dims else ():
        values = np.asarray([(s.vectors or {})[vector] for s in used], dtype=np.float64)
        projections[vector] = _Projection.fit(values, vector_dims)
        columns.append(projections[vector].project(values))
    coef = fit_logistic(np.hstack(columns), y, l2=l2, sample_weight=_balance(used, y))
    weights = {n: float(c) for n, c in zip(names, coef[1:len(names) + 1], strict=True)}
    bias, folded, start = float(coef[0]), {}, len(names) + 1
    for vector, projection in projections.items():
        on_vector = coef[start:start + vector_dims] @ projection.axes
        bias -= float(on_vector @ projection.mean)
        folded[vector] = on_vector
        start += vector_dims
    return LinearModel(bias, weights, folded)


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


def held_out(samples: Sequence[Sample], k: int = 5, l2: float = 1.0, vector_dims: int = 0,
             seed: int = 5) -> dict[str, np.ndarray]:
    """Out-of-fold probabilities of both refitted models for every sample."""
    eyes, mouth = np.zeros(len(samples)), np.zeros(len(samples))
    for test in _folds(samples, k, seed):
        train = [s for s in samples if s.group not in test]
        idx = [i for i, s in enumerate(samples) if s.group in test]
        part = [samples[i] for i in idx]
        eyes[idx] = _probability(fit(train, "eyes", l2, vector_dims), part)
        mouth[idx] = _probability(fit(train, "mouth", l2, vector_dims), part)
    return {"eyes": eyes, "mouth": mouth}


def report(samples: Sequence[Sample], eyes: np.ndarray, mouth: np.ndarray) -> dict[str, Any]:
    """The protocol's occlusion figures among found faces: a face is caught when either score reaches the
    review line (`PhotoRules.occlusion_review_line`), as the gate decides."""
    rules = DEFAULT_RULES
    caught = (eyes >= rules.occlusion_review_line(rules.eye_cover_fail)) | \
        (mouth >= rules.occlusion_review_line(rules.mouth_cover_fail))
    out: dict[str, Any] = {}
    for key in sorted({(s.set_name, s.kind.split("/")[0]) for s in samples}):
        idx = [i for i, s in enumerate(samples) if (s.set_name, s.kind.split("/")[0]) == key]
        occluded = bool(samples[idx[0]].eyes or samples[idx[0]].mouth)
        rate = float(np.mean(caught[idx]))
        out[f"{key[0]}/{key[1]}"] = {"faces": len(idx), ("recall" if occluded else "false_reject"): round(rate, 4)}
    return out


def gate_scores(measured: dict[str, np.ndarray], with_appearance: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """What the gate decides from both models' probabilities: the measurements' own unless either is unsure."""
    unsure = np.asarray(is_unsure(measured["eyes"])) | np.asarray(is_unsure(measured["mouth"]))
    return {part: np.where(unsure, with_appearance[part], measured[part]) for part in ("eyes", "mouth")}


def fit_models(samples: Sequence[Sample], l2: float = 1.0, vector_dims: int = VECTOR_DIMS) -> OcclusionModels:
    return OcclusionModels((fit(samples, "eyes", l2), fit(samples, "mouth", l2)),
                           (fit(samples, "eyes", l2, vector_dims), fit(samples, "mouth", l2, vector_dims)))


def model_file(samples: Sequence[Sample], l2: float = 1.0, vector_dims: int = VECTOR_DIMS) -> dict[str, Any]:
    """The content of `models/occlusion.json`: both pairs of models and what they were fitted on."""
    counts: dict[str, int] = {}
    for s in samples:
        if s.vectors:
            counts[s.set_name] = counts.get(s.set_name, 0) + 1
    return {
        "about": "occlusion models, written by python -m quality_gates._fit_occlusion fit --write",
        "vector_dims": vector_dims, "l2": l2, "faces_per_set": dict(sorted(counts.items())),
        **fit_models(samples, l2, vector_dims).to_dict(),
    }


def shipped_scores(samples: Sequence[Sample], models: OcclusionModels) -> dict[str, np.ndarray]:
    """The shipped models' gate scores for samples (in sample: they were fitted on these)."""
    measured = {"eyes": _probability(models.measured[0], samples), "mouth": _probability(models.measured[1], samples)}
    encoded = {"eyes": _probability(models.with_appearance[0], samples),
               "mouth": _probability(models.with_appearance[1], samples)}
    return gate_scores(measured, encoded)


def main(argv: Sequence[str] | None = None) -> int:  # pragma: no cover - maintenance entry point
    import argparse

    parser = argparse.ArgumentParser(description="Fit or cross-validate the occlusion models.")
    parser.add_argument("action", choices=("cv", "fit"))
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--l2", type=float, default=1.0)
    parser.add_argument("--dims", type=int, default=VECTOR_DIMS, help="directions used per region descriptor")
    parser.add_argument("--write", action="store_true", help=f"fit: write {MODEL_FILE.name}")
    args = parser.parse_args(argv)
    samples = [s for s in collect(args.data) if s.vectors]
    if args.action == "fit":
        content = model_file(samples, args.l2, args.dims)
        print(json.dumps({k: v for k, v in content.items() if k not in ("measurements", "with_appearance")}))
        if args.write:
            MODEL_FILE.write_text(json.dumps(content, indent=1) + "\n", encoding="utf-8")
            occlusion_models.cache_clear()
            print(f"wrote {MODEL_FILE}")
        return 0
    measured = held_out(samples, l2=args.l2)
    encoded = held_out(samples, l2=args.l2, vector_dims=args.dims)
    gate = gate_scores(measured, encoded)
    unsure = np.asarray(is_unsure(measured["eyes"])) | np.asarray(is_unsure(measured["mouth"]))
    out: dict[str, Any] = {
        "faces": len(samples), "encoder_needed_share": round(float(unsure.mean()), 4),
        "held_out": {"measurements": report(samples, measured["eyes"], measured["mouth"]),
                     "with_appearance": report(samples, encoded["eyes"], encoded["mouth"]),
                     "gate": report(samples, gate["eyes"], gate["mouth"])},
    }
    if MODEL_FILE.is_file():
        shipped = shipped_scores(samples, occlusion_models())
        out["shipped_gate_in_sample"] = report(samples, shipped["eyes"], shipped["mouth"])
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

