"""Erasure: the one path that withdrawal, retention expiry, admin requests and account deletion all take.

Order matters. In the caller's transaction: the enrollment's data key is destroyed (crypto-shredding: every copy
of every blob sealed under it, backups included, becomes unreadable the moment this commits), photo and clip rows
and their derived data (gate reports, identity scores, decisions, appeals) are deleted, typed signature names are
dropped, the person goes on the withdrawal lists of releases holding their items (whose stored package copies
lose their keys), and an erasure-ledger row records what happened under the pseudonymous id only. After the commit
the blobs themselves, and the copies of release packages holding the person's items (the local file and the
sealed copy in the blob store), are deleted. Receipts stay: they hold no name and prove what was agreed and
withdrawn.
"""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import Select, delete, select
from sqlalchemy.orm import Session

from collection._after_commit import on_commit
from collection.accounts.models import User
from collection.audit.log import Actor, AuditLog
from collection.contributions.models import (
    Enrollment,
    EnrollmentState,
    Photo,
    PhotoSet,
    SetState,
    VoiceClip,
)
from collection.contributions.uploads import blob_prefix, voice_blob_prefix
from collection.crypto import KeyVault
from collection.erasure.models import ErasureRecord
from collection.jobs import Job, JobState
from collection.payments.models import LedgerEntry, PayoutAccount
from collection.releases.withdrawals import delete_packages, record_erasure
from collection.storage import BlobStore, delete_prefix
from consent.clock import Clock
from consent.service import ConsentService

CLOSED_UNSENT = "campaign_closed_unsent"  # the campaign closed before the set was sent: it can never be used
REASONS = ("withdrawal", "retention", "admin_request", "account_deletion", CLOSED_UNSENT)
VOICE_WITHDRAWAL = "voice_withdrawal"  # only the recordings: the voice matter was withdrawn, the rest stays


