"""k-anonymity for the side table released beside the media (age bracket, gender, region...).

Full-domain generalisation with suppression, in the spirit of Samarati and ARX: every combination of
generalisation levels (one level per quasi-identifier) is a node of a lattice; the chosen node is the least
generalised one (lowest total level, then fewest suppressed records) where suppressing the records of
equivalence classes smaller than k costs at most `max_suppression` of the records. Suppressed records keep
their media but have every quasi-identifier set to "*"; they are excluded when k is measured, as a fully
suppressed row matches everybody.

A class's size is the number of distinct PEOPLE in it (the `subject_key` column), not of rows: a release has
one row per photo and a contributor gives about ten photos per bracket, so counting rows would let one person
alone in a class pass as k=10. Every row of a class with fewer than k people is suppressed. What this does not
cover: the released rows of one pseudonym can be linked, so the set of classes a person appears in is itself
a (weaker) quasi-identifier.

Faces and voices are direct identifiers: this protects the side table only. Release still rests on the
contributor's third-party-provision consent (STANDARDS, anonymisation).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from anonymize._hierarchies import SUPPRESSED, Hierarchy, SuppressOnly
from anonymize.errors import KAnonymityError

DEFAULT_K = 5
DEFAULT_SUBJECT_KEY = "subject_id"

# Who a row belongs to: the subject column's value, or the row's index when every row is its own person.
_Subject: TypeAlias = str | int


@dataclass(frozen=True)
class KAnonResult:
    """Released records (copies; quasi-identifiers generalised, suppressed rows all "*"), the k actually
    achieved over non-suppressed rows (distinct people in the smallest class; 0 when none remain), how many
    rows were suppressed, and the level name chosen per quasi-identifier (`generalised`, e.g.
    {"age_bracket": "20-year", "region": "province"})."""

    records: list[dict[str, Any]]
    k_achieved: int
    suppressed_count: int
    generalised: dict[str, str]
    k_required: int = DEFAULT_K

    @property
    def satisfied(self) -> bool:
        """Whether every released equivalence class holds at least k distinct people."""
        return self.k_achieved >= self.k_required or self.k_achieved == 0


def k_anonymize(
    records: Sequence[Mapping[str, Any]],
    quasi_identifiers: Sequence[str],
    k: int = DEFAULT_K,
    hierarchies: Mapping[str, Hierarchy] | None = None,
    max_suppression: float = 0.05,
    subject_key: str | None = DEFAULT_SUBJECT_KEY,
) -> KAnonResult:
    """Generalise then suppress `records` until every class over `quasi_identifiers` holds >= `k` distinct
    people, a person being a distinct value of `subject_key` (None: every record is a different person, for
    tables with one row per person). `max_suppression` is a share of the records (rows).

    `hierarchies` maps a quasi-identifier to its ladder (default: as collected or "*"). Raises
    `KAnonymityError` for k < 1, an empty or duplicated quasi-identifier list, a negative suppression budget,
    or a record missing a quasi-identifier or the subject key.
    """
    ladders = _validate(records, quasi_identifiers, k, hierarchies or {}, max_suppression, subject_key)
    columns = _columns(records, quasi_identifiers, ladders)
    subjects = [_subject(row, index, subject_key) for index, row in enumerate(records)]
    budget = int(max_suppression * len(records))
    node, people = _best_node(columns, subjects, k, budget)
    released = _release(records, quasi_identifiers, columns, node, people, k)
    suppressed = sum(1 for row in released if _is_suppressed(row, quasi_identifiers))
    return KAnonResult(
        released,
        measured_k(released, quasi_identifiers, subject_key),
        suppressed,
        {qi: ladders[qi].levels[level] for qi, level in zip(quasi_identifiers, node, strict=True)},
        k,
    )


def measured_k(
    records: Iterable[Mapping[str, Any]],
    quasi_identifiers: Sequence[str],
    subject_key: str | None = DEFAULT_SUBJECT_KEY,
) -> int:
    """The fewest distinct people (values of `subject_key`; None counts rows) in any equivalence class over
    `quasi_identifiers`, ignoring fully suppressed rows (0 if none). Raises `KAnonymityError` when a counted
    row lacks `subject_key`."""
    members = {
        (tuple(str(row.get(qi, "")) for qi in quasi_identifiers), _subject(row, index, subject_key))
        for index, row in enumerate(records)
        if not _is_suppressed(row, quasi_identifiers)
    }
    return min(Counter(key for key, _ in members).values(), default=0)


def _subject(row: Mapping[str, Any], index: int, subject_key: str | None) -> _Subject:
    if subject_key is None:
        return index
    if subject_key not in row:
        raise KAnonymityError(f"records[{index}]", f"missing {subject_key}")
    return str(row[subject_key])


def _is_suppressed(row: Mapping[str, Any], quasi_identifiers: Sequence[str]) -> bool:
    return all(str(row.get(qi, "")) == SUPPRESSED for qi in quasi_identifiers)


def _validate(
    records: Sequence[Mapping[str, Any]],
    quasi_identifiers: Sequence[str],
    k: int,
    hierarchies: Mapping[str, Hierarchy],
    max_suppression: float,
    subject_key: str | None,
) -> dict[str, Hierarchy]:
    if k < 1:
        raise KAnonymityError("k", f"must be at least 1, got {k}")
    if not quasi_identifiers or len(set(quasi_identifiers)) != len(quasi_identifiers):
        raise KAnonymityError("quasi_identifiers", "must be a non-empty list without repeats")
    if not 0 <= max_suppression <= 1:
        raise KAnonymityError("max_suppression", f"must be within 0..1, got {max_suppression}")
    unknown = set(hierarchies) - set(quasi_identifiers)
    if unknown:
        raise KAnonymityError("hierarchies", f"not quasi-identifiers: {', '.join(sorted(unknown))}")
    if subject_key is not None and subject_key in quasi_identifiers:
        raise KAnonymityError("subject_key", f"{subject_key} is a quasi-identifier; it must name the person")
    required = [*quasi_identifiers, *([] if subject_key is None else [subject_key])]
    for index, row in enumerate(records):
        missing = [name for name in required if name not in row]
        if missing:
            raise KAnonymityError(f"records[{index}]", f"missing {', '.join(missing)}")
    return {qi: hierarchies.get(qi, SuppressOnly()) for qi in quasi_identifiers}


def _columns(
    records: Sequence[Mapping[str, Any]], quasi_identifiers: Sequence[str], ladders: Mapping[str, Hierarchy]
) -> list[list[list[str]]]:
    """columns[q][level][row]: every row's value of quasi-identifier q at every level, computed once."""
    return [
        [[ladders[qi].generalise(str(row[qi]), level) for row in records] for level in range(len(ladders[qi].levels))]
        for qi in quasi_identifiers
    ]


