"""The consent pages through the test client, in Korean (the default) and English: signing, the under-14
guardian flow, receipts (download, offline verification, printing), withdrawal and its step count, re-consent,
the operator's document editor (publish refusal, versions, diff, re-consent count), the review queue, and
the public key document and verify page."""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import re
from typing import Any

import pytest

from collection.campaigns.notice_template import default_notice
from consent.notice import LocalizedText, MatterKind
from consent.receipts import name_matches_commitment, verify_receipt
from tests.conftest import csrf_token

ADULT = dt.date(1995, 3, 4)  # 31 on the test clock (2026-11-21)
CHILD = dt.date(2015, 6, 1)  # 11
EN = {"Accept-Language": "en"}


# --- helpers -------------------------------------------------------------------------------------------------


def publish(app: Any, campaign: Any, **changes: Any) -> Any:
    """Publish a (possibly changed) default notice for `campaign` through the app's own services."""
    from webapp.db import get_session
    from webapp.services import consent

    with app.test_request_context():
        service = consent()
        notice = dataclasses.replace(default_notice(campaign, "데이터댐", "privacy@datadam.example"), **changes)
        version = service.publish(service.draft(campaign.id, notice), by=None)
        get_session().commit()
        return version


def in_app(app: Any, fn: Any) -> Any:
    from webapp.db import get_session
    from webapp.services import consent

    with app.test_request_context():
        result = fn(consent())
        get_session().commit()
        return result


def sign_data(client: Any, slug: str, version: int = 1, language: str = "ko", **answers: str) -> dict[str, str]:
    data = {"csrf_token": csrf_token(client, f"/me/campaigns/{slug}/consent"), "version": str(version)}
    data |= {"language": language, "signature": "김민지"}
    data |= {f"matter-{k}": v for k, v in answers.items()}
    return data


def give(client: Any, slug: str, **over: Any) -> Any:
    answers = {"collection": "yes", "sensitive": "yes"} | over.pop("answers", {})
    data = sign_data(client, slug, **over, **answers)
    return client.post(f"/me/campaigns/{slug}/consent", data=data)


def text(resp: Any) -> str:
    return html.unescape(resp.get_data(as_text=True))


def receipt_id(resp: Any) -> str:
    match = re.search(r"/me/consent/receipts/([0-9a-f-]+)$", resp.headers["Location"])
    assert match, resp.headers.get("Location")
    return match.group(1)


class StepCounter:
    """Counts what a person does: each page load and each form post (redirects a browser follows alone are
    not counted, on either side)."""

    def __init__(self, client: Any) -> None:
        self.client, self.steps = client, 0

    def get(self, url: str, **kw: Any) -> Any:
        self.steps += 1
        return self.client.get(url, **kw)

    def post(self, url: str, **kw: Any) -> Any:
        self.steps += 1
        return self.client.post(url, **kw)


@pytest.fixture()
def campaign(make_campaign: Any) -> Any:
    return make_campaign()


@pytest.fixture()
def contributor(make_user: Any, login: Any) -> Any:
    user = make_user("contributor", birth=ADULT)
    login(user)
    return user


# --- signing ---------------------------------------------------------------------------------------------------


def test_signing_in_korean_shows_a_layered_notice_and_issues_a_verifiable_receipt(
    app: Any, client: Any, campaign: Any, contributor: Any
) -> None:
    version = publish(app, campaign)
    page = client.get(f"/me/campaigns/{campaign.slug}/consent")
    body = text(page)
    assert page.status_code == 200
    assert "개인정보 수집·이용 및 제공 동의서" in body and "동의 사항 1: 개인정보 수집·이용 (필수)" in body
    assert "동의 사항 3: 개인정보 제3자 제공 (선택)" in body and "전체 내용 보기" in body
    assert body.count("<details") >= 3  # the full text of each matter is one click away
    assert " checked" not in body  # nothing is pre-selected, optional matters start unticked
    resp = give(client, campaign.slug)  # the optional release is left unanswered: declined
    assert resp.status_code == 302
    rid = receipt_id(resp)
    record = in_app(app, lambda s: s.record(rid))
    assert record.decisions == {"collection": True, "sensitive": True, "release": False}
    assert record.language == "ko" and record.event == "given"
    keys = client.get("/.well-known/datadam/consent-keys.json").get_json()
    check = verify_receipt(record.receipt_bytes, keys, now=dt.datetime(2026, 11, 21, 9, 1, tzinfo=dt.UTC))
    assert check.valid and check.facts is not None
    assert check.facts.notice_sha256 == version.sha256_ko  # the hash of exactly what was shown, in Korean
    receipt_page = text(client.get(f"/me/consent/receipts/{rid}"))
    assert "동의 영수증" in receipt_page and "유효" in receipt_page and "김민지" not in receipt_page


def test_signing_in_english(app: Any, client: Any, campaign: Any, make_user: Any, login: Any) -> None:
    version = publish(app, campaign)
    login(make_user("contributor", birth=ADULT, locale="en"))
    body = text(client.get(f"/me/campaigns/{campaign.slug}/consent"))
    assert "Consent 1: Collection and use of personal information (required)" in body
    assert "Read the full text" in body and "I do not agree" in body
    resp = give(client, campaign.slug, language="en", answers={"release": "yes"})
    assert resp.status_code == 302
    record = in_app(app, lambda s: s.record(receipt_id(resp)))
    assert record.language == "en" and record.decisions["release"] is True
    check = in_app(app, lambda s: s.verify(record.receipt_bytes))
    assert check.valid and check.facts.notice_sha256 == version.sha256_en
    page = text(client.get(resp.headers["Location"]))
    assert "Consent receipt" in page and "Your choices after this event" in page
    assert f'href="/me/campaigns/{campaign.slug}/set"' in page and "Go to my photo set" in page  # on to the uploads
    assert client.get(f"/me/campaigns/{campaign.slug}/set").status_code == 200  # signing joined the campaign


