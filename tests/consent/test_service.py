"""The consent service on a real database: versions, giving, re-consent, withdrawal, keys, review, verification."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from consent.errors import ConsentStateError, NoticeIncompleteError, ReceiptBuildError
from consent.models import NoticeState, PublishedNoticeError, ReviewState, SignatureName
from consent.notice import LocalizedText, MatterKind
from consent.receipts import GuardianRelationship, verify_receipt
from consent.service import ConsentService, Guardian, KeyStore, Signing
from tests.consent._consent_support import make_notice

MASTER = b"m" * 32
ALL_YES = {"collection": True, "sensitive": True, "release": True, "voice": True}
REQUIRED_ONLY = {"collection": True, "sensitive": True, "release": False, "voice": False}


@pytest.fixture()
def service(db_session: Any, clock: Any) -> ConsentService:
    return ConsentService(db_session, clock, KeyStore(db_session, MASTER, clock), "https://datadam.example/privacy")


@pytest.fixture()
def published(service: ConsentService, make_campaign: Any) -> Any:
    campaign = make_campaign()
    version = service.draft(campaign.id, make_notice(campaign=campaign.slug))
    return service.publish(version, by=None)


def _sign(**over: Any) -> Signing:
    values: dict[str, Any] = {"decisions": REQUIRED_ONLY, "language": "ko", "signature": "김민지"}
    values.update(over)
    return Signing(**values)


def test_publish_refuses_an_incomplete_notice_naming_what_is_missing(
    service: ConsentService, make_campaign: Any
) -> None:
    campaign = make_campaign()
    notice = make_notice(campaign=campaign.slug, retention=LocalizedText(ko="3년", en=""))
    version = service.draft(campaign.id, notice)
    with pytest.raises(NoticeIncompleteError) as info:
        service.publish(version, by=None)
    assert any(item.path == "retention" and item.language == "en" for item in info.value.missing)
    assert version.state is NoticeState.DRAFT


def test_a_published_version_never_changes(service: ConsentService, published: Any) -> None:
    assert published.sha256_ko and published.sha256_en and published.sha256_ko != published.sha256_en
    with pytest.raises(PublishedNoticeError):
        published.replace_content(make_notice(campaign=published.notice.campaign))
    newer = service.draft(
        published.campaign_id,
        make_notice(campaign=published.notice.campaign, purpose=LocalizedText(ko="새 목적", en="New purpose")),
    )
    assert newer.number == 2 and newer.id != published.id


def test_give_issues_a_verifiable_receipt_and_records_matters(service: ConsentService, published: Any) -> None:
    record = service.give("sub_abcdefgh1234", published, _sign())
    check = verify_receipt(record.receipt_bytes, service.keys.public_document().to_dict())
    assert check.valid, check.reason
    assert check.facts is not None and set(check.facts.consented) == {"collection", "sensitive"}
    assert check.facts.notice_sha256 == published.sha256_ko
    assert "김민지" not in record.receipt
    assert service.active_kinds("sub_abcdefgh1234", published.campaign_id) == {
        MatterKind.COLLECTION_AND_USE,
        MatterKind.SENSITIVE_INFORMATION,
    }
    assert service.may_upload("sub_abcdefgh1234", published.campaign_id)


def test_declining_a_required_matter_is_refused(service: ConsentService, published: Any) -> None:
    with pytest.raises(ReceiptBuildError):
        service.give("sub_abcdefgh1234", published, _sign(decisions={**REQUIRED_ONLY, "sensitive": False}))


def test_under_14_needs_a_guardian_and_goes_to_review(service: ConsentService, published: Any) -> None:
    with pytest.raises(ReceiptBuildError):
        service.give("sub_child0001", published, _sign(under_14=True))
    guardian = Guardian("김보호", GuardianRelationship.PARENT, "김보호")
    record = service.give("sub_child0001", published, _sign(under_14=True, guardian=guardian))
    assert record.under_14 and record.guardian_relationship == "parent"
    assert record.review_state is ReviewState.PENDING and record in service.review_queue()
    assert "김보호" not in record.receipt


def test_withdraw_one_matter_then_all(service: ConsentService, published: Any) -> None:
    given = service.give("sub_abcdefgh1234", published, _sign(decisions=ALL_YES))
    partial = service.withdraw("sub_abcdefgh1234", published.campaign_id, ["release"])
    assert partial.withdraws_record_id == given.id and partial.decisions["release"] is False
    assert MatterKind.THIRD_PARTY_PROVISION not in service.active_kinds("sub_abcdefgh1234", published.campaign_id)
    assert service.may_upload("sub_abcdefgh1234", published.campaign_id)
    assert not service.in_force(given.id)
    service.withdraw("sub_abcdefgh1234", published.campaign_id)
    assert service.active_kinds("sub_abcdefgh1234", published.campaign_id) == set()
    assert not service.may_upload("sub_abcdefgh1234", published.campaign_id)
    with pytest.raises(ConsentStateError):
        service.withdraw("sub_abcdefgh1234", published.campaign_id)
    for record in service.records("sub_abcdefgh1234"):
        assert service.verify(record.receipt_bytes).valid


def test_new_version_requires_reconsent_before_uploads(service: ConsentService, published: Any) -> None:
    service.give("sub_abcdefgh1234", published, _sign())
    notice = dataclasses.replace(published.notice, purpose=LocalizedText(ko="변경된 목적", en="Changed purpose"))
    v2 = service.publish(service.draft(published.campaign_id, notice), by=None)
    assert service.needs_reconsent("sub_abcdefgh1234", published.campaign_id)
    assert not service.may_upload("sub_abcdefgh1234", published.campaign_id)
    with pytest.raises(ConsentStateError):
        service.give("sub_other0001", published, _sign())  # the old version can no longer be signed
    again = service.give("sub_abcdefgh1234", v2, _sign())
    assert again.event == "reconsented" and again.review_state is ReviewState.PENDING
    assert service.may_upload("sub_abcdefgh1234", published.campaign_id)


def test_key_rotation_keeps_old_receipts_valid(service: ConsentService, published: Any, clock: Any) -> None:
    old = service.give("sub_abcdefgh1234", published, _sign())
    clock.advance(days=1)
    new_key = service.keys.rotate()
    clock.advance(seconds=5)
    fresh = service.give("sub_zyxwvuts9876", published, _sign())
    assert fresh.kid == new_key.kid != old.kid
    assert service.verify(old.receipt_bytes).valid and service.verify(fresh.receipt_bytes).valid
    assert len(service.keys.public_document().keys) == 2


def test_signing_keys_are_stored_sealed(service: ConsentService, published: Any, db_session: Any) -> None:
    from consent.models import StoredSigningKey

    service.give("sub_abcdefgh1234", published, _sign())
    row = db_session.query(StoredSigningKey).one()
    assert "d" not in row.data and "sealedPrivateKey" in row.data  # no clear private key (JWK 'd')
    with pytest.raises(Exception):  # noqa: B017 - a wrong master key cannot open it
        KeyStore(db_session, b"x" * 32, service.clock).ring().sign(b"m", kid=row.kid, at=service.clock.now())


def test_erasing_signature_names_keeps_receipts(service: ConsentService, published: Any, db_session: Any) -> None:
    record = service.give("sub_abcdefgh1234", published, _sign())
    assert service.erase_signature_names("sub_abcdefgh1234") == 1
    assert db_session.query(SignatureName).count() == 0
    assert service.verify(record.receipt_bytes).valid


def test_erasing_names_in_one_campaign_keeps_the_signatures_given_in_another(
    service: ConsentService, published: Any, make_campaign: Any, db_session: Any
) -> None:
    other = make_campaign()
    elsewhere = service.publish(service.draft(other.id, make_notice(campaign=other.slug)), by=None)
    service.give("sub_abcdefgh1234", published, _sign())
    kept = service.give("sub_abcdefgh1234", elsewhere, _sign())
    assert service.erase_signature_names("sub_abcdefgh1234", published.campaign_id) == 1
    assert [row.record_id for row in db_session.query(SignatureName)] == [kept.id]


def test_operator_review_needs_a_reason_to_flag(service: ConsentService, published: Any) -> None:
    record = service.give(
        "sub_child0001",
        published,
        _sign(under_14=True, guardian=Guardian("박보호", GuardianRelationship.LEGAL_GUARDIAN, "박보호")),
    )
    with pytest.raises(ConsentStateError):
        service.review(record, "reviewer1", approve=False, note=" ")
    service.review(record, "reviewer1", approve=False, note="relationship unclear")
    assert record.review_state is ReviewState.FLAGGED


def test_only_a_pending_consent_is_approved_or_flagged_and_a_flag_is_closed_by_the_officer_alone(
    service: ConsentService, published: Any
) -> None:
    from consent.errors import ReviewClosedError

    guardian = Guardian("박보호", GuardianRelationship.LEGAL_GUARDIAN, "박보호")
    record = service.give("sub_child0009", published, _sign(under_14=True, guardian=guardian))
    service.review(record, "reviewer1", approve=False, note="relationship unclear")
    flagged_at = record.reviewed_at
    for approve, note in ((True, None), (False, "another reason")):
        with pytest.raises(ReviewClosedError):
            service.review(record, "reviewer2", approve=approve, note=note)
    assert (record.review_state, record.review_note, record.reviewed_by, record.reviewed_at) == (
        ReviewState.FLAGGED, "relationship unclear", "reviewer1", flagged_at)
    service.resolve_flag(record, "officer1", "called the parent")
    with pytest.raises(ReviewClosedError):
        service.review(record, "reviewer2", approve=True)
    assert record.review_state is ReviewState.RESOLVED and record.review_note == "relationship unclear"
    plain = service.give("sub_adult0009", published, _sign())
    assert plain.review_state is ReviewState.NOT_NEEDED
    with pytest.raises(ReviewClosedError):
        service.review(plain, "reviewer1", approve=False, note="x")
    other = service.give("sub_child0010", published, _sign(under_14=True, guardian=guardian))
    service.review(other, "reviewer1", approve=True)
    assert other.review_state is ReviewState.APPROVED and other not in service.review_queue()
    with pytest.raises(ReviewClosedError):
        service.review(other, "reviewer1", approve=False, note="second thoughts")


def test_a_consent_replaced_or_withdrawn_leaves_the_review_queue(service: ConsentService, published: Any) -> None:
    guardian = Guardian("박보호", GuardianRelationship.LEGAL_GUARDIAN, "박보호")
    first = service.give("sub_child0002", published, _sign(under_14=True, guardian=guardian))
    second = service.give("sub_child0002", published, _sign(under_14=True, guardian=guardian))
    queue = service.review_queue()
    assert second in queue and first not in queue  # the later consent governs: only it waits for a look
    service.withdraw("sub_child0002", published.campaign_id)
    assert second not in service.review_queue()  # ended by the withdrawal: nothing left to approve



def test_withdrawing_an_optional_use_keeps_a_consent_waiting_for_its_look(
    service: ConsentService, published: Any
) -> None:
    guardian = Guardian("박보호", GuardianRelationship.LEGAL_GUARDIAN, "박보호")
    with_release = {**REQUIRED_ONLY, "release": True}
    record = service.give("sub_child0003", published, _sign(decisions=with_release, under_14=True, guardian=guardian))
    service.review(record, "reviewer1", approve=False, note="guardian evidence missing")
    service.withdraw("sub_child0003", published.campaign_id, ["release"])
    assert record in service.review_queue()  # still in force, still flagged



def test_consent_after_a_required_matter_was_withdrawn_is_given_anew(service: ConsentService, published: Any) -> None:
    service.give("sub_anew00001", published, _sign(decisions={**REQUIRED_ONLY, "release": True}))
    service.withdraw("sub_anew00001", published.campaign_id, ["collection"])  # the part ends; release stays
    again = service.give("sub_anew00001", published, _sign())
    assert again.event == "given"


def test_versions_after_an_old_wording_edition_are_written_in_the_current_one(
    service: ConsentService, published: Any, db_session: Any
) -> None:
    """A version stored before wording editions existed (no `wording` key) stays edition 1 with its exact text and
    hash; a draft saved before then, and every new draft based on the old text, is previewed and published in the
    current edition."""
    from consent.models import NoticeVersion
    from consent.notice import CURRENT_WORDING, notice_from_dict, notice_sha256

    legacy = {k: v for k, v in published.content.items() if k != "wording"}
    published.content = legacy  # as stored, and hashed, before wording editions existed
    published.sha256_ko = before = notice_sha256(notice_from_dict(legacy), "ko")
    db_session.flush()
    assert published.notice.wording == 1 and "민감정보(얼굴·음성 특징정보) 처리" in service_text(published)
    old_draft = NoticeVersion(campaign_id=published.campaign_id, number=2, content=dict(legacy, version=2),
                              state=NoticeState.DRAFT, created_at=published.created_at)
    db_session.add(old_draft)
    db_session.flush()
    assert old_draft.notice.wording == CURRENT_WORDING  # previewed in the current wording
    service.publish(old_draft, by=None)
    assert old_draft.content["wording"] == CURRENT_WORDING  # stored with the edition it was published in
    assert notice_sha256(old_draft.notice, "ko") == old_draft.sha256_ko
    assert "민감정보(생체 특징정보) 처리" in service_text(old_draft)
    newer = service.draft(published.campaign_id, dataclasses.replace(published.notice, version=3))
    assert newer.notice.wording == CURRENT_WORDING and newer.content["wording"] == CURRENT_WORDING
    assert published.sha256_ko == before and published.notice.wording == 1


def service_text(version: Any) -> str:
    from consent.notice import render_text

    return render_text(version.notice, "ko")


def test_the_reconsent_count_is_the_people_holding_consent_under_another_version(
    service: ConsentService, published: Any
) -> None:
    """Counted in two queries, and the same as asking each person: who holds both required matters while their
    latest event is under another version (a withdrawn person and one on the version itself are not counted)."""
    campaign_id = published.campaign_id
    for subject in ("sub_stays000001", "sub_renews00001", "sub_leaves00001"):
        service.give(subject, published, _sign())
    service.withdraw("sub_leaves00001", campaign_id)
    notice = dataclasses.replace(published.notice, purpose=LocalizedText(ko="변경된 목적", en="Changed purpose"))
    v2 = service.publish(service.draft(campaign_id, notice), by=None)
    service.give("sub_renews00001", v2, _sign())

    def one_by_one(version_id: str) -> int:
        return sum(1 for s in service.subjects_with_consent(campaign_id)
                   if (latest := service.latest_record(s, campaign_id)) is not None
                   and latest.notice_version_id != version_id and service.holds_required(s, campaign_id))

    for version in (published, v2):
        assert service.holders_under_other_versions(campaign_id, version.id) == one_by_one(version.id)
    assert service.holders_under_other_versions(campaign_id, v2.id) == 1  # only sub_stays000001
    assert service.holders_under_other_versions(campaign_id, published.id) == 1  # only sub_renews00001
