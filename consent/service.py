"""Consent operations over the database: drafting and publishing notice versions, giving, re-consenting and
withdrawing consent with signed receipts, the operators' review queue, signing keys, and verification.

The service flushes; its caller commits. Withdrawal's effects on collected data (stopping processing,
erasure) belong to `collection`, which calls `withdraw` here and acts on the result in the same transaction.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from consent.clock import Clock
from consent.errors import ConsentStateError, NoActiveKeyError, NoticeIncompleteError, ReviewClosedError
from consent.keys import PURPOSE_CONSENT, KeyRing, PublicKeyDocument, SigningKey
from consent.models import (
    ConsentRecord,
    MatterConsent,
    NoticeState,
    NoticeVersion,
    ReviewState,
    SignatureName,
    StoredSigningKey,
)
from consent.notice import CURRENT_WORDING, MatterKind, Notice, missing_items, notice_to_dict
from consent.receipts import (
    ConsentEvent,
    EventType,
    GuardianConsent,
    GuardianRelationship,
    Verification,
    Withdrawal,
    commit_name,
    issue_receipt,
    verify_receipt,
)


@dataclass(frozen=True)
class Guardian:
    """The legal representative signing for a contributor under 14."""

    name: str
    relationship: GuardianRelationship
    signature: str


@dataclass(frozen=True)
class Signing:
    """What the contributor submitted on the consent page."""

    decisions: Mapping[str, bool]
    language: str
    signature: str
    under_14: bool = False
    guardian: Guardian | None = None
    ip_hash: str | None = None


class KeyStore:
    """Signing keys persisted as rows, loaded into a KeyRing; the first use creates the purpose's key."""

    def __init__(self, session: Session, master_key: bytes, clock: Clock) -> None:
        self.session = session
        self._master_key = master_key
        self.clock = clock

    def ring(self) -> KeyRing:
        rows = self.session.scalars(select(StoredSigningKey).order_by(StoredSigningKey.valid_from))
        return KeyRing(self._master_key, self.clock, [SigningKey.from_dict(r.data) for r in rows])

    def ensure(self, purpose: str = PURPOSE_CONSENT) -> KeyRing:
        ring = self.ring()
        try:
            ring.current(purpose)
        except NoActiveKeyError:
            self._save(ring.generate(purpose))
        return ring

    def rotate(self, purpose: str = PURPOSE_CONSENT) -> SigningKey:
        ring = self.ring()
        rotation = ring.rotate(purpose)
        if rotation.retired is not None:
            row = self.session.get(StoredSigningKey, rotation.retired.kid)
            assert row is not None
            row.data = rotation.retired.to_dict()
            row.valid_until = rotation.retired.public.valid_until
        self._save(rotation.created)
        return rotation.created

    def public_document(self, purposes: Iterable[str] = (PURPOSE_CONSENT,)) -> PublicKeyDocument:
        return self.ring().public_keys(tuple(purposes))

    def _save(self, key: SigningKey) -> None:
        self.session.add(
            StoredSigningKey(
                kid=key.kid,
                purpose=key.purpose,
                data=key.to_dict(),
                valid_from=key.public.valid_from,
                valid_until=key.public.valid_until,
                created_at=self.clock.now(),
            )
        )
        self.session.flush()


