"""The conformance report: a PIPA / GDPR checklist evaluated automatically from the data itself, each line with
its legal basis, the evidence looked at, the problems found and PASS, FAIL or NOT APPLICABLE.

Every check reads the systems of record (rows, blobs, key rows, signed checkpoints on disk) rather than flags the
application keeps about itself: "encrypted" means the raw blob does not open as an image, array or audio file and
has the sealed format, and a live key row exists for its holder; "audit consistent" means the verifier recomputed
the log against the signed checkpoints. Problems name pseudonymous ids only.
"""

from __future__ import annotations

import datetime as dt
import enum
import importlib
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError
from sqlalchemy import select
from sqlalchemy.orm import Session

from collection.accounts.models import User
from collection.audit.checkpoints import load_checkpoints, verify
from collection.campaigns.models import Campaign
from collection.compliance.access_log import unreviewed_months
from collection.compliance.deadlines import erasure_obligations
from collection.compliance.models import RightsRequest, RightsState
from collection.compliance.retention import expired_campaigns, retention_due
from collection.compliance.rights import overdue_requests
from collection.contributions.models import Photo, PhotoSet, VoiceClip
from collection.crypto import NONCE_BYTES, TAG_BYTES, ContributorKey
from collection.errors import StorageError
from collection.said import Said
from collection.storage import BlobStore
from consent.models import MatterConsent, NoticeState, NoticeVersion
from consent.notice import MatterKind, missing_items

REQUIRED_KINDS = frozenset({MatterKind.COLLECTION_AND_USE.value, MatterKind.SENSITIVE_INFORMATION.value})
PERIOD = dt.timedelta(days=365)  # late erasures and late answers count against the last twelve months
_PLAIN_AUDIO = (b"RIFF", b"ID3", b"OggS", b"fLaC", b"\x1aE\xdf\xa3", b"#!AMR")


class Status(enum.StrEnum):
    PASS = "pass"
    FAIL = "fail"
    NOT_APPLICABLE = "not_applicable"


@dataclass(frozen=True)
class CheckResult:
    key: str
    title: str
    basis: str
    status: Status
    evidence: tuple[str, ...]
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class ConformanceReport:
    generated_at: dt.datetime
    results: tuple[CheckResult, ...]

    @property
    def ok(self) -> bool:
        return all(r.status is not Status.FAIL for r in self.results)

    def count(self, status: Status) -> int:
        return sum(1 for r in self.results if r.status is status)


def _result(key: str, title: str, basis: str, evidence: list[str], problems: list[Said] | list[str]) -> CheckResult:
    return CheckResult(key, title, basis, Status.FAIL if problems else Status.PASS, tuple(evidence), tuple(problems))


def looks_plain(data: bytes) -> str | None:
    """What an unencrypted blob opens as ("image", "array", "audio"), or None when it opens as nothing."""
    try:
        with Image.open(io.BytesIO(data)):
            return "image"
    except (UnidentifiedImageError, OSError, ValueError):
        pass
    try:
        np.load(io.BytesIO(data), allow_pickle=False)
        return "array"
    except (ValueError, OSError, EOFError):
        pass
    if data.startswith(_PLAIN_AUDIO) or data[4:8] == b"ftyp":
        return "audio"
    return None


