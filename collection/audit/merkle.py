"""RFC 6962 Merkle tree hashing (Certificate Transparency): leaf hash SHA-256(0x00 || data), node hash
SHA-256(0x01 || left || right), the tree head of the first n leaves, and consistency between two heads."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

EMPTY_ROOT = hashlib.sha256(b"").hexdigest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _largest_power_of_two_below(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of RFC 6962 section 2.1, over leaf hashes (already SHA-256(0x00 || entry))."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    level = list(leaves)
    # Iterative form of the recursive definition: pair left to right, carry an odd last node up unchanged.
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def root_hex(leaf_hexes: Sequence[str]) -> str:
    return root([bytes.fromhex(h) for h in leaf_hexes]).hex()
