"""The contributor's pages through the test client, in Korean (the default) and English: the public campaign
page and the join flow (eligibility refusal, consent, enrolment), the set page without JavaScript (multi-file
upload, gate results in words, bad files, remove / replace / ask a person), submission refused and accepted,
the status after an operator's decision with translated reasons and an appeal, a voice upload, owner-only
thumbnails, the dashboard and the data export download."""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

import pytest

from collection.contributions.models import Photo, PhotoState, SetState
from collection.review.models import RejectReason
from collection.review.service import PhotoVerdict
from tests.webapp.contribute_support import (
    CHILD,
    EN,
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
from webapp.demo_media import blank_photo, face_photo


def set_url(campaign: Any) -> str:
    return f"/me/campaigns/{campaign.slug}/set"


def upload_form(client: Any, campaign: Any, bracket: str, *files: tuple[bytes, str], age: str = "") -> Any:
    data: dict[str, Any] = {"csrf_token": csrf(client, set_url(campaign)), "bracket": bracket, "age_years": age}
    data["photos"] = [(io.BytesIO(content), name) for content, name in files]
    return client.post(f"/me/campaigns/{campaign.slug}/set/photos", data=data, content_type="multipart/form-data")


def photos_of(app: Any, user: Any) -> list[Photo]:
    from sqlalchemy import select

    from webapp.db import get_session

    return in_app(app, lambda: list(get_session().scalars(select(Photo).where(Photo.user_id == user.id))))


# --- the campaign page and joining -------------------------------------------------------------------------------


def test_campaign_page_is_public_and_explains_the_campaign(client: Any, campaign: Any) -> None:
    ko = text(client.get(f"/campaigns/{campaign.slug}"))
    assert campaign.title_ko in ko and "승인된 세트당 400,000원" in ko
    assert "회원 가입" in ko or "가입" in ko
    en = text(client.get(f"/campaigns/{campaign.slug}", headers=EN))
    assert campaign.title_en in en and "Ages 0–9: 1 photos of you at that age" in en
    assert "Create an account or sign in to join this campaign." in en


def test_a_draft_campaign_is_not_public(client: Any, make_campaign: Any) -> None:
    draft = make_campaign(open_it=False)
    assert client.get(f"/campaigns/{draft.slug}").status_code == 404


def test_join_leads_through_consent_to_the_set_page(app: Any, client: Any, campaign: Any, contributor: Any) -> None:
    page = text(client.get(f"/campaigns/{campaign.slug}"))
    assert "참여" in page
    token = csrf(client, f"/campaigns/{campaign.slug}")
    resp = client.post(f"/me/campaigns/{campaign.slug}/join", data={"csrf_token": token})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/me/campaigns/{campaign.slug}/consent")
    give_consent(app, contributor, campaign)
    resp = client.post(f"/me/campaigns/{campaign.slug}/join", data={"csrf_token": token})
    assert resp.headers["Location"].endswith(set_url(campaign))
    switch_language(client, "en")
    body = text(client.get(set_url(campaign)))
    assert "Ages 0–9" in body and "Ages 20–29" in body and "0 of 1 photos" in body
    assert 'accept="image/*"' in body and "multiple" in body
    assert "Send my set for review" in body and "disabled" in body  # nothing uploaded yet


@pytest.mark.parametrize(
    ("headers", "expected"),
    [({}, "이 캠페인은 만 14세부터 60세까지 참여할 수 있습니다."), (EN, "This campaign is for people aged 14 to 60.")],
)
def test_join_is_refused_outside_the_age_range(
    app: Any, client: Any, campaign: Any, make_user: Any, login: Any, headers: dict[str, str], expected: str
) -> None:
    child = make_user("contributor", birth=CHILD, locale="en" if headers else "ko")
    login(child)
    page = text(client.get(f"/campaigns/{campaign.slug}", headers=headers))
    assert expected in page and f"/me/campaigns/{campaign.slug}/join" not in page  # no Join button
    token = csrf(client, "/me/")
    resp = client.post(f"/me/campaigns/{campaign.slug}/join", data={"csrf_token": token}, headers=headers)
    assert resp.status_code == 409 and expected in text(resp)
    assert client.get(set_url(campaign)).status_code == 302  # not joined: back to the campaign page


def test_join_is_refused_when_the_quota_is_reached(
    app: Any, client: Any, make_campaign: Any, make_user: Any, login: Any
) -> None:
    full = small_campaign(make_campaign, quota=1)
    publish(app, full)
    first, second = make_user("contributor"), make_user("contributor")
    for user in (first, second):
        give_consent(app, user, full)
    login(first)
    client.post(f"/me/campaigns/{full.slug}/join", data={"csrf_token": csrf(client, "/me/")})
    client.post("/logout", data={"csrf_token": csrf(client, "/me/")})
    login(second)
    switch_language(client, "en")
    resp = client.post(f"/me/campaigns/{full.slug}/join", data={"csrf_token": csrf(client, "/me/")})
    assert resp.status_code == 409 and "already has all the contributors it needs" in text(resp)


def test_join_is_refused_when_the_campaign_is_closed(
    app: Any, client: Any, campaign: Any, contributor: Any, clock: Any
) -> None:
    from webapp.services import campaigns

    give_consent(app, contributor, campaign)
    in_app(app, lambda: campaigns().by_slug(campaign.slug).close(clock.now()))
    page = text(client.get(f"/campaigns/{campaign.slug}"))
    assert "이 캠페인은 종료되었습니다." in page and "이 캠페인은 지금 참여를 받지 않습니다." in page
    resp = client.post(f"/me/campaigns/{campaign.slug}/join", data={"csrf_token": csrf(client, "/me/")})
    assert resp.status_code == 409 and "이 캠페인은 지금 참여를 받지 않습니다." in text(resp)


# --- the set page without JavaScript -----------------------------------------------------------------------------


def test_submit_is_refused_while_incomplete_and_says_what_is_missing(client: Any, campaign: Any, joined: Any) -> None:
    token = csrf(client, set_url(campaign))
    ko = client.post(f"/me/campaigns/{campaign.slug}/set/submit", data={"csrf_token": token})
    assert ko.status_code == 409
    assert "세트가 아직 완성되지 않았습니다." in text(ko) and "0–9세: 사진 1장을 더 올려 주세요." in text(ko)
    switch_language(client, "en")
    body = text(client.post(f"/me/campaigns/{campaign.slug}/set/submit", data={"csrf_token": token}))
    assert "The set is not complete yet." in body and "Ages 0–9: add 1 more photo(s)." in body


def test_a_bad_file_is_refused_in_plain_words_and_the_good_one_is_kept(
    app: Any, client: Any, campaign: Any, joined: Any
) -> None:
    switch_language(client, "en")
    resp = upload_form(
        client, campaign, "0-9", (b"%PDF-1.4 not a photo", "scan.pdf"), (face_photo(1), "me.jpg"), age="7"
    )
    assert resp.status_code == 302
    page = text(client.get(set_url(campaign)))
    assert "scan.pdf: This file could not be read as a photo." in page and "Upload a JPEG, PNG, WebP or HEIC" in page
    assert "1 photo(s) uploaded." in page
    (photo,) = photos_of(app, joined)
    assert photo.age_years == 7 and photo.age_source == "contributor"


def test_upload_form_errors_stay_next_to_the_field(client: Any, campaign: Any, joined: Any) -> None:
    resp = upload_form(client, campaign, "0-9", age="300")
    body = text(resp)
    assert resp.status_code == 400
    assert 'id="photos-0-9-err"' in body and 'id="age-0-9-err"' in body
    assert 'value="300"' in body  # what was typed is still there


@pytest.mark.slow
def test_uploads_show_gate_results_and_can_be_removed_replaced_or_sent_to_a_person(
    app: Any, client: Any, campaign: Any, joined: Any
) -> None:
    upload_form(client, campaign, "0-9", (blank_photo(), "wall.jpg"), age="5")
    (failed,) = photos_of(app, joined)
    assert failed.state is PhotoState.FAILED
    page = text(client.get(set_url(campaign)))
    assert "통과하지 못함: 다른 사진으로 바꿔 주세요" in page and "사진에서 얼굴을 찾지 못했습니다." in page
    assert f"/me/photos/{failed.id}/review" in page
    # ask a person to check it: it no longer blocks
    token = csrf(client, set_url(campaign))
    client.post(f"/me/photos/{failed.id}/review", data={"csrf_token": token, "note": "제 어릴 때 사진입니다"})
    (sent,) = photos_of(app, joined)
    assert sent.state is PhotoState.NEEDS_REVIEW and sent.contributor_note == "제 어릴 때 사진입니다"
    assert "사람이 확인합니다" in text(client.get(set_url(campaign)))
    # replace it with a real face photo, then remove that
    resp = client.post(
        f"/me/photos/{failed.id}/replace",
        data={"csrf_token": token, "photo": (io.BytesIO(face_photo(2)), "me.jpg"), "age_years": "6"},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 302
    (new,) = photos_of(app, joined)
    assert new.id != failed.id and new.replaces_id == failed.id and new.state is PhotoState.PASSED
    client.post(f"/me/photos/{new.id}/delete", data={"csrf_token": token})
    assert photos_of(app, joined) == []


@pytest.mark.slow
def test_duplicate_upload_is_refused_with_a_clear_message(client: Any, campaign: Any, joined: Any) -> None:
    data = face_photo(4)
    upload_form(client, campaign, "0-9", (data, "a.jpg"), age="8")
    upload_form(client, campaign, "20-29", (data, "b.jpg"), age="25")
    page = text(client.get(set_url(campaign)))
    assert "b.jpg: 이 사진 또는 거의 같은 사진이 이미 세트에 있습니다 (0–9세)." in page


@pytest.mark.slow
def test_thumbnails_are_for_their_owner_only(
    app: Any, client: Any, campaign: Any, joined: Any, make_user: Any, login: Any
) -> None:
    upload_form(client, campaign, "0-9", (face_photo(5), "me.jpg"), age="8")
    (photo,) = photos_of(app, joined)
    own = client.get(f"/me/photos/{photo.id}/thumb")
    assert own.status_code == 200 and own.mimetype == "image/jpeg" and own.data[:2] == b"\xff\xd8"
    assert "no-store" in own.headers["Cache-Control"]
    client.post("/logout", data={"csrf_token": csrf(client, "/me/")})
    anonymous = client.get(f"/me/photos/{photo.id}/thumb")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    login(make_user("contributor"))
    assert client.get(f"/me/photos/{photo.id}/thumb").status_code == 404
    operator = make_user("operator")
    client.post("/logout", data={"csrf_token": csrf(client, "/me/")})
    login(operator)
    assert client.get(f"/me/photos/{photo.id}/thumb").status_code == 403


# --- after submission ------------------------------------------------------------------------------------------


def _fill_and_submit(app: Any, client: Any, campaign: Any) -> None:
    upload_form(client, campaign, "0-9", (face_photo(11), "kid.jpg"), age="8")
    upload_form(client, campaign, "20-29", (face_photo(12), "adult.jpg"), age="25")
    token = csrf(client, set_url(campaign))
    page = text(client.get(set_url(campaign)))
    assert 'data-role="submit" disabled' not in page  # complete: the button is enabled
    resp = client.post(f"/me/campaigns/{campaign.slug}/set/submit", data={"csrf_token": token})
    assert resp.status_code == 302, text(resp)[:2000]


def _reject_first(app: Any, campaign: Any, user: Any, operator: Any) -> Photo:
    from webapp.services import contributions, review

    def go() -> Photo:
        photo_set = contributions().photo_set(user, campaign)
        photos = sorted(photo_set.photos, key=lambda p: p.bracket)
        review().claim(operator, photo_set)
        verdicts = [PhotoVerdict(photos[0].id, False, RejectReason.SCREEN_OR_PRINT, "화면을 찍은 사진 같습니다")]
        verdicts += [PhotoVerdict(p.id, True) for p in photos[1:]]
        assert review().decide(operator, photo_set, verdicts, campaign) is SetState.CHANGES_REQUESTED
        return photos[0]

    return in_app(app, go)


@pytest.mark.slow
def test_status_after_review_shows_reasons_and_takes_an_appeal(
    app: Any, client: Any, campaign: Any, joined: Any, make_user: Any
) -> None:
    _fill_and_submit(app, client, campaign)
    switch_language(client, "en")
    waiting = text(client.get(set_url(campaign)))
    assert "Waiting for review" in waiting and "You cannot change it while it is being reviewed" in waiting
    assert 'form class="upload' not in waiting  # no upload form while in review
    rejected = _reject_first(app, campaign, joined, make_user("operator"))
    switch_language(client, "ko")
    ko = text(client.get(set_url(campaign)))
    assert "수정 요청" in ko and "화면이나 인쇄된 사진을 다시 찍은 것 같습니다." in ko
    assert "검수자 의견: 화면을 찍은 사진 같습니다" in ko
    switch_language(client, "en")
    en = text(client.get(set_url(campaign)))
    assert "Changes requested" in en and "This looks like a photo of a screen or of a printed picture." in en
    assert f"/me/photos/{rejected.id}/replace" in en
    assert re.search(rf'id="photo-{rejected.id}".*?<details data-action="appeal">', en, re.S)
    token = csrf(client, set_url(campaign))
    resp = client.post(f"/me/photos/{rejected.id}/appeal", data={"csrf_token": token, "note": "원본 사진입니다"})
    assert resp.status_code == 302
    after = text(client.get(set_url(campaign)))
    assert "Your appeal is recorded." in after and "waiting for a decision" in after
    assert re.search(rf'id="photo-{rejected.id}".*?<details data-action="appeal" hidden>', after, re.S)  # once only
    again = client.post(f"/me/photos/{rejected.id}/appeal", data={"csrf_token": token, "note": "다시"})
    assert "can no longer be appealed" in text(client.get(again.headers["Location"]))


# --- voice -----------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_voice_upload_without_javascript_shows_the_result(
    app: Any, client: Any, make_campaign: Any, make_user: Any, login: Any
) -> None:
    campaign = small_campaign(make_campaign, voice_prompts=PROMPTS)
    publish(app, campaign)
    user = make_user("contributor")
    login(user)
    give_consent(app, user, campaign)
    client.post(f"/me/campaigns/{campaign.slug}/join", data={"csrf_token": csrf(client, "/me/")})
    switch_language(client, "en")
    page = text(client.get(set_url(campaign)))
    assert "Today the weather is clear and the wind is cool." in page and 'accept="audio/*"' in page
    token = csrf(client, set_url(campaign))
    resp = client.post(
        f"/me/campaigns/{campaign.slug}/set/voice/p1",
        data={"csrf_token": token, "audio": (io.BytesIO(speech_like_wav()), "take.wav")},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 302
    after = text(client.get(set_url(campaign)))
    assert "Recording uploaded." in after and "/me/voice/" in after
    voice = after[after.index('id="voice-p1"') :]
    state = re.search(r'data-role="state" role="status">([^<]*)<', voice)
    assert state, voice[:2000]
    # the checks ran: a result (pass, fail or a person's check) is shown, not "Checking…"
    assert state.group(1) in ("Passed the checks", "Did not pass: record it again", "A person will check it")


def test_voice_needs_the_voice_consent(app: Any, client: Any, make_campaign: Any, make_user: Any, login: Any) -> None:
    campaign = small_campaign(make_campaign, voice_prompts=PROMPTS)
    publish(app, campaign)
    user = make_user("contributor")
    login(user)
    give_consent(app, user, campaign, {"collection": True, "sensitive": True, "release": False, "voice": False})
    client.post(f"/me/campaigns/{campaign.slug}/join", data={"csrf_token": csrf(client, "/me/")})
    switch_language(client, "en")
    page = text(client.get(set_url(campaign)))
    assert "You have not consented to voice recording in this campaign." in page
    assert f"/me/campaigns/{campaign.slug}/set/voice/p1" not in page


# --- dashboard and export --------------------------------------------------------------------------------------


def test_dashboard_lists_my_campaigns_earnings_and_rights(client: Any, campaign: Any, joined: Any) -> None:
    switch_language(client, "en")
    body = text(client.get("/me/"))
    assert campaign.title_en in body and "Not sent yet" in body and "Continue my photo set" in body
    assert "To be paid" in body and "KRW 0" in body
    assert "/me/consent/" in body and "/me/data" in body


def test_export_downloads_a_zip_and_is_audited(app: Any, client: Any, campaign: Any, joined: Any) -> None:
    from sqlalchemy import select

    from collection.audit.models import AuditEvent
    from webapp.db import get_session

    switch_language(client, "en")
    page = text(client.get("/me/data"))
    assert "Download my data (ZIP)" in page
    resp = client.post("/me/data/export.zip", data={"csrf_token": csrf(client, "/me/data")})
    assert resp.status_code == 200 and resp.mimetype == "application/zip"
    assert "attachment" in resp.headers["Content-Disposition"] and "no-store" in resp.headers["Cache-Control"]
    with zipfile.ZipFile(io.BytesIO(resp.data)) as zf:
        names = zf.namelist()
        assert "index.json" in names and any(n.startswith("consent/") for n in names)
    events = in_app(
        app, lambda: list(get_session().scalars(select(AuditEvent).where(AuditEvent.action == "export.generated")))
    )
    assert [e.actor_id for e in events] == [joined.subject_id]
