"""Findings of the operator walk-through: closing a campaign asks first and says what it does; an open campaign's
form shows what is fixed, lets prompt wording change while nobody has recorded it, and names refused settings in
Korean; a closed campaign offers no form; the thresholds box lists every key with its default and suggests a key
for a misspelt one; the dashboard speaks to operators."""

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
    page = client.get(url).get_data(as_text=True)
    assert re.search(r'<textarea[^>]*disabled[^>]*name="brackets"|<textarea[^>]*name="brackets"[^>]*disabled', page)
    assert re.search(r'<input[^>]*disabled[^>]*name="payment_krw"|<input[^>]*name="payment_krw"[^>]*disabled', page)
    assert "캠페인이 열려 있는 동안에는 바꿀 수 없습니다" in page
    assert not re.search(r'name="title_ko"[^>]*disabled', page)
    # a browser sends no disabled field: the save still goes through
    sent = {k: v for k, v in form_fields(page).items()
            if k not in ("brackets", "payment_krw", "min_age", "max_age", "advanced_rules", "min_face_px",
                         "k_anonymity", "voice_min_seconds", "voice_max_seconds", "max_file_mb", "min_inter_eye_px")}
    resp = client.post(url, data=sent | {"title_ko": "새 제목", "voice_prompts": "반갑습니다 || Nice to meet you"})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:3000]
    db_session.refresh(campaign)
    assert campaign.title_ko == "새 제목" and campaign.payment_krw == 400_000 and campaign.max_age == 60
    assert campaign.voice_prompts == [PROMPTS[0] | {"text_ko": "반갑습니다", "text_en": "Nice to meet you"}]


def test_a_recorded_prompt_keeps_its_wording_and_refusals_name_settings_in_korean(
    client: Any, login: Any, make_user: Any, make_campaign: Any, db_session: Any, clock: Any
) -> None:
    from collection.contributions.models import Enrollment, PhotoSet, VoiceClip

    campaign = make_campaign(voice_prompts=PROMPTS)
    contributor = make_user("contributor")
    enrollment = Enrollment(user_id=contributor.id, campaign_id=campaign.id, joined_at=clock.now())
    db_session.add(enrollment)
    db_session.flush()
    photo_set = PhotoSet(enrollment_id=enrollment.id, campaign_id=campaign.id, user_id=contributor.id,
                         created_at=clock.now())
    db_session.add(photo_set)
    db_session.flush()
    db_session.add(VoiceClip(set_id=photo_set.id, user_id=contributor.id, prompt_key="greeting", blob_key="x",
                             created_at=clock.now()))
    db_session.commit()
    login(make_user("operator"))
    url = f"/operate/campaigns/{campaign.slug}/edit"
    data = form_fields(client.get(url).get_data(as_text=True))
    page = html.unescape(client.post(url, data=data | {"voice_prompts": "반갑습니다 || Hi"}).get_data(as_text=True))
    assert "이미 녹음한 음성 문장이라 문구를 바꿀 수 없습니다" in page and "반갑습니다 || Hi" in page
    db_session.refresh(campaign)
    assert campaign.voice_prompts == PROMPTS
    page = html.unescape(client.post(url, data=data | {"max_file_mb": "5"}).get_data(as_text=True))
    assert "사진 기준(얼굴 크기" in page and "photo_rules" not in page


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
