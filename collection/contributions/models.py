"""Contribution rows: a contributor's enrollment in a campaign, their photo set, its photos and voice clips.

Photo and voice bytes never live here: rows hold only random blob keys of encrypted objects (sealed under the
contributor's data key), gate measurements and state. Personal fields (age at capture, capture date, the
contributor's note) sit on rows that erasure deletes; the capture date and the note are also sealed at rest
(`consent.sealed`).
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from consent.db import Base, IdPk, Timestamp, UTCDateTime, str_enum
from consent.sealed import SealedText, SealedUTCDateTime


class TransitionError(ValueError):
    """A state change that the object's current state does not allow; the message says why."""


class EnrollmentState(enum.StrEnum):
    ACTIVE = "active"
    WITHDRAWN = "withdrawn"
    ERASED = "erased"


_LIVE = text("state != 'erased'")


class Enrollment(Base):
    """A contributor taking part in one campaign. At most one per person and campaign is live; an erased one
    stays (its key destroyed, its rows gone) as what the erasure ledger points at, and the person may join
    again with a new consent, which starts a new enrollment with a new key and an empty set."""

    __tablename__ = "enrollments"
    __table_args__ = (
        Index("uq_enrollments_live", "campaign_id", "user_id", unique=True, sqlite_where=_LIVE, postgresql_where=_LIVE),
    )

    id: Mapped[IdPk]
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    state: Mapped[EnrollmentState] = mapped_column(str_enum(EnrollmentState), default=EnrollmentState.ACTIVE)
    joined_at: Mapped[Timestamp]
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    def __repr__(self) -> str:
        return f"<Enrollment {self.id} {self.state.value}>"


def current_enrollment(session: Session, user_id: str, campaign_id: str) -> Enrollment | None:
    """The person's enrollment in the campaign that pages and services act on: the live one, else the latest
    erased one (what a withdrawn contributor's pages describe), else None."""
    rows = session.scalars(
        select(Enrollment).where(Enrollment.user_id == user_id, Enrollment.campaign_id == campaign_id)
    ).all()
    live = [e for e in rows if e.state is not EnrollmentState.ERASED]
    return live[0] if live else max(rows, key=lambda e: e.joined_at, default=None)


