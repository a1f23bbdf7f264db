"""Fixtures of the anonymize tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from anonymize import exiftool_available


@pytest.fixture
def needs_exiftool() -> None:
    """Skip when the exiftool binary is not installed (it is an optional oracle)."""
    if not exiftool_available():
        pytest.skip("exiftool is not installed")


@pytest.fixture
def write_file(tmp_path) -> Callable[[str, bytes], str]:  # type: ignore[no-untyped-def]
    def write(name: str, data: bytes) -> str:
        path = tmp_path / name
        path.write_bytes(data)
        return str(path)

    return write
