"""Payments: accepted sets have one ledger entry each (a unique key makes a second impossible); operators group
unpaid entries into payout batches, export them as CSV for bank transfer, and mark them paid. Repeating the
export or the marking changes nothing: an entry is paid once."""

from __future__ import annotations

import csv
import io
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from collection.accounts.models import User
from collection.audit.log import Actor, AuditLog
from collection.campaigns.models import Campaign
from collection.contributions.models import PhotoSet, SetState
from collection.errors import NotFound, PaymentError
from collection.payments.models import LedgerEntry, PayoutBatch
from consent.clock import Clock

CSV_COLUMNS = ("batch", "entry", "account_id", "payee_name", "campaign", "amount_krw", "accepted_at")


@dataclass(frozen=True)
class EntryLine:
    """A ledger entry with what a payout page or file shows beside it (the payee's name, the campaign)."""

    entry: LedgerEntry
    payee_name: str
    campaign_slug: str


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: str) -> str:
    """A text cell a spreadsheet will not run: a leading =, +, -, @, tab or CR is escaped with an apostrophe
    (OWASP CSV injection), since payee names are typed by contributors and the file is opened in Excel."""
    return "'" + value if value.startswith(FORMULA_START) else value


@dataclass(frozen=True)
class Earnings:
    total_krw: int
    paid_krw: int
    pending_krw: int
    entries: list[LedgerEntry]


class PaymentService:
    def __init__(self, session: Session, clock: Clock, audit: AuditLog) -> None:
        self.session = session
        self.clock = clock
        self.audit = audit

    def unbatched(self) -> list[LedgerEntry]:
        q = select(LedgerEntry).where(LedgerEntry.batch_id.is_(None), LedgerEntry.paid_at.is_(None))
        return list(self.session.scalars(q.order_by(LedgerEntry.created_at)))

    def create_batch(self, operator: User) -> PayoutBatch:
        """Put every unpaid, unbatched entry into a new batch. Raises PaymentError when there is none."""
        entries = self.unbatched()
        if not entries:
            raise PaymentError("nothing to pay: every accepted set is already in a batch")
        now = self.clock.now()
        batch = PayoutBatch(
            created_by=operator.id,
            created_at=now,
            total_krw=sum(e.amount_krw for e in entries),
            reference=f"DD{now:%Y%m%d}-{secrets.token_hex(3).upper()}",
        )
        self.session.add(batch)
        self.session.flush()
        for entry in entries:
            entry.batch_id = batch.id
        self.audit.record(
            Actor(operator.id, operator.role.value),
            "payout.batch_created",
            "payout_batch",
            batch.id,
            entries=len(entries),
            total_krw=batch.total_krw,
        )
        self.session.flush()
        return batch

    def batches(self) -> list[PayoutBatch]:
        return list(self.session.scalars(select(PayoutBatch).order_by(PayoutBatch.created_at.desc())))

    def batch(self, batch_id: str) -> PayoutBatch:
        batch = self.session.get(PayoutBatch, batch_id)
        if batch is None:
            raise NotFound("payout_batch", batch_id)
        return batch

    def entries(self, batch: PayoutBatch) -> list[LedgerEntry]:
        q = select(LedgerEntry).where(LedgerEntry.batch_id == batch.id).order_by(LedgerEntry.created_at)
        return list(self.session.scalars(q))

    def lines(self, entries: list[LedgerEntry]) -> list[EntryLine]:
        """Each entry with its payee's name (empty once the account is erased) and its campaign's slug."""
        result = []
        for entry in entries:
            payee = self.session.get(User, entry.user_id)
            campaign = self.session.get(Campaign, entry.campaign_id)
            name = (payee.display_name if payee else None) or ""
            result.append(EntryLine(entry, name, campaign.slug if campaign else entry.campaign_id))
        return result

    def export_csv(self, operator: User, batch: PayoutBatch) -> str:
        """The bank-transfer file of a batch (the same every time it is exported)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        for line in self.lines(self.entries(batch)):
            entry = line.entry
            writer.writerow(
                [
                    batch.reference,
                    entry.id,
                    entry.user_id,
                    csv_cell(line.payee_name),
                    csv_cell(line.campaign_slug),
                    entry.amount_krw,
                    entry.created_at.date().isoformat(),
                ]
            )
        if batch.exported_at is None:
            batch.exported_at = self.clock.now()
        self.audit.record(Actor(operator.id, operator.role.value), "payout.exported", "payout_batch", batch.id)
        self.session.flush()
        return out.getvalue()

    def mark_paid(self, operator: User, batch: PayoutBatch) -> int:
        """Mark the batch's entries paid (and their sets PAID). Returns how many changed: 0 on a repeat."""
        now = self.clock.now()
        changed = 0
        for entry in self.entries(batch):
            if entry.paid_at is not None:
                continue
            entry.paid_at = now
            photo_set = self.session.get(PhotoSet, entry.set_id)
            if photo_set is not None and photo_set.state is SetState.ACCEPTED:
                photo_set.mark_paid()
            changed += 1
        if batch.paid_at is None:
            batch.paid_at = now
        if changed:
            self.audit.record(
                Actor(operator.id, operator.role.value), "payout.marked_paid", "payout_batch", batch.id, entries=changed
            )
        self.session.flush()
        return changed

    def earnings(self, user: User) -> Earnings:
        entries = list(
            self.session.scalars(
                select(LedgerEntry).where(LedgerEntry.user_id == user.id).order_by(LedgerEntry.created_at)
            )
        )
        paid = sum(e.amount_krw for e in entries if e.paid_at is not None)
        total = sum(e.amount_krw for e in entries)
        return Earnings(total_krw=total, paid_krw=paid, pending_krw=total - paid, entries=entries)