def _best_node(
    columns: list[list[list[str]]], subjects: Sequence[_Subject], k: int, budget: int
) -> tuple[tuple[int, ...], Counter[tuple[str, ...]]]:
    """The least generalised lattice node whose small classes (fewer than k people) fit the suppression
    budget (in rows), with the number of distinct people in each of its classes."""
    ranges = [range(len(column)) for column in columns]
    nodes = sorted(itertools.product(*ranges), key=lambda node: (sum(node), max(node, default=0)))
    # Ties at the same total level go to fewer suppressed rows, then to more (finer) classes.
    best: tuple[tuple[int, int, int], tuple[int, ...], Counter[tuple[str, ...]]] | None = None
    for node in nodes:
        if best is not None and sum(node) > best[0][0]:
            break
        keys = list(zip(*(columns[q][level] for q, level in enumerate(node)), strict=True))
        rows = Counter(keys)
        people = Counter(key for key, _ in set(zip(keys, subjects, strict=True)))
        small = sum(count for key, count in rows.items() if people[key] < k)
        cost = (sum(node), small, -len(rows))
        if small <= budget and (best is None or cost < best[0]):
            best = (cost, node, people)
    if best is None:  # not even the top node fits (fewer than k records): suppress everything
        top = tuple(len(column) - 1 for column in columns)
        return top, Counter()
    return best[1], best[2]


def _release(
    records: Sequence[Mapping[str, Any]],
    quasi_identifiers: Sequence[str],
    columns: list[list[list[str]]],
    node: tuple[int, ...],
    people: Counter[tuple[str, ...]],
    k: int,
) -> list[dict[str, Any]]:
    released: list[dict[str, Any]] = []
    for index, row in enumerate(records):
        values = tuple(columns[q][level][index] for q, level in enumerate(node))
        keep = people.get(values, 0) >= k
        out = dict(row)
        out.update({qi: value if keep else SUPPRESSED for qi, value in zip(quasi_identifiers, values, strict=True)})
        released.append(out)
    return released
