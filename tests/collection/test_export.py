"""The contributor's data export: a zip with a JSON index holding the decrypted photos, the voice recording, the
consent receipts byte for byte, gate results, review decisions and appeals, payments and the account fields;
objects whose key was destroyed are listed as unreadable instead of failing the export; an audit event."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import tempfile
import wave
import zipfile
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select

from collection.audit.log import AuditLog
from collection.audit.models import AuditEvent
from collection.contributions.export import FORMAT, DataExport
from collection.crypto import KeyVault, MasterKey
from collection.review.models import RejectReason
from collection.review.service import PhotoVerdict
from tests.collection.flow_support import MASTER, build_env, consent_and_enroll, publish_notice
from tests.webapp.contribute_support import speech_like_wav
from webapp.demo_media import face_photo

BRACKETS = [
    {"key": "0-9", "min_age": 0, "max_age": 9, "photos": 1},
    {"key": "20-29", "min_age": 20, "max_age": 29, "photos": 1},
]
PROMPTS = [{"key": "p1", "text_ko": "안녕하세요", "text_en": "Hello", "min_seconds": 1, "max_seconds": 10}]
WITH_VOICE = {"collection": True, "sensitive": True, "release": False, "voice": True}


@pytest.fixture()
def env(db_session: Any, test_sessionmaker: Any, clock: Any) -> Any:
    return build_env(db_session, test_sessionmaker, clock)


def export(env: Any, user: Any) -> tuple[zipfile.ZipFile, dict[str, Any], Any]:
    exporter = DataExport(env.session, env.clock, env.uploads, env.consent, AuditLog(env.session, env.clock))
    env.session.expire_all()  # read what is stored, as a new request would
    out = tempfile.TemporaryFile()
    summary = exporter.write(user, out)
    env.session.commit()
    out.seek(0)
    archive = zipfile.ZipFile(io.BytesIO(out.read()))
    out.close()
    return archive, json.loads(archive.read("index.json")), summary


def part_clip_gates(env: Any, clip_id: str) -> Any:
    from collection.contributions.models import VoiceClip

    return env.session.get(VoiceClip, clip_id).gates


@pytest.fixture()
def history(env: Any, make_user: Any, make_campaign: Any) -> Any:
    """A set taken through a rejection, an appeal overturned by a second operator, a resubmission,
    acceptance and payment, with a voice recording."""
    campaign = make_campaign(brackets=BRACKETS, voice_prompts=PROMPTS)
    version = publish_notice(env, campaign)
    user = make_user("contributor")
    consent_and_enroll(env, user, campaign, version, WITH_VOICE)
    kid = env.uploads.add_photo(user, campaign, "0-9", face_photo(21), age_years=7)
    env.session.commit()
    adult = env.uploads.add_photo(user, campaign, "20-29", face_photo(22), age_years=26)
    env.session.commit()
    env.uploads.add_voice(user, campaign, "p1", speech_like_wav())
    env.session.commit()
    env.session.expire_all()  # the gate jobs ran in their own sessions
    photo_set = env.contributions.photo_set(user, campaign)
    for clip in photo_set.voice_clips:  # the synthetic voice may fail a gate; a person would accept it here
        clip.state = type(clip.state).PASSED
    env.contributions.submit(user, campaign)
    first, second = make_user("operator"), make_user("operator")
    env.review.claim(first, photo_set)
    verdicts = [
        PhotoVerdict(kid.id, False, RejectReason.WRONG_BRACKET, "나이가 맞지 않아 보입니다"),
        PhotoVerdict(adult.id, True),
    ]
    env.review.decide(first, photo_set, verdicts, campaign)
    env.session.commit()
    appeal = env.review.appeal(user, kid, "일곱 살 때 사진이 맞습니다")
    env.review.decide_appeal(second, appeal, overturn=True, answer="확인했습니다")
    env.contributions.submit(user, campaign)
    env.review.claim(second, photo_set)
    env.review.decide(second, photo_set, [], campaign)
    env.payments.save_payout_account(user, "004", "김민지", "123456-78-901234")
    batch = env.payments.create_batch(first)
    env.payments.mark_paid(first, batch)
    env.session.commit()
    return user, campaign, kid, adult


@pytest.mark.slow
def test_export_holds_every_part(env: Any, history: Any) -> None:
    user, campaign, kid, adult = history
    archive, index, summary = export(env, user)
    assert index["format"] == FORMAT and index["account"]["email"] == user.email
    assert index["account"]["birth_date"] == user.birth_date.isoformat()
    assert summary.photos == 2 and summary.voice_clips == 1 and summary.payments == 1 and not summary.unreadable
    (part,) = index["campaigns"]
    assert part["campaign"]["slug"] == campaign.slug and part["set"]["state"] == "paid" and part["set"]["round"] == 2
    photos = {p["id"]: p for p in part["photos"]}
    # photos: decrypted, the exact stored working copy, with gate results and the review history
    for photo in (kid, adult):
        entry = photos[photo.id]
        data = archive.read(entry["file"])
        assert data == env.uploads.read_photo(photo) and Image.open(io.BytesIO(data)).format == "JPEG"
        assert entry["gate_results"]["gates"] and entry["gate_results"] == photo.gates
    kid_entry = photos[kid.id]
    assert kid_entry["age_years"] == 7 and kid_entry["age_source"] == "contributor"
    assert [d["decision"] for d in kid_entry["decisions"]] == ["reject"]
    assert kid_entry["decisions"][0]["reason"] == "wrong_bracket"
    assert kid_entry["decisions"][0]["comment"] == "나이가 맞지 않아 보입니다"
    assert "reviewer_id" not in kid_entry["decisions"][0]  # staff identities stay out
    (appeal,) = kid_entry["appeals"]
    assert appeal["note"] == "일곱 살 때 사진이 맞습니다" and appeal["state"] == "overturned"
    # voice: a playable WAV
    (clip,) = part["voice"]
    with wave.open(io.BytesIO(archive.read(clip["file"]))) as w:
        assert w.getnframes() > 0 and w.getframerate() == clip["sample_rate"]
    assert clip["gate_results"] == part_clip_gates(env, clip["id"])
    # receipts: the stored signed bytes, verbatim, still verifiable
    records = env.consent.records(user.subject_id)
    assert [r["receipt_id"] for r in index["consent_receipts"]] == [r.id for r in records]
    for record in records:
        data = archive.read(f"consent/{record.id}.json")
        assert data == record.receipt_bytes and env.consent.verify(data).valid
    # payments
    (payment,) = index["payments"]
    assert payment["amount_krw"] == campaign.payment_krw and payment["paid_at"] is not None
    # the index lists every file with its hash; nothing else is in the zip (no face encodings)
    listed = {f["path"]: f["sha256"] for f in index["files"]}
    assert set(archive.namelist()) == set(listed) | {"index.json"}
    for path, digest in listed.items():
        assert hashlib.sha256(archive.read(path)).hexdigest() == digest
    assert not any("encoding" in name for name in archive.namelist())


@pytest.mark.slow
def test_export_records_an_audit_event_and_lists_erased_objects(env: Any, make_user: Any, make_campaign: Any) -> None:
    campaign = make_campaign(brackets=BRACKETS)
    version = publish_notice(env, campaign)
    user = make_user("contributor")
    photo_set = consent_and_enroll(env, user, campaign, version)
    photo = env.uploads.add_photo(user, campaign, "0-9", face_photo(31), age_years=5)
    env.session.commit()
    env.vault.destroy(photo_set.enrollment_id)  # crypto-shredded: the blob can never be read again
    env.session.commit()
    fresh = KeyVault(env.session, MasterKey(MASTER), env.clock)  # as the next request would see it
    env.uploads.b = dataclasses.replace(env.uploads.b, vault=fresh)
    archive, index, summary = export(env, user)
    assert summary.unreadable == (photo.id,) and index["unreadable"] == [photo.id]
    assert index["campaigns"][0]["photos"][0]["file"] is None
    assert not any(name.startswith("photos/") for name in archive.namelist())
    events = env.session.scalars(select(AuditEvent).where(AuditEvent.action == "export.generated")).all()
    assert [(e.actor_id, e.object_id) for e in events] == [(user.subject_id, user.subject_id)]
    assert events[0].details["photos"] == 1


def test_export_of_someone_who_never_joined_is_just_the_account(env: Any, make_user: Any) -> None:
    user = make_user("contributor")
    archive, index, summary = export(env, user)
    assert archive.namelist() == ["index.json"]
    assert index["campaigns"] == [] and index["payments"] == [] and index["consent_receipts"] == []
    assert index["payout_account"] is None
    assert index["account"]["display_name"] == user.display_name and summary.photos == 0


def test_withdrawing_only_the_voice_matter_erases_the_recordings_and_keeps_the_photos(
    env: Any, make_user: Any, make_campaign: Any
) -> None:
    from collection.compliance.ledger import erasure_proofs
    from collection.contributions.models import Photo, VoiceClip
    from collection.contributions.uploads import voice_blob_prefix
    from collection.contributions.withdrawal import withdraw_consent
    from collection.erasure.models import ErasureRecord

    campaign = make_campaign(brackets=BRACKETS, voice_prompts=PROMPTS)
    user = make_user("contributor")
    photo_set = consent_and_enroll(env, user, campaign, publish_notice(env, campaign), WITH_VOICE)
    env.uploads.add_photo(user, campaign, "20-29", face_photo(22), age_years=26)
    env.uploads.add_voice(user, campaign, "p1", speech_like_wav())
    env.session.commit()
    env.uploads.add_voice(user, campaign, "p1", speech_like_wav(seconds=2.0))  # a retake: two versions' blobs
    env.session.commit()
    voice_keys = list(env.blobs.iter_keys(voice_blob_prefix(photo_set.enrollment_id)))
    assert voice_keys

    outcome = withdraw_consent(env.consent, user.subject_id, campaign.id, ["voice"], erasure=env.erasure)
    env.session.commit()

    assert not outcome.erasure_due
    assert env.session.scalar(select(VoiceClip.id).where(VoiceClip.set_id == photo_set.id)) is None
    assert list(env.blobs.iter_keys(voice_blob_prefix(photo_set.enrollment_id))) == []
    assert env.session.scalar(select(Photo.id).where(Photo.set_id == photo_set.id)) is not None  # photos stay
    assert not env.vault.is_destroyed(photo_set.enrollment_id)
    record = env.session.scalar(select(ErasureRecord).where(ErasureRecord.subject_id == user.subject_id))
    assert record.reason == "voice_withdrawal" and record.blobs_deleted == len(voice_keys)
    proof = next(p for p in erasure_proofs(env.session, env.blobs) if p.record.id == record.id)
    assert proof.voice_only and proof.proven and proof.key_live

    # a restored backup brings a recording back: re-applying the ledger erases it again, photos still untouched
    env.blobs.put(voice_keys[0], b"restored")
    assert env.erasure.reapply() == 1
    env.session.commit()
    assert list(env.blobs.iter_keys(voice_blob_prefix(photo_set.enrollment_id))) == []
    assert env.session.scalar(select(Photo.id).where(Photo.set_id == photo_set.id)) is not None


def test_export_includes_the_payout_account_and_account_deletion_removes_it(env: Any, make_user: Any) -> None:
    from collection.payments.models import PayoutAccount

    user = make_user("contributor")
    env.payments.save_payout_account(user, "088", "김민지", "110-234-567890")
    env.session.commit()
    _, index, _ = export(env, user)
    payout = index["payout_account"]
    assert (payout["bank_code"], payout["bank_name"], payout["account_holder"], payout["account_number"]) == (
        "088",
        "신한은행",
        "김민지",
        "110234567890",
    )

    env.erasure.erase_account(user)
    env.session.commit()
    assert env.session.scalar(select(PayoutAccount).where(PayoutAccount.user_id == user.id)) is None
    assert env.payments.payout_account(user) is None
    _, index, _ = export(env, user)
    assert index["payout_account"] is None
