"""The erasure ledger: what was destroyed, for whom (pseudonymous id only) and when, so that a restore from
backup can re-apply every erasure. No personal data is written here."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from consent.db import Base, IdPk, Timestamp, UTCDateTime


class ErasureRecord(Base):
    __tablename__ = "erasure_ledger"

    id: Mapped[IdPk]
    subject_id: Mapped[str] = mapped_column(String(40), index=True)
    user_id: Mapped[str] = mapped_column(String(32), index=True)  # random row id, kept to re-apply on restore
    campaign_id: Mapped[str | None] = mapped_column(String(32))  # None = the whole account
    # the erased enrollment (a person may join a campaign again after an erasure); None on rows from before 0010
    enrollment_id: Mapped[str | None] = mapped_column(String(32), index=True)
    reason: Mapped[str] = mapped_column(String(40))  # erasure.service.REASONS (or voice_withdrawal)
    requested_at: Mapped[Timestamp]
    key_destroyed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    blobs_deleted: Mapped[int] = mapped_column(default=0)
    rows_deleted: Mapped[int] = mapped_column(default=0)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
