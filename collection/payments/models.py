"""Payment rows: one ledger entry per accepted set (never two), grouped into payout batches for bank transfer."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from consent.db import Base, IdPk, Timestamp, UTCDateTime


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"

    id: Mapped[IdPk]
    set_id: Mapped[str] = mapped_column(ForeignKey("photo_sets.id"), unique=True)  # paid once, by construction
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"), index=True)
    amount_krw: Mapped[int]
    created_at: Mapped[Timestamp]
    batch_id: Mapped[str | None] = mapped_column(ForeignKey("payout_batches.id"), index=True)
    paid_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class PayoutBatch(Base):
    __tablename__ = "payout_batches"

    id: Mapped[IdPk]
    created_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[Timestamp]
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    total_krw: Mapped[int] = mapped_column(default=0)
    exported_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    paid_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