def test_a_declined_required_matter_is_explained_next_to_it_and_nothing_typed_is_lost(
    app: Any, client: Any, campaign: Any, contributor: Any
) -> None:
    publish(app, campaign)
    resp = give(client, campaign.slug, answers={"sensitive": "no", "release": "yes"})
    body = text(resp)
    assert resp.status_code == 400
    assert 'id="matter-sensitive-err"' in body and "참여하려면 이 동의가 필요합니다" in body
    summary = resp.get_data(as_text=True).split('class="flash error error-summary"', 1)[1].split("</div>", 1)[0]
    assert "확인이 필요한 항목이 있습니다" in summary and 'href="#matter-sensitive"' in summary  # at the top
    assert "민감정보" in summary and "Matter" not in summary  # named as on the page
    assert 'value="김민지"' in body
    assert re.search(r'value="yes"[^>]*checked|checked[^>]*value="yes"', body)  # the answers stay ticked
    assert in_app(app, lambda s: s.count_records()) == 0



def test_an_empty_form_names_every_problem_at_once(app: Any, client: Any, campaign: Any, contributor: Any) -> None:
    publish(app, campaign)
    data = sign_data(client, campaign.slug) | {"signature": ""}
    resp = client.post(f"/me/campaigns/{campaign.slug}/consent", data=data)
    body = text(resp)
    assert resp.status_code == 400
    for field in ("signature", "matter-collection", "matter-sensitive"):
        assert f'id="{field}-err"' in body, field  # all at once, not one layer per submit
    assert 'id="matter-release-err"' not in body and "올바르지 않은 선택값" not in body
    assert body.count("참여하려면 이 동의가 필요합니다") == 4  # next to each matter and in the summary at the top


def test_declining_an_optional_matter_never_blocks(app: Any, client: Any, campaign: Any, contributor: Any) -> None:
    publish(app, campaign)
    resp = give(client, campaign.slug, answers={"release": "no"})
    assert resp.status_code == 302
    kinds = in_app(app, lambda s: s.active_kinds(contributor.subject_id, campaign.id))
    assert kinds == {MatterKind.COLLECTION_AND_USE, MatterKind.SENSITIVE_INFORMATION}



def test_an_optional_use_declined_or_withdrawn_can_be_agreed_to_later(
    app: Any, client: Any, campaign: Any, contributor: Any
) -> None:
    publish(app, campaign)
    give(client, campaign.slug, answers={"release": "no"})
    status = text(client.get(f"/me/campaigns/{campaign.slug}/consent"))
    assert "동의하지 않은 선택 항목" in status and "더 많은 이용에 동의하기" in status
    page = client.get(f"/me/campaigns/{campaign.slug}/consent?change=optional").get_data(as_text=True)
    assert 'name="signature"' in page  # the form, with the present choices filled in
    assert "더 많은 이용에 동의하는 중입니다" in page and 'href="#choices"' in page  # said at the top, a way down
    assert re.search(r'<input[^>]*checked[^>]*id="matter-collection-0"', page)
    assert re.search(r'<input[^>]*checked[^>]*id="matter-release-1"', page)
    resp = client.post(f"/me/campaigns/{campaign.slug}/consent",
                       data=sign_data(client, campaign.slug, collection="yes", sensitive="yes", release="yes"))
    assert resp.status_code == 302
    record = in_app(app, lambda s: s.record(receipt_id(resp)))
    assert record.event == "reconsented" and record.decisions["release"] is True
    kinds = in_app(app, lambda s: s.active_kinds(contributor.subject_id, campaign.id))
    assert MatterKind.THIRD_PARTY_PROVISION in kinds
    after = text(client.get(f"/me/campaigns/{campaign.slug}/consent"))
    assert "더 많은 이용에 동의하기" not in after  # everything is agreed to: nothing more to offer
    plain = client.get(f"/me/campaigns/{campaign.slug}/consent?change=optional").get_data(as_text=True)
    assert 'name="signature"' not in plain


def test_agreeing_to_more_uses_never_withdraws_one_in_force(
    app: Any, client: Any, make_campaign: Any, contributor: Any
) -> None:
    prompts = [{"key": "p1", "text_ko": "안녕하세요", "text_en": "Hello", "min_seconds": 2, "max_seconds": 15}]
    campaign = make_campaign(voice_prompts=prompts)
    publish(app, campaign)
    give(client, campaign.slug, answers={"release": "yes", "voice": "no"})
    data = sign_data(client, campaign.slug, collection="yes", sensitive="yes", release="no", voice="yes")
    resp = client.post(f"/me/campaigns/{campaign.slug}/consent?change=optional", data=data)
    assert resp.status_code == 400 and 'id="matter-release-err"' in text(resp) and "철회" in text(resp)
    kinds = in_app(app, lambda s: s.active_kinds(contributor.subject_id, campaign.id))
    assert MatterKind.THIRD_PARTY_PROVISION in kinds and MatterKind.VOICE_RECORDING not in kinds  # nothing changed
    required_no = sign_data(client, campaign.slug, collection="no", sensitive="yes", release="yes", voice="yes")
    said = text(client.post(f"/me/campaigns/{campaign.slug}/consent?change=optional", data=required_no))
    assert "이미 동의한 항목입니다" in said and "참여하려면 이 동의가 필요합니다" not in said  # already taking part
    both = sign_data(client, campaign.slug, collection="yes", sensitive="yes", release="yes", voice="yes")
    assert client.post(f"/me/campaigns/{campaign.slug}/consent?change=optional", data=both).status_code == 302
    stale = sign_data(client, campaign.slug, collection="yes", sensitive="yes", release="no", voice="yes")
    page = client.post(f"/me/campaigns/{campaign.slug}/consent?change=optional", data=stale, follow_redirects=True)
    assert "이미 모든 이용에 동의하셨으므로" in text(page)  # a form from another tab is not dropped silently
    token = csrf_token(client, "/me/consent/")
    client.post(f"/me/campaigns/{campaign.slug}/consent/withdraw",
                data={"csrf_token": token, "withdraw_all": "1", "confirm_erasure": "y"})
    before = in_app(app, lambda s: len(s.records(contributor.subject_id, campaign.id)))
    late = client.post(f"/me/campaigns/{campaign.slug}/consent?change=optional", data=both, follow_redirects=True)
    assert "동의가 바뀌었습니다" in text(late)  # a stale "more uses" form does not take part anew after a withdrawal
    assert in_app(app, lambda s: len(s.records(contributor.subject_id, campaign.id))) == before


