"""Consent documents and records across the operator and compliance sides, through the test client: the compliance
officer reads published versions, each consent event's notice and receipt, and follows up consents operators
flagged; the operator's editor keeps edits across a settings change and when a matter is added, names fields in
words, confirms publishing with the re-consent count, and is closed with its campaign."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from collection.campaigns.notice_template import default_notice
from consent.notice import LocalizedText, Matter, MatterKind
from consent.receipts import verify_receipt
from tests.conftest import csrf_token
from tests.webapp.test_consent_pages import (
    CHILD,
    draft_form,
    draft_form_of,
    give,
    in_app,
    publish,
    receipt_id,
    save_and_publish,
    sign_data,
    text,
)

FOLLOWUP = Matter(
    id="followup",
    kind=MatterKind.CUSTOM,
    summary=LocalizedText(ko="추후 연락", en="Follow-up contact"),
    full_text=LocalizedText(ko="후속 연구 참여를 묻기 위해 연락할 수 있습니다.",
                            en="We may contact you about a follow-up."),
    data_categories=("contact_details",),
)


def _draft_url(campaign: Any) -> str:
    return f"/operate/campaigns/{campaign.slug}/consent/draft"


def _matter_index(app: Any, campaign: Any, matter_id: str) -> int:
    notice = in_app(app, lambda s: s.versions(campaign.id))[-1].notice
    return [m.id for m in notice.matters].index(matter_id)


# --- 1. the compliance officer reads what people were shown ------------------------------------------------------


def test_compliance_reads_published_versions_and_the_diff_but_cannot_draft_or_publish(
    app: Any, client: Any, make_campaign: Any, make_user: Any, login: Any
) -> None:
    campaign = make_campaign()
    publish(app, campaign)
    publish(app, campaign, purpose=LocalizedText(ko="바뀐 목적", en="Changed purpose"))
    login(make_user("operator"))
    client.post(_draft_url(campaign), data=draft_form(client, _draft_url(campaign)) | {"save": "1"})  # a v3 draft
    login(make_user("compliance"))
    base = f"/operate/campaigns/{campaign.slug}/consent"
    document = client.get(base)
    assert document.status_code == 200
    body = text(document)
    assert "/consent/v2" in body and "/consent/v3" not in body  # drafts were never shown to anyone
    assert "/consent/draft" not in body and "새 버전 작성" not in body and "초안 편집" not in body
    version = client.get(f"{base}/v1")
    assert version.status_code == 200 and "/consent/draft" not in text(version)
    diff = client.get(f"{base}/diff?old=1&new=2&lang=ko")
    assert diff.status_code == 200 and "바뀐 목적" in text(diff)
    assert client.get(f"{base}/v3").status_code == 404
    assert client.get(f"{base}/diff?old=2&new=3&lang=ko").status_code == 404
    assert client.get(f"{base}/draft").status_code == 403
    assert client.get(f"{base}/draft/publish").status_code == 403
    review = client.get("/operate/consent/review")
    assert review.status_code == 200 and 'name="approve"' not in text(review)


def test_compliance_sees_which_notice_each_event_was_signed_under_with_its_receipt(
    app: Any, client: Any, make_campaign: Any, make_user: Any, login: Any
) -> None:
    campaign = make_campaign()
    template = default_notice(campaign, "데이터댐", "privacy@datadam.example")
    version = publish(app, campaign, matters=(*template.matters, FOLLOWUP))
    person = make_user("contributor")
    login(person)
    rid = receipt_id(give(client, campaign.slug, answers={"followup": "yes"}))
    login(make_user("compliance"))
    page = client.get(f"/comply/consents/subjects/{person.subject_id}")
    body = text(page)
    assert page.status_code == 200
    assert f"<h2>{campaign.title_ko}</h2>" in body and f"<h2>{campaign.slug}</h2>" not in body
    assert "버전 1" in body and "한국어" in body and version.sha256_ko[:12] in body
    assert "(서명된 값)" in body  # the hash shown is the one inside the signed receipt
    assert f"/operate/campaigns/{campaign.slug}/consent/v1?lang=ko#text-ko" in body
    order = [body.index(name) for name in ("개인정보 수집·이용: 예", "민감정보(생체 특징정보) 처리: 예",
                                             "개인정보 제3자 제공(데이터셋 배포): 아니요", "추후 연락: 예")]
    assert order == sorted(order)  # the document's order, not the ids' alphabetical one
    receipt_url = f"/comply/consents/receipts/{rid}/receipt.json"
    assert receipt_url in body
    receipt = client.get(receipt_url)
    assert receipt.status_code == 200 and receipt.mimetype == "application/json"
    keys = client.get("/.well-known/datadam/consent-keys.json").get_json()
    assert verify_receipt(receipt.data, keys).valid
    shown = client.get(f"/operate/campaigns/{campaign.slug}/consent/v1?lang=ko")
    assert shown.status_code == 200 and 'id="text-ko" open' in text(shown)
    assert client.get("/comply/consents/receipts/nope/receipt.json").status_code == 404


def child_consent(app: Any, client: Any, make_campaign: Any, make_user: Any, login: Any) -> tuple[Any, Any, str]:
    """A child's consent with a guardian's signature (it waits for an operator's review): the campaign, the child,
    the receipt id."""
    campaign = make_campaign(min_age=10)
    publish(app, campaign)
    child = make_user("contributor", birth=CHILD)
    login(child)
    guardian = {"guardian_name": "김보호", "guardian_relationship": "parent", "guardian_signature": "김보호"}
    data = sign_data(client, campaign.slug, collection="yes", sensitive="yes") | guardian | {"signature": "이아이"}
    return campaign, child, receipt_id(client.post(f"/me/campaigns/{campaign.slug}/consent", data=data))


# --- 2. a flagged consent reaches the compliance officer ----------------------------------------------------------


def test_a_flag_raised_by_an_operator_is_listed_for_compliance_and_resolved_with_a_note(
    app: Any, client: Any, make_campaign: Any, make_user: Any, login: Any
) -> None:
    from collection.audit.models import AuditEvent
    from webapp.db import get_session

    campaign, child, rid = child_consent(app, client, make_campaign, make_user, login)
    login(make_user("operator", name="운영자 박"))
    token = csrf_token(client, "/operate/consent/review")
    client.post(f"/operate/consent/review/{rid}", data={"csrf_token": token, "flag": "1", "note": "관계 확인 필요"})
    with app.test_request_context():
        flagged = get_session().query(AuditEvent).filter_by(action="consent.flagged", object_id=rid).all()
        assert len(flagged) == 1 and "관계" not in str(flagged[0].details)  # ids only, never the reason

    login(make_user("compliance"))
    dashboard = text(client.get("/comply/"))
    assert "/comply/consents/flags" in dashboard and "후속 조치를 기다리는 동의: 1건" in dashboard
    flags = text(client.get("/comply/consents/flags"))
    assert "관계 확인 필요" in flags and "운영자 박" in flags and child.subject_id in flags
    assert campaign.title_ko in flags
    subject = f"/comply/consents/subjects/{child.subject_id}"
    assert "관계 확인 필요" in text(client.get(subject))

    resolve = f"/comply/consents/flags/{rid}/resolve"
    blank = client.post(resolve, data={"csrf_token": csrf_token(client, subject), "back": "subject", "note": " "})
    assert blank.status_code == 400 and f'id="note-{rid}-err"' in text(blank)
    assert in_app(app, lambda s: s.record(rid)).review_state.value == "flagged"
    done = client.post(resolve, data={"csrf_token": csrf_token(client, subject), "back": "subject",
                                      "note": "보호자에게 전화로 관계를 확인함"})
    assert done.status_code == 302 and subject in done.headers["Location"]
    record = in_app(app, lambda s: s.record(rid))
    assert record.review_state.value == "resolved" and record.review_note == "관계 확인 필요"
    assert record.resolution_note == "보호자에게 전화로 관계를 확인함"
    with app.test_request_context():
        events = get_session().query(AuditEvent).filter_by(action="consent.flag_resolved", object_id=rid).all()
        assert len(events) == 1 and "보호자" not in str(events[0].details)  # no free text in the audit log
    assert "보호자에게 전화로 관계를 확인함" in text(client.get(subject))
    login(make_user("operator"))  # a resolved flag is not reopened or approved by a direct POST
    token = csrf_token(client, "/operate/consent/review")
    refused = client.post(f"/operate/consent/review/{rid}", data={"csrf_token": token, "approve": "1"},
                          follow_redirects=True)
    assert "아무것도 바꾸지 않았습니다" in text(refused)
    assert in_app(app, lambda s: s.record(rid)).review_state.value == "resolved"
    login(make_user("compliance"))
    assert "처리를 기다리는 확인 요청이 없습니다" in text(client.get("/comply/consents/flags"))
    assert "/comply/consents/flags" in text(client.get("/comply/"))  # the count stays, at 0
    assert "후속 조치를 기다리는 동의" not in text(client.get("/comply/"))


# --- 3 and 5. a settings change keeps the operator's edits; fields are named in words ----------------------------


def test_a_settings_change_updates_only_the_texts_that_state_it_and_keeps_every_edit(
    app: Any, client: Any, make_campaign: Any, make_user: Any, login: Any, db_session: Any
) -> None:
    campaign = make_campaign(retention_days=730)
    login(make_user("operator"))
    url = _draft_url(campaign)
    add = {"csrf_token": csrf_token(client, url), "matter_id": "followup", "summary_ko": "추후 연락",
           "summary_en": "Follow-up contact"}
    assert client.post(f"{url}/matters", data=add).status_code == 302
    i = _matter_index(app, campaign, "followup")
    data = draft_form(client, url)
    missing = client.post(url, data=data | {"publish": "1"})  # the new use has no text or categories yet
    assert missing.status_code == 400
    assert "선택 이용 항목 ‘추후 연락’ — 데이터 범주" in text(missing)
    assert "선택 이용 항목 ‘추후 연락’ — 전문</a> (한국어)" in text(missing)
    assert "matters.followup" not in text(missing)
    data |= {
        "controller__address__ko": "서울특별시 중구 세종대로 1", "controller__address__en": "1 Sejong-daero, Seoul",
        "controller__phone": "02-123-4567",
        f"m{i}__full_text__ko": FOLLOWUP.full_text.ko, f"m{i}__full_text__en": FOLLOWUP.full_text.en,
        f"m{i}__data_categories": "contact_details",
        "purpose__ko": data["purpose__ko"] + " 운영자가 덧붙인 문장.",
        "retention__ko": "저희는 캠페인 종료 후 730일까지 보관합니다.",
    }
    assert save_and_publish(client, url, data).status_code == 302
    campaign.retention_days = 365  # changed while the campaign is open
    db_session.commit()

    page = text(client.get(url))
    assert "설정을 나타내는 문구만 고칩니다" in page and "보유 기간" in page
    assert "보유 및 이용 기간</a> (한국어)" in page and "바뀐 수치만 고쳤습니다" in page
    draft = draft_form_of(client.get(url).get_data(as_text=True))
    assert draft["controller__address__ko"] == "서울특별시 중구 세종대로 1"
    assert draft["controller__phone"] == "02-123-4567"
    assert draft[f"m{i}__full_text__ko"] == FOLLOWUP.full_text.ko
    assert draft[f"m{i}__data_categories"] == "contact_details"
    assert draft["purpose__ko"].endswith(" 운영자가 덧붙인 문장.")
    assert draft["retention__ko"] == "저희는 캠페인 종료 후 365일까지 보관합니다."
    assert "365 days" in draft["retention__en"] and "730" not in draft["retention__en"]
    assert "365일" in draft["m0__full_text__ko"] and "730일" not in draft["m0__full_text__ko"]
    assert save_and_publish(client, url, draft).status_code == 302

    v2 = in_app(app, lambda s: s.current_version(campaign.id))
    assert v2.number == 2 and "followup" in {m.id for m in v2.notice.matters}
    assert v2.notice.controller.phone == "02-123-4567"
    diff = text(client.get(f"/operate/campaigns/{campaign.slug}/consent/diff?old=1&new=2&lang=ko"))
    assert 'class="badge bad"' not in diff  # nothing removed: the optional use and the contacts stayed
    assert "<td>보유 및 이용 기간</td>" in diff and "<td>개인정보 수집·이용 — 전문</td>" in diff
    assert "matters.collection.full_text" not in diff and "<code>retention</code>" not in diff


def test_a_diff_names_contacts_and_the_order_of_matters_in_words(
    app: Any, client: Any, make_campaign: Any, make_user: Any, login: Any
) -> None:
    campaign = make_campaign()
    template = default_notice(campaign, "데이터댐", "privacy@datadam.example")
    publish(app, campaign)
    controller = dataclasses.replace(template.controller, phone="02-000-0000")
    publish(app, campaign, controller=controller, matters=(*template.matters, FOLLOWUP))
    login(make_user("operator"))
    diff = text(client.get(f"/operate/campaigns/{campaign.slug}/consent/diff?old=1&new=2&lang=ko"))
    assert "<td>개인정보처리자 — 전화</td>" in diff and "<td>동의 사항의 순서</td>" in diff
    assert "<td>선택 이용 항목 ‘추후 연락’</td>" in diff
    assert "controller.phone" not in diff and "matters.order" not in diff


# --- 4. adding a matter keeps what was typed ---------------------------------------------------------------------


def test_adding_an_optional_use_saves_what_was_typed_in_the_editor(
    app: Any, client: Any, make_campaign: Any, make_user: Any, login: Any
) -> None:
    campaign = make_campaign()
    login(make_user("operator"))
    url = _draft_url(campaign)
    page = text(client.get(url))
    assert f'formaction="{url}/matters"' in page and f' action="{url}/matters"' not in page  # one form
    fields = {"matter_id": "followup", "summary_ko": "추후 연락", "summary_en": "Follow-up contact", "add_matter": "1"}
    refused = client.post(f"{url}/matters", data=draft_form(client, url) | fields | {
        "title__ko": "운영자가 고친 제목", "matter_id": "Not A Code"})
    assert refused.status_code == 400 and 'id="matter_id-err"' in text(refused)
    assert "운영자가 고친 제목" in text(refused) and "Not A Code" in text(refused)  # nothing typed is lost
    entered = client.post(url, data=draft_form_of(refused.get_data(as_text=True)) | fields | {
        "matter_id": "followup", "save": "1"})  # Enter in a field presses "save", not "add"
    assert entered.status_code == 200 and "아직 추가하지 않았습니다" in text(entered) and "추후 연락" in text(entered)
    added = client.post(f"{url}/matters", data=draft_form_of(entered.get_data(as_text=True)) | fields)
    assert added.status_code == 302 and added.headers["Location"].endswith("#matter-followup")
    notice = in_app(app, lambda s: s.versions(campaign.id))[-1].notice
    assert notice.title.ko == "운영자가 고친 제목" and notice.matter("followup").kind is MatterKind.CUSTOM
    i = _matter_index(app, campaign, "followup")
    removed = client.post(f"{url}/matters/followup/remove",
                          data=draft_form(client, url) | {"title__ko": "다시 고친 제목"})
    assert removed.status_code == 302
    notice = in_app(app, lambda s: s.versions(campaign.id))[-1].notice
    assert notice.title.ko == "다시 고친 제목" and "followup" not in {m.id for m in notice.matters}
    assert i == len(notice.matters)


# --- 6. a campaign-specific use is named to contributors -----------------------------------------------------------


def test_contributors_see_a_campaign_specific_use_by_its_purpose_and_may_refuse_it(
    app: Any, client: Any, make_campaign: Any, make_user: Any, login: Any
) -> None:
    campaign = make_campaign()
    template = default_notice(campaign, "데이터댐", "privacy@datadam.example")
    publish(app, campaign, matters=(*template.matters, FOLLOWUP))
    login(make_user("contributor"))
    page = text(client.get(f"/me/campaigns/{campaign.slug}/consent"))
    assert "동의 사항 4: 추후 연락 (선택)" in page and "기타 선택 이용" not in page
    assert "다음 선택 이용에 대한 동의도 각각 거부할 수 있습니다: ‘추후 연락’." in page


def test_a_campaign_specific_use_has_one_short_name_on_the_document_and_on_staff_pages(
    app: Any, client: Any, make_campaign: Any, make_user: Any, login: Any
) -> None:
    campaign = make_campaign()
    template = default_notice(campaign, "데이터댐", "privacy@datadam.example")
    mail = dataclasses.replace(FOLLOWUP, id="mail", summary=LocalizedText(
        ko="캠페인 소식을 이메일로 보내 드립니다.\n원하지 않으면 언제든 그만 받을 수 있습니다.",
        en="We send campaign news by email.\nYou may stop them at any time."))
    publish(app, campaign, matters=(*template.matters, mail))
    contributor = make_user("contributor")
    login(contributor)
    page = text(client.get(f"/me/campaigns/{campaign.slug}/consent"))
    assert "동의 사항 4: 캠페인 소식을 이메일로 보내 드립니다 (선택)" in page
    assert "거부할 수 있습니다: ‘캠페인 소식을 이메일로 보내 드립니다’." in page
    data = sign_data(client, campaign.slug, collection="yes", sensitive="yes", mail="yes")
    assert client.post(f"/me/campaigns/{campaign.slug}/consent", data=data).status_code == 302
    login(make_user("compliance"))
    subject = text(client.get(f"/comply/consents/subjects/{contributor.subject_id}"))
    assert "캠페인 소식을 이메일로 보내 드립니다" in subject and "원하지 않으면" not in subject


# --- 7. publishing is confirmed; a closed campaign's document is final ----------------------------------------


def test_publishing_asks_for_confirmation_saying_how_many_must_consent_again(
    app: Any, client: Any, make_campaign: Any, make_user: Any, login: Any
) -> None:
    campaign = make_campaign()
    publish(app, campaign)
    login(make_user("contributor"))
    give(client, campaign.slug)
    login(make_user("operator"))
    url = _draft_url(campaign)
    asked = client.post(url, data=draft_form(client, url) | {"purpose__ko": "바뀐 목적", "publish": "1"})
    assert asked.status_code == 302 and asked.headers["Location"].endswith("/consent/draft/publish")
    assert [v.state.value for v in in_app(app, lambda s: s.versions(campaign.id))] == ["published", "draft"]
    confirm = text(client.get(asked.headers["Location"]))
    assert "업로드하기 전에 다시 동의해야 하는 참여자: 1명" in confirm and "게시하고 다시 동의 요청" in confirm
    stale = client.post(asked.headers["Location"], data={"csrf_token": csrf_token(client, url), "digest": "0" * 32})
    assert stale.status_code == 302 and in_app(app, lambda s: s.current_version(campaign.id)).number == 1
    digest = re.search(r'name="digest"[^>]*value="([0-9a-f]+)"', confirm)
    assert digest
    done = client.post(asked.headers["Location"], data={"csrf_token": csrf_token(client, url),
                                                       "digest": digest.group(1)})
    assert done.status_code == 302 and done.headers["Location"].endswith("/consent/v2")
    assert in_app(app, lambda s: s.current_version(campaign.id)).number == 2


def test_confirming_a_publication_after_the_settings_changed_sends_the_operator_back_to_the_editor(
    app: Any, client: Any, make_campaign: Any, make_user: Any, login: Any, db_session: Any
) -> None:
    """The confirmation page was shown for a draft written for other settings: confirming it would publish a notice
    stating the old figures, recorded as written for them. Nothing is published; the editor redrafts it."""
    from collection.campaigns.notice_template import notice_facts

    campaign = make_campaign(open_it=False, payment_krw=400_000)
    login(make_user("operator"))
    url = _draft_url(campaign)
    asked = client.post(url, data=draft_form(client, url) | {"publish": "1"})
    assert asked.status_code == 302 and asked.headers["Location"].endswith("/consent/draft/publish")
    confirm = text(client.get(asked.headers["Location"]))
    digest = re.search(r'name="digest"[^>]*value="([0-9a-f]+)"', confirm)
    assert digest
    campaign.payment_krw = 500_000  # changed in another tab while the confirmation page was open
    db_session.commit()
    done = client.post(asked.headers["Location"], data={"csrf_token": csrf_token(client, url),
                                                       "digest": digest.group(1)})
    assert done.status_code == 302 and done.headers["Location"].endswith("/consent/draft")
    assert in_app(app, lambda s: s.current_version(campaign.id)) is None
    editor = text(client.get(done.headers["Location"]))
    assert "게시하지 않았습니다" in editor and "바뀐 설정: 참여 대가" in editor and "500,000원" in editor
    saved = client.post(url, data=draft_form(client, url) | {"publish": "1"})
    assert saved.status_code == 302
    confirm = text(client.get(saved.headers["Location"]))
    digest = re.search(r'name="digest"[^>]*value="([0-9a-f]+)"', confirm)
    assert digest
    client.post(saved.headers["Location"], data={"csrf_token": csrf_token(client, url), "digest": digest.group(1)})
    published = in_app(app, lambda s: s.current_version(campaign.id))
    assert published is not None and published.written_for == notice_facts(campaign)


def test_the_campaign_service_refuses_drafting_or_publishing_a_closed_campaigns_document(
    app: Any, make_campaign: Any, make_user: Any, db_session: Any, clock: Any
) -> None:
    import pytest

    from collection.errors import InvalidTransition
    from webapp.services import campaigns, consent

    campaign = make_campaign()
    publish(app, campaign)
    operator = make_user("operator")
    with app.test_request_context():
        service = consent()
        draft = campaigns().draft_notice(campaign, service, service.current_version(campaign.id).notice)
        campaign.close(clock.now())
        with pytest.raises(InvalidTransition) as refused:
            campaigns().draft_notice(campaign, service, draft.notice)
        assert refused.value.detail["reason"] == "closed"
        with pytest.raises(InvalidTransition) as refused:
            campaigns().publish_notice(operator, campaign, service, draft)
        assert refused.value.detail["reason"] == "closed" and not draft.published


def test_a_closed_campaigns_consent_document_can_no_longer_be_drafted_or_published(
    app: Any, client: Any, make_campaign: Any, make_user: Any, login: Any, db_session: Any, clock: Any
) -> None:
    campaign = make_campaign()
    publish(app, campaign)
    login(make_user("operator"))
    url = _draft_url(campaign)
    typed = draft_form(client, url) | {"purpose__ko": "닫힌 뒤에 고친 목적"}
    token = typed["csrf_token"]
    assert client.post(url, data=typed | {"save": "1"}).status_code == 302  # a v2 draft, saved while open
    campaign.close(clock.now())
    db_session.commit()

    document = text(client.get(f"/operate/campaigns/{campaign.slug}/consent"))
    assert "종료된 캠페인이므로" in document and "초안 편집" not in document and f'href="{url}"' not in document
    opened = client.get(url)
    assert opened.status_code == 302
    assert opened.headers["Location"].endswith(f"/operate/campaigns/{campaign.slug}/consent")
    refused = client.post(url, data=typed | {"publish": "1"})
    assert refused.status_code == 409 and "종료된 캠페인이므로" in text(refused)
    assert "닫힌 뒤에 고친 목적" in text(refused) and 'name="publish"' not in text(refused)
    confirm = client.post(f"{url}/publish", data={"csrf_token": token, "digest": "0" * 32})
    assert confirm.status_code == 302
    added = client.post(f"{url}/matters", data=typed | {"matter_id": "x", "summary_ko": "x", "summary_en": "x"})
    assert added.status_code == 409
    versions = in_app(app, lambda s: s.versions(campaign.id))
    assert [v.state.value for v in versions] == ["published", "draft"] and len(versions[1].notice.matters) == 3


def test_approving_a_pending_consent_is_audited_by_ids(
    app: Any, client: Any, make_campaign: Any, make_user: Any, login: Any
) -> None:
    from collection.audit.models import AuditEvent
    from webapp.db import get_session

    campaign, child, rid = child_consent(app, client, make_campaign, make_user, login)
    operator = make_user("operator")
    login(operator)
    token = csrf_token(client, "/operate/consent/review")
    done = client.post(f"/operate/consent/review/{rid}", data={"csrf_token": token, "approve": "1"})
    assert done.status_code == 302
    assert in_app(app, lambda s: s.record(rid)).review_state.value == "approved"
    with app.test_request_context():
        events = get_session().query(AuditEvent).filter_by(action="consent.approved", object_id=rid).all()
        assert len(events) == 1 and events[0].actor_id == operator.id
        assert events[0].details == {"campaign_id": campaign.id}
