"""Compliance rows: contributors' rights requests (with their statutory deadline), processing suspensions,
monthly sign-offs of the staff access log, and runs of the retention job.

People appear only by pseudonymous subject id or random row id. A rights request may carry the contributor's
own words (what to correct, for instance); those are cleared when a deletion request is completed.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from consent.db import Base, IdPk, Timestamp, UTCDateTime, str_enum
from consent.sealed import SealedText

RIGHTS_SLA = dt.timedelta(days=10)  # PIPA Enforcement Decree Art. 41(4), 43(3), 44(2): within 10 days


class RightsKind(enum.StrEnum):
    ACCESS = "access"  # access / export (PIPA Art. 35, GDPR Art. 15 and 20)
    CORRECTION = "correction"  # correction (PIPA Art. 36, GDPR Art. 16)
    DELETION = "deletion"  # deletion (PIPA Art. 36, GDPR Art. 17)
    SUSPENSION = "suspension"  # suspension of processing (PIPA Art. 37, GDPR Art. 18)


class RightsState(enum.StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    REFUSED = "refused"


class RightsStateError(ValueError):
    """A step the request's current state does not allow."""


class RightsRequest(Base):
    """One request by a contributor to exercise a right, for one campaign or (campaign_id None) every one."""

    __tablename__ = "rights_requests"
    __table_args__ = (Index("ix_rights_requests_state_due", "state", "due_at"),)

    id: Mapped[IdPk]
    subject_id: Mapped[str] = mapped_column(String(40), index=True)
    user_id: Mapped[str] = mapped_column(String(32))
    campaign_id: Mapped[str | None] = mapped_column(String(32))
    kind: Mapped[RightsKind] = mapped_column(str_enum(RightsKind))
    state: Mapped[RightsState] = mapped_column(str_enum(RightsState), default=RightsState.OPEN)
    details: Mapped[str] = mapped_column(SealedText("rights_requests.details"), default="")
    received_at: Mapped[Timestamp]
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    started_by: Mapped[str | None] = mapped_column(String(32))
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    closed_by: Mapped[str | None] = mapped_column(String(32))
    resolution_note: Mapped[str | None] = mapped_column(SealedText("rights_requests.resolution_note"))
    outcome: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    def __repr__(self) -> str:
        return f"<RightsRequest {self.id} {self.kind.value} {self.state.value}>"

    @property
    def closed(self) -> bool:
        return self.state in (RightsState.COMPLETED, RightsState.REFUSED)

    def overdue(self, now: dt.datetime) -> bool:
        """Still open past its deadline, or closed after it."""
        return (self.closed_at or now) > self.due_at

    def start(self, officer_id: str, when: dt.datetime) -> None:
        if self.state is not RightsState.OPEN:
            raise RightsStateError(f"only an open request can be started (this one is {self.state.value})")
        self.state = RightsState.IN_PROGRESS
        self.started_at, self.started_by = when, officer_id

    def require_closable(self, note: str) -> None:
        if self.closed:
            raise RightsStateError(f"the request is already {self.state.value}")
        if not note.strip():
            raise RightsStateError("closing a request needs a note for the contributor")

    def close(self, officer_id: str, when: dt.datetime, note: str, refused: bool = False) -> None:
        self.require_closable(note)
        self.state = RightsState.REFUSED if refused else RightsState.COMPLETED
        self.closed_at, self.closed_by, self.resolution_note = when, officer_id, note.strip()


class ProcessingSuspension(Base):
    """Processing of one enrollment is suspended (a rights request); gate jobs and releases must skip it."""

    __tablename__ = "processing_suspensions"

    id: Mapped[IdPk]
    enrollment_id: Mapped[str] = mapped_column(String(32), index=True)
    request_id: Mapped[str | None] = mapped_column(String(32))
    suspended_at: Mapped[Timestamp]
    suspended_by: Mapped[str | None] = mapped_column(String(32))
    lifted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    lifted_by: Mapped[str | None] = mapped_column(String(32))

    @property
    def active(self) -> bool:
        return self.lifted_at is None


class AccessReview(Base):
    """A compliance officer's sign-off of one month of staff views of biometric objects. `digest` is the
    SHA-256 of the report as it was shown, so the sign-off is bound to exactly the lines reviewed."""

    __tablename__ = "access_reviews"

    id: Mapped[IdPk]
    month: Mapped[str] = mapped_column(String(7), unique=True)  # YYYY-MM (UTC)
    views: Mapped[int] = mapped_column(default=0)
    digest: Mapped[str] = mapped_column(String(64))
    signed_off_by: Mapped[str] = mapped_column(String(32))
    signed_off_at: Mapped[Timestamp]
    note: Mapped[str] = mapped_column(Text, default="")


class RetentionRun(Base):
    """One run of the retention job: when, and which enrollments it erased (ids of erasure-ledger rows)."""

    __tablename__ = "retention_runs"

    id: Mapped[IdPk]
    started_at: Mapped[Timestamp]
    erased: Mapped[int] = mapped_column(default=0)
    ledger_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    trigger: Mapped[str] = mapped_column(String(20), default="job")  # job | command | officer
