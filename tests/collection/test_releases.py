"""The release workflow on a real database: who goes in (third-party-provision consent at build time), the
signed package and its verification, approval only after verification, audited downloads, signed withdrawal
lists after a withdrawal, and a real bystander masked while the contributor's face survives.

Accepted sets are written here directly (sealed blobs, accepted rows) rather than through the quality gates,
which these tests are not about; the media are the scikit-image sample faces (webapp.demo_media), and the
bystander is a face of the LFW subset shipped with scikit-image (a different person)."""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata
from sqlalchemy import func, select

from anonymize import MaskSettings, face_encodings, faces_other_than, read_withdrawal_list, scrub_audio, scrub_image
from collection.audit.log import AuditLog
from collection.audit.models import AuditEvent
from collection.contributions.models import Enrollment, Photo, PhotoState, SetState
from collection.contributions.uploads import blob_key, encode_jpeg, keyholder
from collection.crypto import KeyVault, MasterKey
from collection.errors import DecryptionFailed
from collection.job_queues import NullQueue
from collection.job_runner import JobRunner, Outcome
from collection.jobs import HandlerRegistry, JobState
from collection.releases import (
    ApprovalRefused,
    DeliveryRefused,
    NothingToRelease,
    ReleasedPhoto,
    ReleaseDraft,
    ReleaseItem,
    ReleaseMedia,
    ReleaseRuleError,
    ReleaseService,
    ReleaseSettings,
    ReleaseState,
    ReleaseStateError,
    ReleaseSubject,
)
from collection.releases.jobs import BUILD_ERROR, build_job, queue_build, register_build_job
from collection.releases.signing import open_release_key
from consent.service import ConsentService, KeyStore
from tests.collection.flow_support import MASTER, build_env, consent_and_enroll, publish_notice
from webapp.demo_media import face_photo

WITH_RELEASE = {"collection": True, "sensitive": True, "release": True, "voice": False}
WITHOUT_RELEASE = {"collection": True, "sensitive": True, "release": False, "voice": False}
BYSTANDER_BOX = (265, 60, 385, 180)  # left, top, right, bottom of the pasted LFW face
FILL = np.array(MaskSettings().fill, dtype=np.int16)


