"""Payment rows: one ledger entry per accepted set (never two), grouped into payout batches for bank transfer, and
each contributor's payout account (the bank account the transfer goes to)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from consent.db import Base, IdPk, Timestamp, UTCDateTime
from consent.sealed import SealedText


class LedgerEntry(Base):
    """One accepted set's payment. When the entry joins a payout batch the payee's account is copied onto it
    (`payee_*`, holder and number sealed): the batch's bank file then says the same thing on every download, even
    if the contributor changes their account afterwards. Erasing the account clears the copy."""

    __tablename__ = "ledger_entries"

    id: Mapped[IdPk]
    set_id: Mapped[str] = mapped_column(ForeignKey("photo_sets.id"), unique=True)  # paid once, by construction
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"), index=True)
    amount_krw: Mapped[int]
    created_at: Mapped[Timestamp]
    batch_id: Mapped[str | None] = mapped_column(ForeignKey("payout_batches.id"), index=True)
    paid_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    payee_bank_code: Mapped[str | None] = mapped_column(String(3))
    payee_holder: Mapped[str | None] = mapped_column(SealedText("ledger_entries.payee_holder"))
    payee_account_number: Mapped[str | None] = mapped_column(SealedText("ledger_entries.payee_account_number"))
    # first written into the batch's bank file: from then on the transfer may be under way, so the entry is marked
    # paid with its batch even if the payee's account (and the copy above) is erased afterwards
    exported_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    def clear_payee(self) -> None:
        self.payee_bank_code = self.payee_holder = self.payee_account_number = None


class PayoutBatch(Base):
    __tablename__ = "payout_batches"

    id: Mapped[IdPk]
    created_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[Timestamp]
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    total_krw: Mapped[int] = mapped_column(default=0)
    exported_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    paid_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class PayoutAccount(Base):
    """Where a contributor is paid: one row per user, replaced in place when they change it. The holder's name
    and the account number are personal data, sealed at rest (`consent.sealed`); the bank code is not. The row
    is deleted with the account (`ErasureService.erase_account`), so an erased person's number survives nowhere."""

    __tablename__ = "payout_accounts"

    id: Mapped[IdPk]
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    bank_code: Mapped[str] = mapped_column(String(3))
    holder_name: Mapped[str] = mapped_column(SealedText("payout_accounts.holder_name"))
    account_number: Mapped[str] = mapped_column(SealedText("payout_accounts.account_number"))  # digits only
    created_at: Mapped[Timestamp]
    updated_at: Mapped[Timestamp]

    def __repr__(self) -> str:
        return f"<PayoutAccount {self.id} user={self.user_id} bank={self.bank_code}>"
