"""The numpy encoder gives dlib's own encodings, and a file that is not dlib's network is refused clearly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from quality_gates._resnet import CHIP_PADDING, CHIP_SIZE, _Reader, load_resnet
from quality_gates.errors import ModelUnavailable

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model_path() -> str:
    frm = pytest.importorskip("face_recognition_models")
    return str(frm.face_recognition_model_location())


def test_encodings_match_dlibs_on_a_real_face(model_path: str) -> None:
    import dlib
    import face_recognition_models as frm
    from skimage import data

    image = np.ascontiguousarray(data.astronaut())
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(frm.pose_predictor_model_location())
    faces = detector(image, 0)
    assert len(faces) == 1
    shape = predictor(image, faces[0])
    reference = np.asarray(dlib.face_recognition_model_v1(model_path).compute_face_descriptor(image, shape))
    chip = np.asarray(dlib.get_face_chip(image, shape, size=CHIP_SIZE, padding=CHIP_PADDING))
    seen = load_resnet(model_path).describe(chip)
    ours = seen.encoding
    assert ours.shape == (128,) and ours.dtype == np.float64
    assert np.abs(ours - reference).max() < 1e-5
    assert seen.eye_region.shape == seen.mouth_region.shape == (128,)
    assert np.linalg.norm(seen.eye_region - seen.mouth_region) > 0.1  # two different parts of the face
    # A different face gives a different encoding (the network is not returning a constant).
    other = np.asarray(dlib.get_face_chip(np.ascontiguousarray(image[:, ::-1]), predictor(
        np.ascontiguousarray(image[:, ::-1]), detector(np.ascontiguousarray(image[:, ::-1]), 0)[0])))
    assert 0.01 < np.linalg.norm(load_resnet(model_path).describe(other).encoding - ours) < 0.6  # mirrored: same person


def test_a_chip_of_the_wrong_size_is_refused(model_path: str) -> None:
    with pytest.raises(ValueError, match="150x150x3"):
        load_resnet(model_path).describe(np.zeros((100, 100, 3), np.uint8))


def test_files_that_are_not_the_network_are_refused(tmp_path: Path, model_path: str) -> None:
    data = Path(model_path).read_bytes()
    cases = {"missing.dat": None, "empty.dat": b"", "truncated.dat": data[: len(data) // 2],
             "other.dat": b"\x01\x05con_4" + bytes(64)}
    for name, content in cases.items():
        path = tmp_path / name
        if content is not None:
            path.write_bytes(content)
        with pytest.raises(ModelUnavailable, match="face_recognition_models"):
            load_resnet(path)


def test_reader_decodes_dlibs_integers_and_tensors() -> None:
    # dlib's integers: a control byte (byte count, 0x80 = negative) then little-endian bytes.
    reader = _Reader(bytes([0x01, 0x05, 0x82, 0x2C, 0x01, 0x00]))
    assert (reader.integer(), reader.integer(), reader.integer()) == (5, -300, 0)
    tensor = bytes([0x01, 0x02]) + bytes([0x01, 0x01, 0x01, 0x02, 0x01, 0x01, 0x01, 0x01]) + \
        np.array([1.5, -2.0], "<f4").tobytes()
    assert _Reader(tensor).tensor().reshape(-1).tolist() == [1.5, -2.0]
    with pytest.raises(ValueError, match="past the end"):
        _Reader(tensor[:-2]).tensor()
