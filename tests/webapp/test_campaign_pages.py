"""The operator's campaign pages: create, edit (an open campaign keeps what contributors rely on), open; refusals
in the operator's language."""

from __future__ import annotations

import html
import re
from typing import Any

from tests.conftest import csrf_token


def form_fields(page: str) -> dict[str, str]:
    """The values a browser would send back for the form on `page` (inputs, checked boxes, textareas)."""
    fields: dict[str, str] = {}
    for tag in re.findall(r"<input[^>]*>", page):
        name = re.search(r'name="([^"]+)"', tag)
        if not name or ('type="checkbox"' in tag and "checked" not in tag):
            continue
        value = re.search(r'value="([^"]*)"', tag)
        fields[name.group(1)] = html.unescape(value.group(1)) if value else ("y" if "checkbox" in tag else "")
    for name, body in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', page, re.S):
        fields[name] = html.unescape(body).removeprefix("\r\n").removeprefix("\n")  # as browsers read it
    return fields


def test_an_open_campaign_saved_from_its_own_form_takes_a_new_title(
    client: Any, login: Any, make_user: Any, make_campaign: Any, db_session: Any
) -> None:
    prompts = [{"key": "greeting", "text_ko": "안녕하세요", "text_en": "Hello", "min_seconds": 2, "max_seconds": 20}]
    campaign = make_campaign(photo_rules={}, voice_prompts=prompts)  # stored as the demo stores it, not as the form
    login(make_user("operator"))
    url = f"/operate/campaigns/{campaign.slug}/edit"
    data = form_fields(client.get(url).get_data(as_text=True)) | {"title_en": "Faces, second wave"}
    resp = client.post(url, data=data)
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    db_session.refresh(campaign)
    assert campaign.title_en == "Faces, second wave" and campaign.voice_prompts == prompts


def test_changing_a_fixed_setting_of_an_open_campaign_is_refused_in_korean(
    client: Any, login: Any, make_user: Any, make_campaign: Any, db_session: Any
) -> None:
    campaign = make_campaign()
    login(make_user("operator"))  # Korean is the default language
    url = f"/operate/campaigns/{campaign.slug}/edit"
    data = form_fields(client.get(url).get_data(as_text=True)) | {"max_age": "70"}
    page = client.post(url, data=data, follow_redirects=True).get_data(as_text=True)
    assert "캠페인이 열려 있는 동안에는 바꿀 수 없는 설정입니다:" in page
    assert "these settings are fixed" not in page
    db_session.refresh(campaign)
    assert campaign.max_age == 60


