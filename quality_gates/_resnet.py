"""dlib's face-recognition ResNet, run in numpy: the same 128-d encodings as `compute_face_descriptor`, ~4x faster.

The network is `dlib_face_recognition_resnet_model_v1` as shipped by face_recognition_models (the model behind
face_recognition's encodings). dlib-bin is built without BLAS, so its forward pass took ~105-130 ms per face
here; numpy's matrix product (OpenBLAS) runs the same arithmetic in ~25 ms on one core. The weights are read
from dlib's own file at first use (`load_resnet`), never copied; `tests/quality_gates/test_resnet.py` checks the
encodings against dlib's on real faces (they agree to ~1e-6).

The architecture (dlib's `dnn_face_recognition_ex.cpp`): a 150x150 RGB chip minus the mean colour, /256; conv
7x7/2 (32), affine, relu, max-pool 3x3/2; residual blocks of two 3x3 convolutions with affine (folded batch
norm) layers, at 32, 64, 128, 256 and 256 filters, the first block of each level downsampling (stride-2 conv,
and a 2x2/2 average pool on the shortcut, whose extra channels and rows dlib pads with zeros); global average
pool; a 256x128 linear layer without bias. dlib convolutions are cross-correlations with padding 0 when the
stride is 2 and k/2 when it is 1.

The file is dlib's serialisation stream: layers are written input-first, each introduced by its version string
(`con_4`, `affine_`, `relu_`, `add_prev_`, `avg_pool_2`, `max_pool_2`, `fc_2`, `input_rgb_image_sized`),
integers as a size/sign byte plus little-endian bytes, tensors as four dimensions plus raw little-endian float32.
The reader finds those records in order and checks that they form exactly the expected network; anything else is
`ModelUnavailable`, never a silently different encoder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from quality_gates.errors import ModelUnavailable

CHIP_SIZE = 150
CHIP_PADDING = 0.25
# Local appearance for the occlusion gate: the output of the 128-filter level (an 8x8 map over the aligned chip),
# averaged over the rows of the eyes and of the nose and mouth (fractions of the map's height).
REGION_AFTER_BLOCK = 9
EYE_ROWS = (0.25, 0.55)
MOUTH_ROWS = (0.6, 0.95)
_RECORDS = ("input_rgb_image_sized", "con_4", "affine_", "relu_", "add_prev_", "avg_pool_2", "max_pool_2", "fc_2")


class _Reader:
    """dlib's serialisation primitives over a byte buffer."""

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data, self.pos = data, pos

    def integer(self) -> int:
        control = self.data[self.pos]
        size = control & 0x0F
        if size > 8 or self.pos + 1 + size > len(self.data):
            raise ValueError(f"bad integer at byte {self.pos}")
        value = int.from_bytes(self.data[self.pos + 1:self.pos + 1 + size], "little")
        self.pos += 1 + size
        return -value if control & 0x80 else value

    def string(self) -> str:
        size = self.integer()
        text = self.data[self.pos:self.pos + size].decode("latin-1")
        self.pos += size
        return text

    def tensor(self) -> np.ndarray:
        if self.integer() != 2:
            raise ValueError(f"unknown tensor version at byte {self.pos}")
        shape = tuple(self.integer() for _ in range(4))
        count = int(np.prod(shape))
        if count < 0 or self.pos + 4 * count > len(self.data):
            raise ValueError(f"tensor {shape} runs past the end of the file")
        values = np.frombuffer(self.data, "<f4", count=count, offset=self.pos).astype(np.float32)
        self.pos += 4 * count
        return values.reshape(shape)

    def alias(self) -> tuple[int, ...]:
        if self.integer() != 1:
            raise ValueError(f"unknown alias-tensor version at byte {self.pos}")
        return tuple(self.integer() for _ in range(4))

    def real(self) -> float:
        mantissa, exponent = self.integer(), self.integer()
        return float(mantissa) * 2.0 ** exponent

    def integers(self, count: int) -> tuple[int, ...]:
        return tuple(self.integer() for _ in range(count))


