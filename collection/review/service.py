"""Full inspection by operators: the queue of submitted sets (oldest first), claim/release so two operators never
review the same set, per-photo decisions with coded reasons, the set's outcome (changes requested, second review,
accepted -> a ledger entry) and appeals decided by a different operator."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from collection.accounts.models import User
from collection.audit.log import Actor, AuditLog
from collection.campaigns.models import Campaign
from collection.contributions.gates import cover_unsure
from collection.contributions.models import Photo, PhotoSet, PhotoState, SetState, TransitionError
from collection.contributions.uploads import SET_IDENTITY_JOB
from collection.errors import ConsentRequired, InvalidTransition, NotFound
from collection.jobs import JobQueue
from collection.payments.models import LedgerEntry
from collection.review.erased import ErasedSet, erased_set
from collection.review.models import (
    APPEAL_DECISION_DEADLINE,
    APPEAL_WINDOW,
    Appeal,
    AppealState,
    Decision,
    PhotoDecision,
    RejectReason,
)
from consent.clock import Clock
from consent.service import ConsentService


@dataclass(frozen=True)
class PhotoVerdict:
    photo_id: str
    accept: bool
    reason: RejectReason | None = None
    comment: str | None = None


class ReviewService:
    """`jobs`, when given, reruns the set's identity check after a person accepts a photo the occlusion gate could
    not decide: until then that photo was no reference for the others (`contributions.gates.cover_unsure`)."""

    def __init__(self, session: Session, clock: Clock, consent: ConsentService, audit: AuditLog,
                 jobs: JobQueue | None = None) -> None:
        self.session = session
        self.clock = clock
        self.consent = consent
        self.audit = audit
        self.jobs = jobs

    def queue(self, campaign: Campaign | None = None) -> list[PhotoSet]:
        states = (SetState.SUBMITTED, SetState.IN_REVIEW, SetState.AWAITING_SECOND_REVIEW)
        q = select(PhotoSet).where(PhotoSet.state.in_(states))
        if campaign is not None:
            q = q.where(PhotoSet.campaign_id == campaign.id)
        return list(self.session.scalars(q.order_by(PhotoSet.submitted_at, PhotoSet.id)))

    def get_set(self, set_id: str) -> PhotoSet:
        photo_set = self.session.get(PhotoSet, set_id)
        if photo_set is None:
            raise NotFound("photo_set", set_id)
        return photo_set

    def claim(self, reviewer: User, photo_set: PhotoSet) -> None:
        """Raises InvalidTransition (another operator holds the set, or it is not waiting), ConsentRequired."""
        self._require_consent(photo_set)
        # Re-read the row, locked until commit where the database can (PostgreSQL: FOR UPDATE), so two operators
        # claiming at once, or one holding a page loaded before the other's claim, can never both hold the set.
        self.session.refresh(photo_set, with_for_update=True)
        self._transition(lambda: photo_set.claim(reviewer.id, self.clock.now()))
        self.audit.record(Actor(reviewer.id, reviewer.role.value), "review.claimed", "photo_set", photo_set.id)
        self.session.flush()

    def release(self, reviewer: User, photo_set: PhotoSet) -> None:
        self._transition(lambda: photo_set.release(reviewer.id))
        self.session.flush()

    def decide(self, reviewer: User, photo_set: PhotoSet, verdicts: list[PhotoVerdict], campaign: Campaign) -> SetState:
        """Record a decision on every photo under review; the set is accepted only when all are accepted.
        Raises InvalidTransition (not claimed, a photo missing, a rejection without reason), ConsentRequired."""
        self._require_consent(photo_set)
        if photo_set.claimed_by != reviewer.id:
            raise InvalidTransition("claim the set before deciding on it")
        by_id = {v.photo_id: v for v in verdicts}
        photos = photo_set.current_photos
        unsure = [p for p in photos if cover_unsure(p)]
        undecided = [p.id for p in photos if p.id not in by_id and p.state is not PhotoState.ACCEPTED]
        if undecided:
            raise InvalidTransition("decide on every photo", photos=undecided)
        for photo in photos:
            verdict = by_id.get(photo.id)
            if verdict is not None:
                self._decide_photo(reviewer, photo_set, photo, verdict)
        now = self.clock.now()
        if all(p.state is PhotoState.ACCEPTED for p in photos):
            self._transition(lambda: photo_set.accept(reviewer.id, now, campaign.second_review))
            if photo_set.state is SetState.ACCEPTED:
                self._ledger(photo_set, campaign)
        else:
            self._transition(lambda: photo_set.request_changes(reviewer.id, now))
        # an accepted set's evidence is what the reviewers decided on: it is re-measured only while the set can
        # still change (sent back) or another reviewer will look (second review)
        if photo_set.state is not SetState.ACCEPTED and any(p.state is PhotoState.ACCEPTED for p in unsure):
            self._recheck_identity(photo_set)
        self.audit.record(
            Actor(reviewer.id, reviewer.role.value),
            "review.decided",
            "photo_set",
            photo_set.id,
            outcome=photo_set.state.value,
            round=photo_set.round,
        )
        self.session.flush()
        return photo_set.state

    def _decide_photo(self, reviewer: User, photo_set: PhotoSet, photo: Photo, verdict: PhotoVerdict) -> None:
        if not verdict.accept and verdict.reason is None:
            raise InvalidTransition("a rejection needs a reason", photo=photo.id)
        if verdict.reason is RejectReason.OTHER and not (verdict.comment or "").strip():
            raise InvalidTransition("explain 'other' in a comment", photo=photo.id)
        photo.state = PhotoState.ACCEPTED if verdict.accept else PhotoState.REJECTED
        photo.review_reason = None if verdict.accept else verdict.reason.value  # type: ignore[union-attr]
        photo.review_comment = None if verdict.accept else (verdict.comment or None)
        self.session.add(
            PhotoDecision(
                photo_id=photo.id,
                set_id=photo_set.id,
                reviewer_id=reviewer.id,
                round=photo_set.round,
                decision=Decision.ACCEPT if verdict.accept else Decision.REJECT,
                reason=verdict.reason,
                comment=verdict.comment,
                at=self.clock.now(),
            )
        )

    def _ledger(self, photo_set: PhotoSet, campaign: Campaign) -> None:
        exists = self.session.scalar(select(LedgerEntry).where(LedgerEntry.set_id == photo_set.id))
        if exists is None:
            self.session.add(
                LedgerEntry(
                    set_id=photo_set.id,
                    user_id=photo_set.user_id,
                    campaign_id=campaign.id,
                    amount_krw=campaign.payment_krw,
                    created_at=self.clock.now(),
                )
            )

    def erased(self, photo_set: PhotoSet) -> ErasedSet | None:
        """What is kept of the set once its contributor's data was erased (None while it is held)."""
        return erased_set(self.session, photo_set)

    def history(self, photo_set: PhotoSet) -> list[PhotoDecision]:
        q = select(PhotoDecision).where(PhotoDecision.set_id == photo_set.id)
        return list(self.session.scalars(q.order_by(PhotoDecision.round, PhotoDecision.at)))

    def view_photo(self, viewer: User, photo_id: str, size: str) -> Photo:
        """The photo a staff member is about to see, with the audit event every such view leaves (PIPA safety
        measures: each access to a biometric object is logged). Raises NotFound, ConsentRequired: once the
        contributor's required consent is gone, their photos are shown to no one."""
        photo = self.session.get(Photo, photo_id)
        if photo is None:
            raise NotFound("photo", photo_id)
        self._require_consent(photo.photo_set)
        self.audit.record(Actor(viewer.id, viewer.role.value), "photo.viewed", "photo", photo.id, size=size)
        self.session.flush()
        return photo

    # -- appeals ------------------------------------------------------------------------------------------------
    def appeal(self, contributor: User, photo: Photo, note: str) -> Appeal:
        """Appeal a rejection within 7 days of it. Raises InvalidTransition, ConsentRequired (consent withdrawn
        or processing suspended: an appeal would ask for the very processing that was stopped)."""
        if photo.user_id != contributor.id or photo.state is not PhotoState.REJECTED:
            raise InvalidTransition("only a rejected photo of yours can be appealed")
        self._require_consent(photo.photo_set)
        decision = self.session.scalar(
            select(PhotoDecision).where(PhotoDecision.photo_id == photo.id).order_by(PhotoDecision.at.desc()).limit(1)
        )
        now = self.clock.now()
        if decision is None or now - decision.at > APPEAL_WINDOW:
            raise InvalidTransition("the 7-day appeal window has passed")
        if self.session.scalar(select(Appeal).where(Appeal.decision_id == decision.id)) is not None:
            raise InvalidTransition("this rejection was already appealed")
        appeal = Appeal(
            photo_id=photo.id,
            set_id=photo.set_id,
            decision_id=decision.id,
            note=note.strip()[:2000],
            state=AppealState.OPEN,
            filed_at=now,
            due_at=now + APPEAL_DECISION_DEADLINE,
        )
        self.session.add(appeal)
        self.audit.record(Actor(contributor.subject_id, "contributor"), "review.appealed", "photo", photo.id)
        self.session.flush()
        return appeal

    def open_appeals(self) -> list[Appeal]:
        q = select(Appeal).where(Appeal.state == AppealState.OPEN).order_by(Appeal.due_at)
        return list(self.session.scalars(q))

    def get_appeal(self, appeal_id: str) -> Appeal:
        appeal = self.session.get(Appeal, appeal_id)
        if appeal is None:
            raise NotFound("appeal", appeal_id)
        return appeal

    def appeals_of(self, photo_set: PhotoSet) -> list[Appeal]:
        """Every appeal filed on the set's photos, decided ones included, oldest first."""
        q = select(Appeal).where(Appeal.set_id == photo_set.id).order_by(Appeal.filed_at, Appeal.id)
        return list(self.session.scalars(q))

    def decide_appeal(self, reviewer: User, appeal: Appeal, overturn: bool, answer: str) -> None:
        """Uphold or overturn an open appeal. Raises InvalidTransition, ConsentRequired (the contributor withdrew
        the required consent or suspended processing: no one may review the photo again, PIPA Art. 37)."""
        photo = self.session.get(Photo, appeal.photo_id)
        if photo is not None:
            self._require_consent(photo.photo_set)
        decision = self.session.get(PhotoDecision, appeal.decision_id)
        if decision is not None and decision.reviewer_id == reviewer.id:
            raise InvalidTransition("an appeal is decided by an operator other than the first reviewer")
        if appeal.state is not AppealState.OPEN:
            raise InvalidTransition("this appeal is already decided")
        appeal.state = AppealState.OVERTURNED if overturn else AppealState.UPHELD
        appeal.decided_by = reviewer.id
        appeal.decided_at = self.clock.now()
        appeal.answer = answer.strip()[:500] or None
        if overturn and photo is not None:
            unsure = cover_unsure(photo)
            photo.state = PhotoState.ACCEPTED
            photo.review_reason = photo.review_comment = None
            if unsure:
                self._recheck_identity(photo.photo_set)
        self.audit.record(
            Actor(reviewer.id, reviewer.role.value),
            "review.appeal_decided",
            "photo",
            appeal.photo_id,
            outcome=appeal.state.value,
        )
        # The set stays "changes requested" even when this was its last rejection: sending it again is the
        # contributor's step, which checks that the set is complete, the consent current and nothing suspended
        # (the set page tells them when nothing is left to fix).
        self.session.flush()

    # -- helpers --------------------------------------------------------------------------------------------------
    def _recheck_identity(self, photo_set: PhotoSet) -> None:
        """Queue the set's identity check again (after the caller's commit): a photo a person cleared of covering
        is now a reference, so the other photos' identity evidence is measured against it too."""
        if self.jobs is not None:
            self.session.flush()
            self.jobs.enqueue(self.session, SET_IDENTITY_JOB, {"set_id": photo_set.id},
                               dedupe_key=f"identity:{photo_set.id}")

    def _require_consent(self, photo_set: PhotoSet) -> None:
        owner = self.session.get(User, photo_set.user_id)
        if owner is None or not self.consent.holds_required(owner.subject_id, photo_set.campaign_id):
            raise ConsentRequired("the contributor withdrew consent: this set can no longer be reviewed")
        from collection.compliance.suspension import is_suspended

        if is_suspended(self.session, photo_set.enrollment_id):
            raise ConsentRequired("processing of this set is suspended at the contributor's request",
                                  reason="suspended")

    @staticmethod
    def _transition(step: object) -> None:
        try:
            step()  # type: ignore[operator]
        except TransitionError as exc:
            raise InvalidTransition(str(exc)) from exc
