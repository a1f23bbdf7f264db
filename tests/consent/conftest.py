"""Fixtures for the pure consent core: a complete two-language notice, a key ring on a fixed clock."""

from __future__ import annotations

import pytest
from _consent_support import START, make_notice

from consent.clock import FixedClock
from consent.keys import KeyRing, generate_master_key
from consent.notice import Notice


@pytest.fixture
def notice() -> Notice:
    return make_notice()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def master_key() -> bytes:
    return generate_master_key()


@pytest.fixture
def keyring(clock: FixedClock, master_key: bytes) -> KeyRing:
    ring = KeyRing(master_key, clock)
    ring.generate("consent")
    return ring