class SetState(enum.StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    IN_REVIEW = "in_review"
    CHANGES_REQUESTED = "changes_requested"
    AWAITING_SECOND_REVIEW = "awaiting_second_review"
    ACCEPTED = "accepted"
    PAID = "paid"
    WITHDRAWN = "withdrawn"


EDITABLE_SET_STATES = (SetState.DRAFT, SetState.CHANGES_REQUESTED)


class PhotoSet(Base):
    """The contributor's submission for a campaign: photos per age bracket (and voice clips)."""

    __tablename__ = "photo_sets"

    id: Mapped[IdPk]
    enrollment_id: Mapped[str] = mapped_column(ForeignKey("enrollments.id"), unique=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    state: Mapped[SetState] = mapped_column(str_enum(SetState, 24), default=SetState.DRAFT, index=True)
    round: Mapped[int] = mapped_column(default=0)  # incremented at each submission
    created_at: Mapped[Timestamp]
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    claimed_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    first_reviewer_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    identity: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # set gate: matrix, verdicts, version

    photos: Mapped[list[Photo]] = relationship(back_populates="photo_set", order_by="Photo.created_at")
    # every photo ever uploaded, including replaced ones; `current_photos` is what the set holds now
    voice_clips: Mapped[list[VoiceClip]] = relationship(back_populates="photo_set", order_by="VoiceClip.created_at")

    def __repr__(self) -> str:
        return f"<PhotoSet {self.id} {self.state.value} round={self.round}>"

    @property
    def editable(self) -> bool:
        return self.state in EDITABLE_SET_STATES

    @property
    def current_photos(self) -> list[Photo]:
        return [p for p in self.photos if p.state is not PhotoState.REPLACED]

    def require_editable(self) -> None:
        if not self.editable:
            raise TransitionError(
                f"the set is {self.state.value}: it can be changed only as a draft or when changes are requested"
            )

    def submit(self, when: dt.datetime) -> None:
        self.require_editable()
        self.state = SetState.SUBMITTED
        self.round += 1
        self.submitted_at = when
        self.claimed_by = None
        self.claimed_at = None

    def claim(self, reviewer_id: str, when: dt.datetime) -> None:
        if self.state not in (SetState.SUBMITTED, SetState.AWAITING_SECOND_REVIEW):
            raise TransitionError(f"only a submitted set can be claimed (this one is {self.state.value})")
        if self.claimed_by not in (None, reviewer_id):
            raise TransitionError("another operator is reviewing this set")
        self.claimed_by = reviewer_id
        self.claimed_at = when
        if self.state is SetState.SUBMITTED:
            self.state = SetState.IN_REVIEW

    def release(self, reviewer_id: str) -> None:
        if self.claimed_by != reviewer_id:
            raise TransitionError("only the operator who claimed the set can release it")
        self.claimed_by = None
        self.claimed_at = None
        if self.state is SetState.IN_REVIEW:
            self.state = SetState.SUBMITTED

    def request_changes(self, reviewer_id: str, when: dt.datetime) -> None:
        self._require_claimed_by(reviewer_id)
        self.state = SetState.CHANGES_REQUESTED
        self.decided_at = when
        self.first_reviewer_id = self.first_reviewer_id or reviewer_id
        self.claimed_by = None

    def accept(self, reviewer_id: str, when: dt.datetime, needs_second: bool) -> None:
        self._require_claimed_by(reviewer_id)
        if self.state is SetState.AWAITING_SECOND_REVIEW:
            if reviewer_id == self.first_reviewer_id:
                raise TransitionError("the second review must be done by a different operator")
            self.state = SetState.ACCEPTED
        elif needs_second:
            self.state = SetState.AWAITING_SECOND_REVIEW
            self.first_reviewer_id = reviewer_id
        else:
            self.state = SetState.ACCEPTED
            self.first_reviewer_id = self.first_reviewer_id or reviewer_id
        self.decided_at = when
        self.claimed_by = None

    def mark_paid(self) -> None:
        if self.state is not SetState.ACCEPTED:
            raise TransitionError("only an accepted set can be paid")
        self.state = SetState.PAID

    def _require_claimed_by(self, reviewer_id: str) -> None:
        if self.state not in (SetState.IN_REVIEW, SetState.AWAITING_SECOND_REVIEW) or self.claimed_by != reviewer_id:
            raise TransitionError("claim the set before deciding on it")


class PhotoState(enum.StrEnum):
    CHECKING = "checking"  # gate job queued or running
    PASSED = "passed"  # every gate passed
    FAILED = "failed"  # a gate failed; the contributor should replace it (or ask for human review)
    NEEDS_REVIEW = "needs_review"  # the gates could not decide, or the contributor asked a human to look
    ACCEPTED = "accepted"  # an operator accepted it
    REJECTED = "rejected"  # an operator rejected it with a reason; replace it
    REPLACED = "replaced"  # superseded by a newer photo; kept (with its decisions) for the review history


class Photo(Base):
    __tablename__ = "photos"
    __table_args__ = (Index("ix_photos_campaign_phash", "campaign_id", "phash"),)

    id: Mapped[IdPk]
    set_id: Mapped[str] = mapped_column(ForeignKey("photo_sets.id", ondelete="CASCADE"), index=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    bracket: Mapped[str] = mapped_column(String(20))
    state: Mapped[PhotoState] = mapped_column(str_enum(PhotoState), default=PhotoState.CHECKING)
    version: Mapped[int] = mapped_column(default=1)
    blob_key: Mapped[str] = mapped_column(String(200))
    thumb_key: Mapped[str | None] = mapped_column(String(200))
    encoding_key: Mapped[str | None] = mapped_column(String(200))  # sealed 128-d face encoding (biometric)
    content_mac: Mapped[str] = mapped_column(String(64), index=True)  # keyed hash of the uploaded bytes
    phash: Mapped[str | None] = mapped_column(String(16))  # 64-bit perceptual hash of the pixels (hex)
    width: Mapped[int] = mapped_column(default=0)
    height: Mapped[int] = mapped_column(default=0)
    source_format: Mapped[str] = mapped_column(String(10), default="")
    captured_at: Mapped[dt.datetime | None] = mapped_column(SealedUTCDateTime("photos.captured_at"))
    age_years: Mapped[int | None] = mapped_column()
    age_source: Mapped[str | None] = mapped_column(String(16))  # "contributor" | "capture_date"
    gates: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the gate report (no personal data)
    identity: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # verdict and score from the set gate
    contributor_note: Mapped[str | None] = mapped_column(SealedText("photos.contributor_note"))
    review_reason: Mapped[str | None] = mapped_column(String(40))
    review_comment: Mapped[str | None] = mapped_column(SealedText("photos.review_comment"))
    replaces_id: Mapped[str | None] = mapped_column(String(32))
    round: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[Timestamp]

    photo_set: Mapped[PhotoSet] = relationship(back_populates="photos")

    def __repr__(self) -> str:
        return f"<Photo {self.id} {self.state.value}>"

    @property
    def blocking(self) -> bool:
        """True while this photo keeps the set from being submitted."""
        return self.state in (PhotoState.CHECKING, PhotoState.FAILED, PhotoState.REJECTED)


class VoiceClip(Base):
    __tablename__ = "voice_clips"

    id: Mapped[IdPk]
    set_id: Mapped[str] = mapped_column(ForeignKey("photo_sets.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    prompt_key: Mapped[str] = mapped_column(String(40))
    state: Mapped[PhotoState] = mapped_column(str_enum(PhotoState), default=PhotoState.CHECKING)
    version: Mapped[int] = mapped_column(default=1)
    blob_key: Mapped[str] = mapped_column(String(200))
    source_format: Mapped[str] = mapped_column(String(20), default="")
    duration_s: Mapped[float] = mapped_column(default=0.0)
    sample_rate: Mapped[int] = mapped_column(default=0)
    gates: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[Timestamp]

    photo_set: Mapped[PhotoSet] = relationship(back_populates="voice_clips")

    @property
    def blocking(self) -> bool:
        return self.state in (PhotoState.CHECKING, PhotoState.FAILED, PhotoState.REJECTED)
