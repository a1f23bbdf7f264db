"""Benchmark helpers: image discovery and face agreement (timings themselves are not asserted)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from quality_gates.bench import bench_images, iou
from tests.quality_gates.conftest import encode


def test_iou() -> None:
    box = (10, 110, 110, 10)  # top, right, bottom, left
    assert iou(box, box) == 1.0
    assert iou(box, (10, 60, 110, 10)) == 0.5
    assert iou(box, (200, 300, 300, 200)) == 0.0


def test_bench_images_are_the_jpegs_of_the_two_folders(tmp_path: Path) -> None:
    pixels = np.zeros((20, 20, 3), np.uint8)
    (tmp_path / "face_recognition" / "a").mkdir(parents=True)
    (tmp_path / "exif_samples").mkdir()
    (tmp_path / "other").mkdir()
    (tmp_path / "face_recognition" / "a" / "x.JPG").write_bytes(encode(pixels))
    (tmp_path / "exif_samples" / "y.jpeg").write_bytes(encode(pixels))
    (tmp_path / "exif_samples" / "z.png").write_bytes(encode(pixels, "PNG"))
    (tmp_path / "other" / "w.jpg").write_bytes(encode(pixels))
    assert [p.name for p in bench_images(tmp_path)] == ["x.JPG", "y.jpeg"]