def test_opening_without_a_consent_document_is_refused_in_korean(
    client: Any, login: Any, make_user: Any, make_campaign: Any
) -> None:
    campaign = make_campaign(open_it=False)
    login(make_user("operator"))
    page = client.post(
        f"/operate/campaigns/{campaign.slug}/open",
        data={"csrf_token": csrf_token(client, f"/operate/campaigns/{campaign.slug}")},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "캠페인을 열기 전에 동의서를 게시하세요." in page


def test_a_campaign_is_created_from_the_form_even_with_blank_advanced_rules(
    client: Any, login: Any, make_user: Any, db_session: Any
) -> None:
    from collection.campaigns import Campaign, CampaignStatus

    login(make_user("operator"))
    data = form_fields(client.get("/operate/campaigns/new").get_data(as_text=True)) | {
        "slug": "voices-2026", "title_ko": "목소리 캠페인", "title_en": "Voices", "advanced_rules": "  \r\n ",
        "brackets": "20-29: 5",
    }
    resp = client.post("/operate/campaigns/new", data=data)
    assert resp.status_code == 302, re.findall(r'class="errors?"[^>]*>(.*?)</', resp.get_data(as_text=True), re.S)
    created = db_session.query(Campaign).filter_by(slug="voices-2026").one()
    assert created.status is CampaignStatus.DRAFT and created.brackets[0]["photos"] == 5


def test_a_bracket_older_than_the_youngest_contributor_is_refused(
    client: Any, login: Any, make_user: Any, db_session: Any
) -> None:
    """Accepting 20-year-olds while requiring photos at 30-39 leaves everyone under 30 unable to finish."""
    from collection.campaigns import Campaign

    login(make_user("operator"))
    data = form_fields(client.get("/operate/campaigns/new").get_data(as_text=True)) | {
        "slug": "aging-2026", "title_ko": "나이 변화", "title_en": "Ageing", "advanced_rules": "",
        "brackets": "0-9: 5\n20-29: 5\n30-39: 5", "min_age": "20",
    }
    resp = client.post("/operate/campaigns/new", data=data)
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "30-39 연령대는 캠페인이 받는 가장 어린 나이(20세)보다" in page
    assert db_session.query(Campaign).filter_by(slug="aging-2026").count() == 0
    assert client.post("/operate/campaigns/new", data=data | {"min_age": "30"}).status_code == 302


def test_the_campaign_dashboard_speaks_the_operators_language(
    client: Any, login: Any, make_user: Any, make_campaign: Any, db_session: Any, clock: Any
) -> None:
    from collection.contributions.models import Photo, PhotoSet, PhotoState
    from tests.collection.flow_support import build_env, consent_and_enroll, publish_notice

    campaign = make_campaign()
    env = build_env(db_session, None, clock)
    photo_set: PhotoSet = consent_and_enroll(env, make_user("contributor"), campaign, publish_notice(env, campaign))
    failed = {"gates": [{"name": "face_found", "passed": False, "reason": "no_face"}]}
    db_session.add(Photo(set_id=photo_set.id, campaign_id=campaign.id, user_id=photo_set.user_id, bracket="20-29",
                         version=1, state=PhotoState.FAILED, blob_key="x", content_mac="0" * 64, gates=failed,
                         created_at=clock.now()))
    db_session.commit()
    login(make_user("operator"))  # Korean
    page = client.get(f"/operate/campaigns/{campaign.slug}").get_data(as_text=True)
    assert "모집 중" in page and "<code>face_found/no_face</code>" in page
    assert "사진에서 얼굴을 찾지 못했습니다" in page or "얼굴" in page.split("face_found/no_face")[0][-200:]
    english = ("We could not find a face", "Sets: draft", ">failed 1<", ">open<")
    assert not any(words in page for words in english), [w for w in english if w in page]


def test_the_new_campaign_form_saves_with_its_own_defaults(client: Any, login: Any, make_user: Any) -> None:
    login(make_user("operator"))
    data = form_fields(client.get("/operate/campaigns/new").get_data(as_text=True))
    resp = client.post("/operate/campaigns/new", data=data | {"slug": "defaults-2026", "title_ko": "기본값",
                                                              "title_en": "Defaults"})
    assert resp.status_code == 302, re.findall(r'class="errors?"[^>]*>(.*?)</', resp.get_data(as_text=True), re.S)


def test_campaign_settings_that_cannot_work_are_refused_in_korean_before_saving(
    client: Any, login: Any, make_user: Any, db_session: Any
) -> None:
    from collection.campaigns import Campaign

    login(make_user("operator"))
    base = form_fields(client.get("/operate/campaigns/new").get_data(as_text=True)) | {
        "slug": "odd-2026", "title_ko": "이상한 설정", "title_en": "Odd settings"}
    cases = {
        "brackets=50-59: 1000": ({"brackets": "30-39: 5\n50-59: 1000", "max_age": "70"}, "사진을 1장에서 500장까지"),
        "brackets overlap": ({"brackets": "0-9: 5\n5-15: 5\n30-39: 5"}, "0-9 연령대와 5-15 연령대가 겹칩니다"),
        "bracket backwards": ({"brackets": "40-30: 5"}, "나이는 0세에서 120세까지"),
        "bracket shape": ({"brackets": "0-9: 5\n열 살: 3"}, "2번째 줄"),
        "no bracket": ({"brackets": "  "}, "연령대를 하나 이상"),
        "voice min above max": ({"voice_prompts": "안녕하세요 || Hello", "voice_min_seconds": "30",
                                 "voice_max_seconds": "5"}, "가장 긴 녹음은 가장 짧은 녹음(30초)보다"),
        "rules not JSON": ({"advanced_rules": "{max_yaw_deg: 30}"}, "JSON으로"),
        "unknown rule": ({"advanced_rules": '{"bogus": 1}'}, "“bogus”: 알 수 없는 기준입니다"),
        "rules not an object": ({"advanced_rules": "[1, 2]"}, "JSON 객체 하나로"),
    }
    for name, (change, said) in cases.items():
        page = client.post("/operate/campaigns/new", data=base | change).get_data(as_text=True)
        assert said in html.unescape(page), name
        assert not re.search(r"line \d|overlap|must be|unknown rule|Expecting", page), name
    assert db_session.query(Campaign).filter_by(slug="odd-2026").count() == 0


def test_the_form_says_what_the_server_takes_per_upload(client: Any, login: Any, make_user: Any, app: Any) -> None:
    login(make_user("operator"))
    page = html.unescape(client.get("/operate/campaigns/new").get_data(as_text=True))
    assert f"최대 {app.config['MAX_CONTENT_LENGTH'] // (1024 * 1024)}MB까지 받습니다" in page


def test_a_save_from_a_stale_form_does_not_undo_another_save(
    client: Any, login: Any, make_user: Any, make_campaign: Any, db_session: Any
) -> None:
    campaign = make_campaign(open_it=False)
    login(make_user("operator"))
    url = f"/operate/campaigns/{campaign.slug}/edit"
    tab_a = form_fields(client.get(url).get_data(as_text=True))
    tab_b = form_fields(client.get(url).get_data(as_text=True))
    assert client.post(url, data=tab_a | {"title_en": "Saved in tab A"}).status_code == 302
    stale = client.post(url, data=tab_b | {"quota": "50"})
    said = html.unescape(stale.get_data(as_text=True))
    assert stale.status_code == 409 and "이 양식을 연 뒤에 캠페인이 바뀌어" in said
    db_session.refresh(campaign)
    assert campaign.title_en == "Saved in tab A" and campaign.quota == 0  # nothing from tab B yet
    again = form_fields(stale.get_data(as_text=True))  # what tab B typed is kept, now based on the current settings
    assert again["quota"] == "50" and again["title_en"] == "Saved in tab A"  # and what it did not touch is current
    assert client.post(url, data=again).status_code == 302
    db_session.refresh(campaign)
    assert campaign.title_en == "Saved in tab A" and campaign.quota == 50
    tab_e, tab_f = (form_fields(client.get(url).get_data(as_text=True)) for _ in range(2))
    assert client.post(url, data=tab_e | {"quota": "77", "retention_days": "100"}).status_code == 302
    crlf = {k: v.replace("\n", "\r\n") for k, v in tab_f.items()}  # as browsers send textareas
    merged = form_fields(client.post(url, data=crlf | {"title_en": "Tab F"}).get_data(as_text=True))
    assert (merged["quota"], merged["retention_days"], merged["title_en"]) == ("77", "100", "Tab F")  # numbers too
    assert client.post(url, data=merged).status_code == 302
    db_session.refresh(campaign)
    assert (campaign.quota, campaign.retention_days, campaign.title_en) == (77, 100, "Tab F")
    tab_c, tab_d = (form_fields(client.get(url).get_data(as_text=True)) for _ in range(2))
    assert client.post(url, data=tab_c | {"quota": "20"}).status_code == 302
    both = client.post(url, data=tab_d | {"quota": "30"})  # the same field changed on both sides
    said = html.unescape(both.get_data(as_text=True))
    assert both.status_code == 409 and "다른 저장에서도 바뀌었습니다: 20" in said
    assert form_fields(both.get_data(as_text=True))["quota"] == "30"  # what was typed here stays


def test_a_new_campaign_form_names_every_problem_at_once(
    client: Any, login: Any, make_user: Any, make_campaign: Any
) -> None:
    taken = make_campaign(open_it=False)
    login(make_user("operator"))
    base = form_fields(client.get("/operate/campaigns/new").get_data(as_text=True))
    page = html.unescape(client.post("/operate/campaigns/new", data=base | {
        "slug": taken.slug, "title_ko": "", "title_en": "Clash", "brackets": "40-49: 5", "min_age": "30"}).get_data(
        as_text=True))
    assert "다른 캠페인이 이미 이 짧은 이름을 쓰고 있습니다" in page  # the short name, with the rest, not after it
    assert "40-49 연령대는 캠페인이 받는 가장 어린 나이(30세)보다" in page
    assert 'id="title_ko-err"' in page or "이 항목은 필수입니다" in page
    older = html.unescape(client.post("/operate/campaigns/new", data=base | {
        "slug": "older-2026", "title_ko": "가", "title_en": "A", "brackets": "70-79: 5", "min_age": "30",
        "max_age": "40"}).get_data(as_text=True))
    assert "가장 많은 나이(40세)보다 늦게 시작합니다" in older and "70세로 올리거나" not in older
    bad = html.unescape(client.post("/operate/campaigns/new", data=base | {
        "slug": "Not A Slug", "title_ko": "가", "title_en": "A"}).get_data(as_text=True))
    assert "짧은 이름은 영문 소문자" in bad


def test_an_open_campaign_may_shorten_its_retention_but_not_extend_it(
    client: Any, login: Any, make_user: Any, make_campaign: Any, db_session: Any
) -> None:
    campaign = make_campaign()  # open, 365 days
    login(make_user("operator"))
    url = f"/operate/campaigns/{campaign.slug}/edit"
    longer = client.post(url, data=form_fields(client.get(url).get_data(as_text=True)) | {"retention_days": "1000"},
                         follow_redirects=True)
    assert "보유 기간은 줄이는 것만" in html.unescape(longer.get_data(as_text=True))
    db_session.refresh(campaign)
    assert campaign.retention_days == 365
    shorter = client.post(url, data=form_fields(client.get(url).get_data(as_text=True)) | {"retention_days": "200"})
    assert shorter.status_code == 302
    db_session.refresh(campaign)
    assert campaign.retention_days == 200
