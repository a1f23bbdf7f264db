"""Loaders for the labelled photo sets used by the evaluation (layout of ../shared/data).

Only the documented label files are relied on (`<set>/labels.csv` and the files they reference); columns are
found by their name prefix so a re-exported set with the same layout works. Each loader yields `EvalPhoto`s
prepared exactly as the evaluation protocol says (mask_voc boxes cropped with a 60% margin and resized to a
200 px longer box side; cmu_faces and yale_faces upscaled so the shorter side is 360 px).

A row whose files are missing, unreadable or not images (or whose columns are blank) is left out and, when the
caller passes a `skipped` list, recorded there as `Unreadable`: one bad file in data nobody here has seen must
not stop the evaluation, and must not pass silently either.
"""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

MASK_MARGIN = 0.6
MASK_BOX_SIDE = 200
UPSCALE_SHORT_SIDE = 360


@dataclass(frozen=True, eq=False)
class EvalPhoto:
    """One prepared evaluation image. `occluded` is the label (True = should be caught); `kind` refines it."""

    set_name: str
    item_id: str
    pixels: np.ndarray = field(repr=False)
    occluded: bool
    kind: str


@dataclass(frozen=True)
class Unreadable:
    """A labelled row the evaluation could not use, and why."""

    set_name: str
    item_id: str
    reason: str


# What reading a listed file can raise: missing or unreadable (OSError, PIL's UnidentifiedImageError included),
# not the format expected (ValueError, XML ParseError), or beyond PIL's pixel limit; KeyError for a missing column.
UNREADABLE_ERRORS: tuple[type[Exception], ...] = (OSError, ValueError, ET.ParseError, Image.DecompressionBombError,
                                                  KeyError)


def rows_loaded(set_name: str, rows: Iterable[dict[str, str]], load: Callable[[dict[str, str]], list[EvalPhoto]],
                skipped: list[Unreadable] | None) -> Iterator[EvalPhoto]:
    """`load(row)` for every row; rows that raise one of `UNREADABLE_ERRORS` are recorded in `skipped`."""
    for row in rows:
        try:
            photos = load(row)
        except UNREADABLE_ERRORS as exc:
            if skipped is not None:
                item = next((v for v in row.values() if isinstance(v, str) and v), "(blank row)")
                skipped.append(Unreadable(set_name, item, f"{type(exc).__name__}: {exc}"))
            continue
        yield from photos


def usable_rows(data_dir: Path, rows: Sequence[dict[str, str]], path_keys: Sequence[str],
                valid: Callable[[dict[str, str]], bool] | None = None, skipped: list[str] | None = None
                ) -> list[dict[str, str]]:
    """The rows whose listed files exist and whose values `valid` accepts (all, without it); the others are
    described in `skipped` (a blank or broken row, or a missing file, must neither stop the evaluation nor pass
    unseen)."""
    kept = []
    for row in rows:
        paths = [(row.get(k) or "").strip() for k in path_keys]
        absent = [p or "(blank path)" for p in paths if not p or not (data_dir / p).is_file()]
        problem = f"{absent[0]}: missing" if absent else None
        if problem is None and valid is not None and not valid(row):
            problem = f"{paths[0]}: unusable values {dict(row)}"
        if problem is None:
            kept.append(row)
        elif skipped is not None:
            skipped.append(problem)
    return kept


def unreadable_summary(problems: Sequence[str], shown: int = 10) -> dict[str, Any]:
    """How many listed items could not be used (left out of every figure), with the first few reasons."""
    if not problems:
        return {}
    return {"unreadable": len(problems), "unreadable_examples": list(problems[:shown])}


def read_labels(set_dir: Path) -> list[dict[str, str]]:
    """Rows of `set_dir/labels.csv` (empty list when absent)."""
    path = set_dir / "labels.csv"
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def column(row: dict[str, str], prefix: str) -> str:
    """The value of the first column whose name starts with `prefix` (label files name columns verbosely)."""
    for key, value in row.items():
        if key and key.startswith(prefix):
            return value or ""
    raise KeyError(prefix)


def load_rgb(path: Path) -> np.ndarray:
    """Trusted evaluation file to an RGB array (EXIF orientation applied)."""
    from PIL import ImageOps

    with Image.open(io.BytesIO(path.read_bytes())) as img:
        upright = ImageOps.exif_transpose(img) or img
        return np.asarray(upright.convert("RGB"))


def upscale_short_side(pixels: np.ndarray, short_side: int = UPSCALE_SHORT_SIDE) -> np.ndarray:
    """Bicubic resize so the shorter side equals `short_side`."""
    height, width = pixels.shape[:2]
    factor = short_side / min(height, width)
    size = (round(width * factor), round(height * factor))
    return np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.BICUBIC))


