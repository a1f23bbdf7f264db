"""Findings of the operator walk-through: closing a campaign asks first and says what it does; an open campaign's
form shows what is fixed (voice prompts too, wording included), saves without the disabled fields (a fixed 0 as
well), and names refused settings in Korean; a closed campaign offers no form; the thresholds box lists every key
with its default and suggests a key for a misspelt one; the dashboard speaks to operators."""

from __future__ import annotations

import html
import re
from typing import Any

from tests.conftest import csrf_token
from tests.webapp.test_campaign_pages import form_fields

PROMPTS = [{"key": "greeting", "text_ko": "안녕하세요", "text_en": "Hello", "min_seconds": 2, "max_seconds": 20}]


def test_closing_asks_for_a_tick_and_says_what_it_does(
    client: Any, login: Any, make_user: Any, make_campaign: Any, db_session: Any
) -> None:
    from collection.campaigns import CampaignStatus

    campaign = make_campaign(retention_days=30)
    login(make_user("operator"))
    url = f"/operate/campaigns/{campaign.slug}"
    page = html.unescape(client.get(url).get_data(as_text=True))
    assert "닫기는 되돌릴 수 없습니다" in page and "아직 검토 중인 세트: 0개" in page
    assert "승인되었지만 아직 지급하지 않은 세트: 0개" in page and "파기됩니다" in page
    said = client.post(f"{url}/close", data={"csrf_token": csrf_token(client, url)}, follow_redirects=True)
    assert "닫지 않았습니다" in said.get_data(as_text=True)
    db_session.refresh(campaign)
    assert campaign.status is CampaignStatus.OPEN
    client.post(f"{url}/close", data={"csrf_token": csrf_token(client, url), "confirm": "y"})
    db_session.refresh(campaign)
    assert campaign.status is CampaignStatus.CLOSED
    page = client.get(url).get_data(as_text=True)
    assert "/edit" not in page  # no "설정 편집" for a closed campaign
    resp = client.get(f"{url}/edit", follow_redirects=True)
    assert "종료된 캠페인은 수정할 수 없습니다" in resp.get_data(as_text=True) and 'name="brackets"' not in \
        resp.get_data(as_text=True)


def test_an_open_campaigns_form_shows_fixed_fields_disabled_and_saves_without_them(
    client: Any, login: Any, make_user: Any, make_campaign: Any, db_session: Any
) -> None:
    campaign = make_campaign(voice_prompts=PROMPTS)
    login(make_user("operator"))
    url = f"/operate/campaigns/{campaign.slug}/edit"
    page = html.unescape(client.get(url).get_data(as_text=True))
    assert re.search(r'<textarea[^>]*disabled[^>]*name="brackets"|<textarea[^>]*name="brackets"[^>]*disabled', page)
    assert re.search(r'<input[^>]*disabled[^>]*name="payment_krw"|<input[^>]*name="payment_krw"[^>]*disabled', page)
    assert re.search(r'<textarea[^>]*disabled[^>]*name="voice_prompts"|<textarea[^>]*name="voice_prompts"[^>]*'
                     r'disabled', page)
    assert "캠페인이 열려 있는 동안에는 바꿀 수 없습니다" in page
    assert "문구" not in page.split('<form', 1)[0]  # the banner promises no prompt rewording
    assert not re.search(r'name="title_ko"[^>]*disabled', page)
    # a browser sends no disabled field: the save still goes through
    sent = {k: v for k, v in form_fields(page).items() if k not in LOCKED}
    resp = client.post(url, data=sent | {"title_ko": "새 제목"})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:3000]
    db_session.refresh(campaign)
    assert campaign.title_ko == "새 제목" and campaign.payment_krw == 400_000 and campaign.max_age == 60
    assert campaign.voice_prompts == PROMPTS


LOCKED = ("brackets", "voice_prompts", "payment_krw", "min_age", "max_age", "advanced_rules", "min_face_px",
          "k_anonymity", "voice_min_seconds", "voice_max_seconds", "max_file_mb", "min_inter_eye_px", "second_review")


