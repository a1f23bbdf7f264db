"""Taking part in a campaign: enrolling (eligibility), the photo set and its submission, and what the
contributor sees of its status. Uploading lives in `uploads`, background checks in `gates`."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from collection.accounts.models import User
from collection.audit.log import Actor, AuditLog
from collection.campaigns.models import Campaign, CampaignStatus
from collection.campaigns.notice_template import facts_changed
from collection.contributions.models import (
    Enrollment,
    EnrollmentState,
    Photo,
    PhotoSet,
    SetState,
    TransitionError,
    current_enrollment,
)
from collection.errors import ConsentRequired, InvalidTransition, NotEligible, SetNotReady
from consent.clock import Clock
from consent.notice import MatterKind
from consent.service import ConsentService


@dataclass(frozen=True)
class BracketProgress:
    key: str
    min_age: int
    max_age: int
    required: int
    usable: int  # photos that do not block submission
    blocking: int  # photos still checking, failing or rejected


class ContributionService:
    def __init__(self, session: Session, clock: Clock, consent: ConsentService, audit: AuditLog) -> None:
        self.session = session
        self.clock = clock
        self.consent = consent
        self.audit = audit

    # -- enrolling ----------------------------------------------------------------------------------------------
    def check_eligible(self, user: User, campaign: Campaign) -> None:
        """Raises NotEligible with a stable reason in `detail["reason"]`."""
        if campaign.status is not CampaignStatus.OPEN:
            raise NotEligible("the campaign is not open", reason="closed")
        age = user.age_on(self.clock.now().date())
        if not campaign.accepts_age(age):
            raise NotEligible(
                "your age is outside the campaign's range",
                reason="age",
                min_age=campaign.min_age,
                max_age=campaign.max_age,
            )
        if campaign.quota and not self._live(self.enrollment(user, campaign)):
            taken = self.session.scalar(
                select(func.count())
                .select_from(Enrollment)
                .where(Enrollment.campaign_id == campaign.id, Enrollment.state == EnrollmentState.ACTIVE)
            )
            if (taken or 0) >= campaign.quota:
                raise NotEligible("the campaign has all the contributors it needs", reason="quota")

    def enrollment(self, user: User, campaign: Campaign) -> Enrollment | None:
        """The live enrollment, else the latest erased one (`current_enrollment`)."""
        return current_enrollment(self.session, user.id, campaign.id)

    def _signed_before(self, user: User, campaign: Campaign, erased: Enrollment) -> bool:
        """Whether the consent in force was signed before `erased` was erased."""
        latest = self.consent.latest_record(user.subject_id, campaign.id)
        return latest is None or (erased.withdrawn_at is not None and latest.created_at < erased.withdrawn_at)

    @staticmethod
    def _live(enrollment: Enrollment | None) -> bool:
        return enrollment is not None and enrollment.state is not EnrollmentState.ERASED

    def enroll(self, user: User, campaign: Campaign) -> PhotoSet:
        """Join the campaign (needs eligibility and the required consents) and get the draft set. Someone whose
        data in the campaign was erased joins anew: a new enrollment, a new data key, an empty set."""
        existing = self.enrollment(user, campaign)
        if existing is not None and existing.state is EnrollmentState.ACTIVE:
            return self.photo_set(user, campaign)
        if self._live(existing):
            raise NotEligible("you withdrew from this campaign", reason="withdrawn")
        self.check_eligible(user, campaign)
        version = self.consent.current_version(campaign.id)
        if version is not None and facts_changed(version.written_for, campaign):
            raise NotEligible("the consent document is being updated", reason="notice_outdated")
        if not self.consent.may_upload(user.subject_id, campaign.id):
            raise ConsentRequired("consent to the required matters first")
        if existing is not None and self._signed_before(user, campaign, existing):
            # the erased part rested on that consent (a deletion request leaves it in force): taking part anew
            # takes a new signature
            raise ConsentRequired("sign the consent again to take part anew")
        now = self.clock.now()
        enrollment = Enrollment(campaign_id=campaign.id, user_id=user.id, joined_at=now, state=EnrollmentState.ACTIVE)
        self.session.add(enrollment)
        self.session.flush()
        photo_set = PhotoSet(enrollment_id=enrollment.id, campaign_id=campaign.id, user_id=user.id, created_at=now)
        self.session.add(photo_set)
        self.audit.record(Actor(user.subject_id, "contributor"), "campaign.enrolled", "campaign", campaign.id)
        self.session.flush()
        return photo_set

    def photo_set(self, user: User, campaign: Campaign) -> PhotoSet:
        """The set of the current enrollment (after an erasure and before joining again: the erased, withdrawn one)."""
        enrollment = self.enrollment(user, campaign)
        photo_set = None if enrollment is None else self.session.scalar(
            select(PhotoSet).where(PhotoSet.enrollment_id == enrollment.id)
        )
        if photo_set is None:
            raise NotEligible("join the campaign first", reason="not_enrolled")
        return photo_set

    def sets_of(self, user: User) -> list[PhotoSet]:
        """One set per campaign joined: the current enrollment's (an erased set replaced by a new one is history)."""
        sets = list(self.session.scalars(select(PhotoSet).where(PhotoSet.user_id == user.id)))
        current = {c: current_enrollment(self.session, user.id, c) for c in {s.campaign_id for s in sets}}
        return [s for s in sets if (e := current[s.campaign_id]) is not None and e.id == s.enrollment_id]

    # -- progress and submission --------------------------------------------------------------------------------
    def progress(self, campaign: Campaign, photo_set: PhotoSet) -> list[BracketProgress]:
        usable = Counter(p.bracket for p in photo_set.current_photos if not p.blocking)
        blocking = Counter(p.bracket for p in photo_set.current_photos if p.blocking)
        return [
            BracketProgress(
                b["key"], int(b["min_age"]), int(b["max_age"]), int(b["photos"]), usable[b["key"]], blocking[b["key"]]
            )
            for b in campaign.brackets
        ]

    def missing(self, campaign: Campaign, photo_set: PhotoSet) -> list[str]:
        """Why the set cannot be submitted yet: stable codes with the bracket or prompt they concern."""
        problems = []
        for p in self.progress(campaign, photo_set):
            free = p.required - p.usable - p.blocking  # photos still to add; the blocking ones are to replace
            if free > 0:
                problems.append(f"bracket:{p.key}:needs:{free}")
            if p.blocking:
                problems.append(f"bracket:{p.key}:blocking:{p.blocking}")
        clips = {c.prompt_key: c for c in photo_set.voice_clips}
        owner = self.session.get(User, photo_set.user_id)
        if owner is None or MatterKind.VOICE_RECORDING not in self.consent.active_kinds(owner.subject_id, campaign.id):
            return problems  # voice is optional: declining it never blocks the rest (PIPA Art. 16(3))
        for prompt in campaign.voice_prompts:
            clip = clips.get(prompt["key"])
            if clip is None or clip.blocking:
                problems.append(f"voice:{prompt['key']}")
        return problems

    def submit(self, user: User, campaign: Campaign) -> PhotoSet:
        """Hand the set to review. Raises ConsentRequired, SetNotReady (detail["missing"]), InvalidTransition."""
        photo_set = self.photo_set(user, campaign)
        if not self.consent.may_upload(user.subject_id, campaign.id):
            raise ConsentRequired("renew your consent before submitting")
        self.refuse_if_suspended(photo_set)
        self.refuse_if_closed(campaign, photo_set)
        missing = self.missing(campaign, photo_set)
        if missing:
            raise SetNotReady("the set is not complete", missing=missing)
        try:
            photo_set.submit(self.clock.now())
        except TransitionError as exc:
            raise InvalidTransition(str(exc)) from exc
        for photo in photo_set.photos:
            if photo.round == 0:  # new since the last submission: re-inspection shows these as changes
                photo.round = photo_set.round
        self.audit.record(
            Actor(user.subject_id, "contributor"), "set.submitted", "photo_set", photo_set.id, round=photo_set.round
        )
        self.session.flush()
        return photo_set

    @staticmethod
    def closed_to_new(campaign: Campaign, photo_set: PhotoSet) -> bool:
        """A closed campaign collects no new set: a set never sent for review stays as it is (nothing is uploaded to
        it or sent any more). Rework of a set a reviewer sent back before the close goes on, so that contributor
        can still be accepted and paid. Deleting what was uploaded stays possible."""
        return campaign.status is CampaignStatus.CLOSED and photo_set.state is SetState.DRAFT

    def refuse_if_closed(self, campaign: Campaign, photo_set: PhotoSet) -> None:
        """Raises NotEligible (reason "closed_set") when `closed_to_new`."""
        if self.closed_to_new(campaign, photo_set):
            raise NotEligible("the campaign is closed: it takes no new sets", reason="closed_set")

    def suspended(self, photo_set: PhotoSet) -> bool:
        """Whether processing of the set is suspended at the contributor's request (PIPA Art. 37)."""
        from collection.compliance.suspension import is_suspended

        return is_suspended(self.session, photo_set.enrollment_id)

    def refuse_if_suspended(self, photo_set: PhotoSet) -> None:
        """While processing is suspended nothing new is collected or sent for review: storing an upload is
        processing too, and refusing it loses nothing (the file stays with the contributor), whereas a stored
        upload could not be checked until the suspension ends. Raises ConsentRequired (reason "suspended")."""
        if self.suspended(photo_set):
            raise ConsentRequired("processing of this set is suspended at your request", reason="suspended")

    def photo(self, user: User, photo_id: str) -> Photo:
        photo = self.session.get(Photo, photo_id)
        if photo is None or photo.user_id != user.id:
            from collection.errors import NotFound

            raise NotFound("photo", photo_id)
        return photo

    def now(self) -> dt.datetime:
        return self.clock.now()
