"""The allow-list of side-table fields a release may carry beside the media, and how each is generalised.

Nothing outside this list can be released, and a field is offered only when the campaign actually collects it
(`available_fields`): a release never invents a column. Every released field is a quasi-identifier for the
k-anonymity step, with the generalisation ladder named here. datadam collects the age bracket of every photo;
gender and region are on the list for campaigns that collect them, but no campaign setting collects them yet,
so they are never offered today.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from anonymize import AgeBands, Hierarchy, SuppressOnly, korean_regions
from collection.campaigns.models import Campaign
from collection.releases.errors import ReleaseRuleError

AGE_BRACKET = "age_bracket"


@dataclass(frozen=True)
class ItemFacts:
    """What datadam knows about one released item that a field may draw on (no identity, no free text)."""

    kind: str  # photo | voice
    bracket: str  # the campaign's age bracket key of a photo; "" for a recording


@dataclass(frozen=True)
class ReleasableField:
    name: str
    hierarchy: Hierarchy
    collected: Callable[[Campaign], bool]
    value: Callable[[ItemFacts], str]


def _not_collected(_campaign: Campaign) -> bool:
    return False


def _no_value(_facts: ItemFacts) -> str:
    return ""


ALLOW_LIST: dict[str, ReleasableField] = {
    AGE_BRACKET: ReleasableField(AGE_BRACKET, AgeBands(), lambda c: bool(c.brackets), lambda f: f.bracket),
    "gender": ReleasableField("gender", SuppressOnly(), _not_collected, _no_value),
    "region": ReleasableField("region", korean_regions(), _not_collected, _no_value),
}


def available_fields(campaign: Campaign) -> tuple[str, ...]:
    """The allow-listed fields this campaign collects, in allow-list order."""
    return tuple(name for name, spec in ALLOW_LIST.items() if spec.collected(campaign))


def check_fields(campaign: Campaign, fields: Iterable[str]) -> tuple[str, ...]:
    """`fields` in allow-list order, without repeats. Raises ReleaseRuleError for a field not on the allow-list or
    not collected by the campaign."""
    chosen = set(fields)
    unknown = sorted(chosen - set(ALLOW_LIST))
    if unknown:
        raise ReleaseRuleError("fields", f"not on the allow-list: {', '.join(unknown)}")
    missing = sorted(chosen - set(available_fields(campaign)))
    if missing:
        raise ReleaseRuleError("fields", f"the campaign does not collect: {', '.join(missing)}")
    return tuple(name for name in ALLOW_LIST if name in chosen)


def hierarchies(fields: Sequence[str]) -> dict[str, Hierarchy]:
    return {name: ALLOW_LIST[name].hierarchy for name in fields}


def values(fields: Sequence[str], facts: ItemFacts) -> dict[str, str]:
    return {name: ALLOW_LIST[name].value(facts) for name in fields}
