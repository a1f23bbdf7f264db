"""The core loop on a real database with real gates: consent -> enroll -> upload per bracket -> gates ->
submit -> review with a rejection -> replace -> re-review -> accept -> ledger -> payout (paid once)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image

from collection.contributions.models import PhotoState, SetState
from collection.errors import ConsentRequired, DuplicatePhoto, InvalidTransition, SetNotReady, UploadRefused
from collection.review.models import RejectReason
from collection.review.service import PhotoVerdict
from tests.collection.flow_support import build_env, consent_and_enroll, publish_notice
from webapp.demo_media import face_photo

AGES = {"0-9": 8, "10-19": 15, "20-29": 25, "30-39": 31}


@pytest.fixture()
def env(db_session: Any, test_sessionmaker: Any, clock: Any) -> Any:
    return build_env(db_session, test_sessionmaker, clock)


@pytest.fixture()
def ready(env: Any, make_user: Any, make_campaign: Any) -> tuple[Any, Any, Any]:
    campaign = make_campaign()
    version = publish_notice(env, campaign)
    user = make_user("contributor")
    consent_and_enroll(env, user, campaign, version)
    return user, campaign, version


def _fill(env: Any, user: Any, campaign: Any, start: int = 0) -> list[Any]:
    photos = []
    for i, bracket in enumerate(b["key"] for b in campaign.brackets for _ in range(b["photos"])):
        photos.append(env.uploads.add_photo(user, campaign, bracket, face_photo(start + i), age_years=AGES[bracket]))
        env.session.commit()  # the gate job runs right after the commit
    return photos


def test_upload_needs_consent(env: Any, make_user: Any, make_campaign: Any) -> None:
    campaign = make_campaign()
    publish_notice(env, campaign)
    user = make_user("contributor")
    with pytest.raises(ConsentRequired):
        env.contributions.enroll(user, campaign)


@pytest.mark.slow
def test_the_whole_loop(env: Any, ready: Any, make_user: Any) -> None:
    user, campaign, _ = ready
    photos = _fill(env, user, campaign)
    for p in photos:
        env.session.refresh(p)
    assert [p.state for p in photos] == [PhotoState.PASSED] * len(photos), [p.gates for p in photos]
    assert all(p.encoding_key for p in photos)
    photo_set = env.contributions.submit(user, campaign)
    env.session.commit()
    assert photo_set.state is SetState.SUBMITTED and photo_set.round == 1

    operator, other = make_user("operator"), make_user("operator")
    assert env.review.queue() == [photo_set]
    env.review.claim(operator, photo_set)
    with pytest.raises(InvalidTransition):
        env.review.claim(other, photo_set)  # two operators never review the same set
    verdicts = [PhotoVerdict(p.id, True) for p in photos[1:]]
    verdicts.append(PhotoVerdict(photos[0].id, False, RejectReason.BLURRED, "흐릿합니다"))
    assert env.review.decide(operator, photo_set, verdicts, campaign) is SetState.CHANGES_REQUESTED
    env.session.commit()
    assert photos[0].state is PhotoState.REJECTED and photos[0].review_reason == "blurred"

    replacement = env.uploads.add_photo(
        user, campaign, photos[0].bracket, face_photo(50), age_years=8, replaces=photos[0].id
    )
    env.session.commit()
    env.session.refresh(replacement)
    assert replacement.state is PhotoState.PASSED and replacement.replaces_id == photos[0].id
    env.contributions.submit(user, campaign)
    env.session.commit()
    assert photo_set.round == 2 and replacement.round == 2  # re-inspection sees what changed

    env.review.claim(other, photo_set)
    assert env.review.decide(other, photo_set, [PhotoVerdict(replacement.id, True)], campaign) is SetState.ACCEPTED
    env.session.commit()
    earnings = env.payments.earnings(user)
    assert earnings.pending_krw == campaign.payment_krw

    env.payments.save_payout_account(user, "004", "김민지", "123456-78-901234")
    batch = env.payments.create_batch(operator)
    first, second = env.payments.export_csv(operator, batch), env.payments.export_csv(operator, batch)
    assert first == second and str(campaign.payment_krw) in first
    assert env.payments.mark_paid(operator, batch) == 1
    assert env.payments.mark_paid(operator, batch) == 0  # paid once, however often it is marked
    env.session.commit()
    assert photo_set.state is SetState.PAID and env.payments.earnings(user).paid_krw == campaign.payment_krw


@pytest.mark.slow
def test_submit_refuses_an_incomplete_set(env: Any, ready: Any) -> None:
    user, campaign, _ = ready
    env.uploads.add_photo(user, campaign, "0-9", face_photo(1), age_years=5)
    env.session.commit()
    with pytest.raises(SetNotReady) as info:
        env.contributions.submit(user, campaign)
    assert "bracket:10-19:needs:2" in info.value.detail["missing"]


@pytest.mark.slow
def test_duplicates_are_refused(env: Any, ready: Any) -> None:
    user, campaign, _ = ready
    data = face_photo(3)
    env.uploads.add_photo(user, campaign, "20-29", data, age_years=25)
    env.session.commit()
    with pytest.raises(DuplicatePhoto):
        env.uploads.add_photo(user, campaign, "30-39", data, age_years=31)
    reencoded = io.BytesIO()
    Image.open(io.BytesIO(data)).save(reencoded, "PNG")  # same pixels, other bytes
    with pytest.raises(DuplicatePhoto):
        env.uploads.add_photo(user, campaign, "30-39", reencoded.getvalue(), age_years=31)


def test_bad_files_are_refused_with_a_reason(env: Any, ready: Any) -> None:
    user, campaign, _ = ready
    with pytest.raises(UploadRefused):
        env.uploads.add_photo(user, campaign, "0-9", b"%PDF-1.4 not an image", age_years=5)
    bomb = io.BytesIO()
    Image.new("L", (20000, 20000)).save(bomb, "PNG")
    with pytest.raises(UploadRefused):
        env.uploads.add_photo(user, campaign, "0-9", bomb.getvalue(), age_years=5)
    with pytest.raises(UploadRefused) as info:
        env.uploads.add_photo(user, campaign, "no-such-bracket", face_photo(1), age_years=5)
    assert info.value.detail["reason"] == "bracket"
    assert env.blobs.data == {} if hasattr(env.blobs, "data") else True


@pytest.mark.slow
def test_stored_copy_is_encrypted_and_stripped(env: Any, ready: Any) -> None:
    import datetime as dt

    user, campaign, _ = ready
    photo = env.uploads.add_photo(user, campaign, "0-9", face_photo(2, captured=dt.datetime(2000, 6, 1)))
    env.session.commit()
    assert photo.age_years == 5 and photo.age_source == "capture_date"  # born 1995-03-04
    sealed = env.blobs.get(photo.blob_key)
    assert b"JFIF" not in sealed and b"Exif" not in sealed
    stored = env.uploads.read_photo(photo)
    assert Image.open(io.BytesIO(stored)).getexif() == {}


@pytest.mark.slow
def test_withdrawn_consent_stops_processing_and_review(env: Any, ready: Any, make_user: Any) -> None:
    user, campaign, _ = ready
    photos = _fill(env, user, campaign)
    for p in photos:
        env.session.refresh(p)
    assert not any(p.blocking for p in photos), [(p.state, p.identity, p.gates.get("verdict")) for p in photos]
    photo_set = env.contributions.submit(user, campaign)
    env.session.commit()
    env.consent.withdraw(user.subject_id, campaign.id, ["sensitive"])
    env.session.commit()
    with pytest.raises(ConsentRequired):
        env.review.claim(make_user("operator"), photo_set)


def test_a_closed_campaign_takes_no_new_set_but_lets_rework_finish(env: Any, ready: Any, make_user: Any) -> None:
    """Closing stops collection: a set never sent for review takes no upload and cannot be sent (what was uploaded
    can still be deleted); a set a reviewer sent back before the close can still be reworked."""
    from collection.campaigns.models import CampaignStatus
    from collection.errors import NotEligible

    user, campaign, version = ready
    bracket = campaign.brackets[0]["key"]
    first = env.uploads.add_photo(user, campaign, bracket, face_photo(1), age_years=AGES[bracket])
    env.session.commit()
    campaign.status = CampaignStatus.CLOSED
    env.session.commit()
    with pytest.raises(NotEligible) as refused:
        env.uploads.add_photo(user, campaign, bracket, face_photo(2), age_years=AGES[bracket])
    assert refused.value.detail["reason"] == "closed_set"
    with pytest.raises(NotEligible):
        env.contributions.submit(user, campaign)
    env.session.rollback()
    env.uploads.delete_photo(user, env.session.merge(first))
    env.session.commit()

    other = make_user("contributor")
    campaign.status = CampaignStatus.OPEN
    consent_and_enroll(env, other, campaign, version)
    env.session.commit()
    campaign.status = CampaignStatus.CLOSED
    photo_set = env.contributions.photo_set(other, campaign)
    photo_set.state = SetState.CHANGES_REQUESTED  # sent back by a reviewer before the close
    env.session.commit()
    kept = env.uploads.add_photo(other, campaign, bracket, face_photo(3), age_years=AGES[bracket])
    env.session.commit()
    assert kept.id
