"""The contributor's pages as a phone walkthrough found them, through the test client (Korean first, English where
the words differ): withdrawing only the voice consent names and counts the recordings it deletes and asks for a
tick; recordings have their own words and a localized timer; a bracket counts photos being checked and photos to
replace apart, the same live and after a reload, and tells a reviewer's rejection from a failed check; a locked set
gives no advice to replace; after an erasure the set page shows what stays true, not empty brackets; joining,
the dashboard (age fit, earnings) and the data download say what is true for this person."""

from __future__ import annotations

import datetime as dt
import io
import re
from typing import Any

import pytest
from sqlalchemy import select

from collection.contributions.models import Photo, PhotoSet, PhotoState, SetState, VoiceClip
from tests.webapp.contribute_support import (
    ALL_YES,
    PROMPTS,
    csrf,
    give_consent,
    in_app,
    publish,
    small_campaign,
    speech_like_wav,
    switch_language,
    text,
)
from tests.webapp.test_contribute_set import _fill_and_submit, _reject_first, photos_of, set_url, upload_form
from webapp.demo_media import blank_photo, face_photo


def _join(app: Any, client: Any, campaign: Any, user: Any, decisions: dict[str, bool] | None = None) -> None:
    give_consent(app, user, campaign, decisions)
    resp = client.post(f"/me/campaigns/{campaign.slug}/join", data={"csrf_token": csrf(client, "/me/")})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(set_url(campaign))


def _session() -> Any:
    from webapp.db import get_session

    return get_session()


def _clips(app: Any, user: Any) -> list[VoiceClip]:
    return in_app(app, lambda: list(_session().scalars(select(VoiceClip).where(VoiceClip.user_id == user.id))))


def _set_of(app: Any, user: Any) -> PhotoSet:
    return in_app(app, lambda: _session().scalars(select(PhotoSet).where(PhotoSet.user_id == user.id)).one())


@pytest.fixture()
def voice_campaign(app: Any, make_campaign: Any) -> Any:
    campaign = small_campaign(make_campaign, voice_prompts=PROMPTS)
    publish(app, campaign)
    return campaign


@pytest.fixture()
def photo_campaign(campaign: Any) -> Any:
    return campaign  # tests/webapp/conftest.py: a small published photo campaign


