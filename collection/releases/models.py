"""Release rows: a dataset release to one licensee (what was asked, what was built, its verification and its
approval), the contributors and items that went into it, and the signed withdrawal lists issued for it.

Personal data never leaves through these rows: what a licensee receives names people only by per-release
pseudonyms. Internally `ReleaseSubject` maps the contributor's opaque subject id to that pseudonym, so a later
withdrawal can name the right pseudonym without the release key. The release key itself is kept sealed
(`sealed_key`, AES-256-GCM under a key derived from the master key, bound to the release id), and so is the key
of the package's copy in the blob store (`package_key`, wrapped by the master key).
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from consent.db import Base, IdPk, Timestamp, UTCDateTime, str_enum


class ReleaseState(enum.StrEnum):
    DRAFT = "draft"  # asked for; nothing built yet
    VERIFY_FAILED = "verify_failed"  # built, but the independent verification found problems
    VERIFIED = "verified"  # built and every verification check passed
    APPROVED = "approved"  # a compliance officer approved it for delivery


class ReleaseTransitionError(ValueError):
    """A release step its current state does not allow; the message says why, `code` names it."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class Release(Base):
    """One dataset release of a campaign to one licensee."""

    __tablename__ = "releases"

    id: Mapped[IdPk]
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"), index=True)
    licensee: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(Text)
    fields: Mapped[list[str]] = mapped_column(JSON, default=list)  # released side-table columns
    include_voice: Mapped[bool] = mapped_column(default=False)
    k: Mapped[int] = mapped_column(Integer, default=5)
    state: Mapped[ReleaseState] = mapped_column(str_enum(ReleaseState, 16), default=ReleaseState.DRAFT, index=True)
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[Timestamp]
    sealed_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    package_path: Mapped[str | None] = mapped_column(String(1000))
    # The sealed copy in the blob store (collection.releases.stored), when packages are shared between hosts:
    # the prefix of its parts and its data key wrapped by the master key. Both NULL once erased.
    package_blob: Mapped[str | None] = mapped_column(String(200))
    package_key: Mapped[bytes | None] = mapped_column(LargeBinary(40))
    key_id: Mapped[str | None] = mapped_column(String(64))  # the Ed25519 key that signed the manifest
    statement_sha256: Mapped[str | None] = mapped_column(String(64))
    items: Mapped[int] = mapped_column(default=0)
    subjects: Mapped[int] = mapped_column(default=0)
    build_summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # counts, k, generalisation
    built_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    built_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    verify_report: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    verified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    approved_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    approved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    def __repr__(self) -> str:
        return f"<Release {self.id} {self.state.value}>"

    @property
    def built(self) -> bool:
        return self.built_at is not None

    @property
    def verification_passed(self) -> bool:
        return bool(self.verify_report and self.verify_report.get("ok"))

    def failures(self) -> list[dict[str, Any]]:
        """The failures of the stored verification report (empty when it passed or never ran): check, file, English
        detail, and a code with its params (absent from reports stored before failures carried them)."""
        return list((self.verify_report or {}).get("failures", []))

    def require_draft(self) -> None:
        if self.built or self.state is not ReleaseState.DRAFT:
            raise ReleaseTransitionError(f"release {self.id} is already built: draft a new release instead",
                                         "already_built")

    def mark_built(self, by: str | None, when: dt.datetime, package_path: str, key_id: str, statement: str) -> None:
        self.require_draft()
        self.built_by, self.built_at = by, when
        self.package_path, self.key_id, self.statement_sha256 = package_path, key_id, statement

    def require_verifiable(self) -> None:
        if not self.built:
            raise ReleaseTransitionError("a release is verified only after it is built", "not_built")
        if self.state is ReleaseState.APPROVED:
            raise ReleaseTransitionError("an approved release is not verified again: it is already delivered",
                                         "already_approved")

    def record_verification(self, report: dict[str, Any], when: dt.datetime) -> None:
        self.require_verifiable()
        self.verify_report = report
        self.verified_at = when
        self.state = ReleaseState.VERIFIED if report.get("ok") else ReleaseState.VERIFY_FAILED

    def approve(self, officer_id: str, when: dt.datetime) -> None:
        if self.state is ReleaseState.APPROVED:
            raise ReleaseTransitionError("this release is already approved", "already_approved")
        if self.state is not ReleaseState.VERIFIED or not self.verification_passed:
            raise ReleaseTransitionError("only a release whose verification passed can be approved", "not_verified")
        self.state = ReleaseState.APPROVED
        self.approved_by = officer_id
        self.approved_at = when


class ReleaseSubject(Base):
    """A contributor whose items went into a release, with their pseudonym in it and, once they withdraw the
    provision to third parties, when that was recorded (their pseudonym then goes on the withdrawal lists)."""

    __tablename__ = "release_subjects"
    __table_args__ = (UniqueConstraint("release_id", "subject_id"),)

    id: Mapped[IdPk]
    release_id: Mapped[str] = mapped_column(ForeignKey("releases.id", ondelete="CASCADE"), index=True)
    subject_id: Mapped[str] = mapped_column(String(40), index=True)  # the opaque consent principal id
    pseudonym: Mapped[str] = mapped_column(String(64))
    items: Mapped[int] = mapped_column(default=0)
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class ReleaseItem(Base):
    """One photo or recording in a release: its pseudonymous item id and the internal object it came from."""

    __tablename__ = "release_items"

    release_id: Mapped[str] = mapped_column(ForeignKey("releases.id", ondelete="CASCADE"), primary_key=True)
    item_id: Mapped[str] = mapped_column(String(64), primary_key=True)  # pseudonym, as in the manifest
    kind: Mapped[str] = mapped_column(String(10))  # photo | voice
    object_id: Mapped[str] = mapped_column(String(32))  # Photo.id or VoiceClip.id (no FK: erasure deletes them)
    subject_id: Mapped[str] = mapped_column(String(40), index=True)
    sha256: Mapped[str] = mapped_column(String(64))


class WithdrawalListRecord(Base):
    """One signed withdrawal list of a release (cumulative, numbered 1, 2, 3...); `document` is the signed JSON
    file licensees receive, kept verbatim."""

    __tablename__ = "release_withdrawal_lists"
    __table_args__ = (UniqueConstraint("release_id", "sequence"),)

    id: Mapped[IdPk]
    release_id: Mapped[str] = mapped_column(ForeignKey("releases.id", ondelete="CASCADE"), index=True)
    sequence: Mapped[int]
    issued_at: Mapped[Timestamp]
    subject_count: Mapped[int]
    key_id: Mapped[str] = mapped_column(String(64))
    document: Mapped[str] = mapped_column(Text)

    def __repr__(self) -> str:
        return f"<WithdrawalListRecord {self.release_id} #{self.sequence}>"

    @property
    def document_bytes(self) -> bytes:
        return self.document.encode("utf-8")
