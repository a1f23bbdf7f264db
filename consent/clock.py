"""The clock boundary: domain code asks an injected clock for the time, so tests can move it."""

from __future__ import annotations

import datetime as dt
from typing import Protocol

# Korea Standard Time, the controller's calendar (no daylight saving): days the law counts and dates people read.
KOREA = dt.timezone(dt.timedelta(hours=9), "KST")


class Clock(Protocol):
    def now(self) -> dt.datetime: ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class FixedClock:
    """A clock for tests: starts at a given instant and moves only when told."""

    def __init__(self, start: dt.datetime) -> None:
        self._now = start

    def now(self) -> dt.datetime:
        return self._now

    def advance(self, **delta: float) -> None:
        self._now += dt.timedelta(**delta)