class ConformanceChecker:
    def __init__(
        self,
        session: Session,
        now: dt.datetime,
        blobs: BlobStore,
        checkpoint_dir: Path | None,
        releases_module: str = "collection.releases.models",
    ) -> None:
        self.session = session
        self.now = now
        self.blobs = blobs
        self.checkpoint_dir = checkpoint_dir
        self.releases_module = releases_module

    @property
    def checks(self) -> dict[str, Callable[[], CheckResult]]:
        return {
            "consent_for_stored_data": self.consent_for_stored_data,
            "retention": self.retention,
            "encryption": self.encryption,
            "audit_log": self.audit_log,
            "releases_verified": self.releases_verified,
            "rights_requests": self.rights_requests,
            "notices_complete": self.notices_complete,
            "erasure_timely": self.erasure_timely,
            "access_reviewed": self.access_reviewed,
        }

    def run(self) -> ConformanceReport:
        return ConformanceReport(self.now, tuple(check() for check in self.checks.values()))

    # -- the checks ---------------------------------------------------------------------------------------
    def consent_for_stored_data(self) -> CheckResult:
        active = {
            (row.subject_id, row.campaign_id, row.matter_kind)
            for row in self.session.scalars(select(MatterConsent).where(MatterConsent.active.is_(True)))
        }
        subjects = dict(self.session.execute(select(User.id, User.subject_id)).all())
        problems, photos, clips = [], 0, 0
        for kind, object_id, user_id, campaign_id in self._stored_objects():
            photos, clips = photos + (kind == "photo"), clips + (kind == "voice_clip")
            subject = subjects.get(user_id, "")
            missing = sorted(k for k in REQUIRED_KINDS if (subject, campaign_id, k) not in active)
            if missing:
                problems.append(Said("no_consent", f"{kind} {object_id} (subject {subject}): no consent in force to"
                                     f" {', '.join(missing)}", kind=kind, object=object_id, subject=subject,
                                     missing=missing))
        evidence = [Said("stored_checked", f"{photos} stored photos and {clips} stored recordings checked against"
                         " the consents in force", photos=photos, clips=clips)]
        return _result(
            "consent_for_stored_data",
            "Every stored photo and recording has consent in force to both required matters",
            "PIPA Art. 15(1), 22, 23; GDPR Art. 6(1)(a), 7, 9(2)(a)",
            evidence,
            problems,
        )

    def retention(self) -> CheckResult:
        expired = expired_campaigns(self.session, self.now)
        due = retention_due(self.session, self.now)
        problems = [
            Said("retention_ended", f"enrollment {d.enrollment_id} of campaign {d.campaign_slug}: retention ended"
                 f" {d.ended_at:%Y-%m-%d}", enrollment=d.enrollment_id, campaign=d.campaign_slug,
                 ended=f"{d.ended_at:%Y-%m-%d}")
            for d in due
        ]
        closed = self.session.scalars(select(Campaign).where(Campaign.closed_at.is_not(None))).all()
        evidence = [
            Said("campaigns_closed", f"{len(closed)} closed campaigns, {len(expired)} past their retention period",
                 closed=len(closed), expired=len(expired)),
            Said("held_past_retention", f"{len(due)} enrollments still hold data past retention", due=len(due)),
        ]
        return _result(
            "retention",
            "Nothing is kept past its retention period",
            "PIPA Art. 21; GDPR Art. 5(1)(e)",
            evidence,
            problems,
        )

    def encryption(self) -> CheckResult:
        keys = {k.contributor_id: k for k in self.session.scalars(select(ContributorKey))}
        problems, checked = [], 0
        for holder, kind, object_id, blob_key in self._biometric_blobs():
            checked += 1
            problem = self._blob_problem(blob_key) or _key_problem(keys.get(holder))
            if problem:
                problems.append(Said(problem.code, f"{kind} of {object_id}: {problem}", kind=kind, object=object_id,
                                     **problem.params))
        evidence = [
            Said("blobs_read", f"{checked} biometric blobs (photos, thumbnails, face encodings, recordings) read raw"
                 " from storage", checked=checked),
            Said("sealed_rule", "each must open as no image, array or audio file, have the sealed format "
                 "(AES-256-GCM, version 1), and belong to a live per-contributor key row"),
        ]
        return _result(
            "encryption",
            "Every biometric object is encrypted under a live contributor key",
            "PIPA Art. 23(2), 29; GDPR Art. 9, 32(1)(a); PIPA biometric guideline (2021)",
            evidence,
            problems,
        )

    def audit_log(self) -> CheckResult:
        title = "The audit log is consistent with its last signed checkpoint"
        basis = "PIPA Art. 29 (safety measures: access records); GDPR Art. 5(2), 30"
        checkpoints = load_checkpoints(self.checkpoint_dir) if self.checkpoint_dir else []
        if not checkpoints:
            return _result(
                "audit_log",
                title,
                basis,
                [Said("checkpoint_folder", f"checkpoint folder: {self.checkpoint_dir}",
                      folder=str(self.checkpoint_dir))],
                [Said("no_checkpoint", "no signed checkpoint exists: run `datadam audit checkpoint`")],
            )
        report = verify(self.session, self.checkpoint_dir)
        last = max(checkpoints, key=lambda c: int(str(c["size"])))
        evidence = [
            Said("events_recomputed", f"{report.size} sequenced events recomputed, {report.pending} not yet sequenced",
                 size=report.size, pending=report.pending),
            Said("checkpoints_verified", f"{report.checkpoints} signed checkpoints verified; the last covers"
                 f" {last['size']} events ({last['time']})", checkpoints=report.checkpoints, last_size=last["size"],
                 last_time=str(last["time"])),
        ]
        return _result("audit_log", title, basis, evidence, list(report.problems))

    def releases_verified(self) -> CheckResult:
        title = "Every dataset release was verified before approval"
        basis = "PIPA Art. 17, 28-2 (pseudonymised provision); GDPR Art. 5(1)(f), 89"
        try:
            module = importlib.import_module(self.releases_module)
        except ModuleNotFoundError:
            return CheckResult(
                "releases_verified", title, basis, Status.NOT_APPLICABLE,
                (Said("no_release_workflow", "the release workflow is not installed"),),
            )
        return _releases_result(self.session, module, title, basis)

    def rights_requests(self) -> CheckResult:
        overdue = overdue_requests(self.session, self.now)
        recent = self.session.scalars(select(RightsRequest).where(RightsRequest.received_at >= self.now - PERIOD)).all()
        late = [r for r in recent if r.closed_at is not None and r.closed_at > r.due_at]
        still_open = sum(1 for r in recent if r.state in (RightsState.OPEN, RightsState.IN_PROGRESS))
        problems = [Said("request_overdue", f"{r.kind.value} request {r.id}: due {r.due_at:%Y-%m-%d}, still"
                         f" {r.state.value}", kind=r.kind.value, request=r.id, due=f"{r.due_at:%Y-%m-%d}",
                         state=r.state.value) for r in overdue]
        evidence = [
            Said("requests_received", f"{len(recent)} requests received in the last 12 months, {still_open} open",
                 received=len(recent), open=still_open),
            Said("requests_late", f"{len(late)} were answered after their 10-day deadline", late=len(late)),
        ]
        return _result(
            "rights_requests",
            "No rights request is past its 10-day deadline",
            "PIPA Art. 35-38, Enforcement Decree Art. 41-44; GDPR Art. 12(3)",
            evidence,
            problems,
        )

    def notices_complete(self) -> CheckResult:
        versions = self.session.scalars(select(NoticeVersion).where(NoticeVersion.state == NoticeState.PUBLISHED)).all()
        problems = []
        for version in versions:
            missing = missing_items(version.notice)
            if missing:
                shown = "; ".join(str(m) for m in missing[:5]) + (" ..." if len(missing) > 5 else "")
                problems.append(Said("notice_incomplete", f"notice {version.notice.version_id}: {len(missing)} items"
                                     f" missing: {shown}", notice=version.notice.version_id, count=len(missing),
                                     shown=shown))
        return _result(
            "notices_complete",
            "Every published notice has every required item",
            "PIPA Art. 15(2), 17(2), 22, 23; GDPR Art. 13",
            [Said("notices_checked", f"{len(versions)} published notice versions checked item by item",
                  versions=len(versions))],
            problems,
        )

    def erasure_timely(self) -> CheckResult:
        obligations = erasure_obligations(self.session, self.now)
        overdue = [o for o in obligations if o.overdue(self.now)]
        late = [o for o in obligations if o.late and o.due_since >= self.now - PERIOD]
        problems = [Said("erasure_overdue", f"{o.source} {o.ref}: due since {o.due_since:%Y-%m-%d}, not erased",
                         source=o.source, ref=o.ref, due=f"{o.due_since:%Y-%m-%d}") for o in overdue]
        problems += [
            Said("erasure_late", f"{o.source} {o.ref}: due since {o.due_since:%Y-%m-%d}, erased only"
                 f" {o.completed_at:%Y-%m-%d}", source=o.source, ref=o.ref, due=f"{o.due_since:%Y-%m-%d}",
                 done=f"{o.completed_at:%Y-%m-%d}")
            for o in late
        ]
        done = sum(1 for o in obligations if o.completed_at is not None)
        evidence = [Said("erasure_obligations", f"{len(obligations)} erasure obligations (retention, withdrawal,"
                         f" deletion requests), {done} done", obligations=len(obligations), done=done)]
        return _result(
            "erasure_timely",
            "Erasure is completed within 5 days",
            "PIPA Art. 21, Enforcement Decree Art. 16; GDPR Art. 17(1)",
            evidence,
            problems,
        )

    def access_reviewed(self) -> CheckResult:
        months = unreviewed_months(self.session, self.now)
        problems = [Said("month_unreviewed", f"{m}: staff views of biometric objects not signed off", month=m)
                    for m in months]
        return _result(
            "access_reviewed",
            "Staff views of biometric objects are reviewed monthly",
            "PIPA safety-measure standards Art. 8 (access records kept, checked monthly)",
            [Said("access_rule", "every month with staff views must be signed off within 15 days of its end")],
            problems,
        )

    # -- helpers --------------------------------------------------------------------------------------------
    def _stored_objects(self) -> Iterator[tuple[str, str, str, str]]:
        q = select(Photo.id, PhotoSet.user_id, PhotoSet.campaign_id).join(PhotoSet, Photo.set_id == PhotoSet.id)
        for object_id, user_id, campaign_id in self.session.execute(q):
            yield "photo", object_id, user_id, campaign_id
        q = select(VoiceClip.id, PhotoSet.user_id, PhotoSet.campaign_id).join(PhotoSet, VoiceClip.set_id == PhotoSet.id)
        for object_id, user_id, campaign_id in self.session.execute(q):
            yield "voice_clip", object_id, user_id, campaign_id

    def _biometric_blobs(self) -> Iterator[tuple[str, str, str, str]]:
        q = select(Photo, PhotoSet.enrollment_id).join(PhotoSet, Photo.set_id == PhotoSet.id)
        for photo, holder in self.session.execute(q).all():
            for kind, key in (
                ("photo", photo.blob_key),
                ("thumbnail", photo.thumb_key),
                ("face encoding", photo.encoding_key),
            ):
                if key:
                    yield holder, kind, photo.id, key
        q2 = select(VoiceClip, PhotoSet.enrollment_id).join(PhotoSet, VoiceClip.set_id == PhotoSet.id)
        for clip, holder in self.session.execute(q2).all():
            yield holder, "recording", clip.id, clip.blob_key

    def _blob_problem(self, key: str) -> Said | None:
        try:
            data = self.blobs.get(key)
        except StorageError:
            return Said("blob_missing", "the blob is missing from storage")
        plain = looks_plain(data)
        if plain:
            return Said("blob_in_clear", f"stored in clear (opens as {plain})", opens_as=plain)
        if len(data) < 1 + NONCE_BYTES + TAG_BYTES or data[0] != 1:
            return Said("blob_not_sealed", "not in the sealed format")
        return None


