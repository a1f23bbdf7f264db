"""The erasure ledger with proof: for each ledger row, evidence read back from the systems themselves rather
than from the row's own word - the contributor key row's destruction time (crypto-shredding), the blobs still
under the enrollment's prefix (expected none), the photo and clip rows still in the database (expected none),
and the out-of-database copy of the ledger entry that lets a restore from backup re-apply the erasure."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from collection.contributions.models import Enrollment, Photo, PhotoSet, VoiceClip
from collection.contributions.uploads import blob_prefix, voice_blob_prefix
from collection.crypto import ContributorKey
from collection.erasure.models import ErasureRecord
from collection.erasure.service import LEDGER_PREFIX, VOICE_WITHDRAWAL, erased_by
from collection.storage import BlobStore


@dataclass(frozen=True)
class ErasureProof:
    record: ErasureRecord
    enrollment_id: str | None
    key_destroyed_at: dt.datetime | None
    key_live: bool  # a wrapped key still exists: the data can still be opened
    blobs_remaining: int
    rows_remaining: int
    ledger_copy: bool
    voice_only: bool = False  # the voice matter alone was withdrawn: recordings gone, the key rightly still live

    @property
    def proven(self) -> bool:
        key_ok = self.voice_only or not self.key_live
        return key_ok and self.blobs_remaining == 0 and self.rows_remaining == 0 and self.ledger_copy


def erasure_proofs(session: Session, blobs: BlobStore, limit: int | None = None) -> list[ErasureProof]:
    q = select(ErasureRecord).order_by(ErasureRecord.requested_at.desc())
    return [_proof(session, blobs, r) for r in session.scalars(q.limit(limit) if limit else q)]


def _proof(session: Session, blobs: BlobStore, record: ErasureRecord) -> ErasureProof:
    taken = erased_by(record.user_id, record.campaign_id, record.enrollment_id, record.requested_at)
    enrollment = session.scalar(taken.order_by(Enrollment.joined_at.desc()).limit(1))
    if enrollment is None:
        return ErasureProof(record, None, None, False, 0, 0, _has_copy(blobs, record))
    key = session.get(ContributorKey, enrollment.id)
    voice_only = record.reason == VOICE_WITHDRAWAL
    prefix = voice_blob_prefix(enrollment.id) if voice_only else blob_prefix(enrollment.id)
    return ErasureProof(
        record,
        enrollment.id,
        key.destroyed_at if key else None,
        key is not None and not key.destroyed,
        sum(1 for _ in blobs.iter_keys(prefix)),
        _rows(session, enrollment.id, photos=not voice_only),
        _has_copy(blobs, record),
        voice_only,
    )


def _rows(session: Session, enrollment_id: str, photos: bool = True) -> int:
    set_ids = select(PhotoSet.id).where(PhotoSet.enrollment_id == enrollment_id)
    clips = session.scalar(select(func.count()).select_from(VoiceClip).where(VoiceClip.set_id.in_(set_ids))) or 0
    if not photos:
        return int(clips)
    held = session.scalar(select(func.count()).select_from(Photo).where(Photo.set_id.in_(set_ids))) or 0
    return int(held) + int(clips)


def _has_copy(blobs: BlobStore, record: ErasureRecord) -> bool:
    return blobs.exists(LEDGER_PREFIX + record.id)