# -- media ----------------------------------------------------------------------------------------------------------
def _rgb(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def stored(data: bytes) -> bytes:
    """What an upload stores: the pixels re-encoded (no metadata)."""
    return encode_jpeg(_rgb(data))


@functools.cache
def subject_encoding() -> np.ndarray:
    """The contributor's face encoding, as the photo gates would have sealed it."""
    rgb = _rgb(face_photo(1, size=240))
    return face_encodings(rgb, [faces_other_than(rgb, None)[0].core])[0]


def with_bystander(variant: int = 3) -> bytes:
    """The contributor's photo (left) with a stranger beside them (an LFW face, right)."""
    canvas = np.random.default_rng(3).integers(90, 150, size=(240, 400, 3), dtype=np.uint8)
    canvas[:, :240] = _rgb(face_photo(variant, size=240))
    left, top, right, bottom = BYSTANDER_BOX
    face = (skdata.lfw_subset()[10] * 255).astype(np.uint8)
    face = cv2.resize(face, (right - left, bottom - top), interpolation=cv2.INTER_CUBIC)
    canvas[top:bottom, left:right] = np.stack([face] * 3, axis=-1)
    return encode_jpeg(canvas)


class ScrubOnly:
    """A cheaper MediaAnonymizer for tests that are not about faces: metadata scrub without face search."""

    def photo(self, data: bytes, subject_encoding: np.ndarray | None) -> ReleasedPhoto:
        return ReleasedPhoto(scrub_image(data).data, 0, True, True)

    def voice(self, data: bytes) -> bytes:
        return scrub_audio(data, "flac").data


# -- accepted sets --------------------------------------------------------------------------------------------------
def add_accepted_set(
    env: Any, user: Any, campaign: Any, version: Any, photos: list[bytes], decisions: dict[str, bool], blobs: Any
) -> Any:
    """Consent, enroll, and store `photos` as an accepted set (sealed under the contributor's key in `blobs`),
    each with the contributor's sealed face encoding."""
    photo_set = consent_and_enroll(env, user, campaign, version, decisions)
    holder = keyholder(photo_set)
    for index, data in enumerate(photos):
        bracket = campaign.brackets[index % len(campaign.brackets)]["key"]
        photo = Photo(
            set_id=photo_set.id,
            campaign_id=campaign.id,
            user_id=user.id,
            bracket=bracket,
            version=1,
            state=PhotoState.ACCEPTED,
            blob_key="",
            content_mac=f"{index:064x}",
            created_at=env.clock.now(),
        )
        env.session.add(photo)
        env.session.flush()
        photo.blob_key = blob_key(holder, "photo", photo.id, 1)
        photo.encoding_key = blob_key(holder, "encoding", photo.id, 1)
        encoding = io.BytesIO()
        np.save(encoding, subject_encoding(), allow_pickle=False)
        for key, payload in ((photo.blob_key, data), (photo.encoding_key, encoding.getvalue())):
            blobs.put(key, env.vault.seal(holder, key, 1, payload))
    photo_set.state = SetState.ACCEPTED
    env.session.commit()
    return photo_set


def service(env: Any, root: Path, media: Any = None, faces: bool = False, blobs: Any = None) -> ReleaseService:
    settings = ReleaseSettings(root / "packages", verify_faces=faces, use_exiftool=None if faces else False)
    return ReleaseService(
        env.session,
        env.clock,
        env.consent,
        env.vault,
        blobs or env.blobs,
        AuditLog(env.session, env.clock),
        MASTER,
        settings,
        media=media or ScrubOnly(),
    )


def draft(svc: ReleaseService, campaign: Any, actor: Any = None, **kw: Any) -> Any:
    values = {
        "licensee": "Seoul AI Lab",
        "purpose": "Age-invariant face recognition research",
        "fields": ["age_bracket"],
    } | kw
    release = svc.draft(actor, ReleaseDraft(campaign, **values))
    svc.session.commit()
    return release


def manifest(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in (path / "manifest.jsonl").read_text("utf-8").splitlines()]


def actions(env: Any, action: str) -> list[AuditEvent]:
    return list(env.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


@pytest.fixture()
def env(db_session: Any, test_sessionmaker: Any, clock: Any) -> Any:
    return build_env(db_session, test_sessionmaker, clock)


@pytest.fixture()
def campaign(env: Any, make_campaign: Any) -> Any:
    return make_campaign()


@pytest.fixture()
def version(env: Any, campaign: Any) -> Any:
    return publish_notice(env, campaign)


@pytest.fixture()
def consenting(env: Any, make_user: Any, campaign: Any, version: Any) -> Any:
    user = make_user("contributor")
    add_accepted_set(
        env, user, campaign, version, [stored(face_photo(i, size=240)) for i in (1, 2)], WITH_RELEASE, env.blobs
    )
    return user


# -- the whole workflow, with real face masking ------------------------------------------------------------------------
@pytest.mark.slow
def test_only_consenting_contributors_are_released_and_a_later_withdrawal_is_listed(
    env: Any, campaign: Any, version: Any, make_user: Any, tmp_path: Path
) -> None:
    declined, consenting = make_user("contributor"), make_user("contributor")
    add_accepted_set(env, declined, campaign, version, [stored(face_photo(5, size=240))], WITHOUT_RELEASE, env.blobs)
    add_accepted_set(
        env, consenting, campaign, version, [stored(face_photo(2, size=240)), with_bystander()], WITH_RELEASE, env.blobs
    )
    svc = service(env, tmp_path, media=ReleaseMedia(), faces=True)
    release = draft(svc, campaign)
    svc.build(None, release, tmp_path / "pkg")
    env.session.commit()

    assert release.state is ReleaseState.VERIFIED, release.verify_report
    assert release.verify_report["checks"]["faces"] == "passed" and release.verify_report["failures"] == []
    assert (release.items, release.subjects) == (2, 1)
    assert release.build_summary["excluded"] == {"no_third_party_consent": 1}
    assert release.build_summary["faces_masked"] >= 1 and release.build_summary["subject_not_found"] == 0

    pseudonyms = svc.pseudonymizer(release)
    rows = manifest(tmp_path / "pkg")
    receipt = env.consent.latest_record(consenting.subject_id, campaign.id)
    assert {r["subject_id"] for r in rows} == {pseudonyms.subject_id(consenting.subject_id)}
    assert {r["consent_version"] for r in rows} == {"v1"}
    assert {r["receipt_ref"] for r in rows} == {pseudonyms.receipt_ref(receipt.id)}
    text = (tmp_path / "pkg" / "manifest.jsonl").read_text() + (tmp_path / "pkg" / "manifest.csv").read_text()
    assert consenting.subject_id not in text and declined.subject_id not in text and receipt.id not in text
    with (tmp_path / "pkg" / "manifest.csv").open(encoding="utf-8") as fh:
        assert [dict(r) for r in csv.DictReader(fh)] == rows

    # the bystander is covered with a solid fill, the contributor's face is still there and still theirs
    photo_ids = {p.id for p in env.session.scalars(select(Photo).where(Photo.user_id == consenting.id))}
    items = list(env.session.scalars(select(ReleaseItem).where(ReleaseItem.release_id == release.id)))
    assert {i.object_id for i in items} == photo_ids and {i.subject_id for i in items} == {consenting.subject_id}
    wide = next(r for r in rows if _rgb((tmp_path / "pkg" / r["file"]).read_bytes()).shape[1] == 400)
    released = _rgb((tmp_path / "pkg" / wide["file"]).read_bytes()).astype(np.int16)
    left, top, right, bottom = BYSTANDER_BOX
    assert (np.abs(released[top + 10 : bottom - 10, left + 10 : right - 10] - FILL).max(axis=-1) <= 6).mean() > 0.95
    faces = faces_other_than(released.astype(np.uint8), None)
    assert len(faces) == 1 and faces[0].box.right <= 240
    kept = face_encodings(released.astype(np.uint8), [faces[0].core])[0]
    assert float(np.linalg.norm(kept - subject_encoding())) < 0.6

    # withdrawal after the build: a signed list naming the pseudonym, and approval refused from then on
    env.consent.withdraw(consenting.subject_id, campaign.id, ["release"])
    lists = svc.record_withdrawal(consenting.subject_id, campaign.id)
    env.session.commit()
    assert len(lists) == 1 and svc.withdrawal_lists(release) == lists
    parsed = read_withdrawal_list(lists[0].document_bytes, svc.public_keys())
    assert parsed.release_id == release.id and parsed.sequence == 1
    assert parsed.subject_ids == (pseudonyms.subject_id(consenting.subject_id),)
    assert svc.record_withdrawal(consenting.subject_id, campaign.id) == []  # listed once
    with pytest.raises(ApprovalRefused, match="withdrew"):
        svc.approve(make_user("compliance"), release)


# -- faster tests: metadata scrub only, no face search ----------------------------------------------------------------
def test_withdrawn_and_erased_contributors_are_never_selected(
    env: Any, campaign: Any, version: Any, consenting: Any, make_user: Any, tmp_path: Path
) -> None:
    gone = make_user("contributor")
    add_accepted_set(env, gone, campaign, version, [stored(face_photo(4, size=240))], WITH_RELEASE, env.blobs)
    env.consent.withdraw(gone.subject_id, campaign.id, None)  # everything, before the build
    env.session.commit()
    svc = service(env, tmp_path)
    release = draft(svc, campaign)
    svc.build(None, release, tmp_path / "pkg")
    subjects = list(env.session.scalars(select(ReleaseSubject.subject_id)))
    assert subjects == [consenting.subject_id]
    assert release.build_summary["excluded"] == {"consent_withdrawn": 1}
    assert release.state is ReleaseState.VERIFIED and release.verify_report["checks"]["faces"] == "skipped"


def test_nothing_to_release_without_third_party_consent(
    env: Any, campaign: Any, version: Any, make_user: Any, tmp_path: Path
) -> None:
    user = make_user("contributor")
    add_accepted_set(env, user, campaign, version, [stored(face_photo(1, size=240))], WITHOUT_RELEASE, env.blobs)
    svc = service(env, tmp_path)
    release = draft(svc, campaign)
    with pytest.raises(NothingToRelease) as info:
        svc.build(None, release, tmp_path / "pkg")
    assert info.value.excluded == {"no_third_party_consent": 1}
    assert not (tmp_path / "pkg").exists()


def test_drafts_release_only_allow_listed_collected_fields(env: Any, campaign: Any, tmp_path: Path) -> None:
    svc = service(env, tmp_path)
    release = draft(svc, campaign, fields=["age_bracket"])
    assert release.fields == ["age_bracket"] and release.k == campaign.k_anonymity
    with pytest.raises(ReleaseRuleError, match="not on the allow-list"):
        draft(svc, campaign, fields=["birth_date"])
    with pytest.raises(ReleaseRuleError, match="does not collect: gender"):
        draft(svc, campaign, fields=["gender"])
    with pytest.raises(ReleaseRuleError, match="personal data"):
        draft(svc, campaign, purpose="Call 010-1234-5678 for access")
    with pytest.raises(ReleaseRuleError, match="recordings"):
        draft(svc, campaign, include_voice=True)


def test_package_verifies_and_pseudonyms_differ_between_releases(
    env: Any, campaign: Any, consenting: Any, tmp_path: Path
) -> None:
    svc = service(env, tmp_path)
    first, second = draft(svc, campaign), draft(svc, campaign, licensee="Busan Vision Institute")
    svc.build(None, first, tmp_path / "one.zip")
    svc.build(None, second, tmp_path / "two")
    assert first.verification_passed and second.verification_passed
    ids = [
        {r.pseudonym for r in env.session.scalars(select(ReleaseSubject).where(ReleaseSubject.release_id == x.id))}
        for x in (first, second)
    ]
    assert len(ids[0]) == len(ids[1]) == 1 and ids[0] != ids[1]  # the same person cannot be joined across releases
    with pytest.raises(ReleaseStateError):
        svc.build(None, first, tmp_path / "again")
    with pytest.raises(DecryptionFailed):  # a sealed key moved onto another release does not open
        open_release_key(MASTER, second.id, first.sealed_key)


def test_k_anonymity_generalises_the_released_brackets(
    env: Any, campaign: Any, version: Any, make_user: Any, tmp_path: Path
) -> None:
    campaign.k_anonymity = 2
    for i in range(2):
        add_accepted_set(
            env,
            make_user("contributor"),
            campaign,
            version,
            [stored(face_photo(10 * i + j, size=160)) for j in range(2)],
            WITH_RELEASE,
            env.blobs,
        )
    svc = service(env, tmp_path)
    release = draft(svc, campaign)
    svc.build(None, release, tmp_path / "pkg")
    values = sorted(r["age_bracket"] for r in manifest(tmp_path / "pkg"))
    assert values == ["0-9", "0-9", "10-19", "10-19"] and release.verify_report["k_achieved"] == 2
    datasheet = json.loads((tmp_path / "pkg" / "datasheet.json").read_text())
    assert datasheet["k"] == 2 and datasheet["counts"]["subjects"] == 2


def test_approval_only_after_verification_passed(
    env: Any, campaign: Any, consenting: Any, make_user: Any, tmp_path: Path
) -> None:
    svc = service(env, tmp_path)
    operator, officer = make_user("operator"), make_user("compliance")
    release = draft(svc, campaign, actor=operator)
    with pytest.raises(ApprovalRefused, match="not built"):
        svc.approve(officer, release)
    svc.build(operator, release, tmp_path / "pkg")
    media = next((tmp_path / "pkg" / "media").iterdir())
    media.write_bytes(media.read_bytes() + b"tampered")
    report = svc.verify(officer, release)
    assert release.state is ReleaseState.VERIFY_FAILED and not report["ok"]
    with pytest.raises(ApprovalRefused) as info:
        svc.approve(officer, release)
    assert any(f["check"] == "checksum" for f in info.value.failures) and "checksum" in str(info.value)
    assert {"check": "checksum", "file": f"media/{media.name}", "detail": "size or SHA-256 differs from the manifest",
            "code": "checksum_mismatch", "params": {}} in info.value.failures  # coded for the web layer to word
    with pytest.raises(ApprovalRefused, match="compliance officer"):
        svc.approve(operator, release)
    assert actions(env, "release.approved") == []


def test_a_package_that_cannot_be_opened_fails_verification_with_a_code(
    env: Any, campaign: Any, consenting: Any, make_user: Any, tmp_path: Path
) -> None:
    svc = service(env, tmp_path)
    operator, officer = make_user("operator"), make_user("compliance")
    release = draft(svc, campaign, actor=operator)
    svc.build(operator, release, tmp_path / "pkg.zip")
    (tmp_path / "pkg.zip").unlink()
    report = svc.verify(officer, release)
    assert release.state is ReleaseState.VERIFY_FAILED
    detail = f"{tmp_path / 'pkg.zip'}: no such package"  # the English the CLI prints, as before codes
    assert report["failures"] == [
        {"check": "structure", "file": None, "detail": detail, "code": "no_such_package", "params": {}}
    ]
    assert release.failures() == report["failures"]


def test_approval_and_every_download_are_audited(
    env: Any, campaign: Any, consenting: Any, make_user: Any, tmp_path: Path
) -> None:
    svc = service(env, tmp_path)
    admin, officer = make_user("admin"), make_user("compliance")
    release = draft(svc, campaign, actor=admin)
    svc.build(admin, release)  # the configured package folder, as a zip
    assert release.package_path.endswith(".zip")
    with pytest.raises(DeliveryRefused, match="not approved"):
        svc.download(officer, release)
    with pytest.raises(ApprovalRefused, match="built a release"):
        svc.approve(admin, release)  # four eyes: whoever built it does not approve it
    svc.approve(officer, release)
    assert release.state is ReleaseState.APPROVED and release.approved_by == officer.id
    with svc.download(officer, release) as package:
        content = package.file.read()
    assert content == Path(release.package_path).read_bytes() and package.size == len(content)
    assert package.name == Path(release.package_path).name
    svc.download(officer, release).file.close()
    env.session.commit()
    downloads = actions(env, "release.downloaded")
    assert len(downloads) == 2 and {e.actor_id for e in downloads} == {officer.id}
    assert [e.object_id for e in actions(env, "release.approved")] == [release.id]
    with pytest.raises(ReleaseStateError):
        svc.approve(officer, release)


def test_withdrawal_lists_are_cumulative_and_only_for_the_provision_matter(
    env: Any, campaign: Any, version: Any, consenting: Any, make_user: Any, tmp_path: Path
) -> None:
    other = make_user("contributor")
    decisions = WITH_RELEASE | {"voice": True}
    add_accepted_set(env, other, campaign, version, [stored(face_photo(7, size=240))], decisions, env.blobs)
    svc = service(env, tmp_path)
    release = draft(svc, campaign)
    svc.build(None, release, tmp_path / "pkg")
    env.session.commit()
    env.consent.withdraw(other.subject_id, campaign.id, ["voice"])
    assert svc.record_withdrawal(other.subject_id, campaign.id) == []  # still consents to the provision
    env.consent.withdraw(consenting.subject_id, campaign.id, None)
    env.consent.withdraw(other.subject_id, campaign.id, ["release"])
    first = svc.record_withdrawal(consenting.subject_id, campaign.id)
    second = svc.record_withdrawal(other.subject_id, campaign.id)
    env.session.commit()
    keys = svc.public_keys()
    assert read_withdrawal_list(first[0].document_bytes, keys).subject_ids == (
        svc.pseudonymizer(release).subject_id(consenting.subject_id),
    )
    latest = read_withdrawal_list(second[0].document_bytes, keys)
    assert latest.sequence == 2 and len(latest.subject_ids) == 2
    assert [w.sequence for w in svc.withdrawal_lists(release)] == [2, 1]
    assert len(actions(env, "release.withdrawal_list_issued")) == 2
    with pytest.raises(DeliveryRefused):
        release.state = ReleaseState.APPROVED
        svc.download(make_user("compliance"), release)


@pytest.mark.parametrize("reason", ["retention", "admin_request", "withdrawal"])
def test_erasure_deletes_local_packages_holding_the_person_and_lists_them(
    env: Any, campaign: Any, consenting: Any, make_user: Any, tmp_path: Path, reason: str
) -> None:
    other = make_user("contributor")
    svc = service(env, tmp_path)
    admin, officer = make_user("admin"), make_user("compliance")
    release = draft(svc, campaign, actor=admin)
    svc.build(admin, release)
    svc.approve(officer, release)
    env.session.commit()
    package = Path(release.package_path)
    assert package.is_file()
    untouched = draft(svc, campaign, actor=admin)  # a draft holds nobody: nothing to delete there

    enrollment = env.session.scalar(select(Enrollment).where(Enrollment.user_id == consenting.id))
    env.erasure.erase_enrollment(enrollment, reason)
    env.session.commit()

    assert not package.exists()
    assert release.package_path is None and release.build_summary["package_erased_reason"] == reason
    with pytest.raises(DeliveryRefused):
        svc.download(officer, release)
    lists = svc.withdrawal_lists(release)
    assert len(lists) == 1
    parsed = read_withdrawal_list(lists[0].document_bytes, svc.public_keys())
    assert parsed.subject_ids == (svc.pseudonymizer(release).subject_id(consenting.subject_id),)
    events = actions(env, "release.package_erased")
    assert [(e.object_id, e.details["reason"]) for e in events] == [(release.id, reason)]
    assert untouched.package_path is None and "package_erased_at" not in untouched.build_summary
    assert other.subject_id not in {e.details.get("subject") for e in events}

    env.erasure.erase_enrollment(enrollment, reason)  # idempotent: nothing new is listed or deleted
    env.session.commit()
    assert len(svc.withdrawal_lists(release)) == 1 and len(actions(env, "release.package_erased")) == 1


# -- building in the background ----------------------------------------------------------------------------------------
def _job_world(env: Any, sessionmaker: Any, root: Path) -> tuple[Any, Any]:
    """A build job registered on a runner with its own sessions, and a queue that only writes rows."""
    registry = HandlerRegistry()

    def on_session(session: Any) -> ReleaseService:
        consent = ConsentService(session, env.clock, KeyStore(session, MASTER, env.clock), "")
        vault = KeyVault(session, MasterKey(MASTER), env.clock)
        settings = ReleaseSettings(root / "packages", verify_faces=False, use_exiftool=False)
        return ReleaseService(session, env.clock, consent, vault, env.blobs, AuditLog(session, env.clock), MASTER,
                              settings, media=ScrubOnly())

    register_build_job(registry, on_session)
    return JobRunner(sessionmaker, registry, clock=env.clock), NullQueue(registry, env.clock)


def test_a_build_queued_from_the_page_runs_as_a_job_once(
    env: Any, campaign: Any, consenting: Any, make_user: Any, test_sessionmaker: Any, tmp_path: Path
) -> None:
    runner, queue = _job_world(env, test_sessionmaker, tmp_path)
    operator = make_user("operator")
    release = draft(service(env, tmp_path), campaign, actor=operator)
    job_id = queue_build(queue, env.session, release, operator)
    env.session.commit()
    assert queue.dispatched == [job_id] and not release.built
    assert queue_build(queue, env.session, release, operator) == job_id  # waiting already: not a second build
    env.session.commit()
    assert build_job(env.session, release.id).state is JobState.QUEUED

    assert runner.run(job_id).outcome is Outcome.DONE
    env.session.expire_all()
    assert release.state is ReleaseState.VERIFIED and release.built_by == operator.id
    assert Path(release.package_path).is_file() and build_job(env.session, release.id).state is JobState.DONE
    with pytest.raises(ReleaseStateError, match="already built"):
        queue_build(queue, env.session, release, operator)


def test_a_build_that_cannot_be_done_leaves_a_draft_with_the_reason(
    env: Any, campaign: Any, version: Any, make_user: Any, test_sessionmaker: Any, tmp_path: Path
) -> None:
    runner, queue = _job_world(env, test_sessionmaker, tmp_path)
    user = make_user("contributor")
    add_accepted_set(env, user, campaign, version, [stored(face_photo(1, size=240))], WITHOUT_RELEASE, env.blobs)
    release = draft(service(env, tmp_path), campaign)
    job_id = queue_build(queue, env.session, release, None)
    env.session.commit()

    assert runner.run(job_id).outcome is Outcome.DONE  # an operator's problem, not a worker's: no retries
    env.session.expire_all()
    assert release.state is ReleaseState.DRAFT and not release.built and release.package_path is None
    error = release.build_summary[BUILD_ERROR]
    assert error["kind"] == "NothingToRelease" and "third" in error["message"].lower()
    assert env.session.scalar(select(func.count()).select_from(ReleaseItem)) == 0  # the attempt left nothing

    queue_build(queue, env.session, release, None)  # trying again clears the old reason
    env.session.commit()
    assert BUILD_ERROR not in release.build_summary


class OneUnclean(ScrubOnly):
    """Masking that could not clear a bystander from the second photo it sees."""

    def __init__(self) -> None:
        self.seen = 0

    def photo(self, data: bytes, subject_encoding: np.ndarray | None) -> ReleasedPhoto:
        self.seen += 1
        released = super().photo(data, subject_encoding)
        return dataclasses.replace(released, clean=self.seen != 2)


def test_a_photo_whose_masking_is_not_proven_clean_is_left_out(
    env: Any, campaign: Any, consenting: Any, tmp_path: Path
) -> None:
    svc = service(env, tmp_path, media=OneUnclean())
    release = draft(svc, campaign, fields=[])
    svc.build(None, release, tmp_path / "pkg")
    env.session.commit()
    assert release.build_summary["unclean"] == 1 and release.build_summary["photos"] == 1
    assert release.items == 1 and len(manifest(tmp_path / "pkg")) == 1
    assert env.session.scalar(select(func.count()).select_from(ReleaseItem)) == 1


def test_a_package_replaced_on_disk_after_the_build_is_neither_approved_nor_delivered(
    env: Any, campaign: Any, consenting: Any, make_user: Any, tmp_path: Path
) -> None:
    svc = service(env, tmp_path)
    admin, officer = make_user("admin"), make_user("compliance")
    release, other = draft(svc, campaign, actor=admin), draft(svc, campaign, actor=admin)
    svc.build(admin, release)
    svc.build(admin, other)
    env.session.commit()
    original = Path(release.package_path).read_bytes()
    Path(release.package_path).write_bytes(Path(other.package_path).read_bytes())  # a validly signed other package
    with pytest.raises(ApprovalRefused, match="not the one that was built"):
        svc.approve(officer, release)
    Path(release.package_path).write_bytes(original)
    svc.approve(officer, release)
    Path(release.package_path).write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(DeliveryRefused, match="not the one that was built"):
        svc.download(officer, release)
