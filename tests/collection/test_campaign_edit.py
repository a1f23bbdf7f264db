"""Editing an open campaign: texts and quota change; settings contributors rely on do not, however the form
writes them back."""

from __future__ import annotations

from typing import Any

import pytest

from collection.audit.log import AuditLog
from collection.campaigns.service import CampaignService, same_setting
from collection.errors import InvalidTransition

PROMPTS = [{"key": "greeting", "text_ko": "안녕하세요", "text_en": "Hello", "min_seconds": 1, "max_seconds": 10}]


@pytest.fixture()
def service(db_session: Any, clock: Any) -> CampaignService:
    return CampaignService(db_session, clock, AuditLog(db_session, clock))


def form_values(campaign: Any, **changes: Any) -> dict[str, Any]:
    """What the edit form sends back: every setting, rules rewritten with their defaults, prompts renumbered."""
    values = {
        "title_ko": campaign.title_ko, "title_en": campaign.title_en, "quota": campaign.quota,
        "brackets": campaign.brackets, "min_age": campaign.min_age, "max_age": campaign.max_age,
        "photo_rules": {"min_face_side_px": 96, "min_inter_eye_px": 32.0, "max_bytes": 30 * 1024 * 1024},
        "voice_prompts": [{**p, "key": f"p{i + 1}"} for i, p in enumerate(campaign.voice_prompts)],
    }
    return values | changes


def test_an_open_campaign_takes_a_new_title_when_the_form_rewrites_unchanged_rules(
    service: CampaignService, make_campaign: Any, make_user: Any, db_session: Any
) -> None:
    campaign = make_campaign(photo_rules={}, voice_prompts=PROMPTS)
    service.update(make_user("operator"), campaign, form_values(campaign, title_en="Faces, second wave"))
    db_session.commit()
    assert campaign.title_en == "Faces, second wave"
    assert campaign.photo_rules == {} and campaign.voice_prompts == PROMPTS  # recordings keep their prompt keys


@pytest.mark.parametrize(
    "change",
    [
        {"photo_rules": {"min_face_side_px": 200}},
        {"voice_prompts": [{**PROMPTS[0], "max_seconds": 30, "key": "p1"}]},
        # the wording too: the consent notice records the prompts it was written for (`notice_facts`)
        {"voice_prompts": [{**PROMPTS[0], "text_ko": "반갑습니다", "text_en": "Nice to meet you", "key": "p1"}]},
        {"voice_prompts": [*PROMPTS, {**PROMPTS[0], "key": "p2"}]},
        {"max_age": 70},
    ],
)
def test_a_setting_contributors_rely_on_stays_fixed_while_open(
    service: CampaignService, make_campaign: Any, make_user: Any, change: dict[str, Any]
) -> None:
    campaign = make_campaign(photo_rules={}, voice_prompts=PROMPTS)
    with pytest.raises(InvalidTransition) as info:
        service.update(make_user("operator"), campaign, form_values(campaign, **change))
    assert info.value.detail["fields"] == sorted(change)
    assert campaign.voice_prompts == PROMPTS and campaign.photo_rules == {}


def test_same_setting_compares_meaning() -> None:
    assert same_setting("photo_rules", {}, {"min_face_side_px": 96})  # the default, written out
    assert not same_setting("photo_rules", {}, {"min_face_side_px": 97})
    assert not same_setting("photo_rules", {}, {"no_such_rule": 1})
    assert same_setting("voice_prompts", PROMPTS, [{**PROMPTS[0], "key": "p1"}])
    assert same_setting("quota", 10, 10) and not same_setting("quota", 10, 11)


def test_a_draft_cannot_ask_for_brackets_its_youngest_contributors_have_not_lived(
    service: CampaignService, make_campaign: Any, make_user: Any
) -> None:
    from collection.campaigns.service import UnreachableBracket

    draft = make_campaign(open_it=False, min_age=30)  # brackets 0-9 .. 30-39
    operator = make_user("operator")
    with pytest.raises(UnreachableBracket) as info:
        service.update(operator, draft, {"min_age": 20})
    assert (info.value.key, info.value.start, info.value.youngest) == ("30-39", 30, 20)
    service.update(operator, draft, {"min_age": 30, "title_en": "Still fine"})
    legacy = make_campaign(open_it=False, min_age=14)  # stored before the rule: saving it unchanged still works
    service.update(operator, legacy, {"min_age": 14, "brackets": legacy.brackets, "title_en": "New title"})
    assert legacy.title_en == "New title"
