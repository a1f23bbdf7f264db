"""Records of processing activities (GDPR Art. 30; PIPA Art. 30 privacy policy) built from the campaigns'
configuration and each campaign's current published notice: purposes, items, legal basis, retention, recipients,
transfers. The public privacy policy page renders the same records, so the policy can never say something the
notices contributors actually signed do not.

A campaign appears once it has left draft and has a published notice. Text comes in the requested language.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from collection.campaigns.models import Campaign, CampaignStatus
from collection.contributions.models import Enrollment, EnrollmentState
from consent.models import NoticeState, NoticeVersion
from consent.notice import Contact, LocalizedText, MatterKind, Notice

_SECURITY = (
    LocalizedText(
        "사진·음성·얼굴 특징정보는 참여자·캠페인별 데이터 키로 AES-256-GCM 암호화하여 저장하고, "
        "데이터 키는 데이터베이스 밖의 마스터 키로 감쌉니다(AES key wrap).",
        "Photos, recordings and face features are stored encrypted with AES-256-GCM under a data key per contributor "
        "and campaign; data keys are wrapped (AES key wrap) by a master key kept outside the database.",
    ),
    LocalizedText(
        "삭제 시 데이터 키를 파기하여 백업을 포함한 모든 사본을 복구할 수 없게 하고, "
        "파기 기록을 데이터베이스 밖에도 남깁니다.",
        "Erasure destroys the data key, making every copy unreadable, backups included; the erasure is recorded "
        "outside the database as well.",
    ),
    LocalizedText(
        "직원의 생체정보 열람은 모두 기록하고 매월 점검하며, 감사 로그는 서명된 체크포인트로 위변조를 검증합니다.",
        "Every staff view of biometric data is logged and reviewed monthly; the audit log is checked for tampering "
        "against signed checkpoints.",
    ),
    LocalizedText(
        "데이터셋 제공 전 메타데이터 제거, 주변인 얼굴 가림, 가명 처리를 거칩니다.",
        "Before a dataset is released, metadata is removed, bystanders' faces are masked and ids are pseudonymised.",
    ),
)


@dataclass(frozen=True)
class Party:
    name: str
    email: str
    phone: str
    address: str


@dataclass(frozen=True)
class Recipient:
    name: str
    purpose: str
    items: str
    retention: str


@dataclass(frozen=True)
class ProcessingActivity:
    campaign_id: str
    slug: str
    title: str
    status: str
    notice_version_id: str
    published_at: dt.datetime | None
    controller: Party
    privacy_officer: Party
    purpose: str
    items_collected: str
    data_categories: tuple[str, ...]
    sensitive: bool
    legal_basis: str
    retention: str
    retention_days: int
    retention_ends: dt.datetime | None
    data_subjects: str
    recipients: tuple[Recipient, ...]
    transfers: str
    rights: str
    complaint: str
    contributors_held: int


@dataclass(frozen=True)
class RecordsOfProcessing:
    generated_at: dt.datetime
    lang: str
    activities: tuple[ProcessingActivity, ...]
    security_measures: tuple[str, ...]

    @property
    def controllers(self) -> tuple[Party, ...]:
        """The distinct controllers named by the notices, in order of appearance."""
        seen: dict[tuple[str, str], Party] = {}
        for a in self.activities:
            seen.setdefault((a.controller.name, a.controller.email), a.controller)
        return tuple(seen.values())


def records_of_processing(session: Session, now: dt.datetime, lang: str) -> RecordsOfProcessing:
    campaigns = session.scalars(
        select(Campaign).where(Campaign.status != CampaignStatus.DRAFT).order_by(Campaign.opened_at, Campaign.slug)
    )
    activities = []
    for campaign in campaigns:
        version = _current_notice(session, campaign.id)
        if version is not None:
            activities.append(_activity(session, campaign, version, lang))
    return RecordsOfProcessing(now, lang, tuple(activities), tuple(m.get(lang) for m in _SECURITY))


def _current_notice(session: Session, campaign_id: str) -> NoticeVersion | None:
    q = select(NoticeVersion).where(
        NoticeVersion.campaign_id == campaign_id, NoticeVersion.state == NoticeState.PUBLISHED
    )
    return session.scalar(q.order_by(NoticeVersion.number.desc()).limit(1))


def _party(contact: Contact, lang: str) -> Party:
    return Party(contact.name.get(lang), contact.email, contact.phone, contact.address.get(lang))


def _activity(session: Session, campaign: Campaign, version: NoticeVersion, lang: str) -> ProcessingActivity:
    notice: Notice = version.notice
    held = session.scalar(
        select(func.count())
        .select_from(Enrollment)
        .where(Enrollment.campaign_id == campaign.id, Enrollment.state != EnrollmentState.ERASED)
    )
    categories = sorted({c for m in notice.matters for c in m.data_categories})
    return ProcessingActivity(
        campaign_id=campaign.id,
        slug=campaign.slug,
        title=notice.title.get(lang) or campaign.title(lang),
        status=campaign.status.value,
        notice_version_id=notice.version_id,
        published_at=version.published_at,
        controller=_party(notice.controller, lang),
        privacy_officer=_party(notice.privacy_officer, lang),
        purpose=notice.purpose.get(lang),
        items_collected=notice.items_collected.get(lang),
        data_categories=tuple(categories),
        sensitive=any(m.kind is MatterKind.SENSITIVE_INFORMATION for m in notice.matters),
        legal_basis=notice.legal_basis.get(lang),
        retention=notice.retention.get(lang),
        retention_days=campaign.retention_days,
        retention_ends=campaign.retention_ends(),
        data_subjects=f"{campaign.min_age}-{campaign.max_age}",
        recipients=tuple(_recipients(notice, lang)),
        transfers=notice.transfers.get(lang),
        rights=notice.rights.get(lang),
        complaint=notice.complaint.get(lang),
        contributors_held=int(held or 0),
    )


def _recipients(notice: Notice, lang: str) -> list[Recipient]:
    return [
        Recipient(
            m.third_party.recipient.get(lang),
            m.third_party.purpose.get(lang),
            m.third_party.items.get(lang),
            m.third_party.retention.get(lang),
        )
        for m in notice.matters
        if m.kind is MatterKind.THIRD_PARTY_PROVISION and m.third_party is not None
    ]
