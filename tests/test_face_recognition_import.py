"""Guard against the pkg_resources trap: without it face_recognition prints a hint and exits with status 0,
which would make a broken install look green. Import it for real, in a fresh interpreter, and use the models."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = r"""
import numpy as np
import face_recognition, face_recognition_models, dlib
from face_recognition import api
img = np.zeros((120, 120, 3), dtype=np.uint8)
marks = face_recognition.face_landmarks(img, face_locations=[(10, 110, 110, 10)])
assert len(marks) == 1 and len(marks[0]["chin"]) == 17, "landmark model not loaded"
enc = face_recognition.face_encodings(img, known_face_locations=[(10, 110, 110, 10)])
assert len(enc) == 1 and enc[0].shape == (128,), "encoder model not loaded"
print("FACE_MODELS_OK", dlib.__version__)
"""


@pytest.mark.slow
def test_face_recognition_really_loads_its_models() -> None:
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "FACE_MODELS_OK" in proc.stdout, proc.stdout + proc.stderr
    assert "Please install `face_recognition_models`" not in proc.stdout + proc.stderr


def test_opencv_has_haar_cascades() -> None:
    import cv2

    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_eye.xml")
    assert not cascade.empty()


def _probe(env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.slow
def test_the_probe_sees_the_trap(tmp_path: pytest.TempPathFactory) -> None:
    """Hide pkg_resources: the import 'succeeds' with status 0, and only the model check notices."""
    (tmp_path / "pkg_resources.py").write_text("raise ImportError('pkg_resources removed')\n")  # type: ignore[operator]
    proc = _probe({"PYTHONPATH": str(tmp_path)})
    assert proc.returncode == 0  # the trap: a clean exit status...
    assert "FACE_MODELS_OK" not in proc.stdout  # ...but the models never loaded
