"""Review rows: per-photo decisions by operators (with coded reasons) and contributors' appeals."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from consent.db import Base, IdPk, Timestamp, UTCDateTime, str_enum
from consent.sealed import SealedText


class RejectReason(enum.StrEnum):
    """The rejection taxonomy shown to contributors in their language (webapp translates the codes)."""

    FACE_TOO_SMALL = "face_too_small"
    OCCLUDED = "occluded"
    DIFFERENT_PERSON = "different_person"
    WRONG_BRACKET = "wrong_bracket"
    BLURRED = "blurred"
    DUPLICATE = "duplicate"
    SCREEN_OR_PRINT = "screen_or_print"
    EDITED = "edited"
    OTHER = "other"


class Decision(enum.StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"


class PhotoDecision(Base):
    """One operator decision on one photo in one review round. Never updated: a new round adds new rows."""

    __tablename__ = "photo_decisions"

    id: Mapped[IdPk]
    photo_id: Mapped[str] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"), index=True)
    set_id: Mapped[str] = mapped_column(ForeignKey("photo_sets.id", ondelete="CASCADE"), index=True)
    reviewer_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    round: Mapped[int]
    decision: Mapped[Decision] = mapped_column(str_enum(Decision, 10))
    reason: Mapped[RejectReason | None] = mapped_column(str_enum(RejectReason, 24))
    comment: Mapped[str | None] = mapped_column(SealedText("photo_decisions.comment"))
    at: Mapped[Timestamp]


class AppealState(enum.StrEnum):
    OPEN = "open"
    UPHELD = "upheld"  # the rejection stands
    OVERTURNED = "overturned"  # the photo is accepted after all


APPEAL_WINDOW = dt.timedelta(days=7)
APPEAL_DECISION_DEADLINE = dt.timedelta(days=9)


class Appeal(Base):
    """A contributor's appeal of a rejected photo, decided by an operator other than the first reviewer."""

    __tablename__ = "appeals"

    id: Mapped[IdPk]
    photo_id: Mapped[str] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"), index=True)
    set_id: Mapped[str] = mapped_column(ForeignKey("photo_sets.id", ondelete="CASCADE"), index=True)
    decision_id: Mapped[str] = mapped_column(ForeignKey("photo_decisions.id", ondelete="CASCADE"))
    note: Mapped[str] = mapped_column(SealedText("appeals.note"))
    state: Mapped[AppealState] = mapped_column(str_enum(AppealState, 12), default=AppealState.OPEN)
    filed_at: Mapped[Timestamp]
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    decided_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    answer: Mapped[str | None] = mapped_column(SealedText("appeals.answer"))  # at most 500 characters
