"""Payments: accepted sets have one ledger entry each (a unique key makes a second impossible); operators group
unpaid entries into payout batches, export them as CSV for bank transfer, and mark them paid. Repeating the
export or the marking changes nothing: an entry is paid once.

A transfer needs the payee's bank account, so an entry whose contributor has not saved a payout account waits
outside every batch until they do. When an entry joins a batch the account is copied onto it, so the batch's bank
file is the same on every download even if the contributor changes their account in between (a changed account
takes effect from the next batch). Entries batched before that copy existed (migration 0008) fall back to the
current account.

An entry whose payee's account was erased (an account-wide deletion request) keeps only its pseudonymous record
(collection.compliance.deletion_impact says why): with no bank account it cannot be transferred, so it is left
out of the bank file, never marked paid, and shown as owed to an erased account. The exception is an entry that
was already written into a downloaded bank file (`LedgerEntry.exported_at`) before the erasure: that transfer may
be under way, so marking the batch paid (once the bank confirms) marks it paid too, and a paid batch's file keeps
listing it (bank columns blank, marked erased) so the file still matches what the bank paid."""

from __future__ import annotations

import csv
import io
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Exists, exists, func, select
from sqlalchemy.orm import Session

from collection.accounts.models import User
from collection.accounts.service import audit_actor
from collection.audit.log import Actor, AuditLog
from collection.campaigns.models import Campaign
from collection.contributions.models import PhotoSet, SetState
from collection.errors import InvalidPayoutAccount, NotFound, PaymentError
from collection.payments.banks import BY_CODE, bank, normalize_account_number
from collection.payments.models import LedgerEntry, PayoutAccount, PayoutBatch
from consent.clock import Clock

CSV_COLUMNS = (
    "batch",
    "entry",
    "account_id",
    "payee_name",
    "campaign",
    "amount_krw",
    "accepted_at",
    "bank_code",
    "bank_name",
    "account_holder",
    "account_number",
)
HOLDER_NAME_MAX = 100
ERASED_MARK = "(erased)"  # the payee-name cell of a paid row whose payee's account was erased since


@dataclass(frozen=True)
class EntryLine:
    """A ledger entry with what a payout page or file shows beside it (the payee's name, the campaign, and the
    payout account: empty strings when there is none, e.g. once the account was erased)."""

    entry: LedgerEntry
    payee_name: str
    campaign_slug: str
    bank_code: str = ""
    bank_name: str = ""
    account_holder: str = ""
    account_number: str = ""
    # other ledger entries of the same payee in the same campaign: a set paid, erased at their request, and a new
    # set paid again after they joined anew (whether a campaign pays twice is the operator's call, not a rule here)
    same_campaign_others: int = 0
    campaign: Campaign | None = None  # for its title on pages (the bank file keeps the short name)
    payee_erased: bool = False  # the payee's account was erased: there is no one to transfer to any more

    @property
    def payable(self) -> bool:
        """A transfer can be made: the entry has a bank account to go to."""
        return bool(self.bank_code)

    @property
    def in_bank_file(self) -> bool:
        """The entry was written into a downloaded bank file: the transfer may have been made, even if the payee's
        account was erased since."""
        return self.entry.exported_at is not None

    @property
    def markable(self) -> bool:
        """Marking the batch paid marks this entry paid: it has a bank account, or it was in a downloaded file."""
        return self.payable or self.in_bank_file


@dataclass(frozen=True)
class Waiting:
    """Unpaid entries held back because their contributor has no payout account yet."""

    entries: int
    total_krw: int


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: str) -> str:
    """A text cell a spreadsheet will not run: a leading =, +, -, @, tab or CR is escaped with an apostrophe
    (OWASP CSV injection), since payee names are typed by contributors and the file is opened in Excel."""
    return "'" + value if value.startswith(FORMULA_START) else value