def test_a_missing_signature_is_refused_next_to_the_field(
    app: Any, client: Any, campaign: Any, contributor: Any
) -> None:
    publish(app, campaign)
    data = sign_data(client, campaign.slug, collection="yes", sensitive="yes") | {"signature": "  "}
    resp = client.post(f"/me/campaigns/{campaign.slug}/consent", data=data)
    assert resp.status_code == 400 and 'id="signature-err"' in text(resp)


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_under_14_needs_the_legal_representative(
    app: Any, client: Any, make_campaign: Any, make_user: Any, login: Any, db_session: Any, lang: str
) -> None:
    from consent.models import SignatureName

    campaign = make_campaign(min_age=10)
    publish(app, campaign)
    child = make_user("contributor", birth=CHILD, locale=lang)
    login(child)
    page = text(client.get(f"/me/campaigns/{campaign.slug}/consent"))
    assert ("법정대리인" if lang == "ko" else "Legal representative") in page
    alone = give(client, campaign.slug, language=lang)
    body = text(alone)
    assert alone.status_code == 400
    for name in ("guardian_name", "guardian_relationship", "guardian_signature"):
        assert f'id="{name}-err"' in body
    guardian = {"guardian_name": "김보호", "guardian_relationship": "parent", "guardian_signature": "김보호"}
    mismatch = client.post(
        f"/me/campaigns/{campaign.slug}/consent",
        data=sign_data(client, campaign.slug, language=lang, collection="yes", sensitive="yes")
        | guardian
        | {"guardian_signature": "다른 이름"},
    )
    assert mismatch.status_code == 400 and 'id="guardian_signature-err"' in text(mismatch)
    resp = client.post(
        f"/me/campaigns/{campaign.slug}/consent",
        data=sign_data(client, campaign.slug, language=lang, collection="yes", sensitive="yes") | guardian,
    )
    assert resp.status_code == 302
    record = in_app(app, lambda s: s.record(receipt_id(resp)))
    assert record.under_14 and record.guardian_relationship == "parent" and record.review_state.value == "pending"
    assert "김보호" not in record.receipt
    check = in_app(app, lambda s: s.verify(record.receipt_bytes))
    assert check.valid and check.facts.under_14
    stored = db_session.query(SignatureName).filter_by(record_id=record.id, role="guardian").one()
    guardian_commitment = check.receipt["record"]["parties"]["guardian"]["nameCommitment"]
    assert name_matches_commitment(stored.name, bytes.fromhex(stored.salt), guardian_commitment)
    receipt_page = text(client.get(f"/me/consent/receipts/{record.id}"))
    assert ("부모" if lang == "ko" else "parent") in receipt_page


def test_eligibility_messages(app: Any, client: Any, make_campaign: Any, make_user: Any, login: Any) -> None:
    adults = make_campaign(min_age=40, max_age=60)
    publish(app, adults)
    login(make_user("contributor", birth=ADULT))
    resp = client.get(f"/me/campaigns/{adults.slug}/consent")
    assert (
        resp.status_code == 200
        and "40세부터 60세까지" in text(resp)
        and '<form method="post" class="form consent' not in text(resp)
    )
    home = client.get("/").get_data(as_text=True)  # the list says so before anyone clicks through
    card = home.split(f'/campaigns/{adults.slug}"', 1)[1].split("</li>", 1)[0]
    assert "나이가 맞지 않음" in card
    closed = make_campaign(open_it=False)
    publish(app, closed)
    assert "열려 있지 않아" in text(client.get(f"/me/campaigns/{closed.slug}/consent"))
    unpublished = make_campaign()
    assert "아직 게시되지 않았습니다" in text(client.get(f"/me/campaigns/{unpublished.slug}/consent"))
    assert client.get("/me/campaigns/no-such-campaign/consent").status_code == 404


# --- receipts --------------------------------------------------------------------------------------------------


def test_receipt_download_is_the_signed_file_and_verifies_offline_with_the_published_keys(
    app: Any, client: Any, campaign: Any, contributor: Any, tmp_path: Any
) -> None:
    publish(app, campaign)
    rid = receipt_id(give(client, campaign.slug))
    download = client.get(f"/me/consent/receipts/{rid}/receipt.json")
    assert download.status_code == 200 and download.mimetype == "application/json"
    assert download.headers["Content-Disposition"] == f'attachment; filename="consent-receipt-{rid}.json"'
    assert download.data == in_app(app, lambda s: s.record(rid)).receipt_bytes  # verbatim
    keys_resp = client.get("/.well-known/datadam/consent-keys.json")
    assert keys_resp.mimetype == "application/json" and keys_resp.headers["Access-Control-Allow-Origin"] == "*"
    (tmp_path / "keys.json").write_bytes(keys_resp.data)
    (tmp_path / "receipt.json").write_bytes(download.data)
    # offline: only the two files, no app, no database
    check = verify_receipt((tmp_path / "receipt.json").read_bytes(), (tmp_path / "keys.json").read_bytes())
    assert check.valid, check.reason
    key = keys_resp.get_json()["keys"][0]
    assert key["purpose"] == "consent" and key["validFrom"] and key["validUntil"] is None


def test_receipts_list_and_printable_page(app: Any, client: Any, campaign: Any, make_user: Any, login: Any) -> None:
    publish(app, campaign)
    login(make_user("contributor", birth=ADULT, locale="en"))
    rid = receipt_id(give(client, campaign.slug, language="en"))
    listing = text(client.get("/me/consent/"))
    assert campaign.title_en in listing and f"/me/consent/receipts/{rid}/receipt.json" in listing
    page = text(client.get(f"/me/consent/receipts/{rid}"))
    assert "data-print" in page and "js/consent.js" in page and "<script>" not in page  # CSP: no inline script
    assert "onclick" not in page


