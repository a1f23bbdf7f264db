"""The consent registry as compliance officers see it: find consent records by pseudonymous subject id or
receipt id, follow a person's state history per campaign, and verify signed receipts in bulk.

Bulk verification checks each stored receipt offline (`ConsentService.verify`: signature, canonical form, key
validity, schema) and that the row still says what the signed receipt says (receipt id and principal), so an
edited row is caught as well as a forged receipt.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from collection.audit.log import Actor, AuditLog
from collection.campaigns.models import Campaign
from consent.models import ConsentRecord, NoticeVersion
from consent.notice import MatterKind, notice_sha256
from consent.receipts import Verification
from consent.service import ConsentService


@dataclass(frozen=True)
class CheckedRecord:
    record: ConsentRecord
    valid: bool
    problem: str | None
    signed_sha256: str | None = None  # the notice text's hash inside the signed receipt (what the person signed)


@dataclass(frozen=True)
class CampaignHistory:
    """A person's consent events in one campaign, oldest first, and what is in force now."""

    campaign_id: str
    campaign_slug: str
    events: tuple[CheckedRecord, ...]
    active_kinds: tuple[str, ...]
    holds_required: bool


@dataclass(frozen=True)
class BulkVerification:
    total: int
    valid: int
    failures: tuple[CheckedRecord, ...]

    @property
    def ok(self) -> bool:
        return not self.failures


class ConsentRegistry:
    def __init__(self, session: Session, consent: ConsentService, audit: AuditLog) -> None:
        self.session = session
        self.consent = consent
        self.audit = audit

    def search(self, query: str) -> list[ConsentRecord]:
        """Records whose receipt id or subject id is exactly `query` (ids are random: no partial matching)."""
        query = query.strip()
        if not query:
            return []
        record = self.consent.record(query)
        if record is not None:
            return [record]
        return self.consent.records(query)

    def recent(self, limit: int = 50) -> list[ConsentRecord]:
        """The latest consent events (given, re-consented, withdrawn), newest first."""
        q = select(ConsentRecord).order_by(ConsentRecord.created_at.desc(), ConsentRecord.id).limit(limit)
        return list(self.session.scalars(q))

    def history(self, subject_id: str) -> list[CampaignHistory]:
        by_campaign: dict[str, list[ConsentRecord]] = {}
        for record in self.consent.records(subject_id):
            by_campaign.setdefault(record.campaign_id, []).append(record)
        return [self._campaign_history(subject_id, cid, records) for cid, records in by_campaign.items()]

    def check(self, record: ConsentRecord, text_hashes: dict[tuple[str, str], str] | None = None) -> CheckedRecord:
        """Verify the receipt and that the row and the stored notice text still say what it signed. `text_hashes`
        carries the stored texts' hashes across the records of one pass (each version is rendered once)."""
        result: Verification = self.consent.verify(record.receipt_bytes)
        if not result.valid:
            return CheckedRecord(record, False, f"{result.failure}: {result.reason}")
        facts = result.facts
        if facts is None or facts.receipt_id != record.id or facts.principal_id != record.subject_id:
            return CheckedRecord(record, False, "row_mismatch: the stored row no longer matches its signed receipt")
        version = self.session.get(NoticeVersion, record.notice_version_id)
        if (version is None or facts.notice_version != version.number
                or _stored_text_sha256(version, facts.language, {} if text_hashes is None else text_hashes)
                != facts.notice_sha256):
            return CheckedRecord(record, False, "notice_mismatch: the stored notice text is not the one signed",
                                 facts.notice_sha256)
        return CheckedRecord(record, True, None, facts.notice_sha256)

    def verify_all(self, actor: Actor, campaign_id: str | None = None) -> BulkVerification:
        """Verify every stored receipt (of one campaign, or all); leaves an audit event with the counts."""
        q = select(ConsentRecord)
        if campaign_id is not None:
            q = q.where(ConsentRecord.campaign_id == campaign_id)
        hashes: dict[tuple[str, str], str] = {}
        checked = [self.check(r, hashes) for r in self.session.scalars(q.order_by(ConsentRecord.created_at))]
        failures = tuple(c for c in checked if not c.valid)
        result = BulkVerification(len(checked), len(checked) - len(failures), failures)
        self.audit.record(
            actor,
            "consent.bulk_verified",
            "campaign" if campaign_id else "registry",
            campaign_id,
            total=result.total,
            invalid=[c.record.id for c in failures],
        )
        self.session.flush()
        return result

    def _campaign_history(self, subject_id: str, campaign_id: str, records: list[ConsentRecord]) -> CampaignHistory:
        campaign = self.session.get(Campaign, campaign_id)
        kinds = self.consent.active_kinds(subject_id, campaign_id)
        hashes: dict[tuple[str, str], str] = {}
        return CampaignHistory(
            campaign_id,
            campaign.slug if campaign else campaign_id,
            tuple(self.check(r, hashes) for r in records),
            tuple(sorted(k.value for k in kinds)),
            {MatterKind.COLLECTION_AND_USE, MatterKind.SENSITIVE_INFORMATION} <= kinds,
        )


def _stored_text_sha256(version: NoticeVersion, lang: str, seen: dict[tuple[str, str], str]) -> str:
    """The hash of the stored notice's text in `lang`, rendered once per version and language within a pass (a
    bulk check covers every receipt of a campaign, most of them signed on the same few versions)."""
    key = (version.id, lang)
    if key not in seen:
        seen[key] = notice_sha256(version.notice, lang)
    return seen[key]
