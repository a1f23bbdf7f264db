"""Campaign management by operators: create and edit (while a draft, and the safe fields while open), open,
close, and the numbers of the campaign dashboard."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from collection.accounts.models import User
from collection.audit.log import Actor, AuditLog
from collection.campaigns.models import Campaign, CampaignStateError, CampaignStatus
from collection.campaigns.notice_template import facts_changed, notice_facts
from collection.contributions.models import Enrollment, EnrollmentState, Photo, PhotoSet, SetState
from collection.errors import InvalidTransition, NotFound
from consent.clock import KOREA, Clock
from consent.models import NoticeVersion
from consent.notice import Notice
from consent.service import ConsentService

SLUG = re.compile(r"[a-z0-9][a-z0-9-]{2,62}")
# Fields that may change while a campaign is open: texts and quota (and the retention period, only shorter). Rules
# that decide what a contributor must deliver or is promised (brackets, counts, photo rules, voice prompts and their
# wording, eligibility, payment) are fixed once contributors have started: the consent notice records the prompts it
# was written for (`notice_facts`), so a reworded prompt would stop anyone joining until a new version is published,
# and a recording is stored against its prompt's key, so it would claim a sentence nobody read.
OPEN_EDITABLE = {"title_ko", "title_en", "description_ko", "description_en", "quota", "retention_days"}


def same_setting(name: str, stored: Any, new: Any) -> bool:
    """Whether `new` means the same as the `stored` value of a campaign setting."""
    if name == "photo_rules":
        from quality_gates import PhotoRules, RulesError

        try:
            return bool(PhotoRules.from_dict(stored or {}) == PhotoRules.from_dict(new or {}))
        except RulesError:
            return False
    if name == "voice_prompts":
        def meaning(prompts: Any) -> list[tuple[Any, ...]]:
            return [(p.get("text_ko"), p.get("text_en"), p.get("min_seconds"), p.get("max_seconds"))
                    for p in prompts or []]

        return meaning(stored) == meaning(new)
    return bool(stored == new)


@dataclass(frozen=True)
class BracketStats:
    key: str
    required_per_set: int
    photos: int
    by_state: dict[str, int]


@dataclass(frozen=True)
class Dashboard:
    contributors: int
    quota: int
    sets_by_state: dict[str, int]
    brackets: list[BracketStats]
    gate_failures: dict[str, int] = field(default_factory=dict)  # "gate/reason" -> photos held that failed it


@dataclass(frozen=True)
class ClosePreview:
    """What closing the campaign now would leave behind: the sets reviewers still have to decide, the accepted sets
    still to be paid, the sets never sent for review (closing freezes them: `ContributionService.refuse_if_closed`),
    the sets a reviewer sent back (their contributors may still rework and send them), and when the retention rule
    destroys the data."""

    under_review: int
    unpaid: int
    unsent: int
    reworking: int
    destroy_on: dt.date


# Sets a reviewer still has to decide.
REVIEW_STATES = (SetState.SUBMITTED, SetState.IN_REVIEW, SetState.AWAITING_SECOND_REVIEW)
MAX_BRACKET_PHOTOS = 500


class BracketError(ValueError):
    """Age brackets the campaign cannot use; `code` (duplicate_key, ages, photos, overlap) and `params` (key,
    other) let a page say why in its reader's language."""

    def __init__(self, code: str, message: str, **params: Any) -> None:
        super().__init__(message)
        self.code, self.params = code, params