def test_someone_elses_receipt_does_not_exist(app: Any, client: Any, campaign: Any, make_user: Any, login: Any) -> None:
    publish(app, campaign)
    login(make_user("contributor", birth=ADULT))
    rid = receipt_id(give(client, campaign.slug))
    client.post("/logout", data={"csrf_token": csrf_token(client, "/me/consent/")})
    login(make_user("contributor", birth=ADULT))
    assert client.get(f"/me/consent/receipts/{rid}").status_code == 404
    assert client.get(f"/me/consent/receipts/{rid}/receipt.json").status_code == 404


# --- withdrawing -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_withdrawing_all_takes_no_more_steps_than_giving(
    app: Any, client: Any, campaign: Any, make_user: Any, login: Any, db_session: Any, lang: str
) -> None:
    from collection.audit.models import AuditEvent

    publish(app, campaign)
    user = make_user("contributor", birth=ADULT, locale=lang)
    login(user)
    giving = StepCounter(client)
    giving.get(f"/me/campaigns/{campaign.slug}/consent")
    given = giving.post(
        f"/me/campaigns/{campaign.slug}/consent",
        data=sign_data(client, campaign.slug, language=lang, collection="yes", sensitive="yes", release="yes"),
    )
    assert given.status_code == 302
    assert in_app(app, lambda s: s.may_upload(user.subject_id, campaign.id))

    withdrawing = StepCounter(client)
    page = withdrawing.get("/me/consent/")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    resp = withdrawing.post(
        f"/me/campaigns/{campaign.slug}/consent/withdraw",
        data={"csrf_token": token, "withdraw_all": "1", "confirm_erasure": "y"},
    )
    assert resp.status_code == 302
    assert withdrawing.steps <= giving.steps == 2
    assert in_app(app, lambda s: s.active_kinds(user.subject_id, campaign.id)) == set()
    assert not in_app(app, lambda s: s.may_upload(user.subject_id, campaign.id))
    record = in_app(app, lambda s: s.record(receipt_id(resp)))
    assert record.event == "withdrawn" and record.withdraws_record_id == receipt_id(given)
    assert in_app(app, lambda s: s.verify(record.receipt_bytes)).valid
    event = db_session.query(AuditEvent).filter_by(action="consent.withdrawn", object_id=record.id).one()
    assert event.details["erasure_due"] is True and event.actor_id == user.subject_id
    flash = text(client.get(resp.headers["Location"]))
    assert ("사진을 지금 삭제했습니다" if lang == "ko" else "your photos in this campaign were erased") in flash


def test_a_withdrawal_that_erases_needs_its_box_ticked(app: Any, client: Any, campaign: Any, contributor: Any) -> None:
    """One tap on "withdraw all" must not erase a whole photo set by accident: without the tick nothing changes
    and the page says why at the top; withdrawing only an optional consent needs no tick."""
    publish(app, campaign)
    give(client, campaign.slug, answers={"release": "yes"})
    page = client.get("/me/consent/")
    assert 'name="confirm_erasure"' in page.get_data(as_text=True)
    assert "이 캠페인의 내 사진이 곧바로 삭제되며" in text(page) and "녹음" not in text(page)  # a photo-only campaign
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    refused = client.post(f"/me/campaigns/{campaign.slug}/consent/withdraw",
                          data={"csrf_token": token, "withdraw_all": "1"})
    assert refused.status_code == 400
    body = text(refused)
    assert body.count("확인란을 선택해") == 2  # at the top of the page (a phone shows it) and at the box
    assert "녹음" not in body  # a photo-only campaign
    assert in_app(app, lambda s: s.holds_required(contributor.subject_id, campaign.id))
    required = client.post(f"/me/campaigns/{campaign.slug}/consent/withdraw",
                           data={"csrf_token": token, "withdraw_selected": "1", "matters": ["collection"]})
    assert required.status_code == 400 and in_app(app, lambda s: s.holds_required(contributor.subject_id, campaign.id))
    optional = client.post(f"/me/campaigns/{campaign.slug}/consent/withdraw",
                           data={"csrf_token": token, "withdraw_selected": "1", "matters": ["release"]})
    assert optional.status_code == 302
    assert in_app(app, lambda s: s.holds_required(contributor.subject_id, campaign.id))


def test_withdrawing_one_matter_keeps_the_rest(app: Any, client: Any, campaign: Any, contributor: Any) -> None:
    publish(app, campaign)
    give(client, campaign.slug, answers={"release": "yes"})
    page = client.get(f"/me/campaigns/{campaign.slug}/consent")  # the campaign page offers withdrawal too
    body = text(page)
    assert "동의가 유효합니다" in body and 'value="release"' in body
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    nothing = client.post(
        f"/me/campaigns/{campaign.slug}/consent/withdraw",
        data={"csrf_token": token, "withdraw_selected": "1", "back": "campaign"},
    )
    assert nothing.status_code == 400 and "하나 이상 선택" in text(nothing)
    resp = client.post(
        f"/me/campaigns/{campaign.slug}/consent/withdraw",
        data={"csrf_token": token, "withdraw_selected": "1", "matters": ["release"], "back": "campaign"},
    )
    assert resp.status_code == 302
    kinds = in_app(app, lambda s: s.active_kinds(contributor.subject_id, campaign.id))
    assert MatterKind.THIRD_PARTY_PROVISION not in kinds  # excluded from every future release
    assert in_app(app, lambda s: s.may_upload(contributor.subject_id, campaign.id))
    latest = in_app(app, lambda s: s.latest_record(contributor.subject_id, campaign.id))
    receipt = text(client.get(f"/me/consent/receipts/{latest.id}"))
    assert "일부 철회를 기록함. 나머지 동의는 유효합니다" in receipt  # the remaining consents are shown in force


# --- re-consent ------------------------------------------------------------------------------------------------