def _key_problem(key: ContributorKey | None) -> Said | None:
    if key is None:
        return Said("blob_no_key", "no key row for its holder (it was never sealed under a contributor key)")
    if key.destroyed:
        return Said("blob_key_destroyed", "its key was destroyed but the object is still listed (erasure incomplete)")
    return None


def _releases_result(session: Session, module: Any, title: str, basis: str) -> CheckResult:
    """Every approved release has a passing verification report dated no later than its approval. The release
    models belong to collection.releases, imported lazily so this report works with or without them."""
    releases = session.scalars(select(module.Release)).all()
    approved = [r for r in releases if r.approved_at is not None]
    problems = []
    for release in approved:
        if not release.verification_passed or release.verified_at is None:
            problems.append(Said("release_unverified", f"release {release.id}: approved without a passing"
                                 " verification", release=release.id))
        elif release.verified_at > release.approved_at:
            problems.append(Said("release_verified_late", f"release {release.id}: verified only after its approval",
                                 release=release.id))
    if not releases:
        return CheckResult("releases_verified", title, basis, Status.NOT_APPLICABLE,
                           (Said("no_release", "no release has been built"),))
    evidence = [Said("releases_checked", f"{len(releases)} releases, {len(approved)} approved; each approval checked"
                     " against its verification", releases=len(releases), approved=len(approved))]
    return _result("releases_verified", title, basis, evidence, problems)