@dataclass(frozen=True)
class _Conv:
    weights: np.ndarray  # (filters, channels * kh * kw)
    bias: np.ndarray  # (filters, 1)
    kernel: tuple[int, int]
    stride: int
    pad: int

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.pad:
            x = np.pad(x, ((0, 0), (self.pad, self.pad), (self.pad, self.pad)))
        kh, kw = self.kernel
        rows, cols = 1 + (x.shape[1] - kh) // self.stride, 1 + (x.shape[2] - kw) // self.stride
        windows = sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::self.stride, ::self.stride][:, :rows, :cols]
        patches = windows.transpose(0, 3, 4, 1, 2).reshape(-1, rows * cols)
        return (self.weights @ patches + self.bias).reshape(-1, rows, cols)


@dataclass(frozen=True)
class _Affine:
    gamma: np.ndarray  # (channels, 1, 1)
    beta: np.ndarray

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return x * self.gamma + self.beta


@dataclass(frozen=True)
class _Block:
    """conv, affine, relu, conv, affine, plus the shortcut (average-pooled when downsampling), relu."""

    conv1: _Conv
    affine1: _Affine
    conv2: _Conv
    affine2: _Affine
    down: bool

    def __call__(self, x: np.ndarray) -> np.ndarray:
        y = self.affine2(self.conv2(np.maximum(self.affine1(self.conv1(x)), 0)))
        shortcut = _pool(x, 2, 2, np.mean) if self.down else x
        return np.maximum(_add_padded(shortcut, y), 0)


def _pool(x: np.ndarray, size: int, stride: int, reduce: Callable[..., Any]) -> np.ndarray:
    rows, cols = 1 + (x.shape[1] - size) // stride, 1 + (x.shape[2] - size) // stride
    windows = sliding_window_view(x, (size, size), axis=(1, 2))[:, ::stride, ::stride][:, :rows, :cols]
    return np.asarray(reduce(windows, axis=(3, 4)))