def mask_voc(data_dir: Path, skipped: list[Unreadable] | None = None) -> Iterator[EvalPhoto]:
    """Every annotated box: positives with_mask / mask_weared_incorrect, negatives without_mask."""

    def load(row: dict[str, str]) -> list[EvalPhoto]:
        pixels = load_rgb(data_dir / row["image"])
        return [EvalPhoto("mask_voc", f"{row['image']}#{index}", crop_box(pixels, box, MASK_MARGIN, MASK_BOX_SIDE),
                          name != "without_mask", name)
                for index, (name, box) in enumerate(_voc_boxes(data_dir / row["annotation"]))]

    return rows_loaded("mask_voc", read_labels(data_dir / "mask_voc"), load, skipped)


def _voc_boxes(path: Path) -> list[tuple[str, tuple[int, int, int, int]]]:
    root = ET.fromstring(path.read_text(encoding="utf-8"))
    boxes = []
    for obj in root.iter("object"):
        bnd = obj.find("bndbox")
        if bnd is None:
            continue
        coords = tuple(int(float(bnd.findtext(k) or 0)) for k in ("xmin", "ymin", "xmax", "ymax"))
        boxes.append(((obj.findtext("name") or "").strip(), (coords[0], coords[1], coords[2], coords[3])))
    return boxes


def crop_box(pixels: np.ndarray, box: tuple[int, int, int, int], margin: float, side: int) -> np.ndarray:
    """Crop (xmin, ymin, xmax, ymax) with `margin` x box size on each side, then resize so the box's
    longer side is `side` px."""
    x0, y0, x1, y1 = box
    bw, bh = max(x1 - x0, 1), max(y1 - y0, 1)
    height, width = pixels.shape[:2]
    cx0, cy0 = max(0, int(x0 - margin * bw)), max(0, int(y0 - margin * bh))
    cx1, cy1 = min(width, int(x1 + margin * bw)), min(height, int(y1 + margin * bh))
    crop = pixels[cy0:cy1, cx0:cx1]
    factor = side / max(bw, bh)
    size = (max(1, round(crop.shape[1] * factor)), max(1, round(crop.shape[0] * factor)))
    return np.asarray(Image.fromarray(crop).resize(size, Image.Resampling.BICUBIC))


def cmu_faces(data_dir: Path, skipped: list[Unreadable] | None = None) -> Iterator[EvalPhoto]:
    """Open eyes (negatives, every pose) vs sunglasses (positives)."""

    def load(row: dict[str, str]) -> list[EvalPhoto]:
        eyes = column(row, "eyes")
        pixels = upscale_short_side(load_rgb(data_dir / row["path"]))
        return [EvalPhoto("cmu_faces", row["path"], pixels, eyes == "sunglasses", f"{eyes}/{column(row, 'head_pose')}")]

    return rows_loaded("cmu_faces", read_labels(data_dir / "cmu_faces"), load, skipped)


def yale_faces(data_dir: Path, skipped: list[Unreadable] | None = None) -> Iterator[EvalPhoto]:
    """All conditions (clear glasses, lighting, expressions) are negatives."""

    def load(row: dict[str, str]) -> list[EvalPhoto]:
        pixels = upscale_short_side(load_rgb(data_dir / row["path"]))
        return [EvalPhoto("yale_faces", row["path"], pixels, False, column(row, "condition"))]

    return rows_loaded("yale_faces", read_labels(data_dir / "yale_faces"), load, skipped)


def weak_positives(data_dir: Path, set_name: str, kind: str, skipped: list[Unreadable] | None = None
                   ) -> Iterator[EvalPhoto]:
    """A weakly labelled set where every image is a positive (sunglasses_selfies, rwmfd)."""

    def load(row: dict[str, str]) -> list[EvalPhoto]:
        return [EvalPhoto(set_name, row["path"], load_rgb(data_dir / row["path"]), True, kind)]

    return rows_loaded(set_name, read_labels(data_dir / set_name), load, skipped)


def occlusion_sets(data_dir: Path, skipped: list[Unreadable] | None = None) -> dict[str, Iterator[EvalPhoto]]:
    """The occlusion sets present under `data_dir`, by name (rows that cannot be read go to `skipped`)."""
    loaders = {
        "mask_voc": lambda: mask_voc(data_dir, skipped),
        "cmu_faces": lambda: cmu_faces(data_dir, skipped),
        "yale_faces": lambda: yale_faces(data_dir, skipped),
        "sunglasses_selfies": lambda: weak_positives(data_dir, "sunglasses_selfies", "sunglasses", skipped),
        "rwmfd": lambda: weak_positives(data_dir, "rwmfd", "mask_scene", skipped),
    }
    return {name: load() for name, load in loaders.items() if (data_dir / name / "labels.csv").is_file()}