class ErasureService:
    def __init__(
        self,
        session: Session,
        clock: Clock,
        vault: KeyVault,
        blobs: BlobStore,
        consent: ConsentService,
        audit: AuditLog,
    ) -> None:
        self.session = session
        self.clock = clock
        self.vault = vault
        self.blobs = blobs
        self.consent = consent
        self.audit = audit

    def erase_enrollment(self, enrollment: Enrollment, reason: str, actor: Actor | None = None) -> ErasureRecord:
        """Destroy one contributor's data in one campaign. Idempotent: erasing twice records nothing new."""
        if reason not in REASONS:
            raise ValueError(f"unknown erasure reason {reason!r}")
        user = self.session.get(User, enrollment.user_id)
        assert user is not None
        now = self.clock.now()
        record = ErasureRecord(
            subject_id=user.subject_id,
            user_id=user.id,
            campaign_id=enrollment.campaign_id,
            enrollment_id=enrollment.id,
            reason=reason,
            requested_at=now,
        )
        self.vault.destroy(enrollment.id)
        record.key_destroyed_at = now
        record.rows_deleted = self._delete_rows(enrollment)
        enrollment.state = EnrollmentState.ERASED
        enrollment.withdrawn_at = enrollment.withdrawn_at or now
        self.consent.erase_signature_names(user.subject_id, enrollment.campaign_id)
        prefix = blob_prefix(enrollment.id)
        record.blobs_deleted = sum(1 for _ in self.blobs.iter_keys(prefix))
        record.completed_at = now
        self._ledger(record, enrollment, actor, prefix)
        packages = record_erasure(self.consent, user.subject_id, enrollment.campaign_id, reason)
        on_commit(self.session, lambda: delete_packages(packages, self.blobs))
        return record

    def erase_voice(self, enrollment: Enrollment, actor: Actor | None = None) -> ErasureRecord | None:
        """Destroy the enrollment's voice recordings only (the voice matter was withdrawn; photos stay under the
        matters still in force): clip rows and queued jobs now, every version's blob after the commit, a ledger
        row with reason "voice_withdrawal". None when no recording is held (nothing to record)."""
        photo_set = self.session.scalar(select(PhotoSet).where(PhotoSet.enrollment_id == enrollment.id))
        if photo_set is None:
            return None
        clip_ids = list(self.session.scalars(select(VoiceClip.id).where(VoiceClip.set_id == photo_set.id)))
        prefix = voice_blob_prefix(enrollment.id)
        blob_count = sum(1 for _ in self.blobs.iter_keys(prefix))
        if not clip_ids and not blob_count:
            return None
        user = self.session.get(User, enrollment.user_id)
        assert user is not None
        now = self.clock.now()
        self._cancel_jobs(clip_ids)
        if clip_ids:
            self.session.execute(delete(VoiceClip).where(VoiceClip.id.in_(clip_ids)))
        self.session.expire(photo_set)
        record = ErasureRecord(subject_id=user.subject_id, user_id=user.id, campaign_id=enrollment.campaign_id,
                               enrollment_id=enrollment.id, reason=VOICE_WITHDRAWAL, requested_at=now,
                               rows_deleted=len(clip_ids), blobs_deleted=blob_count, completed_at=now)
        self._ledger(record, enrollment, actor, prefix)
        return record

    def _ledger(self, record: ErasureRecord, enrollment: Enrollment, actor: Actor | None, prefix: str) -> None:
        """Record a finished erasure (ledger row, audit event); after the commit delete the blobs under `prefix`
        and copy the ledger entry outside the database."""
        self.session.add(record)
        self.audit.record(actor or Actor.system(), "erasure.completed", "enrollment", enrollment.id,
                          reason=record.reason, subject=record.subject_id, rows=record.rows_deleted,
                          blobs=record.blobs_deleted)
        self.session.flush()
        blobs, entry = self.blobs, ledger_entry(record)
        on_commit(self.session, lambda: (delete_prefix(blobs, prefix), blobs.put(LEDGER_PREFIX + record.id, entry)))

    def _delete_rows(self, enrollment: Enrollment) -> int:
        photo_set = self.session.scalar(select(PhotoSet).where(PhotoSet.enrollment_id == enrollment.id))
        if photo_set is None:
            return 0
        photo_ids = list(self.session.scalars(select(Photo.id).where(Photo.set_id == photo_set.id)))
        clip_ids = list(self.session.scalars(select(VoiceClip.id).where(VoiceClip.set_id == photo_set.id)))
        self._cancel_jobs(photo_ids + clip_ids + [photo_set.id])
        deleted = 0
        for model, ids in ((Photo, photo_ids), (VoiceClip, clip_ids)):
            if ids:
                deleted += len(ids)
                self.session.execute(delete(model).where(model.id.in_(ids)))
        photo_set.identity = {}
        if photo_set.state not in (SetState.PAID,):
            photo_set.state = SetState.WITHDRAWN
        photo_set.claimed_by = None
        self.session.flush()  # expire() below would otherwise drop these changes unsaved
        self.session.expire(photo_set)
        return deleted

    def _cancel_jobs(self, object_ids: list[str]) -> None:
        """Queued gate jobs for erased objects will not run (their handler would find no row either)."""
        if not object_ids:
            return
        for job in self.session.scalars(select(Job).where(Job.state == JobState.QUEUED)):
            if set(map(str, job.payload.values())) & set(object_ids):
                job.state = JobState.SKIPPED
                job.last_error = "erased"

    def erase_account(self, user: User, reason: str = "account_deletion") -> list[ErasureRecord]:
        """Erase every enrollment, the payout account and its copies on ledger entries (bank details are personal
        data with no use once the person is gone; ledger entries keep only the pseudonymous user id) and the
        account's own fields."""
        enrollments = list(self.session.scalars(select(Enrollment).where(Enrollment.user_id == user.id)))
        records = [self.erase_enrollment(e, reason) for e in enrollments if e.state is not EnrollmentState.ERASED]
        self.session.execute(delete(PayoutAccount).where(PayoutAccount.user_id == user.id))
        for entry in self.session.scalars(select(LedgerEntry).where(LedgerEntry.user_id == user.id)):
            entry.clear_payee()  # the copies taken for payout batches go with the account
        user.erase_identity(self.clock.now())
        self.session.flush()
        return records

    def ledger(self) -> list[ErasureRecord]:
        return list(self.session.scalars(select(ErasureRecord).order_by(ErasureRecord.requested_at.desc())))

    def reapply(self) -> int:
        """After restoring a database backup: erase again everything the out-of-database ledger copy (kept in
        the blob store, which a database restore does not roll back) says was erased. Returns how many
        enrollments still needed it."""
        again = 0
        for key in list(self.blobs.iter_keys(LEDGER_PREFIX)):
            entry = json.loads(self.blobs.get(key))
            taken = erased_by(entry["user_id"], entry.get("campaign_id"), entry.get("enrollment_id"),
                              dt.datetime.fromisoformat(entry["at"]))
            for enrollment in self.session.scalars(taken):
                if entry["reason"] == VOICE_WITHDRAWAL:
                    again += self.erase_voice(enrollment) is not None
                elif enrollment.state is not EnrollmentState.ERASED or not self.vault.is_destroyed(enrollment.id):
                    self.erase_enrollment(enrollment, entry["reason"])
                    again += 1
        return again


LEDGER_PREFIX = "ledger/erasure/"


def ledger_entry(record: ErasureRecord) -> bytes:
    """The ledger row as JSON (pseudonymous ids and times only), copied outside the database."""
    return json.dumps(
        {
            "id": record.id,
            "subject_id": record.subject_id,
            "user_id": record.user_id,
            "campaign_id": record.campaign_id,
            "enrollment_id": record.enrollment_id,
            "reason": record.reason,
            "at": record.requested_at.isoformat(),
        },
        sort_keys=True,
    ).encode()


def erased_by(user_id: str, campaign_id: str | None, enrollment_id: str | None,
              requested_at: dt.datetime) -> Select[tuple[Enrollment]]:
    """The enrollments an erasure took: the one its ledger entry names or, for entries written before they named
    it, the person's enrollments (in the campaign, when it names one) joined by the time it was requested. A later
    enrollment (the person joined the campaign again) is never among them."""
    if enrollment_id:
        return select(Enrollment).where(Enrollment.id == enrollment_id)
    q = select(Enrollment).where(Enrollment.user_id == user_id, Enrollment.joined_at <= requested_at)
    return q.where(Enrollment.campaign_id == campaign_id) if campaign_id else q