class ConsentService:
    def __init__(self, session: Session, clock: Clock, keys: KeyStore, policy_url: str) -> None:
        self.session = session
        self.clock = clock
        self.keys = keys
        self.policy_url = policy_url

    # -- notice versions (operators) -----------------------------------------------------------------------
    def versions(self, campaign_id: str) -> list[NoticeVersion]:
        q = select(NoticeVersion).where(NoticeVersion.campaign_id == campaign_id).order_by(NoticeVersion.number)
        return list(self.session.scalars(q))

    def current_version(self, campaign_id: str) -> NoticeVersion | None:
        q = (
            select(NoticeVersion)
            .where(NoticeVersion.campaign_id == campaign_id, NoticeVersion.state == NoticeState.PUBLISHED)
            .order_by(NoticeVersion.number.desc())
            .limit(1)
        )
        return self.session.scalar(q)

    def draft(self, campaign_id: str, notice: Notice, written_for: dict[str, Any] | None = None) -> NoticeVersion:
        """Save `notice` as the campaign's draft (creating the next version number if no draft exists), noting the
        campaign settings it was `written_for` (see `NoticeVersion.written_for`)."""
        versions = self.versions(campaign_id)
        draft = next((v for v in versions if v.state is NoticeState.DRAFT), None)
        number = draft.number if draft else (versions[-1].number + 1 if versions else 1)
        # a new draft is written in the current wording edition, even when it starts from an older version's text
        notice = dataclasses.replace(notice, version=number, wording=CURRENT_WORDING)
        if draft is None:
            draft = NoticeVersion(
                campaign_id=campaign_id,
                number=number,
                content=notice_to_dict(notice),
                state=NoticeState.DRAFT,
                created_at=self.clock.now(),
            )
            self.session.add(draft)
        else:
            draft.replace_content(notice)
        draft.written_for = written_for
        self.session.flush()
        return draft

    def publish(self, version: NoticeVersion, by: str | None) -> NoticeVersion:
        """Publish a draft. Raises NoticeIncompleteError listing every missing item, PublishedNoticeError."""
        problems = missing_items(version.notice)
        if problems:
            raise NoticeIncompleteError(problems)
        version.publish(self.clock.now(), by)
        self.session.flush()
        return version

    # -- giving and withdrawing (contributors) ------------------------------------------------------------
    def latest_record(self, subject_id: str, campaign_id: str) -> ConsentRecord | None:
        q = (
            select(ConsentRecord)
            .where(ConsentRecord.subject_id == subject_id, ConsentRecord.campaign_id == campaign_id)
            .order_by(ConsentRecord.sequence.desc())
            .limit(1)
        )
        return self.session.scalar(q)

    def give(self, subject_id: str, version: NoticeVersion, signing: Signing) -> ConsentRecord:
        """Record consent to the current published version. Raises ConsentStateError (not the current
        version), ReceiptBuildError (a required matter declined, decisions incomplete, guardian missing...)."""
        current = self.current_version(version.campaign_id)
        if current is None or current.id != version.id:
            raise ConsentStateError("consent can only be given to the campaign's current notice version")
        notice = version.notice
        previous = self.latest_record(subject_id, version.campaign_id)
        # renewing or extending a consent in force is a re-consent; once a required matter was withdrawn (the
        # person's part ended) it is given anew
        renewing = previous is not None and self.holds_required(subject_id, version.campaign_id)
        event = EventType.RECONSENTED if renewing else EventType.GIVEN
        principal = commit_name(signing.signature)
        guardian = commit_name(signing.guardian.signature) if signing.guardian else None
        consent_event = ConsentEvent(
            event=event,
            principal_id=subject_id,
            language=signing.language,
            decisions={m.id: bool(signing.decisions.get(m.id, False)) for m in notice.matters},
            under_14=signing.under_14,
            guardian=GuardianConsent(signing.guardian.relationship, guardian.value)
            if signing.guardian and guardian
            else None,
            signature_commitment=principal.value,
            previous_receipt_id=previous.id if previous else None,
        )
        record = self._issue(consent_event, version, signing.ip_hash)
        self.session.add(
            SignatureName(record_id=record.id, role="principal", name=signing.signature, salt=principal.salt.hex())
        )
        if signing.guardian and guardian:
            self.session.add(
                SignatureName(
                    record_id=record.id, role="guardian", name=signing.guardian.name, salt=guardian.salt.hex()
                )
            )
            record.guardian_relationship = signing.guardian.relationship.value
        if signing.under_14 or event is EventType.RECONSENTED:
            record.review_state = ReviewState.PENDING
        self.session.flush()
        return record

    def withdraw(
        self, subject_id: str, campaign_id: str, matter_ids: Iterable[str] | None = None, ip_hash: str | None = None
    ) -> ConsentRecord:
        """Withdraw some matters (all consented ones when None) as a new signed event referencing the latest
        receipt. Raises ConsentStateError when nothing is in force to withdraw."""
        latest = self.latest_record(subject_id, campaign_id)
        if latest is None:
            raise ConsentStateError("there is no consent to withdraw")
        in_force = {m for m, on in latest.decisions.items() if on}
        chosen = in_force if matter_ids is None else set(matter_ids)
        if not chosen or not chosen <= in_force:
            raise ConsentStateError("only matters currently consented to can be withdrawn")
        version = self.session.get(NoticeVersion, latest.notice_version_id)
        assert version is not None
        event = ConsentEvent(
            event=EventType.WITHDRAWN,
            principal_id=subject_id,
            language=latest.language,
            decisions={m: on and m not in chosen for m, on in latest.decisions.items()},
            under_14=latest.under_14,
            withdrawal=Withdrawal(receipt_id=latest.id, matters=tuple(sorted(chosen))),
            previous_receipt_id=latest.id,
        )
        record = self._issue(event, version, ip_hash)
        record.withdraws_record_id = latest.id
        self.session.flush()
        return record

    def _issue(self, event: ConsentEvent, version: NoticeVersion, ip_hash: str | None) -> ConsentRecord:
        notice = version.notice
        previous = self.latest_record(event.principal_id, version.campaign_id)
        issued = issue_receipt(event, notice, self.keys.ensure(PURPOSE_CONSENT), policy_url=self.policy_url)
        record = ConsentRecord(
            id=issued.receipt_id,
            subject_id=event.principal_id,
            campaign_id=version.campaign_id,
            notice_version_id=version.id,
            event=event.event.value,
            decisions=dict(event.decisions),
            language=event.language,
            under_14=event.under_14,
            kid=issued.kid,
            receipt=issued.data.decode("utf-8"),
            previous_record_id=event.previous_receipt_id,
            ip_hash=ip_hash,
            created_at=issued.timestamp,
            sequence=previous.sequence + 1 if previous else 1,
        )
        self.session.add(record)
        self.session.flush()
        self._update_matter_states(record, notice)
        return record

    def _update_matter_states(self, record: ConsentRecord, notice: Notice) -> None:
        existing = {
            row.matter_id: row
            for row in self.session.scalars(
                select(MatterConsent).where(
                    MatterConsent.subject_id == record.subject_id, MatterConsent.campaign_id == record.campaign_id
                )
            )
        }
        for matter in notice.matters:
            row = existing.get(matter.id)
            if row is None:
                row = MatterConsent(subject_id=record.subject_id, campaign_id=record.campaign_id, matter_id=matter.id)
                self.session.add(row)
            row.matter_kind = matter.kind.value
            row.active = bool(record.decisions.get(matter.id, False))
            row.notice_version_id = record.notice_version_id
            row.record_id = record.id
            row.updated_at = record.created_at
        self.session.flush()

    # -- questions the rest of datadam asks ---------------------------------------------------------------
    def active_kinds(self, subject_id: str, campaign_id: str) -> set[MatterKind]:
        q = select(MatterConsent.matter_kind).where(
            MatterConsent.subject_id == subject_id,
            MatterConsent.campaign_id == campaign_id,
            MatterConsent.active.is_(True),
        )
        return {MatterKind(k) for k in self.session.scalars(q)}

    def kinds_stopped_by(self, subject_id: str, campaign_id: str, matter_ids: Iterable[str] | None = None
                         ) -> set[MatterKind]:
        """The kinds of consent that withdrawing `matter_ids` (every matter in force when None) would leave with
        no matter in force; nothing is changed."""
        rows = self.session.execute(select(MatterConsent.matter_id, MatterConsent.matter_kind).where(
            MatterConsent.subject_id == subject_id,
            MatterConsent.campaign_id == campaign_id,
            MatterConsent.active.is_(True),
        )).all()
        chosen = None if matter_ids is None else set(matter_ids)
        staying = {MatterKind(kind) for matter, kind in rows if chosen is not None and matter not in chosen}
        return {MatterKind(kind) for _, kind in rows} - staying

    def holds_required(self, subject_id: str, campaign_id: str) -> bool:
        """Both required matters are in force (under whichever version the person last signed)."""
        return {MatterKind.COLLECTION_AND_USE, MatterKind.SENSITIVE_INFORMATION} <= self.active_kinds(
            subject_id, campaign_id
        )

    def may_upload(self, subject_id: str, campaign_id: str) -> bool:
        """New uploads need both required matters in force under the campaign's CURRENT version."""
        current = self.current_version(campaign_id)
        latest = self.latest_record(subject_id, campaign_id)
        return (
            current is not None
            and latest is not None
            and latest.notice_version_id == current.id
            and self.holds_required(subject_id, campaign_id)
        )

    def needs_reconsent(self, subject_id: str, campaign_id: str) -> bool:
        current = self.current_version(campaign_id)
        latest = self.latest_record(subject_id, campaign_id)
        return current is not None and latest is not None and latest.notice_version_id != current.id

    def records(self, subject_id: str, campaign_id: str | None = None) -> list[ConsentRecord]:
        q = select(ConsentRecord).where(ConsentRecord.subject_id == subject_id)
        if campaign_id is not None:
            q = q.where(ConsentRecord.campaign_id == campaign_id)
        return list(self.session.scalars(q.order_by(ConsentRecord.campaign_id, ConsentRecord.sequence)))

    def record(self, receipt_id: str) -> ConsentRecord | None:
        return self.session.get(ConsentRecord, receipt_id)

    def holders_under_other_versions(self, campaign_id: str, version_id: str) -> int:
        """How many people hold both required matters in force while their latest consent event is under a version
        other than `version_id`: the people publishing that version asks to consent again. Two queries, whatever
        the number of people (a page shows this count)."""
        from sqlalchemy import func

        required = [MatterKind.COLLECTION_AND_USE.value, MatterKind.SENSITIVE_INFORMATION.value]
        holders = select(MatterConsent.subject_id).where(
            MatterConsent.campaign_id == campaign_id, MatterConsent.active.is_(True),
            MatterConsent.matter_kind.in_(required),
        ).group_by(MatterConsent.subject_id).having(func.count(func.distinct(MatterConsent.matter_kind)) == 2)
        held = set(self.session.scalars(holders))
        if not held:
            return 0
        latest = select(ConsentRecord.subject_id, func.max(ConsentRecord.sequence).label("seq")).where(
            ConsentRecord.campaign_id == campaign_id).group_by(ConsentRecord.subject_id).subquery()
        rows = self.session.execute(
            select(ConsentRecord.subject_id, ConsentRecord.notice_version_id).join(
                latest, (ConsentRecord.subject_id == latest.c.subject_id) & (ConsentRecord.sequence == latest.c.seq))
            .where(ConsentRecord.campaign_id == campaign_id)
        )
        return sum(1 for subject, version in rows if subject in held and version != version_id)

    def subjects_with_consent(self, campaign_id: str) -> list[str]:
        q = select(ConsentRecord.subject_id).where(ConsentRecord.campaign_id == campaign_id).distinct()
        return list(self.session.scalars(q))

    # -- verification ------------------------------------------------------------------------------------
    def verify(self, data: bytes) -> Verification:
        return verify_receipt(data, self.keys.public_document().to_dict(), now=self.clock.now())

    def in_force(self, receipt_id: str) -> bool:
        """True while no later event of the same person and campaign has superseded this receipt and it is
        not itself a withdrawal."""
        record = self.record(receipt_id)
        if record is None or record.event == EventType.WITHDRAWN.value:
            return False
        latest = self.latest_record(record.subject_id, record.campaign_id)
        return latest is not None and latest.id == record.id

    # -- operator review of consent -------------------------------------------------------------------------
    def review_queue(self) -> list[ConsentRecord]:
        """Consents waiting for a look (or flagged), except those that no longer govern anything: replaced by a
        later consent, or ended because a required matter was withdrawn. A partial withdrawal (an optional use)
        leaves the consent in force, so it stays in the queue."""
        q = select(ConsentRecord).where(ConsentRecord.review_state.in_([ReviewState.PENDING, ReviewState.FLAGGED]))
        waiting = list(self.session.scalars(q.order_by(ConsentRecord.created_at)))
        given = (EventType.GIVEN.value, EventType.RECONSENTED.value)
        return [
            r for r in waiting
            if self.holds_required(r.subject_id, r.campaign_id)
            and not any(later.sequence > r.sequence and later.event in given
                        for later in self.records(r.subject_id, r.campaign_id))
        ]

    def review(self, record: ConsentRecord, reviewer_id: str, approve: bool, note: str | None = None) -> None:
        """Approve a consent waiting for a look, or flag it with the reason `note` for the compliance officer.
        Only a PENDING consent is decided here: a flag, its reason, author and time stay until the officer closes
        it (`resolve_flag`), and an approved or resolved consent is not reopened. Raises ReviewClosedError for a
        consent not waiting for review, ConsentStateError for a flag without a reason."""
        if record.review_state is not ReviewState.PENDING:
            raise ReviewClosedError(f"only a consent waiting for review can be approved or flagged "
                                    f"(this one is {record.review_state.value})")
        if not approve and not (note or "").strip():
            raise ConsentStateError("flagging a consent needs a reason")
        record.review_state = ReviewState.APPROVED if approve else ReviewState.FLAGGED
        record.review_note = (note or "").strip() or None
        record.reviewed_by = reviewer_id
        record.reviewed_at = self.clock.now()
        self.session.flush()

    # -- flags: consents an operator asked the compliance officer to follow up ------------------------------
    def open_flags(self) -> list[ConsentRecord]:
        """Flagged consents nobody has followed up yet, oldest flag first. Unlike the review queue these stay
        listed after the consent is replaced or withdrawn: the person may still need to be contacted."""
        q = select(ConsentRecord).where(ConsentRecord.review_state == ReviewState.FLAGGED)
        return list(self.session.scalars(q.order_by(ConsentRecord.reviewed_at, ConsentRecord.id)))

    def count_open_flags(self) -> int:
        q = select(func.count()).select_from(ConsentRecord).where(ConsentRecord.review_state == ReviewState.FLAGGED)
        return int(self.session.scalar(q) or 0)

    def resolve_flag(self, record: ConsentRecord, officer_id: str, note: str) -> None:
        """Close a flag with the officer's note of what was done; the flag's reason, author and time are kept.
        Raises ConsentStateError when the record is not flagged or the note is blank."""
        if record.review_state is not ReviewState.FLAGGED:
            raise ConsentStateError("only a flagged consent can be resolved")
        if not note.strip():
            raise ConsentStateError("resolving a flag needs a note")
        record.review_state = ReviewState.RESOLVED
        record.resolution_note = note.strip()
        record.resolved_by = officer_id
        record.resolved_at = self.clock.now()
        self.session.flush()

    def count_records(self) -> int:
        return int(self.session.scalar(select(func.count()).select_from(ConsentRecord)) or 0)

    def erase_signature_names(self, subject_id: str, campaign_id: str | None = None) -> int:
        """Delete the typed names of a person's signatures (receipts keep only the commitments): in one
        campaign, or in all when `campaign_id` is None. Consents in other campaigns keep their evidence."""
        ids = select(ConsentRecord.id).where(ConsentRecord.subject_id == subject_id)
        if campaign_id is not None:
            ids = ids.where(ConsentRecord.campaign_id == campaign_id)
        rows = list(self.session.scalars(select(SignatureName).where(SignatureName.record_id.in_(ids))))
        for row in rows:
            self.session.delete(row)
        self.session.flush()
        return len(rows)
