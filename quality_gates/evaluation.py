"""`evaluate(data_dir)`: the evaluation protocol of the gates on a folder laid out like ../shared/data.

Photo side (this module): face size on FG-NET and occlusion on mask_voc, cmu_faces, yale_faces,
sunglasses_selfies (and rwmfd, reported as extra weak-label positives). Identity and voice are evaluated by
`_eval_identity.evaluate_identity` and `_eval_voice.evaluate_voice` when those modules are present (imported
lazily; reported as "not run" otherwise). Only documented label files are read, so the same code runs on
unseen data of the same layout. Occlusion figures are given two ways: among photos where a face was found
(the occlusion gate's own accuracy) and per photo (a photo without a found face is rejected by `face_found`,
which counts as caught for an occluded photo and as a false reject for a clean one). Review counts as caught
on occluded photos and as a false reject on clean ones.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from quality_gates._eval_sets import (
    UNREADABLE_ERRORS,
    EvalPhoto,
    Unreadable,
    column,
    occlusion_sets,
    read_labels,
    unreadable_summary,
)
from quality_gates._photo import check_photo
from quality_gates._report import PhotoReport
from quality_gates._rules import DEFAULT_RULES

FACE_SIZE_TOLERANCE = 0.10
GOALS = {
    "face_size_within_10pct": 0.95,
    "mask_recall": 0.95,
    "mask_false_reject_max": 0.05,
    "sunglasses_recall": 0.95,
    "clear_glasses_pass": 0.90,
}

# Fresh interpreters, not fork: OpenCV and dlib keep thread pools that deadlock in a forked child.
_SPAWN = multiprocessing.get_context("spawn")


def evaluate(data_dir: Path | str, workers: int | None = None) -> dict[str, Any]:
    """Every labelled set found under `data_dir`; missing sets are simply absent from the result."""
    root = Path(data_dir)
    result: dict[str, Any] = {
        "face_size": evaluate_face_size(root, workers),
        "occlusion": evaluate_occlusion(root, workers),
    }
    result["photo_goals"] = photo_goals(result)
    result["identity"] = _optional(root, "quality_gates._eval_identity", "evaluate_identity")
    result["voice"] = _optional(root, "quality_gates._eval_voice", "evaluate_voice")
    return result


def _optional(root: Path, module: str, function: str) -> dict[str, Any]:
    try:
        evaluate_fn = getattr(importlib.import_module(module), function)
    except (ImportError, AttributeError) as exc:
        return {"status": "not run", "reason": f"{module}.{function} unavailable: {exc}"}
    result: dict[str, Any] = evaluate_fn(root)
    return result


def _map(fn: Callable[[Any], Any], items: Iterable[Any], workers: int | None) -> Iterator[Any]:
    """Map in a process pool (each worker loads the face models once); in-process for workers=1."""
    count = workers or os.cpu_count() or 1
    if count <= 1:
        yield from map(fn, items)
        return
    with ProcessPoolExecutor(max_workers=count, mp_context=_SPAWN) as pool:
        yield from pool.map(fn, items, chunksize=4)


# --- face size ---------------------------------------------------------------------------------------------


def read_pts(path: Path) -> np.ndarray:
    """Points of an IBUG .pts file as an (n, 2) array."""
    text = path.read_text(encoding="utf-8", errors="replace")
    body = text[text.index("{") + 1: text.rindex("}")]
    return np.array([[float(v) for v in line.split()[:2]] for line in body.splitlines() if line.strip()])


def labelled_inter_eye(points: np.ndarray) -> tuple[float, str] | None:
    """Inter-eye distance from 68 manual landmarks, and the point scheme recognised.

    The protocol's definition is the distance between the centres of points 37-42 and 43-48 (1-based; the
    iBUG/Multi-PIE scheme dlib uses). FG-NET's .pts files use the FG-NET (Cootes) 68-point scheme instead,
    where those indices are pupils, nose and mouth; there the eye contours are points 28-31 and 33-36. The
    scheme is recognised from the geometry (each eye's points lie close together), not from file names.
    """
    if points.shape[0] < 68:
        return None
    for scheme, left, right in (("ibug", range(36, 42), range(42, 48)),
                                ("fgnet", (27, 28, 29, 30), (32, 33, 34, 35))):
        a, b = points[list(left)], points[list(right)]
        distance = float(np.linalg.norm(a.mean(axis=0) - b.mean(axis=0)))
        spread = max(np.linalg.norm(a - a.mean(axis=0), axis=1).max(), np.linalg.norm(b - b.mean(axis=0), axis=1).max())
        if distance > 0 and spread < 0.4 * distance:
            return distance, scheme
    return None


@dataclass(frozen=True)
class _SizeItem:
    image: Path
    points: Path


def _measure_size(item: _SizeItem) -> dict[str, Any]:
    try:
        truth = labelled_inter_eye(read_pts(item.points))
        report = check_photo(item.image.read_bytes())
    except UNREADABLE_ERRORS as exc:
        return {"unreadable": f"{item.image.name}: {type(exc).__name__}: {exc}"}
    decode = report.gate("decode")
    if decode is not None and not decode.passed:
        return {"unreadable": f"{item.image.name}: {decode.reason}"}
    face = report.dominant_face
    measured = face.inter_eye_px if face else None
    return {"truth": truth[0] if truth else None, "scheme": truth[1] if truth else None, "measured": measured}


def evaluate_face_size(root: Path, workers: int | None = None) -> dict[str, Any] | None:
    """Share of FG-NET photos whose gate inter_eye_px is within +-10% of the manual landmarks."""
    rows = read_labels(root / "fgnet")
    items = [_SizeItem(root / row["path"], root / column(row, "landmarks")) for row in rows
             if column(row, "landmarks")]
    if not items:
        return None
    measured = list(_map(_measure_size, items, workers))
    results = [r for r in measured if "unreadable" not in r]
    usable = [r for r in results if r["truth"]]
    errors = [abs(r["measured"] / r["truth"] - 1) if r["measured"] else None for r in usable]
    within = [e is not None and e <= FACE_SIZE_TOLERANCE for e in errors]
    found = [e for e in errors if e is not None]
    return {
        "photos": len(items), "labelled": len(usable),
        "schemes": {s: sum(r["scheme"] == s for r in usable) for s in {r["scheme"] for r in usable}},
        "face_found_rate": _share([e is not None for e in errors]),
        "within_10pct": _share(within),
        "median_abs_error": float(np.median(found)) if found else None,
        **unreadable_summary([r["unreadable"] for r in measured if "unreadable" in r]),
    }


# --- occlusion ---------------------------------------------------------------------------------------------


def _check_eval_photo(photo: EvalPhoto) -> dict[str, Any]:
    report = check_photo(photo.pixels, DEFAULT_RULES)
    return {"set": photo.set_name, "kind": photo.kind, "occluded": photo.occluded, **_occlusion_outcome(report)}


def _occlusion_outcome(report: PhotoReport) -> dict[str, Any]:
    gate = report.gate("occlusion")
    found = report.gate("face_found")
    return {
        "face_found": bool(found and (found.passed or found.review)),
        "flagged": gate is not None and not gate.passed,
        "rejected": gate is not None and not gate.passed and not gate.review,
        "reason": gate.reason if gate else None,
    }


def evaluate_occlusion(root: Path, workers: int | None = None) -> dict[str, Any]:
    """Per set and per kind: face-found rate, recall (occluded) or false-reject rate (clean), both bases."""
    result: dict[str, Any] = {}
    skipped: list[Unreadable] = []
    for name, photos in occlusion_sets(root, skipped).items():
        outcomes = list(_map(_check_eval_photo, photos, workers))
        kinds = sorted({o["kind"].split("/")[0] for o in outcomes})
        result[name] = {
            "all": occlusion_metrics(outcomes),
            "by_kind": {k: occlusion_metrics([o for o in outcomes if o["kind"].split("/")[0] == k]) for k in kinds},
            **unreadable_summary([f"{s.item_id}: {s.reason}" for s in skipped if s.set_name == name]),
        }
    return result


def occlusion_metrics(outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    """Recall on occluded and false-reject rate on clean photos, among found faces and per photo."""
    found = [o for o in outcomes if o["face_found"]]
    metrics: dict[str, Any] = {"photos": len(outcomes), "face_found_rate": _share([o["face_found"] for o in outcomes])}
    for label, prefix in ((True, "recall"), (False, "false_reject")):
        subset = [o for o in outcomes if o["occluded"] is label]
        if not subset:
            continue
        detected = [o for o in found if o["occluded"] is label]
        metrics[f"{prefix}_among_found"] = _share([o["flagged"] for o in detected])
        # flagged outright (fail), not sent to a person (review): what a contributor is told without a human look
        metrics[f"{prefix}_outright_among_found"] = _share([o["rejected"] for o in detected])
        metrics[f"{prefix}_per_photo"] = _share([o["flagged"] or not o["face_found"] for o in subset])
        metrics[f"{prefix}_n"] = len(subset)
    return metrics


def photo_goals(result: dict[str, Any]) -> dict[str, Any]:
    """The issue's photo goals against the figures above (occlusion among found faces)."""
    occ = result.get("occlusion") or {}
    size = result.get("face_size") or {}

    def kind(set_name: str, kind_name: str, key: str) -> float | None:
        value: float | None = occ.get(set_name, {}).get("by_kind", {}).get(kind_name, {}).get(key)
        return value

    figures = {
        "face_size_within_10pct": size.get("within_10pct"),
        "mask_recall": kind("mask_voc", "with_mask", "recall_among_found"),
        "mask_false_reject": kind("mask_voc", "without_mask", "false_reject_among_found"),
        "sunglasses_recall_cmu": kind("cmu_faces", "sunglasses", "recall_among_found"),
        "sunglasses_recall_selfies": kind("sunglasses_selfies", "sunglasses", "recall_among_found"),
        "clear_glasses_pass": _pass_rate(kind("yale_faces", "glasses", "false_reject_among_found")),
    }
    met = {
        "face_size": _at_least(figures["face_size_within_10pct"], GOALS["face_size_within_10pct"]),
        "masks": _at_least(figures["mask_recall"], GOALS["mask_recall"])
        and _at_most(figures["mask_false_reject"], GOALS["mask_false_reject_max"]),
        "sunglasses": _at_least(figures["sunglasses_recall_cmu"], GOALS["sunglasses_recall"])
        and _at_least(figures["sunglasses_recall_selfies"], GOALS["sunglasses_recall"])
        and _at_least(figures["clear_glasses_pass"], GOALS["clear_glasses_pass"]),
    }
    return {"figures": figures, "goals": GOALS, "met": met}


def _pass_rate(false_reject: float | None) -> float | None:
    return None if false_reject is None else 1.0 - false_reject


def _at_least(value: float | None, goal: float) -> bool:
    return value is not None and value >= goal


def _at_most(value: float | None, goal: float) -> bool:
    return value is not None and value <= goal


def _share(values: list[bool]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None

