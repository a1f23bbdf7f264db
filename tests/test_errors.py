"""Errors cross process boundaries intact: the evaluation and the release build raise them in worker processes,
where an error that cannot be unpickled turns into a BrokenProcessPool and hides what went wrong."""

from __future__ import annotations

import pickle
from concurrent.futures import ProcessPoolExecutor

import pytest

from anonymize import errors as anon
from quality_gates import errors as gates

ERRORS = [
    gates.RulesError("max_yaw", "must be a number"),
    gates.ImageDecodeError("bad bytes"),
    gates.UnsupportedFormat("GIF", ("JPEG", "PNG")),
    gates.TooLarge("bytes", 30_000_000, 20_000_000),
    gates.DecompressionBomb(400_000_000, 50_000_000),
    gates.CorruptImage("truncated"),
    gates.ModelUnavailable("dlib", "file missing"),
    anon.UnsupportedFormat(None, ("JPEG",)),
    anon.TooLarge("pixels", 4.0e8, 1.0e8),
    anon.DecompressionBomb(400_000_000, 50_000_000),
    anon.ModelUnavailable("dlib CNN face detector", "file missing"),
    anon.KAnonymityError("age", "not a number"),
    anon.UnscrubbedMedia("photo-1", ("GPS",)),
    anon.SignatureError("k1", "bad signature"),
]


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: f"{type(e).__module__}.{type(e).__name__}")
def test_error_pickles_as_itself(error: Exception) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert copy.__dict__ == error.__dict__


def _raise_unsupported(_: int) -> None:
    raise gates.UnsupportedFormat("GIF", ("JPEG", "PNG"))


def test_a_worker_process_error_reaches_the_caller() -> None:
    with ProcessPoolExecutor(max_workers=1) as pool, pytest.raises(gates.UnsupportedFormat) as raised:
        list(pool.map(_raise_unsupported, [1]))
    assert raised.value.allowed == ("JPEG", "PNG")
