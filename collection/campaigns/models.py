"""Campaign rows: what is collected (age brackets, counts, photo rules, voice prompts), for how much, from whom,
and how long it is kept after close. State moves draft -> open -> closed through the methods below."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from consent.db import Base, IdPk, Timestamp, UTCDateTime, str_enum


class CampaignStatus(enum.StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"


class CampaignStateError(ValueError):
    """A state transition that the campaign's current state does not allow."""


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[IdPk]
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title_ko: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str] = mapped_column(String(200))
    description_ko: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[CampaignStatus] = mapped_column(str_enum(CampaignStatus, 10), default=CampaignStatus.DRAFT)
    # [{"key": "0-9", "min_age": 0, "max_age": 9, "photos": 10}, ...]
    brackets: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    photo_rules: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # [{"key": "p1", "text_ko": "...", "text_en": "...", "min_seconds": 2, "max_seconds": 15}, ...]
    voice_prompts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    payment_krw: Mapped[int] = mapped_column(default=0)
    quota: Mapped[int] = mapped_column(default=0)  # maximum contributors; 0 = unlimited
    DEFAULT_MIN_AGE = 14
    min_age: Mapped[int] = mapped_column(default=DEFAULT_MIN_AGE)
    max_age: Mapped[int] = mapped_column(default=120)
    retention_days: Mapped[int] = mapped_column(default=365)
    k_anonymity: Mapped[int] = mapped_column(default=5)
    second_review: Mapped[bool] = mapped_column(default=False)
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[Timestamp]
    opened_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    def __repr__(self) -> str:
        return f"<Campaign {self.id} {self.slug} {self.status.value}>"

    def title(self, locale: str) -> str:
        return self.title_en if locale == "en" else self.title_ko

    def description(self, locale: str) -> str:
        return self.description_en if locale == "en" else self.description_ko

    @property
    def total_photos(self) -> int:
        return sum(int(b.get("photos", 0)) for b in self.brackets)

    @property
    def has_voice(self) -> bool:
        return bool(self.voice_prompts)

    def open(self, when: dt.datetime) -> None:
        if self.status is not CampaignStatus.DRAFT:
            raise CampaignStateError(f"only a draft campaign can be opened (this one is {self.status.value})")
        if not self.brackets or self.total_photos <= 0:
            raise CampaignStateError("a campaign needs at least one age bracket with photos before opening")
        self.status = CampaignStatus.OPEN
        self.opened_at = when

    def close(self, when: dt.datetime) -> None:
        if self.status is not CampaignStatus.OPEN:
            raise CampaignStateError(f"only an open campaign can be closed (this one is {self.status.value})")
        self.status = CampaignStatus.CLOSED
        self.closed_at = when

    def retention_ends(self) -> dt.datetime | None:
        return None if self.closed_at is None else self.closed_at + dt.timedelta(days=self.retention_days)

    def accepts_age(self, age: int | None) -> bool:
        return age is not None and self.min_age <= age <= self.max_age