def _add_padded(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """dlib's add_prev: tensors of different sizes are added as if zero-padded to the larger one."""
    if a.shape == b.shape:
        return a + b
    out = np.zeros(tuple(max(p, q) for p, q in zip(a.shape, b.shape, strict=True)), np.float32)
    out[:a.shape[0], :a.shape[1], :a.shape[2]] += a
    out[:b.shape[0], :b.shape[1], :b.shape[2]] += b
    return out


@dataclass(frozen=True)
class FaceAppearance:
    """What the network sees in one face: the 128-d identity encoding (biometric data) and two 128-d local
    descriptors from its middle (eye band, nose-and-mouth band) that keep what covers those regions."""

    encoding: np.ndarray
    eye_region: np.ndarray
    mouth_region: np.ndarray

    def vector(self, name: str) -> np.ndarray:
        value: np.ndarray = getattr(self, name)
        return value


def _band(feature_map: np.ndarray, rows: tuple[float, float]) -> np.ndarray:
    height = feature_map.shape[1]
    top, bottom = int(round(height * rows[0])), int(round(height * rows[1]))
    return np.asarray(feature_map[:, top:max(bottom, top + 1)].mean(axis=(1, 2)), dtype=np.float64)


@dataclass(frozen=True)
class FaceResNet:
    """The network: `describe(chip)` for a 150x150x3 uint8 RGB face chip (dlib's `get_face_chip` with padding
    0.25) returns the 128-d encoding as float64 and the local region descriptors."""

    mean: np.ndarray  # (3, 1, 1)
    stem: _Conv
    stem_affine: _Affine
    blocks: tuple[_Block, ...]
    projection: np.ndarray  # (256, 128)

    def describe(self, chip: np.ndarray) -> FaceAppearance:
        if chip.shape != (CHIP_SIZE, CHIP_SIZE, 3):
            raise ValueError(f"a face chip is {CHIP_SIZE}x{CHIP_SIZE}x3, not {chip.shape}")
        x = (chip.transpose(2, 0, 1).astype(np.float32) - self.mean) / np.float32(256.0)
        x = _pool(np.maximum(self.stem_affine(self.stem(x)), 0), 3, 2, np.max)
        middle = x
        for index, block in enumerate(self.blocks):
            x = block(x)
            if index == REGION_AFTER_BLOCK:
                middle = x
        encoding = np.asarray(x.mean(axis=(1, 2)) @ self.projection, dtype=np.float64)
        return FaceAppearance(encoding, _band(middle, EYE_ROWS), _band(middle, MOUTH_ROWS))


def _records(data: bytes) -> list[tuple[int, str]]:
    """(offset, name) of every layer record in the stream, in order."""
    found = []
    for name in _RECORDS:
        pattern = bytes([1, len(name)]) + name.encode()
        start = data.find(pattern)
        while start >= 0:
            found.append((start, name))
            start = data.find(pattern, start + 1)
    return sorted(found)


def _read_layers(data: bytes) -> list[tuple[str, object]]:
    layers: list[tuple[str, object]] = []
    end = 0
    for offset, name in _records(data):
        if offset < end:  # inside a tensor already read
            continue
        reader = _Reader(data, offset)
        reader.string()
        if name == "input_rgb_image_sized":
            mean = (reader.real(), reader.real(), reader.real())
            if reader.integers(2) != (CHIP_SIZE, CHIP_SIZE):
                raise ValueError("the input layer is not 150x150")
            layers.append((name, np.asarray(mean, np.float32).reshape(3, 1, 1)))
        elif name == "con_4":
            params = reader.tensor().reshape(-1)
            filters, kh, kw, stride_y, stride_x, pad_y, pad_x = reader.integers(7)
            shape = reader.alias()
            size = int(np.prod(shape))
            if stride_y != stride_x or pad_y != pad_x or params.size != size + filters or shape[0] != filters:
                raise ValueError(f"unexpected convolution {shape} at byte {offset}")
            layers.append((name, _Conv(params[:size].reshape(filters, -1), params[size:].reshape(-1, 1),
                                       (kh, kw), stride_y, pad_y)))
        elif name == "affine_":
            params = reader.tensor().reshape(-1)
            channels = params.size // 2
            layers.append((name, _Affine(params[:channels].reshape(-1, 1, 1), params[channels:].reshape(-1, 1, 1))))
        elif name in ("avg_pool_2", "max_pool_2"):
            layers.append((name, reader.integers(6)))
        elif name == "fc_2":
            outputs, inputs = reader.integers(2)
            params = reader.tensor().reshape(-1)
            if params.size < inputs * outputs:
                raise ValueError("the linear layer is truncated")
            layers.append((name, params[:inputs * outputs].reshape(inputs, outputs)))
        else:
            layers.append((name, None))
        end = reader.pos
    return layers


def _assemble(layers: list[tuple[str, object]]) -> FaceResNet:
    names = [name for name, _ in layers]
    head = ["input_rgb_image_sized", "con_4", "affine_", "relu_", "max_pool_2"]
    if names[:5] != head or names[-2:] != ["avg_pool_2", "fc_2"] or layers[4][1] != (3, 3, 2, 2, 0, 0):
        raise ValueError("not the expected face-recognition network (stem or head differ)")
    blocks = []
    i = 5
    plain = ["con_4", "affine_", "relu_", "con_4", "affine_", "add_prev_", "relu_"]
    down = ["con_4", "affine_", "relu_", "con_4", "affine_", "avg_pool_2", "add_prev_", "relu_"]
    while i < len(layers) - 2:
        is_down = names[i:i + 8] == down and layers[i + 5][1] == (2, 2, 2, 2, 0, 0)
        if not is_down and names[i:i + 7] != plain:
            raise ValueError(f"unexpected layers {names[i:i + 8]}")
        conv1, affine1, conv2, affine2 = (layers[i + k][1] for k in (0, 1, 3, 4))
        if not (isinstance(conv1, _Conv) and isinstance(conv2, _Conv) and isinstance(affine1, _Affine)
                and isinstance(affine2, _Affine)):
            raise ValueError(f"unexpected block at layer {i}")
        blocks.append(_Block(conv1, affine1, conv2, affine2, is_down))
        i += 8 if is_down else 7
    projection = layers[-1][1]
    if len(blocks) != 14 or not isinstance(projection, np.ndarray) or projection.shape != (256, 128):
        raise ValueError(f"expected 14 residual blocks and a 256x128 projection, found {len(blocks)}")
    stem, stem_affine, mean = layers[1][1], layers[2][1], layers[0][1]
    if not (isinstance(stem, _Conv) and isinstance(stem_affine, _Affine) and isinstance(mean, np.ndarray)):
        raise ValueError("unexpected stem")
    return FaceResNet(mean, stem, stem_affine, tuple(blocks), projection)


def load_resnet(path: Path | str) -> FaceResNet:
    """Read dlib's face-recognition network from its file; `ModelUnavailable` if it is missing or different."""
    try:
        data = Path(path).read_bytes()
        return _assemble(_read_layers(data))
    except (OSError, ValueError, IndexError) as exc:
        raise ModelUnavailable("face_recognition_models", f"{path}: {exc}") from exc