@pytest.fixture()
def recorded(app: Any, client: Any, voice_campaign: Any, contributor: Any) -> Any:
    """A contributor of the voice campaign with every consent and one recording uploaded (checked at once)."""
    _join(app, client, voice_campaign, contributor, ALL_YES)
    resp = client.post(
        f"/me/campaigns/{voice_campaign.slug}/set/voice/p1",
        data={"csrf_token": csrf(client, set_url(voice_campaign)), "audio": (io.BytesIO(speech_like_wav()), "a.wav")},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 302 and len(_clips(app, contributor)) == 1
    return contributor


# --- 1. withdrawing only the voice consent ---------------------------------------------------------------------


def test_withdrawing_the_voice_consent_says_the_recordings_go_and_needs_a_tick(
    app: Any, client: Any, voice_campaign: Any, recorded: Any
) -> None:
    page = text(client.get("/me/consent/"))
    assert "음성 녹음 동의를 철회하면 이 캠페인의 내 녹음 1개가 바로 삭제됩니다." in page  # said beforehand, counted
    assert "다른 선택 동의를 철회하면 해당 이용만 중단됩니다." in page
    assert 'name="confirm_voice_erasure"' in page
    url = f"/me/campaigns/{voice_campaign.slug}/consent/withdraw"
    token = csrf(client, "/me/consent/")
    refused = client.post(url, data={"csrf_token": token, "withdraw_selected": "1", "matters": ["voice"]})
    body = text(refused)
    assert refused.status_code == 400
    assert body.count("음성 녹음 동의를 철회하면 이 캠페인의 내 녹음 1개가 삭제됩니다. 확인란을 선택해") == 2
    assert re.search(r'value="voice" id="w-[^"]+-voice" checked', body)  # what was ticked is kept
    assert len(_clips(app, recorded)) == 1  # nothing happened
    done = client.post(url, data={"csrf_token": token, "withdraw_selected": "1", "matters": ["voice"],
                                  "confirm_voice_erasure": "y"})
    assert done.status_code == 302 and _clips(app, recorded) == []
    said = text(client.get(done.headers["Location"]))
    assert "음성 녹음 이용을 중단했고 이 캠페인의 내 녹음 1개를 지금 삭제했습니다." in said
    assert "더 이상 데이터를 이용하지 않습니다" not in said
    set_page = text(client.get(set_url(voice_campaign)))
    assert "음성 녹음 동의를 철회하셨기 때문에 녹음이 삭제되었습니다." in set_page
    assert "음성 녹음에 동의하지 않으셨습니다" not in set_page
    assert f"/me/campaigns/{voice_campaign.slug}/consent?change=optional" in set_page  # and can agree again
    # with nothing left to delete, withdrawing another optional use needs no tick (and says nothing of recordings)
    assert 'name="confirm_voice_erasure"' not in text(client.get("/me/consent/"))


def test_voice_declined_at_signing_is_still_said_as_not_given(
    app: Any, client: Any, voice_campaign: Any, contributor: Any
) -> None:
    _join(app, client, voice_campaign, contributor, {**ALL_YES, "voice": False})
    page = text(client.get(set_url(voice_campaign)))
    assert "음성 녹음에 동의하지 않으셨습니다" in page and "철회하셨기" not in page
    assert 'name="confirm_voice_erasure"' not in text(client.get("/me/consent/"))


# --- 3. and 4. recordings have their own words; the timer is localized -----------------------------------------


def test_a_failed_recording_is_asked_to_be_recorded_again_not_replaced_by_a_photo(
    app: Any, client: Any, voice_campaign: Any, recorded: Any
) -> None:
    (clip,) = _clips(app, recorded)

    def fail() -> None:
        _session().get(VoiceClip, clip.id).state = PhotoState.FAILED

    in_app(app, fail)
    page = text(client.get(set_url(voice_campaign)))
    voice = page[page.index('id="voice-p1"'):]
    assert "통과하지 못함: 다시 녹음해 주세요" in voice and "사진" not in voice[: voice.index("</section>")]
    api = client.get(f"/api/v1/campaigns/{voice_campaign.slug}/set").get_json()
    assert api["voice"][0]["clip"]["state_label"] == "통과하지 못함: 다시 녹음해 주세요"
    switch_language(client, "en")
    assert "Did not pass: record it again" in text(client.get(set_url(voice_campaign)))


def test_the_recording_timer_speaks_the_page_language(client: Any, voice_campaign: Any, recorded: Any) -> None:
    ko = text(client.get(set_url(voice_campaign)))
    assert re.search(r'data-role="timer"[^>]*>0\.0초<', ko) and 'data-msg-seconds="{s}초"' in ko
    switch_language(client, "en")
    en = text(client.get(set_url(voice_campaign)))
    assert re.search(r'data-role="timer"[^>]*>0\.0 s<', en) and 'data-msg-seconds="{s} s"' in en
    with client.get("/static/js/voice.js") as served:
        script = served.get_data(as_text=True)
    assert "msgSeconds" in script and '+ " s"' not in script  # the unit comes from the page


# --- 5. the set page's words ---------------------------------------------------------------------------------------


def test_a_bracket_counts_photos_being_checked_and_to_replace_apart_the_same_live_and_reloaded(
    app: Any, client: Any, make_campaign: Any, contributor: Any
) -> None:
    campaign = make_campaign(brackets=[{"key": "0-9", "min_age": 0, "max_age": 9, "photos": 2}])
    publish(app, campaign)
    _join(app, client, campaign, contributor)
    upload_form(client, campaign, "0-9", (face_photo(21), "a.jpg"), (face_photo(22), "b.jpg"), age="6")
    first, second = photos_of(app, contributor)

    def states() -> None:
        _session().get(Photo, first.id).state = PhotoState.CHECKING
        _session().get(Photo, second.id).state = PhotoState.FAILED

    in_app(app, states)
    page = text(client.get(set_url(campaign)))
    live = client.get(f"/api/v1/campaigns/{campaign.slug}/set").get_json()
    label = "사진 2장 중 0장 완료 · 1장 검사 중 · 1장 바꿔야 함"
    assert live["brackets"][0]["count_label"] == label
    assert re.search(rf'data-role="count">{re.escape(label)}<', page)  # the reload says what the live update says
    assert "검사 중이거나" not in page
    missing = [m["text"] for m in live["missing"]]
    assert missing == ["0–9세: 사진 1장을 아직 검사하고 있습니다. 0–9세: 사진 1장을 바꿔 주세요."]
    hint = re.search(r'data-role="fix-hint">([^<]+)<', page)
    assert hint and "“바꾸기”" in hint.group(1) and "교체" not in hint.group(1)  # the button's own name
    assert ">바꾸기</summary>" in page
    switch_language(client, "en")
    en = client.get(f"/api/v1/campaigns/{campaign.slug}/set").get_json()
    assert en["brackets"][0]["count_label"] == "0 of 2 photos ready · 1 being checked · 1 to replace"


def test_a_reviewers_rejection_is_said_as_such_with_its_reason_and_round(
    app: Any, client: Any, photo_campaign: Any, contributor: Any, make_user: Any
) -> None:
    _join(app, client, photo_campaign, contributor)
    _fill_and_submit(app, client, photo_campaign)
    in_review = text(client.get(set_url(photo_campaign)))
    assert "지금 세트의 검수 1회차가 진행 중입니다." in in_review and "1차 검수." not in in_review
    _reject_first(app, photo_campaign, contributor, make_user("operator"))
    page = text(client.get(set_url(photo_campaign)))
    hint = re.search(r'data-role="rejected-hint">(.*?)</div>', page, re.S)
    assert hint, page[:3000]
    assert "검수자가 이 연령대의 사진 1장을 반려했습니다." in hint.group(1)
    assert "화면이나 인쇄된 사진을 다시 찍은 것 같습니다." in hint.group(1)  # with the reviewer's reason
    assert "검사를 통과하지 못했습니다" not in hint.group(1)  # not the automatic check's words, which stay hidden
    assert re.search(r'data-role="fix-hint" hidden', page)
    assert "검수 1회차에서 이 수정을 요청했습니다." in page and "1차 검수." not in page


def test_a_locked_set_gives_no_advice_to_replace(app: Any, client: Any, photo_campaign: Any, contributor: Any) -> None:
    _join(app, client, photo_campaign, contributor)
    upload_form(client, photo_campaign, "0-9", (blank_photo(seed=5), "wall.jpg"), age="5")
    upload_form(client, photo_campaign, "20-29", (face_photo(31), "me.jpg"), age="25")
    failed = next(p for p in photos_of(app, contributor) if p.bracket == "0-9")
    token = csrf(client, set_url(photo_campaign))
    client.post(f"/me/photos/{failed.id}/review", data={"csrf_token": token, "note": "제 사진입니다"})
    api = f"/api/v1/campaigns/{photo_campaign.slug}/set"
    before = [n["advice"] for b in client.get(api).get_json()["brackets"] for p in b["photos"] for n in p["notes"]]
    advice = [a for a in before if a]
    assert advice  # while the set can change, the checks' advice is shown
    resp = client.post(f"/me/campaigns/{photo_campaign.slug}/set/submit", data={"csrf_token": token})
    assert resp.status_code == 302
    page = text(client.get(set_url(photo_campaign)))
    assert not [a for a in advice if a in page] and "바꿔도 됩니다" not in page
    after = client.get(api).get_json()
    assert after["editable"] is False
    assert all(n["advice"] == "" for b in after["brackets"] for p in b["photos"] for n in p["notes"])


# --- 6. after an erasure -------------------------------------------------------------------------------------------


def test_after_withdrawing_a_paid_set_the_page_shows_the_erasure_and_the_payment_not_empty_brackets(
    app: Any, client: Any, photo_campaign: Any, contributor: Any, clock: Any
) -> None:
    from collection.payments.models import LedgerEntry

    _join(app, client, photo_campaign, contributor)
    photo_set = _set_of(app, contributor)

    def paid() -> None:
        row = _session().get(PhotoSet, photo_set.id)
        row.state, row.round = SetState.PAID, 1
        _session().add(LedgerEntry(set_id=row.id, user_id=contributor.id, campaign_id=photo_campaign.id,
                                   amount_krw=400_000, created_at=clock.now(),
                                   paid_at=clock.now() + dt.timedelta(days=1)))

    in_app(app, paid)
    token = csrf(client, "/me/consent/")
    resp = client.post(f"/me/campaigns/{photo_campaign.slug}/consent/withdraw",
                       data={"csrf_token": token, "withdraw_all": "1", "confirm_erasure": "y"})
    assert resp.status_code == 302
    page = text(client.get(set_url(photo_campaign)))
    assert "이 캠페인의 내 자료가 삭제되었습니다" in page and "제공했던 자료는 삭제되었고" in page
    assert "보상이 지급되었습니다(지급액: 400,000원, 지급일: 2026-11-22)" in page  # what stays true
    assert "상태:" not in page and "지급 완료" not in page and "검수" not in page
    assert "사진 1장 중" not in page and 'class="bracket' not in page  # no empty brackets
    assert "다시 참여하기" in page


# --- 7. joining -------------------------------------------------------------------------------------------------


def test_join_says_signing_the_consent_is_joining(client: Any, photo_campaign: Any, contributor: Any) -> None:
    resp = client.post(f"/me/campaigns/{photo_campaign.slug}/join",
                       data={"csrf_token": csrf(client, f"/campaigns/{photo_campaign.slug}")})
    said = text(client.get(resp.headers["Location"]))
    assert "서명하면 이 캠페인에 바로 참여하게 되며" in said and "돌아와 참여하세요" not in said


# --- 8. and 9. the dashboard -----------------------------------------------------------------------------------


def test_dashboard_marks_open_campaigns_my_age_does_not_fit(
    client: Any, make_campaign: Any, contributor: Any
) -> None:
    fits = make_campaign(title_ko="맞는 캠페인", min_age=20, max_age=60)
    too_old = make_campaign(title_ko="어린이 캠페인", min_age=5, max_age=12)
    page = text(client.get("/me/"))
    cards = {title: page[page.index(title):][:600] for title in (fits.title_ko, too_old.title_ko)}
    assert "나이가 맞지 않음" in cards[too_old.title_ko].split("</li>")[0]
    assert "나이가 맞지 않음" not in cards[fits.title_ko].split("</li>")[0]


def test_earnings_name_the_campaign_and_label_the_dates(
    app: Any, client: Any, photo_campaign: Any, contributor: Any, clock: Any
) -> None:
    from collection.payments.models import LedgerEntry

    _join(app, client, photo_campaign, contributor)
    photo_set = _set_of(app, contributor)
    in_app(app, lambda: _session().add(LedgerEntry(set_id=photo_set.id, user_id=contributor.id,
                                                   campaign_id=photo_campaign.id, amount_krw=30_000,
                                                   created_at=clock.now())))
    page = text(client.get("/me/"))
    earnings = page[page.index('<ul class="cards earnings">'):]
    earnings = earnings[: earnings.index("</ul>")]
    assert photo_campaign.title_ko in earnings and "30,000원" in earnings
    assert "<dt>승인일</dt><dd>2026-11-21</dd>" in earnings
    assert "<dt>지급일</dt>" in earnings and "지급 대기" in earnings


# --- 10. the data download ---------------------------------------------------------------------------------------


def test_the_download_page_names_only_what_my_campaigns_collect(
    app: Any, client: Any, photo_campaign: Any, voice_campaign: Any, contributor: Any
) -> None:
    _join(app, client, photo_campaign, contributor)
    photos_only = text(client.get("/me/data"))
    assert "내 얼굴 사진이 들어 있습니다" in photos_only and "목소리" not in photos_only and "녹음" not in photos_only
    _join(app, client, voice_campaign, contributor)
    assert "내 얼굴 사진과 목소리" in text(client.get("/me/data"))
