"""What remains of a reviewed set after its contributor's data was erased (a withdrawal, a deletion request, the
end of retention): erasure deletes the photos and, with them, the per-photo decisions (they carry the reviewers'
comments to the contributor), but the set row, the erasure-ledger row, the payment ledger entry and the audit
events of each review round are kept lawfully (proof of erasure, accounting, PIPA Art. 29 records). The review
page shows these instead of an empty set that looks never reviewed."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from collection.audit.models import AuditEvent
from collection.contributions.models import Enrollment, EnrollmentState, PhotoSet
from collection.erasure.models import ErasureRecord
from collection.erasure.service import VOICE_WITHDRAWAL
from collection.payments.models import LedgerEntry


@dataclass(frozen=True)
class ReviewRound:
    """One review decision on the set as the audit log recorded it (`outcome` is the set's state after it)."""

    round: int | None
    outcome: str | None
    reviewer_id: str | None
    at: dt.datetime


@dataclass(frozen=True)
class ErasedSet:
    """`reason` is the erasure ledger's (withdrawal | admin_request | account_deletion | retention), None when
    the ledger row is missing; `payment` the set's ledger entry, if it was accepted."""

    erased_at: dt.datetime | None
    reason: str | None
    erasure_id: str | None
    rounds: list[ReviewRound]
    payment: LedgerEntry | None


def erased_set(session: Session, photo_set: PhotoSet) -> ErasedSet | None:
    """What is kept of `photo_set` when its enrollment was erased, else None."""
    enrollment = session.get(Enrollment, photo_set.enrollment_id)
    if enrollment is None or enrollment.state is not EnrollmentState.ERASED:
        return None
    record = session.scalar(
        select(ErasureRecord)
        .where(ErasureRecord.enrollment_id == enrollment.id, ErasureRecord.reason != VOICE_WITHDRAWAL,
               ErasureRecord.completed_at.is_not(None))
        .order_by(ErasureRecord.completed_at.desc())
        .limit(1)
    )
    events = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.action == "review.decided", AuditEvent.object_type == "photo_set",
               AuditEvent.object_id == photo_set.id)
        .order_by(AuditEvent.at, AuditEvent.id)
    )
    rounds = [ReviewRound(_int(e.details.get("round")), e.details.get("outcome"), e.actor_id, e.at) for e in events]
    payment = session.scalar(select(LedgerEntry).where(LedgerEntry.set_id == photo_set.id))
    return ErasedSet(
        record.completed_at if record else enrollment.withdrawn_at,
        record.reason if record else None,
        record.id if record else None,
        rounds,
        payment,
    )


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
