"""What a deletion request will affect, shown to the compliance officer before they complete it: payments earned
and not yet paid, releases that hold the person's data, and sets still being reviewed.

Payments owed at deletion (the choice, from STANDARDS "Erasure and retention" and ErasureService.erase_account):
the ledger entry is the minimum record of a payment obligation (which set, campaign, amount, when) and names the
person only by the pseudonymous user id, so it stays; the bank account is erased with the account, because it is
personal data and the person asked for everything to go. Once it is gone the entry cannot be transferred: it is
never marked paid, the bank file leaves it out and the payment pages show it as owed to an erased account
(collection.payments.service). The officer is told before completing, so that a person who wants to be paid can
be paid first (their 10-day deadline leaves time for a payout), and then the account erased. An entry already
written into a downloaded bank file is different: the transfer may be under way, so it is listed apart
(`in_transfer`) and the batch is marked paid once the bank confirms, erased payee or not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from collection.contributions.models import Enrollment, EnrollmentState, PhotoSet, SetState
from collection.payments.models import LedgerEntry
from collection.releases.models import Release, ReleaseSubject

IN_REVIEW = (SetState.SUBMITTED, SetState.IN_REVIEW, SetState.AWAITING_SECOND_REVIEW)


@dataclass(frozen=True)
class DeletionImpact:
    """Unpaid ledger entries (oldest first), releases holding the person's items that they are not yet withdrawn
    from, and their sets in review."""

    unpaid: list[LedgerEntry] = field(default_factory=list)
    releases: list[Release] = field(default_factory=list)
    in_review: list[PhotoSet] = field(default_factory=list)

    @property
    def unpaid_krw(self) -> int:
        return sum(e.amount_krw for e in self.unpaid)

    @property
    def in_transfer(self) -> list[LedgerEntry]:
        """Unpaid entries already in a downloaded bank file: the transfer may be under way."""
        return [e for e in self.unpaid if e.exported_at is not None]

    @property
    def empty(self) -> bool:
        return not (self.unpaid or self.releases or self.in_review)


def deletion_impact(session: Session, user_id: str, subject_id: str, campaign_id: str | None) -> DeletionImpact:
    """What deleting the person's data (in `campaign_id`, or everywhere when None) would affect."""
    unpaid = select(LedgerEntry).where(LedgerEntry.user_id == user_id, LedgerEntry.paid_at.is_(None))
    releases = (
        select(Release)
        .join(ReleaseSubject, ReleaseSubject.release_id == Release.id)
        .where(ReleaseSubject.subject_id == subject_id, ReleaseSubject.withdrawn_at.is_(None))
    )
    sets = (
        select(PhotoSet)
        .join(Enrollment, PhotoSet.enrollment_id == Enrollment.id)
        .where(PhotoSet.user_id == user_id, PhotoSet.state.in_(IN_REVIEW), Enrollment.state != EnrollmentState.ERASED)
    )
    if campaign_id is not None:
        unpaid = unpaid.where(LedgerEntry.campaign_id == campaign_id)
        releases = releases.where(Release.campaign_id == campaign_id)
        sets = sets.where(PhotoSet.campaign_id == campaign_id)
    return DeletionImpact(
        list(session.scalars(unpaid.order_by(LedgerEntry.created_at))),
        list(session.scalars(releases.order_by(Release.created_at))),
        list(session.scalars(sets.order_by(PhotoSet.created_at))),
    )
