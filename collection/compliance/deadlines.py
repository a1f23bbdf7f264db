"""Erasure deadlines: everything datadam owes to destroy, since when, and whether it was done in time.

PIPA Art. 21 and Enforcement Decree Art. 16 require destruction "without delay"; Korean practice reads that as
within 5 days. Three events start the clock for an enrollment's data:

- retention ended (campaign close + retention days);
- a required consent matter was withdrawn (collection and use, or sensitive information), so the data may no
  longer be held - the time is when the withdrawal took the matter out of force;
- a deletion request from the contributor (rights requests), from its receipt.

An obligation is met by an erasure-ledger row for the same person and campaign completed after the clock
started (or, for an account-wide request, by the request's completion).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from collection.accounts.models import User
from collection.compliance.models import RightsKind, RightsRequest, RightsState
from collection.compliance.retention import expired_campaigns
from collection.contributions.models import Enrollment, current_enrollment
from collection.erasure.models import ErasureRecord
from collection.erasure.service import VOICE_WITHDRAWAL
from consent.models import MatterConsent
from consent.notice import MatterKind

ERASURE_DEADLINE = dt.timedelta(days=5)
_REQUIRED_KINDS = (MatterKind.COLLECTION_AND_USE.value, MatterKind.SENSITIVE_INFORMATION.value)


@dataclass(frozen=True)
class ErasureObligation:
    """`source` is retention | withdrawal | deletion_request; `ref` the enrollment or request id."""

    source: str
    ref: str
    subject_id: str
    campaign_id: str | None
    due_since: dt.datetime
    completed_at: dt.datetime | None

    @property
    def deadline(self) -> dt.datetime:
        return self.due_since + ERASURE_DEADLINE

    def overdue(self, now: dt.datetime) -> bool:
        """Not done, and the deadline has passed."""
        return self.completed_at is None and now > self.deadline

    @property
    def late(self) -> bool:
        """Done, but after the deadline."""
        return self.completed_at is not None and self.completed_at > self.deadline


def erasure_obligations(session: Session, now: dt.datetime) -> list[ErasureObligation]:
    """Every erasure obligation that has started by `now`, oldest first."""
    ledger = _Ledger(session)
    found = [*_retention(session, now, ledger), *_withdrawals(session, ledger), *_deletion_requests(session)]
    return sorted(found, key=lambda o: (o.due_since, o.ref))


def overdue_erasures(session: Session, now: dt.datetime) -> list[ErasureObligation]:
    return [o for o in erasure_obligations(session, now) if o.overdue(now)]


class _Ledger:
    """The latest erasure of each enrollment (rows written before 0010 name none: they count for the person's
    enrollments in the campaign joined by then), and each user's subject id."""

    def __init__(self, session: Session) -> None:
        self.by_enrollment: dict[str, dt.datetime] = {}
        self.legacy: dict[tuple[str, str | None], dt.datetime] = {}
        self.withdrawals: list[ErasureRecord] = []  # erasures a withdrawal made, naming their enrollment
        for row in session.scalars(select(ErasureRecord).where(ErasureRecord.completed_at.is_not(None))):
            assert row.completed_at is not None
            if row.reason == VOICE_WITHDRAWAL:
                continue  # only the recordings went: the photos still owe their erasure
            if row.reason == "withdrawal" and row.enrollment_id and row.campaign_id:
                self.withdrawals.append(row)
            if row.enrollment_id:
                at = self.by_enrollment.get(row.enrollment_id, row.completed_at)
                self.by_enrollment[row.enrollment_id] = max(at, row.completed_at)
            else:
                key = (row.user_id, row.campaign_id)
                self.legacy[key] = max(self.legacy.get(key, row.completed_at), row.completed_at)
        self.subjects = dict(session.execute(select(User.id, User.subject_id)).all())

    def erased(self, enrollment: Enrollment) -> dt.datetime | None:
        """When `enrollment` was last erased, or None."""
        if enrollment.id in self.by_enrollment:
            return self.by_enrollment[enrollment.id]
        legacy = self.legacy.get((enrollment.user_id, enrollment.campaign_id))
        return legacy if legacy is not None and enrollment.joined_at <= legacy else None

    def completed(self, enrollment: Enrollment, since: dt.datetime) -> dt.datetime | None:
        at = self.erased(enrollment)
        return at if at is not None and at >= since else None


def _retention(session: Session, now: dt.datetime, ledger: _Ledger) -> Iterator[ErasureObligation]:
    for campaign in expired_campaigns(session, now):
        ended = campaign.retention_ends()
        assert ended is not None
        for e in session.scalars(select(Enrollment).where(Enrollment.campaign_id == campaign.id)):
            earlier = ledger.erased(e)
            if earlier is not None and earlier < ended:
                continue  # erased before retention ended (e.g. a withdrawal): nothing was owed
            done = ledger.completed(e, ended)
            yield ErasureObligation("retention", e.id, ledger.subjects.get(e.user_id, ""), campaign.id, ended, done)


def _withdrawals(session: Session, ledger: _Ledger) -> Iterator[ErasureObligation]:
    active: dict[tuple[str, str], set[str]] = {}
    since: dict[tuple[str, str], dt.datetime] = {}
    for row in session.scalars(select(MatterConsent).where(MatterConsent.matter_kind.in_(_REQUIRED_KINDS))):
        key = (row.subject_id, row.campaign_id)
        if row.active:
            active.setdefault(key, set()).add(row.matter_kind)
        else:
            since[key] = min(since.get(key, row.updated_at), row.updated_at)
    users = {subject: user for user, subject in ledger.subjects.items()}
    owed: set[str] = set()
    for (subject_id, campaign_id), at in since.items():
        if active.get((subject_id, campaign_id), set()) >= set(_REQUIRED_KINDS):
            continue  # re-consented: the required matters are in force again
        user_id = users.get(subject_id)
        enrollment = current_enrollment(session, user_id, campaign_id) if user_id else None
        if enrollment is not None:
            done = ledger.completed(enrollment, at)
            owed.add(enrollment.id)
            yield ErasureObligation("withdrawal", enrollment.id, subject_id, campaign_id, at, done)
    # Withdrawals the person has since undone by taking part again still owed (and got) their erasure: the
    # ledger remembers them, while the consent rows now say "in force".
    for row in ledger.withdrawals:
        if row.enrollment_id not in owed:
            owed.add(str(row.enrollment_id))
            yield ErasureObligation("withdrawal", str(row.enrollment_id), row.subject_id, str(row.campaign_id),
                                    row.requested_at, row.completed_at)


def _deletion_requests(session: Session) -> Iterator[ErasureObligation]:
    q = select(RightsRequest).where(
        RightsRequest.kind == RightsKind.DELETION, RightsRequest.state != RightsState.REFUSED
    )
    for r in session.scalars(q):
        done = r.closed_at if r.state is RightsState.COMPLETED else None
        yield ErasureObligation("deletion_request", r.id, r.subject_id, r.campaign_id, r.received_at, done)