def validate_brackets(brackets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Check age brackets: keys unique, ages 0-120, ranges not overlapping, counts positive. Raises BracketError."""
    cleaned, seen = [], set()
    for b in brackets:
        key, lo, hi, n = str(b["key"]).strip(), int(b["min_age"]), int(b["max_age"]), int(b["photos"])
        if not key or key in seen:
            raise BracketError("duplicate_key", f"bracket {key!r}: keys must be unique and not empty", key=key)
        if not 0 <= lo <= hi <= 120:
            raise BracketError("ages", f"bracket {key}: ages must satisfy 0 <= min <= max <= 120", key=key)
        if not 1 <= n <= MAX_BRACKET_PHOTOS:
            raise BracketError("photos", f"bracket {key}: photos must be between 1 and {MAX_BRACKET_PHOTOS}", key=key)
        seen.add(key)
        cleaned.append({"key": key, "min_age": lo, "max_age": hi, "photos": n})
    ordered = sorted(cleaned, key=lambda b: b["min_age"])
    for a, b in zip(ordered, ordered[1:], strict=False):
        if b["min_age"] <= a["max_age"]:
            raise BracketError("overlap", f"brackets {a['key']} and {b['key']} overlap", key=a["key"], other=b["key"])
    return cleaned


class UnreachableBracket(ValueError):
    """A bracket starts above the youngest age the campaign accepts: contributors younger than its start could
    never complete their set (`key`, `start`, `youngest` for the message)."""

    def __init__(self, key: str, start: int, youngest: int) -> None:
        super().__init__(f"bracket {key} starts at {start}, above the youngest age the campaign accepts ({youngest}):"
                         f" contributors aged {youngest}-{start - 1} could never complete their set")
        self.key, self.start, self.youngest = key, start, youngest


def check_brackets_reachable(brackets: list[dict[str, Any]], min_age: int) -> None:
    """Every bracket must be one the youngest accepted contributor has lived through. Raises UnreachableBracket."""
    for b in sorted(brackets, key=lambda b: int(b["min_age"])):
        if int(b["min_age"]) > int(min_age):
            raise UnreachableBracket(str(b["key"]), int(b["min_age"]), int(min_age))


class CampaignService:
    def __init__(self, session: Session, clock: Clock, audit: AuditLog) -> None:
        self.session = session
        self.clock = clock
        self.audit = audit

    def by_slug(self, slug: str) -> Campaign:
        campaign = self.session.scalar(select(Campaign).where(Campaign.slug == slug))
        if campaign is None:
            raise NotFound("campaign", slug)
        return campaign

    def all(self) -> list[Campaign]:
        return list(self.session.scalars(select(Campaign).order_by(Campaign.created_at.desc())))

    def create(self, operator: User, values: dict[str, Any]) -> Campaign:
        """Raises InvalidTransition for a taken or malformed slug, ValueError for bad brackets."""
        slug = values["slug"]
        if not SLUG.fullmatch(slug):
            raise InvalidTransition("the short name uses 3-63 lower-case letters, digits and '-'", field="slug")
        if self.session.scalar(select(Campaign.id).where(Campaign.slug == slug)):
            raise InvalidTransition("another campaign uses this short name", field="slug")
        values = {**values, "brackets": validate_brackets(values.get("brackets", []))}
        check_brackets_reachable(values["brackets"], values.get("min_age", Campaign.DEFAULT_MIN_AGE))
        campaign = Campaign(**values, status=CampaignStatus.DRAFT, created_by=operator.id, created_at=self.clock.now())
        self.session.add(campaign)
        self.session.flush()
        self.audit.record(Actor(operator.id, operator.role.value), "campaign.created", "campaign", campaign.id)
        return campaign

    def update(self, operator: User, campaign: Campaign, values: dict[str, Any]) -> Campaign:
        if campaign.status is CampaignStatus.CLOSED:
            raise InvalidTransition("a closed campaign cannot be edited")
        if campaign.status is CampaignStatus.OPEN:
            # A form sends every setting back; the fixed ones count as changed only when their meaning changed
            # (the same rules written another way, or prompts renumbered, keep what is stored).
            fixed = {k for k in values if k not in OPEN_EDITABLE}
            locked = {k for k in fixed if not same_setting(k, getattr(campaign, k), values[k])}
            if locked:
                raise InvalidTransition("these settings are fixed while the campaign is open", fields=sorted(locked))
            values = {k: v for k, v in values.items() if k not in fixed}
            if int(values.get("retention_days", campaign.retention_days)) > campaign.retention_days:
                # people consented to the period their document states: keeping their data longer needs their new
                # consent, which a running campaign cannot collect from those who already gave
                raise InvalidTransition("the retention period can only be shortened while the campaign is open",
                                        fields=["retention_days"])
        if "brackets" in values:
            values = {**values, "brackets": validate_brackets(values["brackets"])}
        brackets, youngest = values.get("brackets", campaign.brackets), values.get("min_age", campaign.min_age)
        if brackets != campaign.brackets or youngest != campaign.min_age:  # settings saved unchanged stay as they were
            check_brackets_reachable(brackets, youngest)
        changed = sorted(k for k, v in values.items() if getattr(campaign, k) != v)
        for key, value in values.items():
            setattr(campaign, key, value)
        self.audit.record(
            Actor(operator.id, operator.role.value), "campaign.updated", "campaign", campaign.id, fields=changed
        )
        self.session.flush()
        return campaign

    # -- the campaign's consent document: written for its settings, final once it is closed ----------------------
    def draft_notice(self, campaign: Campaign, consent: ConsentService, notice: Notice) -> NoticeVersion:
        """Save `notice` as `campaign`'s consent document draft, noting the settings it is written for now
        (`notice_facts`). Raises InvalidTransition for a closed campaign: its document is final."""
        self._refuse_notice_if_closed(campaign)
        return consent.draft(campaign.id, notice, notice_facts(campaign))

    def publish_notice(self, operator: User, campaign: Campaign, consent: ConsentService,
                       draft: NoticeVersion) -> NoticeVersion:
        """Publish `campaign`'s draft `draft`. Raises InvalidTransition for a closed campaign, or (reason
        "notice_outdated", `settings`: what changed) when the campaign's settings changed since the draft was
        written: it would state other figures than the campaign asks for, and be recorded as written for them.
        Raises NoticeIncompleteError (what is missing) from the consent service."""
        self._refuse_notice_if_closed(campaign)
        if draft.campaign_id != campaign.id:
            raise InvalidTransition("this draft belongs to another campaign")
        changed = facts_changed(draft.written_for, campaign)
        if changed:
            raise InvalidTransition("the campaign's settings changed since this draft was written: redraft it",
                                    reason="notice_outdated", settings=changed)
        return consent.publish(draft, by=operator.id)

    @staticmethod
    def _refuse_notice_if_closed(campaign: Campaign) -> None:
        if campaign.status is CampaignStatus.CLOSED:
            raise InvalidTransition("a closed campaign's consent document is final", reason="closed")

    def open(self, operator: User, campaign: Campaign, notice: NoticeVersion | None) -> None:
        """Open a draft campaign whose current published consent notice is `notice`: it must exist and describe
        the campaign as it is now (`facts_changed`)."""
        if notice is None:
            raise InvalidTransition("publish the consent document before opening the campaign")
        changed = facts_changed(notice.written_for, campaign)
        if changed:
            raise InvalidTransition("the published consent document describes other settings: publish a new version",
                                    reason="notice_outdated", settings=changed)
        try:
            campaign.open(self.clock.now())
        except CampaignStateError as exc:
            raise InvalidTransition(str(exc)) from exc
        self.audit.record(Actor(operator.id, operator.role.value), "campaign.opened", "campaign", campaign.id)
        self.session.flush()

    def close_preview(self, campaign: Campaign) -> ClosePreview:
        """What closing `campaign` today would leave to finish, and the day its data would be destroyed."""
        states = Counter(self.session.scalars(select(PhotoSet.state).where(PhotoSet.campaign_id == campaign.id)))
        return ClosePreview(
            under_review=sum(states[s] for s in REVIEW_STATES),
            unpaid=states[SetState.ACCEPTED],
            unsent=states[SetState.DRAFT],
            reworking=states[SetState.CHANGES_REQUESTED],
            # the day as the retention page shows it: on the Korean calendar
            destroy_on=(self.clock.now() + dt.timedelta(days=campaign.retention_days)).astimezone(KOREA).date(),
        )

    def close(self, operator: User, campaign: Campaign) -> None:
        try:
            campaign.close(self.clock.now())
        except CampaignStateError as exc:
            raise InvalidTransition(str(exc)) from exc
        self.audit.record(Actor(operator.id, operator.role.value), "campaign.closed", "campaign", campaign.id)
        self.session.flush()

    def dashboard(self, campaign: Campaign) -> Dashboard:
        contributors = (
            self.session.scalar(
                select(func.count())
                .select_from(Enrollment)
                .where(Enrollment.campaign_id == campaign.id, Enrollment.state == EnrollmentState.ACTIVE)
            )
            or 0
        )
        sets = Counter(
            s.value for s in self.session.scalars(select(PhotoSet.state).where(PhotoSet.campaign_id == campaign.id))
        )
        photos = list(
            self.session.execute(
                select(Photo.bracket, Photo.state, Photo.gates).where(Photo.campaign_id == campaign.id)
            )
        )
        brackets = []
        for b in campaign.brackets:
            states = Counter(st.value for key, st, _ in photos if key == b["key"])
            brackets.append(BracketStats(b["key"], int(b["photos"]), sum(states.values()), dict(states)))
        failures: Counter[str] = Counter()
        for _key, _state, gates in photos:
            for gate in (gates or {}).get("gates", []):
                if not gate.get("passed", True):
                    failures[f"{gate.get('name', 'unknown')}/{gate.get('reason') or ''}"] += 1
        return Dashboard(int(contributors), campaign.quota, dict(sets), brackets, dict(failures.most_common()))
