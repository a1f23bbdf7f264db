"""Account rows. A user's personal data (email, display name, birth date) lives only here; every other table
and every audit event knows the person by `id` or the opaque `subject_id`.

The personal fields are sealed at rest (`consent.sealed`). The email is found through `email_index`, a keyed
blind index of the normalised address, which also carries the uniqueness constraint."""

from __future__ import annotations

import datetime as dt
import enum
import secrets

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from consent.db import Base, IdPk, Timestamp, UTCDateTime, str_enum
from consent.sealed import SealedDate, SealedText

EMAIL_INDEX_PURPOSE = "users.email"  # names the key of the email blind index (see consent.sealed.BlindIndex)


class Role(enum.StrEnum):
    CONTRIBUTOR = "contributor"
    OPERATOR = "operator"
    COMPLIANCE = "compliance"
    ADMIN = "admin"

    @property
    def is_staff(self) -> bool:
        return self is not Role.CONTRIBUTOR


def new_subject_id() -> str:
    """Opaque pseudonymous principal id used in consent receipts and audit events (never derived from PII)."""
    return "sub_" + secrets.token_urlsafe(16)


class User(Base):
    __tablename__ = "users"

    id: Mapped[IdPk]
    subject_id: Mapped[str] = mapped_column(String(40), unique=True, default=new_subject_id)
    email: Mapped[str | None] = mapped_column(SealedText("users.email"))
    email_index: Mapped[str | None] = mapped_column(String(64), unique=True)  # BlindIndex of the normalised email
    password_hash: Mapped[str | None] = mapped_column(String(255))
    display_name: Mapped[str | None] = mapped_column(SealedText("users.display_name"))
    birth_date: Mapped[dt.date | None] = mapped_column(SealedDate("users.birth_date"))
    role: Mapped[Role] = mapped_column(str_enum(Role))
    locale: Mapped[str] = mapped_column(String(5), default="ko")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[Timestamp]
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    erased_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    def __repr__(self) -> str:
        return f"<User {self.id} {self.role.value}>"

    def age_on(self, day: dt.date) -> int | None:
        if self.birth_date is None:
            return None
        b = self.birth_date
        return day.year - b.year - ((day.month, day.day) < (b.month, b.day))

    def erase_identity(self, when: dt.datetime) -> None:
        """Drop every personal field; the row stays so ledgers and payouts keep their pseudonymous references."""
        self.email = None
        self.email_index = None
        self.password_hash = None
        self.display_name = None
        self.birth_date = None
        self.active = False
        self.erased_at = when


class LoginAttempt(Base):
    """One sign-in attempt. The IP is stored only as a keyed hash; the account only by id (None if unknown)."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_user_at", "user_id", "at"),
        Index("ix_login_attempts_ip_at", "ip_hash", "at"),
    )

    id: Mapped[IdPk]
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    ip_hash: Mapped[str] = mapped_column(String(64))
    succeeded: Mapped[bool]
    at: Mapped[Timestamp]
