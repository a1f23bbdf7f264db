"""Retention enforcement: when a campaign's retention ends (close + retention_days), every enrollment in it is
erased through the same path as a withdrawal (ErasureService, reason "retention"), and the run is recorded.

A set never sent for review before its campaign closed can no longer be reviewed, accepted or paid
(ContributionService.refuse_if_closed): its purpose cannot be met, so PIPA Art. 21 asks for it to be destroyed
without delay rather than at the end of retention. The same run erases those enrollments (reason
"campaign_closed_unsent", `closed_unsent_due`) on the first daily run after the close.

PIPA Art. 21 asks for destruction without delay once retention ends; the job (`RETENTION_JOB`, and the
`datadam retention run` command) does it, the erasure ledger keeps what was destroyed and when (pseudonymous ids
only), and `retention_due` is what the dashboard and the conformance report show as overdue until it has run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from collection.audit.log import Actor, AuditLog
from collection.campaigns.models import Campaign
from collection.compliance.models import RetentionRun
from collection.contributions.models import Enrollment, EnrollmentState, PhotoSet, SetState
from collection.erasure.models import ErasureRecord
from collection.erasure.service import CLOSED_UNSENT, ErasureService
from collection.jobs import HandlerRegistry, JobQueue
from consent.clock import Clock

RETENTION_JOB = "compliance.retention"


@dataclass(frozen=True)
class RetentionDue:
    """An enrollment still holding data although its campaign's retention ended at `ended_at`."""

    enrollment_id: str
    campaign_id: str
    campaign_slug: str
    ended_at: dt.datetime
    reason: str = "retention"  # or CLOSED_UNSENT: `ended_at` is then the campaign's close


@dataclass(frozen=True)
class RetentionSchedule:
    """A closed campaign whose retention has not ended yet: when its data is destroyed, and how many people's data
    it still holds."""

    campaign: Campaign
    closed_at: dt.datetime
    ends_at: dt.datetime
    people: int


def retention_schedule(session: Session, now: dt.datetime) -> list[RetentionSchedule]:
    """Closed campaigns still within their retention period, soonest destruction first."""
    from sqlalchemy import func

    closed = session.scalars(select(Campaign).where(Campaign.closed_at.is_not(None)))
    waiting = [c for c in closed if (c.retention_ends() or now) > now]
    counts = select(Enrollment.campaign_id, func.count()).where(
        Enrollment.campaign_id.in_([c.id for c in waiting]), Enrollment.state != EnrollmentState.ERASED
    ).group_by(Enrollment.campaign_id)
    held = {campaign_id: n for campaign_id, n in session.execute(counts)} if waiting else {}
    rows = [RetentionSchedule(c, c.closed_at, c.retention_ends(), held.get(c.id, 0))  # type: ignore[arg-type]
            for c in waiting]
    return sorted(rows, key=lambda r: r.ends_at)


def expired_campaigns(session: Session, now: dt.datetime) -> list[Campaign]:
    closed = session.scalars(select(Campaign).where(Campaign.closed_at.is_not(None)).order_by(Campaign.closed_at))
    return [c for c in closed if (c.retention_ends() or now) <= now]


def retention_due(session: Session, now: dt.datetime) -> list[RetentionDue]:
    """Every not-yet-erased enrollment of a campaign whose retention has ended."""
    due = []
    for campaign in expired_campaigns(session, now):
        q = select(Enrollment).where(Enrollment.campaign_id == campaign.id, Enrollment.state != EnrollmentState.ERASED)
        ended = campaign.retention_ends()
        assert ended is not None
        due += [
            RetentionDue(e.id, campaign.id, campaign.slug, ended) for e in session.scalars(q.order_by(Enrollment.id))
        ]
    return due


