"""Generalisation hierarchies for quasi-identifiers: how a released value becomes coarser, level by level.

Level 0 is the value as collected; the last level is always "*" (suppressed). A value a hierarchy does not know
generalises straight to "*": unknown inputs fail closed, never released as they came.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

SUPPRESSED = "*"
_FIRST_NUMBER = re.compile(r"\d+")


class Hierarchy(Protocol):
    """A generalisation ladder: `levels` names each rung (level 0 = as collected, last = suppressed)."""

    @property
    def levels(self) -> tuple[str, ...]: ...

    def generalise(self, value: str, level: int) -> str:
        """`value` at `level` (0 returns it unchanged, the last level returns "*")."""
        ...


@dataclass(frozen=True)
class SuppressOnly:
    """Two levels: as collected, or "*". The default for a quasi-identifier without a hierarchy."""

    @property
    def levels(self) -> tuple[str, ...]:
        return ("as collected", "suppressed")

    def generalise(self, value: str, level: int) -> str:
        return str(value) if level == 0 else SUPPRESSED


@dataclass(frozen=True)
class AgeBands:
    """Ages or age brackets ("34", "30-39", "30s", "70+") widened to bands of `widths` years, then "*".

    The band is taken from the first number in the value, so "30-39" at width 20 becomes "20-39". Open-ended
    values ("70+") stay open-ended ("60+" at width 20); the top of the scale is capped by `open_from`.
    """

    widths: tuple[int, ...] = (10, 20)
    open_from: int = 80

    @property
    def levels(self) -> tuple[str, ...]:
        return ("as collected", *(f"{w}-year" for w in self.widths), "suppressed")

    def generalise(self, value: str, level: int) -> str:
        if level == 0:
            return str(value)
        if level > len(self.widths):
            return SUPPRESSED
        match = _FIRST_NUMBER.search(str(value))
        if match is None:
            return SUPPRESSED
        width = self.widths[level - 1]
        low = int(match.group()) // width * width
        if "+" in str(value) or low >= self.open_from:
            return f"{min(low, self.open_from // width * width)}+"
        return f"{low}-{low + width - 1}"


@dataclass(frozen=True)
class MappingHierarchy:
    """A ladder of lookup tables: level i maps the level i-1 value (case-insensitive); misses become "*".

    With `first_word`, a value that misses is retried on its first word ("서울 강남구" finds "서울").
    """

    tables: tuple[Mapping[str, str], ...]
    names: tuple[str, ...]
    first_word: bool = False
    _folded: tuple[dict[str, str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.names) != len(self.tables):
            raise ValueError("one name per table")
        folded = tuple({k.strip().casefold(): v for k, v in table.items()} for table in self.tables)
        object.__setattr__(self, "_folded", folded)

    @property
    def levels(self) -> tuple[str, ...]:
        return ("as collected", *self.names, "suppressed")

    def generalise(self, value: str, level: int) -> str:
        if level == 0:
            return str(value)
        if level > len(self.tables):
            return SUPPRESSED
        current = str(value)
        for table in self._folded[:level]:
            mapped = self._lookup(table, current)
            if mapped is None:
                return SUPPRESSED
            current = mapped
        return current

    def _lookup(self, table: dict[str, str], value: str) -> str | None:
        key = value.strip().casefold()
        if key in table:
            return table[key]
        words = key.replace(",", " ").split()
        return table.get(words[0]) if self.first_word and words else None


# Korean first-level divisions (시/도), by Korean and English names, to their conventional macro-regions.
_PROVINCES: dict[str, Sequence[str]] = {
    "서울": ("서울", "서울특별시", "서울시", "Seoul"),
    "부산": ("부산", "부산광역시", "Busan"),
    "대구": ("대구", "대구광역시", "Daegu"),
    "인천": ("인천", "인천광역시", "Incheon"),
    "광주": ("광주", "광주광역시", "Gwangju"),
    "대전": ("대전", "대전광역시", "Daejeon"),
    "울산": ("울산", "울산광역시", "Ulsan"),
    "세종": ("세종", "세종특별자치시", "Sejong"),
    "경기": ("경기", "경기도", "Gyeonggi", "Gyeonggi-do"),
    "강원": ("강원", "강원도", "강원특별자치도", "Gangwon", "Gangwon-do"),
    "충북": ("충북", "충청북도", "Chungbuk", "North Chungcheong"),
    "충남": ("충남", "충청남도", "Chungnam", "South Chungcheong"),
    "전북": ("전북", "전라북도", "전북특별자치도", "Jeonbuk", "North Jeolla"),
    "전남": ("전남", "전라남도", "Jeonnam", "South Jeolla"),
    "경북": ("경북", "경상북도", "Gyeongbuk", "North Gyeongsang"),
    "경남": ("경남", "경상남도", "Gyeongnam", "South Gyeongsang"),
    "제주": ("제주", "제주도", "제주특별자치도", "Jeju"),
}
_MACRO = {
    "서울": "수도권",
    "인천": "수도권",
    "경기": "수도권",
    "대전": "충청권",
    "세종": "충청권",
    "충북": "충청권",
    "충남": "충청권",
    "광주": "호남권",
    "전북": "호남권",
    "전남": "호남권",
    "부산": "영남권",
    "대구": "영남권",
    "울산": "영남권",
    "경북": "영남권",
    "경남": "영남권",
    "강원": "강원권",
    "제주": "제주권",
}


def korean_regions() -> MappingHierarchy:
    """Korean regions: as collected -> province (시/도) -> macro-region (수도권, 충청권...) -> "*".

    Level 1 accepts a province name in Korean or English, optionally followed by a district ("서울 강남구").
    """
    provinces = {name: short for short, names in _PROVINCES.items() for name in names}
    return MappingHierarchy((provinces, _MACRO), ("province", "macro-region"), first_word=True)