def test_a_new_version_asks_for_reconsent_before_uploads(
    app: Any, client: Any, campaign: Any, contributor: Any
) -> None:
    v1 = publish(app, campaign)
    give(client, campaign.slug)
    joined = client.post(f"/me/campaigns/{campaign.slug}/join", data={"csrf_token": csrf_token(client, "/")})
    assert joined.status_code == 302 and joined.headers["Location"].endswith("/set")
    assert "동의서가 변경되었습니다" not in text(client.get(f"/me/campaigns/{campaign.slug}/set"))
    notice = v1.notice
    publish(app, campaign, purpose=LocalizedText(ko="새로운 목적", en="A new purpose"), matters=notice.matters)
    assert not in_app(app, lambda s: s.may_upload(contributor.subject_id, campaign.id))
    page = text(client.get(f"/me/campaigns/{campaign.slug}/consent"))
    assert "동의서가 변경되었습니다" in page and "수집·이용 목적" in page and "새로운 목적" in page
    assert "새 버전이 있습니다" in text(client.get("/me/consent/"))
    set_page = text(client.get(f"/me/campaigns/{campaign.slug}/set"))  # where uploads happen, it says so too
    assert "동의서가 변경되었습니다" in set_page and f'href="/me/campaigns/{campaign.slug}/consent"' in set_page
    resp = give(client, campaign.slug, version=2)
    assert resp.status_code == 302
    record = in_app(app, lambda s: s.record(receipt_id(resp)))
    assert record.event == "reconsented" and record.review_state.value == "pending"
    assert in_app(app, lambda s: s.may_upload(contributor.subject_id, campaign.id))
    assert "동의서가 변경되었습니다" not in text(client.get(f"/me/campaigns/{campaign.slug}/set"))


def test_after_withdrawing_the_pages_offer_consent_not_uploads_and_a_way_back_in(
    app: Any, client: Any, campaign: Any, contributor: Any
) -> None:
    publish(app, campaign)
    give(client, campaign.slug)
    client.post(f"/me/campaigns/{campaign.slug}/join", data={"csrf_token": csrf_token(client, "/")})
    before = client.get(f"/me/campaigns/{campaign.slug}/set").get_data(as_text=True)
    assert 'class="upload form"' in before and "사진 세트 계속하기" in text(client.get("/me/"))
    token = csrf_token(client, "/me/consent/")
    withdrawn = client.post(f"/me/campaigns/{campaign.slug}/consent/withdraw",
                            data={"csrf_token": token, "withdraw_all": "1", "confirm_erasure": "y"})
    assert withdrawn.status_code == 302
    after = client.get(f"/me/campaigns/{campaign.slug}/set").get_data(as_text=True)
    assert 'class="upload form"' not in after and 'data-role="submit"' not in after
    said = text(client.get(f"/me/campaigns/{campaign.slug}/set"))
    assert "제공했던 자료는 삭제되었고 더 이상 올릴 수 없습니다" in said
    assert 'href="/me/consent/"' in after
    assert client.get(f"/api/v1/campaigns/{campaign.slug}/set").get_json()["state"] == "withdrawn"  # kept, not lost
    dashboard = text(client.get("/me/"))
    assert "동의 철회됨" in dashboard and "동의와 영수증 보기" in dashboard and "다시 참여하기" in dashboard
    assert "사진 세트 계속하기" not in dashboard

    # changing one's mind: the consent page says what taking part again means, signing starts a new, empty set
    assert f'href="/me/campaigns/{campaign.slug}/consent"' in after and "다시 참여하기" in said
    assert "새로운 빈 사진 세트" in text(client.get(f"/me/campaigns/{campaign.slug}/consent"))
    again = client.post(f"/me/campaigns/{campaign.slug}/consent",
                        data=sign_data(client, campaign.slug, collection="yes", sensitive="yes"))
    assert again.status_code == 302
    assert in_app(app, lambda s: s.record(receipt_id(again))).event == "given"  # given anew, not a "re-consent"
    fresh = client.get(f"/me/campaigns/{campaign.slug}/set").get_data(as_text=True)
    assert 'class="upload form"' in fresh and "제공했던 자료는 삭제되었고" not in fresh
    state = client.get(f"/api/v1/campaigns/{campaign.slug}/set").get_json()
    assert state["state"] == "draft" and all(b["photos"] == [] for b in state["brackets"])
    dashboard = text(client.get("/me/"))
    assert "사진 세트 계속하기" in dashboard and "동의 철회됨" not in dashboard


def test_signing_a_version_that_was_replaced_meanwhile_is_refused(
    app: Any, client: Any, campaign: Any, contributor: Any
) -> None:
    v1 = publish(app, campaign)
    data = sign_data(client, campaign.slug, collection="yes", sensitive="yes")
    publish(app, campaign, purpose=LocalizedText(ko="바뀐 목적", en="Changed purpose"), matters=v1.notice.matters)
    resp = client.post(f"/me/campaigns/{campaign.slug}/consent", data=data)
    assert resp.status_code == 409 and "새 버전이 게시되었습니다" in text(resp)
    assert in_app(app, lambda s: s.count_records()) == 0


# --- operator: the document -------------------------------------------------------------------------------------


@pytest.fixture()
def operator(make_user: Any, login: Any) -> Any:
    user = make_user("operator")
    login(user)
    return user


def draft_form(client: Any, url: str) -> dict[str, str]:
    """Every field of the editor as the browser would send it back (textareas and inputs)."""
    return draft_form_of(client.get(url).get_data(as_text=True))