def test_a_reworded_voice_prompt_is_refused_while_open_so_the_notice_still_describes_the_campaign(
    client: Any, login: Any, make_user: Any, make_campaign: Any, db_session: Any
) -> None:
    """A prompt's wording is one of the facts the consent notice was written for: changing it would stop anyone
    joining until a new version is published, which sends every contributor back to re-consent."""
    from collection.campaigns.notice_template import facts_changed, notice_facts

    campaign = make_campaign(voice_prompts=PROMPTS)
    written_for = notice_facts(campaign)
    login(make_user("operator"))
    url = f"/operate/campaigns/{campaign.slug}/edit"
    data = form_fields(client.get(url).get_data(as_text=True))
    resp = client.post(url, data=data | {"voice_prompts": "반갑습니다 || Hi"})  # a direct POST: the field is disabled
    page = html.unescape(resp.get_data(as_text=True))
    assert resp.status_code == 200
    assert "캠페인이 열려 있는 동안에는 바꿀 수 없는 설정입니다: 음성 문장" in page and "반갑습니다 || Hi" in page
    db_session.refresh(campaign)
    assert campaign.voice_prompts == PROMPTS and facts_changed(written_for, campaign) == []
    page = html.unescape(client.post(url, data=data | {"max_file_mb": "5"}).get_data(as_text=True))
    assert "사진 기준(얼굴 크기" in page and "photo_rules" not in page


def test_an_open_campaign_with_a_fixed_zero_saves_without_the_disabled_fields(
    client: Any, login: Any, make_user: Any, make_campaign: Any, db_session: Any
) -> None:
    """0 == False in Python: a locked payment or minimum age of 0 must still be filled back in."""
    campaign = make_campaign(payment_krw=0, min_age=0)
    login(make_user("operator"))
    url = f"/operate/campaigns/{campaign.slug}/edit"
    sent = {k: v for k, v in form_fields(client.get(url).get_data(as_text=True)).items() if k not in LOCKED}
    resp = client.post(url, data=sent | {"title_ko": "영 원 캠페인"})
    assert resp.status_code == 302, html.unescape(resp.get_data(as_text=True))[:3000]
    db_session.refresh(campaign)
    assert (campaign.title_ko, campaign.payment_krw, campaign.min_age) == ("영 원 캠페인", 0, 0)


def test_the_thresholds_box_lists_every_key_and_suggests_the_one_meant(
    client: Any, login: Any, make_user: Any
) -> None:
    import dataclasses

    from quality_gates import PhotoRules

    login(make_user("operator"))
    page = html.unescape(client.get("/operate/campaigns/new").get_data(as_text=True))
    for f in dataclasses.fields(PhotoRules):
        assert f"<code>{f.name}</code>" in page, f.name
    assert "고개를 좌우로 돌린 최대 각도" in page and "236 px" in page and "300 dpi" in page
    assert "2cm" not in page and "약 236 px입니다" not in page
    base = form_fields(page) | {"slug": "yaw-2026", "title_ko": "각도", "title_en": "Yaw"}
    said = html.unescape(client.post("/operate/campaigns/new", data=base | {"advanced_rules": '{"max_yaw": 30}'})
                         .get_data(as_text=True))
    assert "“max_yaw”: 알 수 없는 기준입니다. 혹시 이 기준을 뜻하셨나요? max_yaw_deg" in said
    said = html.unescape(client.post("/operate/campaigns/new",
                                     data=base | {"advanced_rules": '{"min_face_side_px": 50}'}).get_data(as_text=True))
    assert "위의 “최소 얼굴 크기" in said or "위의 “" in said


def test_the_campaign_dashboard_labels_failed_photos_for_operators(app: Any) -> None:
    from flask_babel import force_locale

    from webapp.blueprints.operate.views import OPERATOR_PHOTO_STATES

    with app.test_request_context(), force_locale("ko"):
        assert str(OPERATOR_PHOTO_STATES["failed"]) == "검사 불합격(참여자가 교체해야 함)"
