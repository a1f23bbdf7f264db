"""The default consent notice of a campaign: complete, bilingual, one matter per purpose, honest about voice."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest

from collection.campaigns import Campaign
from collection.campaigns.notice_template import default_notice, fit_to_campaign
from consent.notice import LocalizedText, MatterKind, missing_items, notice_sections, render_text

HANGUL = re.compile("[\uac00-\ud7a3]")
PROMPT = {"key": "p1", "text_ko": "안녕하세요", "text_en": "Hello", "min_seconds": 2, "max_seconds": 15}


def campaign(**over: Any) -> Campaign:
    values: dict[str, Any] = {
        "slug": "aging-faces",
        "title_ko": "나이 변화 얼굴 사진",
        "title_en": "Faces across the ages",
        "brackets": [
            {"key": "0-9", "min_age": 0, "max_age": 9, "photos": 10},
            {"key": "10-19", "min_age": 10, "max_age": 19, "photos": 20},
        ],
        "voice_prompts": [],
        "payment_krw": 400_000,
        "retention_days": 730,
    }
    values.update(over)
    return Campaign(**values)


@pytest.mark.parametrize("jurisdictions", [("KR",), ("KR", "EU")])
@pytest.mark.parametrize("voice", [False, True])
def test_the_default_notice_is_publishable(jurisdictions: tuple[str, ...], voice: bool) -> None:
    notice = default_notice(
        campaign(voice_prompts=[PROMPT] if voice else []), "데이터댐 주식회사", "privacy@datadam.example", jurisdictions
    )
    assert missing_items(notice) == []
    assert notice.jurisdictions == jurisdictions and notice.collects_voice is voice
    assert notice.controller.email == notice.privacy_officer.email == "privacy@datadam.example"


def test_a_face_campaign_has_the_three_separate_matters() -> None:
    notice = default_notice(campaign(), "Datadam", "privacy@datadam.example")
    kinds = {m.id: m.kind for m in notice.matters}
    assert kinds == {
        "collection": MatterKind.COLLECTION_AND_USE,
        "sensitive": MatterKind.SENSITIVE_INFORMATION,
        "release": MatterKind.THIRD_PARTY_PROVISION,
    }
    assert [m.required for m in notice.matters] == [True, True, False]
    assert notice.matter("sensitive").data_categories == ("face_features",)
    release = notice.matter("release").third_party
    assert release is not None
    for field in ("recipient", "purpose", "items", "retention"):
        for lang in ("ko", "en"):
            assert getattr(release, field).get(lang).strip()


def test_a_voice_campaign_adds_an_optional_voice_matter_and_voice_features() -> None:
    notice = default_notice(campaign(voice_prompts=[PROMPT, PROMPT | {"key": "p2"}]), "Datadam", "+82-2-000-0000")
    voice = notice.matter("voice")
    assert voice.kind is MatterKind.VOICE_RECORDING and not voice.required
    assert "문장 2개" in voice.summary.ko and "2 sentence(s)" in voice.summary.en
    assert "voice_features" in notice.matter("sensitive").data_categories
    assert notice.controller.phone == "+82-2-000-0000" and notice.controller.email == ""


def test_the_campaign_facts_reach_the_text() -> None:
    notice = default_notice(campaign(), "Datadam", "privacy@datadam.example")
    ko, en = render_text(notice, "ko"), render_text(notice, "en")
    assert "캠페인 종료 후 730일" in notice.retention.ko and "730 days after the campaign closes" in notice.retention.en
    assert "400,000원" in notice.refusal_consequences.ko and "KRW 400,000" in notice.refusal_consequences.en
    assert "총 30장" in notice.items_collected.ko and "30 photos" in notice.items_collected.en
    assert "나이 변화 얼굴 사진" in ko and "Faces across the ages" in en
    assert not HANGUL.search(en), "the English notice must not fall back to Korean"
    assert "5일 이내" in ko and "within 5 days" in en



def test_an_unpaid_campaign_promises_no_payment_and_one_day_is_one_day() -> None:
    notice = default_notice(campaign(payment_krw=0, retention_days=1), "Datadam", "privacy@datadam.example")
    ko, en = render_text(notice, "ko"), render_text(notice, "en")
    assert "0원" not in ko and "KRW 0" not in en and "대가" not in notice.refusal_consequences.ko
    assert "payment" not in notice.refusal_consequences.en
    assert "1 day after the campaign closes" in en and "1 days" not in en


def test_every_section_is_written_in_both_languages() -> None:
    notice = default_notice(campaign(voice_prompts=[PROMPT]), "Datadam", "privacy@datadam.example", ("KR", "EU"))
    keys = {lang: [s.key for s in notice_sections(notice, lang)] for lang in ("ko", "en")}
    assert keys["ko"] == keys["en"]
    assert {"purpose", "retention", "right_to_refuse", "refusal_consequences", "legal_basis", "complaint"} <= set(
        keys["ko"]
    )


def test_fit_to_campaign_follows_the_campaigns_voice_and_keeps_the_operators_text() -> None:
    face_only = campaign()
    edited = dataclasses.replace(
        default_notice(face_only, "Datadam", "privacy@datadam.example"),
        purpose=LocalizedText(ko="고친 목적", en="Edited purpose"),
    )
    with_voice = campaign(voice_prompts=[PROMPT])
    fitted = fit_to_campaign(edited, default_notice(with_voice, "Datadam", "privacy@datadam.example"))
    assert fitted.collects_voice and [m.id for m in fitted.matters][-1] == "voice"
    assert fitted.purpose.en == "Edited purpose"
    back = fit_to_campaign(fitted, default_notice(face_only, "Datadam", "privacy@datadam.example", ("KR", "EU")))
    assert not back.collects_voice and "voice" not in {m.id for m in back.matters}
    assert back.jurisdictions == ("KR", "EU") and back.purpose.ko == "고친 목적"
