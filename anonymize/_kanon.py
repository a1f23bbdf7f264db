"""k-anonymity for the side table released beside the media (age bracket, gender, region...).

Full-domain generalisation with suppression, in the spirit of Samarati and ARX: every combination of
generalisation levels (one level per quasi-identifier) is a node of a lattice; the chosen node is the least
generalised one (lowest total level, then fewest suppressed records) where suppressing the records of the
people in equivalence classes smaller than k (see below) costs at most `max_suppression` of the records.
Suppressed records keep their media but have every quasi-identifier set to "*"; a person all of whose records
are suppressed is left out when k is measured, as they match everybody.

Classes are of PEOPLE (the `subject_key` column), not of rows. A release has one row per photo, a contributor
gives about ten photos per bracket, and every row of one person carries the same pseudonym, so a person's rows
can be linked: what an attacker sees of a person is the SET of classes their rows fall in (say "photos in their
20s and their 30s, F, Seoul"), a finer quasi-identifier than any one row. A person's equivalence class is
therefore that set (their signature), and k counts the distinct people sharing a signature. Counting rows would
let one person alone in a class pass as k=10; counting people per row class would let the only person with
photos in two given brackets pass too. Every row of a person whose signature is shared by fewer than k people is
suppressed. For a table with one row per person (`subject_key=None`) this is plain k-anonymity.

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
    achieved over non-suppressed rows (distinct people sharing the rarest signature; 0 when none remain), how many
    rows were suppressed, and the level name chosen per quasi-identifier (`generalised`, e.g.
    {"age_bracket": "20-year", "region": "province"})."""

    records: list[dict[str, Any]]
    k_achieved: int
    suppressed_count: int
    generalised: dict[str, str]
    k_required: int = DEFAULT_K

    @property
    def satisfied(self) -> bool:
        """Whether every released signature is shared by at least k distinct people."""
        return self.k_achieved >= self.k_required or self.k_achieved == 0


def k_anonymize(
    records: Sequence[Mapping[str, Any]],
    quasi_identifiers: Sequence[str],
    k: int = DEFAULT_K,
    hierarchies: Mapping[str, Hierarchy] | None = None,
    max_suppression: float = 0.05,
    subject_key: str | None = DEFAULT_SUBJECT_KEY,
) -> KAnonResult:
    """Generalise then suppress `records` until every person's signature (the set of classes over
    `quasi_identifiers` their rows fall in) is shared by >= `k` distinct people, a person being a distinct value
    of `subject_key` (None: every record is a different person, for tables with one row per person).
    `max_suppression` is a share of the records (rows).

    `hierarchies` maps a quasi-identifier to its ladder (default: as collected or "*"). Raises
    `KAnonymityError` for k < 1, an empty or duplicated quasi-identifier list, a negative suppression budget,
    or a record missing a quasi-identifier or the subject key.
    """
    ladders = _validate(records, quasi_identifiers, k, hierarchies or {}, max_suppression, subject_key)
    columns = _columns(records, quasi_identifiers, ladders)
    subjects = [_subject(row, index, subject_key) for index, row in enumerate(records)]
    budget = int(max_suppression * len(records))
    node, kept = _best_node(columns, subjects, k, budget)
    released = _release(records, quasi_identifiers, columns, node, kept, subjects)
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
    """The fewest distinct people (values of `subject_key`; None: every row is a person) sharing a signature,
    the set of classes over `quasi_identifiers` a person's rows fall in, leaving out people whose every row is
    fully suppressed (0 if nobody is left). Raises `KAnonymityError` when a row lacks `subject_key`."""
    keys, subjects, shown = [], [], set()
    for index, row in enumerate(records):
        keys.append(tuple(str(row.get(qi, "")) for qi in quasi_identifiers))
        subjects.append(_subject(row, index, subject_key))
        if not _is_suppressed(row, quasi_identifiers):
            shown.add(subjects[-1])
    # A person leaves the count only when every row of theirs is suppressed; otherwise a suppressed row is one
    # more class of their signature (an attacker sees it beside the others under the same pseudonym).
    people, signature = _people_per_signature(keys, subjects)
    return min((people[signature[subject]] for subject in shown), default=0)


def _people_per_signature(
    keys: Sequence[tuple[str, ...]], subjects: Sequence[_Subject]
) -> tuple[Counter[frozenset[tuple[str, ...]]], dict[_Subject, frozenset[tuple[str, ...]]]]:
    """How many people share each signature, and each person's signature (the set of their rows' classes)."""
    classes: dict[_Subject, set[tuple[str, ...]]] = {}
    for key, subject in zip(keys, subjects, strict=True):
        classes.setdefault(subject, set()).add(key)
    signature = {subject: frozenset(found) for subject, found in classes.items()}
    return Counter(signature.values()), signature


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
) -> tuple[tuple[int, ...], set[_Subject]]:
    """The least generalised lattice node where the rows of people whose signature is shared by fewer than k
    people fit the suppression budget (in rows), with the people released at that node."""
    ranges = [range(len(column)) for column in columns]
    nodes = sorted(itertools.product(*ranges), key=lambda node: (sum(node), max(node, default=0)))
    rows_of = Counter(subjects)
    # Ties at the same total level go to fewer suppressed rows, then to more (finer) classes.
    best: tuple[tuple[int, int, int], tuple[int, ...], set[_Subject]] | None = None
    for node in nodes:
        if best is not None and sum(node) > best[0][0]:
            break
        keys = list(zip(*(columns[q][level] for q, level in enumerate(node)), strict=True))
        people, signature = _people_per_signature(keys, subjects)
        kept = {subject for subject, found in signature.items() if people[found] >= k}
        small = sum(count for subject, count in rows_of.items() if subject not in kept)
        cost = (sum(node), small, -len(set(keys)))
        if small <= budget and (best is None or cost < best[0]):
            best = (cost, node, kept)
    if best is None:  # not even the top node fits (fewer than k people): suppress everything
        top = tuple(len(column) - 1 for column in columns)
        return top, set()
    return best[1], best[2]


def _release(
    records: Sequence[Mapping[str, Any]],
    quasi_identifiers: Sequence[str],
    columns: list[list[list[str]]],
    node: tuple[int, ...],
    kept: set[_Subject],
    subjects: Sequence[_Subject],
) -> list[dict[str, Any]]:
    released: list[dict[str, Any]] = []
    for index, row in enumerate(records):
        values = tuple(columns[q][level][index] for q, level in enumerate(node))
        keep = subjects[index] in kept
        out = dict(row)
        out.update({qi: value if keep else SUPPRESSED for qi, value in zip(quasi_identifiers, values, strict=True)})
        released.append(out)
    return released