def draft_form_of(body: str) -> dict[str, str]:
    data = {
        m.group(1): html.unescape(m.group(2))
        for m in re.finditer(r'<textarea[^>]*name="([^"]+)"[^>]*>\r?\n?(.*?)</textarea>', body, re.S)
    }
    for m in re.finditer(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', body):
        data.setdefault(m.group(1), html.unescape(m.group(2)))
    data.pop("save", None)
    data.pop("publish", None)
    data.pop("lang", None)
    data.pop("next", None)
    return data


def save_and_publish(client: Any, url: str, data: dict[str, str]) -> Any:
    """Press "Save and publish" in the editor at `url`, then confirm on the page that asks; the confirmation's
    response."""
    asked = client.post(url, data=data | {"publish": "1"})
    assert asked.status_code == 302 and asked.headers["Location"].endswith("/consent/draft/publish"), text(asked)[:2000]
    return confirm_publish(client, asked.headers["Location"])


def confirm_publish(client: Any, confirm_url: str) -> Any:
    page = text(client.get(confirm_url))
    digest = re.search(r'name="digest"[^>]*value="([0-9a-f]+)"', page)
    assert digest, page[:2000]
    return client.post(confirm_url, data={"csrf_token": csrf_token(client, confirm_url), "digest": digest.group(1)})


def test_the_editor_is_prefilled_and_publishing_refuses_naming_each_missing_item(
    app: Any, client: Any, campaign: Any, operator: Any
) -> None:
    url = f"/operate/campaigns/{campaign.slug}/consent/draft"
    data = draft_form(client, url)
    assert "개인정보 수집·이용 및 제공 동의서" in data["title__ko"]  # prefilled from default_notice
    data |= {"purpose__en": "", "controller__email": "", "controller__phone": "", "m2__third_party__recipient__ko": ""}
    data["title__ko"] = "운영자가 고친 제목"
    resp = client.post(url, data=data | {"publish": "1"})
    body = text(resp)
    assert resp.status_code == 400
    assert "초안은 저장했지만 아직 게시할 수 없습니다" in body
    for field in ("purpose__en", "controller__email", "m2__third_party__recipient__ko"):
        assert f'id="{field}-err"' in body and f'href="#{field}"' in body
    assert "수집·이용 목적</a> (영어)" in body and "제공받는 자</a> (한국어)" in body  # each item named, per language
    assert "운영자가 고친 제목" in body  # nothing typed is lost
    versions = in_app(app, lambda s: s.versions(campaign.id))
    assert [v.state.value for v in versions] == ["draft"] and versions[0].notice.title.ko == "운영자가 고친 제목"



def test_data_categories_that_are_not_codes_are_refused_next_to_the_field(
    app: Any, client: Any, campaign: Any, operator: Any
) -> None:
    url = f"/operate/campaigns/{campaign.slug}/consent/draft"
    data = draft_form(client, url)
    field = next(k for k in data if k.endswith("__data_categories"))
    resp = client.post(url, data=data | {field: "얼굴 사진, Face_Image", "save": "1"})
    body = text(resp)
    assert resp.status_code == 400 and f'id="{field}-err"' in body
    assert "소문자" in body and "얼굴 사진" in body and "lower-case slugs" not in body
    assert "얼굴 사진" in body.split(f'id="{field}"')[1][:300]  # what was typed stays in the field
    assert in_app(app, lambda s: s.versions(campaign.id)) == []


def test_publishing_then_versions_and_diff(app: Any, client: Any, campaign: Any, operator: Any) -> None:
    url = f"/operate/campaigns/{campaign.slug}/consent/draft"
    resp = save_and_publish(client, url, draft_form(client, url))
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/consent/v1")
    v1 = in_app(app, lambda s: s.current_version(campaign.id))
    page = text(client.get(resp.headers["Location"]))
    assert v1.sha256_ko in page and v1.sha256_en in page and "효력 있음" in page
    data = draft_form(client, url) | {"purpose__en": "Building a face dataset, and nothing else."}
    saved = client.post(url, data=data | {"save": "1"})
    assert saved.status_code == 302
    assert "v2" in text(client.get(url)) and in_app(app, lambda s: s.versions(campaign.id))[-1].number == 2
    save_and_publish(client, url, draft_form(client, url))
    document = text(client.get(f"/operate/campaigns/{campaign.slug}/consent"))
    assert "현재 유효한 버전은 2입니다" in document
    diff = client.get(f"/operate/campaigns/{campaign.slug}/consent/diff?old=1&new=2&lang=en")
    body = text(diff)
    assert diff.status_code == 200
    assert "<td>수집·이용 목적</td>" in body and "Building a face dataset, and nothing else." in body
    assert '<span class="add">+Building a face dataset, and nothing else.</span>' in body
    assert "변경" in body  # the page itself is in the operator's language
    english = text(client.get(f"/operate/campaigns/{campaign.slug}/consent/diff?old=1&new=2&lang=en", headers=EN))
    assert "버전 사이의 변경 사항" in english  # the account's language wins over the browser's
    bad = client.get(f"/operate/campaigns/{campaign.slug}/consent/diff?old=x&new=2")
    assert bad.status_code == 400
    assert client.get(f"/operate/campaigns/{campaign.slug}/consent/diff?old=1&new=9").status_code == 404



def test_a_document_written_for_other_settings_neither_opens_the_campaign_nor_takes_signatures(
    app: Any, client: Any, make_campaign: Any, operator: Any, make_user: Any, login: Any, db_session: Any
) -> None:
    campaign = make_campaign(open_it=False)
    url = f"/operate/campaigns/{campaign.slug}/consent/draft"
    assert save_and_publish(client, url, draft_form(client, url)).status_code == 302
    assert "다른 설정" not in text(client.get(f"/operate/campaigns/{campaign.slug}"))
    campaign.payment_krw, campaign.brackets = 1_000_000, [{"key": "30-39", "min_age": 30, "max_age": 39, "photos": 30}]
    db_session.commit()  # edited after publishing, as a draft campaign may be

    page = text(client.get(f"/operate/campaigns/{campaign.slug}"))
    assert "다른 설정" in page and "연령대와 사진 수" in page and "참여 대가" in page
    refused = client.post(f"/operate/campaigns/{campaign.slug}/open",
                          data={"csrf_token": csrf_token(client, f"/operate/campaigns/{campaign.slug}")},
                          follow_redirects=True)
    assert "새 버전" in text(refused) and "연령대와 사진 수" in text(refused)
    db_session.refresh(campaign)
    assert campaign.status.value == "draft"
    # an editor opened before the change cannot publish the old figures stamped as written for the new settings
    stale_form = draft_form(client, url)
    campaign.payment_krw = 2_000_000
    db_session.commit()
    stale = client.post(url, data=stale_form | {"publish": "1"})
    assert stale.status_code == 409 and "아무것도 저장하지 않았습니다" in text(stale)
    again = client.post(url, data=draft_form_of(stale.get_data(as_text=True)) | {"publish": "1"})
    assert again.status_code == 409  # pressing again from that page never publishes the old figures
    assert len(in_app(app, lambda s: s.versions(campaign.id))) == 1
    campaign.payment_krw = 1_000_000
    db_session.commit()
    # the next version states the campaign as it is now, not version 1's figures, and says what it updated
    assert "설정을 나타내는 문구만 고칩니다" in text(client.get(url))
    draft = draft_form(client, url)
    assert "총 30장" in draft["items_collected__ko"] and "총 8장" not in draft["items_collected__ko"]
    assert "1,000,000원" in " ".join(draft.values())
    assert save_and_publish(client, url, draft).status_code == 302
    assert "다른 설정" not in text(client.get(f"/operate/campaigns/{campaign.slug}"))
    opened = client.post(f"/operate/campaigns/{campaign.slug}/open",
                         data={"csrf_token": csrf_token(client, f"/operate/campaigns/{campaign.slug}")})
    assert opened.status_code == 302
    db_session.refresh(campaign)
    assert campaign.status.value == "open"

    # an open campaign may still shorten its retention: until the document says so, nobody signs the old one
    campaign.retention_days = 90
    db_session.commit()
    login(make_user("contributor", birth_date=ADULT))
    page = client.get(f"/me/campaigns/{campaign.slug}/consent")
    assert "설정이 바뀌었" in text(page) and 'name="signature"' not in page.get_data(as_text=True)
    signed = client.post(f"/me/campaigns/{campaign.slug}/consent",
                         data=sign_data(client, campaign.slug, version=2, collection="yes", sensitive="yes"))
    assert signed.status_code == 409 and in_app(app, lambda s: s.subjects_with_consent(campaign.id)) == []


def test_operators_add_a_campaign_specific_optional_use_that_contributors_see_on_its_own(
    app: Any, client: Any, campaign: Any, operator: Any, make_user: Any, login: Any
) -> None:
    url = f"/operate/campaigns/{campaign.slug}/consent/draft"
    add = f"{url}/matters"
    token = csrf_token(client, url)
    fields = {"csrf_token": token, "matter_id": "follow-up", "summary_ko": "후속 연구 연락", "summary_en": "Follow-up"}
    resp = client.post(add, data=fields)
    assert resp.status_code == 302 and resp.headers["Location"].endswith("#matter-follow-up")
    again = client.post(add, data=fields | {"summary_en": "Typed again"})
    assert again.status_code == 400 and 'id="matter_id-err"' in text(again) and "Typed again" in text(again)
    bad = client.post(add, data=fields | {"matter_id": "Not A Code"})
    assert bad.status_code == 400 and 'id="matter_id-err"' in text(bad)

    draft = in_app(app, lambda s: s.versions(campaign.id))[-1].notice
    custom = draft.matter("follow-up")
    assert custom.kind is MatterKind.CUSTOM and not custom.required
    index = [m.id for m in draft.matters].index("follow-up")
    page = text(client.get(url))
    assert 'id="matter-follow-up"' in page and f'formaction="{url}/matters/follow-up/remove"' in page
    data = draft_form(client, url) | {
        f"m{index}__full_text__ko": "연구가 끝난 뒤 후속 연구 참여를 묻기 위해 연락할 수 있습니다.",
        f"m{index}__full_text__en": "We may contact you afterwards to ask about a follow-up study.",
        f"m{index}__data_categories": "email",
    }
    published = save_and_publish(client, url, data)
    assert published.status_code == 302, text(published)[:3000]

    remove_required = client.post(f"{url}/matters/collection/remove", data={"csrf_token": csrf_token(client, url)})
    assert remove_required.status_code == 404  # only campaign-specific optional uses can be removed

    person = make_user("contributor", birth=ADULT)
    login(person)
    sign_page = text(client.get(f"/me/campaigns/{campaign.slug}/consent"))
    assert "후속 연구 연락" in sign_page
    resp = give(client, campaign.slug)  # not answered: declined, and nothing else changes
    assert resp.status_code == 302
    record = in_app(app, lambda s: s.record(receipt_id(resp)))
    assert record.decisions["follow-up"] is False and record.decisions["collection"] is True


def test_a_campaign_specific_use_can_be_removed_from_the_draft(
    app: Any, client: Any, campaign: Any, operator: Any
) -> None:
    url = f"/operate/campaigns/{campaign.slug}/consent/draft"
    fields = {"csrf_token": csrf_token(client, url), "matter_id": "survey", "summary_ko": "설문", "summary_en": "Poll"}
    assert client.post(f"{url}/matters", data=fields).status_code == 302
    removed = client.post(f"{url}/matters/survey/remove", data={"csrf_token": csrf_token(client, url)})
    assert removed.status_code == 302
    assert "survey" not in {m.id for m in in_app(app, lambda s: s.versions(campaign.id))[-1].notice.matters}
    assert client.post(f"{url}/matters/survey/remove", data={"csrf_token": csrf_token(client, url)}).status_code == 404


def test_the_pages_say_how_many_contributors_must_reconsent(
    app: Any, client: Any, campaign: Any, make_user: Any, login: Any
) -> None:
    v1 = publish(app, campaign)
    person = make_user("contributor", birth=ADULT)
    login(person)
    give(client, campaign.slug)
    operator = make_user("operator", locale="en")
    login(operator)
    url = f"/operate/campaigns/{campaign.slug}/consent/draft"
    assert "re-consent when this draft is published: 1" in text(client.get(url))
    asked = client.post(url, data=draft_form(client, url) | {"purpose__en": "Changed.", "publish": "1"})
    assert "asked to consent again before uploading: 1" in text(client.get(asked.headers["Location"]))
    confirm_publish(client, asked.headers["Location"])
    assert "who have not yet done so (they cannot upload until they do): 1" in text(
        client.get(f"/operate/campaigns/{campaign.slug}/consent/v2")
    )
    assert "re-consent before uploading again: 1" in text(client.get(f"/operate/campaigns/{campaign.slug}/consent"))
    assert v1.number == 1


def test_operator_document_page_in_english(app: Any, client: Any, campaign: Any, make_user: Any, login: Any) -> None:
    login(make_user("operator", locale="en"))
    body = text(client.get(f"/operate/campaigns/{campaign.slug}/consent"))
    assert "No version is published yet" in body and "Draft a new version" in body
    assert client.get("/operate/campaigns/nope/consent").status_code == 404


# --- operator: the review queue ----------------------------------------------------------------------------------


def test_review_queue_shows_what_the_check_needs_and_no_names(
    app: Any, client: Any, make_campaign: Any, make_user: Any, login: Any
) -> None:
    campaign = make_campaign(min_age=10)
    publish(app, campaign)
    child = make_user("contributor", birth=CHILD, name="어린이 참가자")
    login(child)
    guardian = {"guardian_name": "김보호", "guardian_relationship": "legal_guardian", "guardian_signature": "김보호"}
    data = sign_data(client, campaign.slug, collection="yes", sensitive="yes") | guardian | {"signature": "이아이"}
    rid = receipt_id(client.post(f"/me/campaigns/{campaign.slug}/consent", data=data))
    login(make_user("operator"))
    page = client.get("/operate/consent/review")
    body = text(page)
    assert page.status_code == 200 and f"r-{rid}" in body
    assert "법정후견인" in body and "서명 유효" in body and "14세 미만" in body
    for secret in ("김보호", "이아이", "어린이 참가자", child.email, child.subject_id):
        assert secret not in body
    token = csrf_token(client, "/operate/consent/review")
    refused = client.post(f"/operate/consent/review/{rid}", data={"csrf_token": token, "flag": "1", "note": " "})
    assert refused.status_code == 400 and f'id="note-{rid}-err"' in text(refused)
    flagged = client.post(
        f"/operate/consent/review/{rid}", data={"csrf_token": token, "flag": "1", "note": "관계 확인 필요"}
    )
    assert flagged.status_code == 302
    queue = text(client.get("/operate/consent/review"))
    assert "관계 확인 필요" in queue and f'action="/operate/consent/review/{rid}"' not in queue  # no Approve/Flag
    # a direct POST cannot wipe the flag: only the compliance officer closes it
    for data in ({"approve": "1"}, {"flag": "1", "note": "다른 이유"}):
        refused = client.post(f"/operate/consent/review/{rid}", data={"csrf_token": token} | data,
                              follow_redirects=True)
        assert "아무것도 바꾸지 않았습니다" in text(refused)
    record = in_app(app, lambda s: s.record(rid))
    assert (record.review_state.value, record.review_note) == ("flagged", "관계 확인 필요")


# --- public: keys and the verify page ---------------------------------------------------------------------------


def upload(client: Any, data: bytes, **headers: str) -> Any:
    import io

    token = csrf_token(client, "/consent/verify")
    return client.post(
        "/consent/verify",
        data={"csrf_token": token, "receipt": (io.BytesIO(data), "receipt.json")},
        content_type="multipart/form-data",
        headers=headers,
    )


def test_verify_page_valid_tampered_and_withdrawn(app: Any, client: Any, campaign: Any, contributor: Any) -> None:
    publish(app, campaign)
    rid = receipt_id(give(client, campaign.slug, answers={"release": "yes"}))
    data = client.get(f"/me/consent/receipts/{rid}/receipt.json").data
    client.post("/logout", data={"csrf_token": csrf_token(client, "/me/consent/")})

    valid = text(upload(client, data))
    assert "위조되거나 바뀌지 않은" in valid and campaign.title_ko in valid and "2026-11-21" in valid
    assert "효력 있음" in valid
    facts = in_app(app, lambda s: s.verify(data)).facts
    for leaked in (facts.principal_id, "얼굴 사진과 촬영 시점", facts.notice_sha256, rid):
        assert leaked not in valid  # nothing else about the person or the consent is echoed

    position = data.index(b'"consentTimestamp":') + len(b'"consentTimestamp":') + 2
    tampered = data[:position] + bytes([data[position] ^ 1]) + data[position + 1 :]
    body = text(upload(client, tampered))
    assert "유효하지 않음" in body and "서명이 일치하지 않습니다" in body and campaign.title_ko not in body

    in_app(app, lambda s: s.withdraw(contributor.subject_id, campaign.id))
    withdrawn = text(upload(client, data, **EN))
    assert "Valid" in withdrawn and "withdrawn later" in withdrawn and "in force</span>" not in withdrawn


def test_verify_page_refuses_a_missing_or_huge_file(client: Any) -> None:
    token = csrf_token(client, "/consent/verify")
    assert client.post("/consent/verify", data={"csrf_token": token}).status_code == 400
    resp = upload(client, b"{" + b" " * (300 * 1024) + b"}")
    assert resp.status_code == 400 and 'id="receipt-err"' in text(resp)
    garbage = text(upload(client, b"not json", **EN))
    assert "Not valid" in garbage and "not valid JSON" in garbage


def test_key_document_lists_rotated_keys_with_validity(app: Any, client: Any, campaign: Any, clock: Any) -> None:
    in_app(app, lambda s: s.keys.ensure())
    clock.advance(days=30)
    in_app(app, lambda s: s.keys.rotate())
    doc = client.get("/.well-known/datadam/consent-keys.json").get_json()
    assert doc["schema"] == "datadam/consent-keys/1"
    assert len(doc["keys"]) == 2 and sum(k["validUntil"] is None for k in doc["keys"]) == 1


def test_a_refused_withdrawal_after_a_new_version_names_the_version_actually_signed(
    app: Any, client: Any, campaign: Any, contributor: Any
) -> None:
    publish(app, campaign)
    give(client, campaign.slug)
    publish(app, campaign, purpose=LocalizedText(ko="새 목적", en="A new purpose"))  # version 2, not signed
    page = client.get(f"/me/campaigns/{campaign.slug}/consent")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    refused = client.post(f"/me/campaigns/{campaign.slug}/consent/withdraw",  # erases: the tick is missing
                          data={"csrf_token": token, "withdraw_selected": "1", "matters": ["collection"],
                                "back": "campaign"})
    assert refused.status_code == 400
    body = text(refused)
    assert "동의서 버전 1에 동의했습니다" in body and "동의서 버전 2에 동의했습니다" not in body
    assert "새 동의서(버전 2)가 게시되었습니다" in body
