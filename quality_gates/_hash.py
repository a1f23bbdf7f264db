"""Perceptual hash (64-bit DCT pHash) and Hamming distance for the duplicate gate.

The hash is computed from the decoded, orientation-corrected pixels, so a re-encoded, resized or re-saved copy
of a photo lands within a few bits of the original while different photos of the same person differ by ~20+.
"""

from __future__ import annotations

import cv2
import numpy as np


def perceptual_hash(pixels: np.ndarray) -> int:
    """64-bit pHash of an RGB or grey uint8 image: sign of the 8x8 lowest DCT frequencies against their median."""
    gray = cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY) if pixels.ndim == 3 else pixels
    small = cv2.resize(gray, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)
    low = cv2.dct(small)[:8, :8].flatten()
    bits = low > np.median(low[1:])
    return int(sum(1 << i for i, bit in enumerate(bits) if bit))


def hamming(a: int, b: int) -> int:
    """Number of differing bits between two hashes."""
    return (a ^ b).bit_count()