def closed_unsent_due(session: Session, now: dt.datetime) -> list[RetentionDue]:
    """Every not-yet-erased enrollment of a closed campaign whose set was never sent for review (still a draft):
    nothing can be done with it any more, so it is erased without waiting for the end of retention."""
    q = (
        select(Enrollment, Campaign)
        .join(Campaign, Campaign.id == Enrollment.campaign_id)
        .join(PhotoSet, PhotoSet.enrollment_id == Enrollment.id)
        .where(
            Campaign.closed_at.is_not(None),
            Campaign.closed_at <= now,
            Enrollment.state != EnrollmentState.ERASED,
            PhotoSet.state == SetState.DRAFT,
        )
        .order_by(Campaign.closed_at, Enrollment.id)
    )
    return [RetentionDue(e.id, c.id, c.slug, c.closed_at, CLOSED_UNSENT)  # type: ignore[arg-type]
            for e, c in session.execute(q)]


@dataclass(frozen=True)
class RetentionResult:
    run: RetentionRun
    erased: tuple[ErasureRecord, ...]


class RetentionService:
    def __init__(self, session: Session, clock: Clock, erasure: ErasureService, audit: AuditLog) -> None:
        self.session = session
        self.clock = clock
        self.erasure = erasure
        self.audit = audit

    def due(self) -> list[RetentionDue]:
        return retention_due(self.session, self.clock.now())

    def closed_unsent(self) -> list[RetentionDue]:
        return closed_unsent_due(self.session, self.clock.now())

    def run(self, trigger: str = "job", actor: Actor | None = None) -> RetentionResult:
        """Erase everything past retention, and the sets of closed campaigns never sent for review, and record the
        run (flushed; the caller commits, after which the blobs are deleted). Safe to repeat: erased enrollments
        are no longer due."""
        now = self.clock.now()
        records = []
        done: set[str] = set()
        for item in self.due() + self.closed_unsent():
            if item.enrollment_id in done:
                continue
            done.add(item.enrollment_id)
            enrollment = self.session.get(Enrollment, item.enrollment_id)
            assert enrollment is not None
            records.append(self.erasure.erase_enrollment(enrollment, item.reason, actor))
        run = RetentionRun(started_at=now, erased=len(records), ledger_ids=[r.id for r in records], trigger=trigger)
        self.session.add(run)
        self.session.flush()
        self.audit.record(actor or Actor.system(), "retention.run", "retention_run", run.id, erased=len(records))
        self.session.flush()
        return RetentionResult(run, tuple(records))

    def schedule(self) -> list[RetentionSchedule]:
        """Closed campaigns whose data is still within retention, with the day it is destroyed."""
        return retention_schedule(self.session, self.clock.now())

    def destroyed(self, since: dt.datetime | None = None) -> list[ErasureRecord]:
        """The report: what retention destroyed and when (newest first), the sets of closed campaigns never sent
        for review included."""
        q = select(ErasureRecord).where(ErasureRecord.reason.in_(("retention", CLOSED_UNSENT)))
        if since is not None:
            q = q.where(ErasureRecord.completed_at >= since)
        return list(self.session.scalars(q.order_by(ErasureRecord.completed_at.desc())))

    def runs(self, limit: int = 50) -> list[RetentionRun]:
        q = select(RetentionRun).order_by(RetentionRun.started_at.desc()).limit(limit)
        return list(self.session.scalars(q))


def register_retention_job(registry: HandlerRegistry, service: Callable[[Session], RetentionService]) -> None:
    """Register the retention job; `service(session)` builds a RetentionService on the job's session. The job
    runner commits the erasures together with the job's completion. Enqueue it daily with `enqueue_daily`."""

    def handle(session: Session, payload: Mapping[str, Any]) -> None:
        service(session).run(trigger="job")

    registry.register(RETENTION_JOB, handle, max_attempts=3)


def enqueue_daily(queue: JobQueue, session: Session, now: dt.datetime) -> str:
    """Enqueue the day's retention run (flushed; dispatched after the caller's commit). Calling it again the same
    day while the job waits returns that job; a run repeated anyway finds nothing more to erase."""
    day = now.astimezone(dt.UTC).date().isoformat()
    return queue.enqueue(session, RETENTION_JOB, {"day": day}, dedupe_key=f"retention:{day}")
