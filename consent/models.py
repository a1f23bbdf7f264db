"""Consent rows. Append-only by design: a published notice version never changes (a change is a new version),
and every consent event (given, withdrawn, re-consented) is a new signed record, never an edit.

Consent knows people only by their opaque subject id. The names typed as signatures are kept apart, in
`SignatureName`, so that erasure can drop them while the signed receipts (which hold only salted commitments)
remain as proof of what was agreed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from consent.db import Base, IdPk, Timestamp, UTCDateTime, str_enum
from consent.notice import (
    CURRENT_WORDING,
    LANGUAGES,
    Notice,
    notice_from_dict,
    notice_sha256,
    notice_to_dict,
)
from consent.sealed import SealedText


class StoredSigningKey(Base):
    """One Ed25519 signing key: public half and validity period in clear, private half sealed (see keys.py)."""

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(32), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)  # SigningKey.to_dict()
    valid_from: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    valid_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[Timestamp]


class NoticeState(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"


class PublishedNoticeError(ValueError):
    """A published notice version was asked to change."""


class NoticeVersion(Base):
    """One version of a campaign's consent document (the notice shown and its consent matters)."""

    __tablename__ = "notice_versions"
    __table_args__ = (UniqueConstraint("campaign_id", "number"),)

    id: Mapped[IdPk]
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"), index=True)
    number: Mapped[int]
    state: Mapped[NoticeState] = mapped_column(str_enum(NoticeState, 10), default=NoticeState.DRAFT)
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    sha256_ko: Mapped[str | None] = mapped_column(String(64))
    sha256_en: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[Timestamp]
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    published_by: Mapped[str | None] = mapped_column(String(32))
    # The campaign settings this text was written for (what it tells people: counts, payment, periods...), as the
    # caller gave them when saving it; None on versions saved before 0011. Opaque to this package.
    written_for: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    def __repr__(self) -> str:
        return f"<NoticeVersion {self.id} #{self.number} {self.state.value}>"

    @property
    def notice(self) -> Notice:
        """The stored notice; a draft (not yet shown to anyone as final) always in the current wording edition, so
        a draft saved before an edition existed is previewed and published in the new wording."""
        notice = notice_from_dict(self.content)
        if self.published or notice.wording == CURRENT_WORDING:
            return notice
        return dataclasses.replace(notice, wording=CURRENT_WORDING)

    @property
    def published(self) -> bool:
        return self.state is NoticeState.PUBLISHED

    def replace_content(self, notice: Notice) -> None:
        if self.published:
            raise PublishedNoticeError("a published notice never changes: draft a new version")
        self.content = notice_to_dict(notice)

    def publish(self, when: dt.datetime, by: str | None) -> None:
        if self.published:
            raise PublishedNoticeError("this version is already published")
        notice = self.notice
        self.content = notice_to_dict(notice)  # the wording edition it is published in is stored with it
        self.sha256_ko, self.sha256_en = (notice_sha256(notice, lang) for lang in LANGUAGES)
        self.state = NoticeState.PUBLISHED
        self.published_at = when
        self.published_by = by

    def sha256(self, lang: str) -> str | None:
        return self.sha256_en if lang == "en" else self.sha256_ko


class ReviewState(enum.StrEnum):
    NOT_NEEDED = "not_needed"
    PENDING = "pending"  # guardian consents and re-consents wait for an operator's look
    APPROVED = "approved"
    FLAGGED = "flagged"  # an operator asked the compliance officer to follow the consent up (`review_note` says why)
    RESOLVED = "resolved"  # the compliance officer followed a flag up (`resolution_note` says how)


class ConsentRecord(Base):
    """One consent event with its signed receipt (stored verbatim: it is the file the contributor downloads)."""

    __tablename__ = "consent_records"
    # `sequence` numbers a person's events in a campaign 1, 2, 3...; the unique key makes the history linear
    # (two concurrent events cannot both extend it: one fails and is retried on the new state).
    __table_args__ = (UniqueConstraint("subject_id", "campaign_id", "sequence"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # = consentReceiptID
    subject_id: Mapped[str] = mapped_column(String(40))
    sequence: Mapped[int]
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"), index=True)
    notice_version_id: Mapped[str] = mapped_column(ForeignKey("notice_versions.id"))
    event: Mapped[str] = mapped_column(String(16))  # given | withdrawn | reconsented
    decisions: Mapped[dict[str, bool]] = mapped_column(JSON)  # every matter id -> in force after this event
    language: Mapped[str] = mapped_column(String(5))
    under_14: Mapped[bool] = mapped_column(default=False)
    guardian_relationship: Mapped[str | None] = mapped_column(String(20))
    kid: Mapped[str] = mapped_column(String(64))
    receipt: Mapped[str] = mapped_column(Text)  # the signed canonical JSON file, UTF-8
    previous_record_id: Mapped[str | None] = mapped_column(String(64))
    withdraws_record_id: Mapped[str | None] = mapped_column(String(64))
    ip_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[Timestamp]
    review_state: Mapped[ReviewState] = mapped_column(str_enum(ReviewState), default=ReviewState.NOT_NEEDED)
    review_note: Mapped[str | None] = mapped_column(String(500))
    reviewed_by: Mapped[str | None] = mapped_column(String(32))
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # The compliance officer's follow-up of a flag; the flag itself (reason, who, when) stays in the review_* columns.
    resolution_note: Mapped[str | None] = mapped_column(String(500))
    resolved_by: Mapped[str | None] = mapped_column(String(32))
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    def __repr__(self) -> str:
        return f"<ConsentRecord {self.id} {self.event}>"

    @property
    def receipt_bytes(self) -> bytes:
        return self.receipt.encode("utf-8")


class SignatureName(Base):
    """A name typed as a signature (the contributor's, or the legal representative's) and the salt that opens
    the commitment in the receipt. Personal data: erasure deletes these rows.

    Both are sealed at rest (`consent.sealed`): the salt too, since with the salt in clear a short name could be
    found by trying candidates against the commitment in the receipt."""

    __tablename__ = "signature_names"

    record_id: Mapped[str] = mapped_column(ForeignKey("consent_records.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(10), primary_key=True)  # principal | guardian
    name: Mapped[str] = mapped_column(SealedText("signature_names.name"))
    salt: Mapped[str] = mapped_column(SealedText("signature_names.salt"))  # hex


class MatterConsent(Base):
    """Whether consent to one matter is in force for one person in one campaign: exactly one row per
    (subject, campaign, matter), so two active consents to the same matter cannot exist."""

    __tablename__ = "matter_consents"
    __table_args__ = (UniqueConstraint("subject_id", "campaign_id", "matter_id"),)

    id: Mapped[IdPk]
    subject_id: Mapped[str] = mapped_column(String(40), index=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"), index=True)
    matter_id: Mapped[str] = mapped_column(String(64))
    matter_kind: Mapped[str] = mapped_column(String(40))
    active: Mapped[bool]
    notice_version_id: Mapped[str] = mapped_column(ForeignKey("notice_versions.id"))
    record_id: Mapped[str] = mapped_column(ForeignKey("consent_records.id"))
    updated_at: Mapped[Timestamp]
