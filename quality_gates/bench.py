"""`run_bench(data_dir)`: throughput of the photo gates against the naive face_recognition pipeline.

In one process, on the same images (every JPEG under DIR/face_recognition and DIR/exif_samples):
(a) the naive pipeline (`load_image_file`, `face_locations` with defaults, `face_landmarks`, `face_encodings`
on the full image), (b) datadam's full photo gate (`check_photo` on the upload bytes), (c) JPEG decode alone
(`decode_image`). Reports photos/s, the ratios b/a and b/c, and whether (a) and (b) found the same dominant
face (box overlap >= 0.5, or both found none). Models are loaded and warmed up before timing.
Then a 70-photo set end to end (every photo gate, then identity via `check_set`) with a process pool over all
cores; the set cycles through the same images. Goals: b/a >= 5, the 70-photo set <= 20 s on 2 cores.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from quality_gates._decode import decode_image
from quality_gates._faces import default_analyzer
from quality_gates._photo import check_photo
from quality_gates._report import Box, PhotoReport
from quality_gates.errors import ImageDecodeError

JPEG_SUFFIXES = (".jpg", ".jpeg")
SET_SIZE = 70

# Fresh interpreters, not fork: OpenCV and dlib keep thread pools that deadlock in a forked child.
_SPAWN = multiprocessing.get_context("spawn")


def bench_images(data_dir: Path) -> list[Path]:
    """Every JPEG under DIR/face_recognition and DIR/exif_samples, in a stable order."""
    found: list[Path] = []
    for sub in ("face_recognition", "exif_samples"):
        folder = data_dir / sub
        if folder.is_dir():
            found.extend(p for p in sorted(folder.rglob("*")) if p.suffix.lower() in JPEG_SUFFIXES)
    return found


def naive_pipeline(path: Path) -> Box | None:
    """face_recognition's documented pipeline on the full image; the largest face's box or None."""
    import face_recognition

    image = face_recognition.load_image_file(str(path))
    locations = face_recognition.face_locations(image)
    face_recognition.face_landmarks(image, locations)
    face_recognition.face_encodings(image, locations)
    if not locations:
        return None
    top, right, bottom, left = max(locations, key=lambda b: (b[1] - b[3]) * (b[2] - b[0]))
    return (top, right, bottom, left)


def gate_pipeline(data: bytes) -> PhotoReport:
    return check_photo(data)


def _timed(fn: Callable[[Any], Any], items: Sequence[Any]) -> tuple[list[Any], float]:
    results: list[Any] = []
    start = time.perf_counter()
    for item in items:
        try:
            results.append(fn(item))
        except (ImageDecodeError, OSError, ValueError):
            results.append(None)
    return results, time.perf_counter() - start


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two (top, right, bottom, left) boxes."""
    top, bottom = max(a[0], b[0]), min(a[2], b[2])
    left, right = max(a[3], b[3]), min(a[1], b[1])
    inter = max(0, bottom - top) * max(0, right - left)
    area = (a[2] - a[0]) * (a[1] - a[3]) + (b[2] - b[0]) * (b[1] - b[3]) - inter
    return inter / area if area > 0 else 0.0


def _agreement(naive: list[Box | None], ours: list[PhotoReport | None]) -> dict[str, Any]:
    same = 0
    for box, report in zip(naive, ours, strict=True):
        face = report.dominant_face if report else None
        if box is None and face is None:
            same += 1
        elif box is not None and face is not None and iou(box, face.box) >= 0.5:
            same += 1
    return {"same_face": same, "photos": len(naive), "agreement": round(same / max(len(naive), 1), 4)}


def run_bench(data_dir: Path | str, set_size: int = SET_SIZE, workers: int | None = None) -> dict[str, Any]:
    """Run the three pipelines and the set benchmark; returns JSON-ready figures."""
    paths = bench_images(Path(data_dir))
    if not paths:
        return {"status": "not run", "reason": f"no JPEGs under {data_dir}/face_recognition or exif_samples"}
    blobs = [p.read_bytes() for p in paths]
    _warm_up(paths[0], blobs[0])
    naive, t_naive = _timed(naive_pipeline, paths)
    ours, t_ours = _timed(gate_pipeline, blobs)
    _, t_decode = _timed(decode_image, blobs)
    rates = {name: len(paths) / t for name, t in (("naive", t_naive), ("gates", t_ours), ("decode", t_decode))}
    return {
        "photos": len(paths),
        "photos_per_s": {k: round(v, 2) for k, v in rates.items()},
        "seconds": {"naive": round(t_naive, 2), "gates": round(t_ours, 2), "decode": round(t_decode, 2)},
        "ratio_gates_over_naive": round(rates["gates"] / rates["naive"], 2),
        "ratio_gates_over_decode": round(rates["gates"] / rates["decode"], 4),
        "face_agreement": _agreement(naive, ours),
        "set": run_set_bench(blobs, set_size, workers),
    }


def _warm_up(path: Path, data: bytes) -> None:
    """Load every model before timing (both pipelines share dlib's files but not their instances). A blank
    image has no HOG face, so the gate's analyzer also loads and runs BlazeFace, its second detector."""
    naive_pipeline(path)
    check_photo(data)
    default_analyzer().analyze(np.zeros((64, 64, 3), np.uint8))


def _set_item(data: bytes) -> tuple[str, np.ndarray | None]:
    report = check_photo(data)
    face = report.dominant_face
    return report.verdict.value, None if face is None else face.encoding


def _init_worker() -> None:
    """Load the models in each worker before the clock starts on real work."""
    default_analyzer().analyze(np.zeros((64, 64, 3), np.uint8))


def run_set_bench(blobs: Sequence[bytes], set_size: int = SET_SIZE, workers: int | None = None) -> dict[str, Any]:
    """Wall time of `set_size` photos through every photo gate (process pool) plus the identity gate."""
    count = workers or os.cpu_count() or 1
    items = [blobs[i % len(blobs)] for i in range(set_size)]
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=count, initializer=_init_worker, mp_context=_SPAWN) as pool:
        results = list(pool.map(_set_item, items, chunksize=1))
    identity = _identity(results)
    wall = time.perf_counter() - start
    verdicts = [v for v, _ in results]
    return {
        "photos": set_size, "workers": count, "wall_s": round(wall, 2),
        "verdicts": {v: verdicts.count(v) for v in sorted(set(verdicts))}, "identity": identity,
        "note": "wall time includes starting the worker processes and loading the face models in each",
    }


def _identity(results: list[tuple[str, np.ndarray | None]]) -> dict[str, Any]:
    try:
        from quality_gates._identity import SetPhoto, check_set
    except ImportError:
        return {"status": "not run", "reason": "quality_gates._identity unavailable"}
    photos = [SetPhoto(encoding, (30, 39)) for _, encoding in results]
    start = time.perf_counter()
    report = check_set(photos)
    return {"status": "run", "seconds": round(time.perf_counter() - start, 3),
            "consistent": report.consistent}