@dataclass(frozen=True)
class Unpayable:
    """Entries of a batch that cannot be transferred or marked paid because they have no payee (the account was
    erased after the entry joined the batch)."""

    entries: int = 0
    total_krw: int = 0


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
        """Unpaid entries in no batch whose payee has a payout account: what the next batch takes."""
        q = select(LedgerEntry).where(LedgerEntry.batch_id.is_(None), LedgerEntry.paid_at.is_(None), _has_account())
        return list(self.session.scalars(q.order_by(LedgerEntry.created_at)))

    def waiting_for_account(self) -> Waiting:
        """How many unpaid, unbatched entries (and how much) wait for their contributor's payout account (an erased
        account will never add one: those are `owed_to_erased`)."""
        return self._count(LedgerEntry.batch_id.is_(None), ~_has_account(), ~_payee_erased())

    def owed_to_erased(self) -> Waiting:
        """Unpaid entries, batched or not, whose payee's account was erased: owed, but no longer transferable
        (those already in a downloaded bank file are not counted: their transfer may be under way)."""
        return self._count(_payee_erased(), LedgerEntry.exported_at.is_(None))

    def _count(self, *where: Any) -> Waiting:
        q = select(func.count(LedgerEntry.id), func.coalesce(func.sum(LedgerEntry.amount_krw), 0)).where(
            LedgerEntry.paid_at.is_(None), *where
        )
        count, total = self.session.execute(q).one()
        return Waiting(int(count), int(total))

    def create_batch(self, operator: User) -> PayoutBatch:
        """Put every unpaid, unbatched entry whose payee has a payout account into a new batch. Raises
        PaymentError when there is none."""
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
            account = self.payout_account_of(entry.user_id)
            if account is not None:  # always, by `unbatched`; checked again in case it was erased meanwhile
                entry.payee_bank_code = account.bank_code
                entry.payee_holder = account.holder_name
                entry.payee_account_number = account.account_number
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

    def entries(self, batch: PayoutBatch, fresh: bool = False) -> list[LedgerEntry]:
        """The batch's entries, oldest first; `fresh` reloads rows already in the session (after a lock)."""
        q = select(LedgerEntry).where(LedgerEntry.batch_id == batch.id).order_by(LedgerEntry.created_at)
        if fresh:
            q = q.execution_options(populate_existing=True)
        return list(self.session.scalars(q))

    def lines(self, entries: list[LedgerEntry]) -> list[EntryLine]:
        """Each entry with its payee's name (empty once the account is erased), its campaign's slug and the
        payout account: the copy taken when it joined its batch, else (not batched yet, or batched before the
        copy existed) the payee's current account."""
        result = []
        repeats = self._entries_per_payee_and_campaign(entries)
        for entry in entries:
            others = repeats.get((entry.user_id, entry.campaign_id), 1) - 1
            payee = self.session.get(User, entry.user_id)
            campaign = self.session.get(Campaign, entry.campaign_id)
            name = (payee.display_name if payee else None) or ""
            slug = campaign.slug if campaign else entry.campaign_id
            account = self._account_for(entry)
            if account is None:
                erased = payee is None or payee.erased_at is not None
                result.append(EntryLine(entry, name, slug, same_campaign_others=others, campaign=campaign,
                                        payee_erased=erased))
                continue
            code, holder, number = account
            known = BY_CODE.get(code)
            bank_name = known.name_ko if known else ""  # the bank file is read by a Korean bank
            result.append(EntryLine(entry, name, slug, code, bank_name, holder, number, others, campaign))
        return result

    def _entries_per_payee_and_campaign(self, entries: list[LedgerEntry]) -> dict[tuple[str, str], int]:
        users = {e.user_id for e in entries}
        if not users:
            return {}
        q = (select(LedgerEntry.user_id, LedgerEntry.campaign_id, func.count(LedgerEntry.id))
             .where(LedgerEntry.user_id.in_(users)).group_by(LedgerEntry.user_id, LedgerEntry.campaign_id))
        return {(user, campaign): int(n) for user, campaign, n in self.session.execute(q)}

    def other_entries_in_campaign(self, photo_set: PhotoSet) -> list[LedgerEntry]:
        """The ledger entries of the set's contributor in its campaign for their other sets (typically a set paid,
        then erased when they withdrew, before they joined anew), oldest first."""
        q = select(LedgerEntry).where(
            LedgerEntry.user_id == photo_set.user_id,
            LedgerEntry.campaign_id == photo_set.campaign_id,
            LedgerEntry.set_id != photo_set.id,
        )
        return list(self.session.scalars(q.order_by(LedgerEntry.created_at)))

    def _account_for(self, entry: LedgerEntry) -> tuple[str, str, str] | None:
        if entry.payee_bank_code and entry.payee_holder is not None and entry.payee_account_number is not None:
            return entry.payee_bank_code, entry.payee_holder, entry.payee_account_number
        account = self.payout_account_of(entry.user_id)
        return None if account is None else (account.bank_code, account.holder_name, account.account_number)

    def unpayable(self, batch: PayoutBatch) -> Unpayable:
        """The batch's unpaid entries that have no payee and were in no downloaded bank file: left out of the file,
        never marked paid."""
        lines = self.lines(self.entries(batch))
        left = [line.entry for line in lines if not line.markable and not line.entry.paid_at]
        return Unpayable(len(left), sum(e.amount_krw for e in left))

    def export_csv(self, operator: User, batch: PayoutBatch) -> str:
        """The bank-transfer file of a batch (the same every time it is exported). Unpaid entries without a payee
        (the account was erased) are left out: a row with no account would send money nowhere; `unpayable` counts
        them for the page to say so. A paid entry stays in the file even once its payee was erased (bank columns
        blank, the name cell marked erased), so a paid batch's file still matches what the bank paid. Each entry
        written records its first export: from then on it is marked paid with the batch."""
        now = self.clock.now()
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        for line in self.lines(self.entries(batch)):
            entry = line.entry
            if not line.payable and entry.paid_at is None:
                continue
            if line.payable and entry.exported_at is None:
                entry.exported_at = now
            writer.writerow(
                [
                    batch.reference,
                    entry.id,
                    entry.user_id,
                    csv_cell(line.payee_name if line.payable or not line.payee_erased else ERASED_MARK),
                    csv_cell(line.campaign_slug),
                    entry.amount_krw,
                    entry.created_at.date().isoformat(),
                    line.bank_code,
                    csv_cell(line.bank_name),
                    csv_cell(line.account_holder),
                    line.account_number,  # digits only (normalised when saved)
                ]
            )
        if batch.exported_at is None:
            batch.exported_at = now
        self.audit.record(Actor(operator.id, operator.role.value), "payout.exported", "payout_batch", batch.id)
        self.session.flush()
        return out.getvalue()

    def mark_paid(self, operator: User, batch: PayoutBatch) -> int:
        """Mark the batch's entries paid (and their sets PAID). Returns how many changed: 0 on a repeat. An entry
        with no payee (its account erased) that was in no downloaded bank file had no transfer made: it is skipped
        and stays unpaid (`unpayable` counts it); one that was in a downloaded file is marked paid like the rest.
        The batch counts as paid only once something in it was paid.

        The batch row is locked first and its entries read again, so two operators marking the same batch at once
        pay each entry once: the second waits, then finds nothing left to change. The audit event is written only
        when something changed, so a repeat leaves no second record of payments."""
        self.session.refresh(batch, with_for_update=True)
        now = self.clock.now()
        changed = 0
        skipped: list[LedgerEntry] = []
        for line in self.lines(self.entries(batch, fresh=True)):
            entry = line.entry
            if entry.paid_at is not None:
                continue
            if not line.markable:
                skipped.append(entry)
                continue
            entry.paid_at = now
            photo_set = self.session.get(PhotoSet, entry.set_id)
            if photo_set is not None and photo_set.state is SetState.ACCEPTED:
                photo_set.mark_paid()
            changed += 1
        if batch.paid_at is None and changed:
            batch.paid_at = now
        if changed:
            self.audit.record(Actor(operator.id, operator.role.value), "payout.marked_paid", "payout_batch", batch.id,
                              entries=changed, skipped_no_payee=len(skipped))
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

    # -- the contributor's payout account -------------------------------------------------------------------------
    def payout_account(self, user: User) -> PayoutAccount | None:
        return self.payout_account_of(user.id)

    def payout_account_of(self, user_id: str) -> PayoutAccount | None:
        return self.session.scalar(select(PayoutAccount).where(PayoutAccount.user_id == user_id))

    def save_payout_account(self, user: User, bank_code: str, holder_name: str, account_number: str) -> PayoutAccount:
        """Create or replace the contributor's payout account; the number is stored as digits only. Raises
        InvalidPayoutAccount for an unknown bank, an empty or over-long holder name or a malformed number.
        The audit event names the bank, never the holder or the number."""
        bank(bank_code)
        holder = " ".join(holder_name.split())
        if not holder or len(holder) > HOLDER_NAME_MAX:
            raise InvalidPayoutAccount("holder_name")
        number = normalize_account_number(account_number)
        now = self.clock.now()
        account = self.payout_account(user)
        action = "payout_account.changed"
        if account is None:
            account = PayoutAccount(user_id=user.id, created_at=now)
            self.session.add(account)
            action = "payout_account.created"
        account.bank_code, account.holder_name, account.account_number = bank_code, holder, number
        account.updated_at = now
        self.session.flush()
        self.audit.record(audit_actor(user), action, "payout_account", account.id, bank_code=bank_code)
        self.session.flush()
        return account


def _has_account() -> Exists:
    return exists(select(PayoutAccount.id).where(PayoutAccount.user_id == LedgerEntry.user_id))


def _payee_erased() -> Exists:
    return exists(select(User.id).where(User.id == LedgerEntry.user_id, User.erased_at.is_not(None)))
