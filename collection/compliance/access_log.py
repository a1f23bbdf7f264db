"""The monthly review of staff access to biometric objects (PIPA safety-measure standards: access records of
sensitive data are kept and reviewed monthly).

The report for a month lists every audit event in which someone other than the contributor themself viewed or
downloaded a biometric object ("photo.viewed", any "*.viewed" or "*.downloaded"), who did it (staff row id and
role) and when, with a per-person summary. A compliance officer signs the month off once it is over; the sign-off
stores the SHA-256 of the report's lines, so it is bound to exactly what was reviewed, and leaves an audit event.
Months are calendar months in UTC.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from collection.accounts.models import User
from collection.audit.log import Actor, AuditLog
from collection.audit.models import AuditEvent
from collection.compliance.errors import AccessReviewError
from collection.compliance.models import AccessReview
from consent.canonical import canonical_json
from consent.clock import Clock

REVIEW_GRACE = dt.timedelta(days=15)  # a month must be signed off within this long after it ends


@dataclass(frozen=True)
class AccessLine:
    at: dt.datetime
    actor_id: str | None
    actor_role: str
    action: str
    object_type: str
    object_id: str | None
    size: str | None = None  # a photo view: "thumb" or "full" (not part of the signed-off digest)


@dataclass(frozen=True)
class StaffSummary:
    actor_id: str | None
    actor_role: str
    views: int
    objects: int


@dataclass(frozen=True)
class AccessReport:
    month: str
    start: dt.datetime
    end: dt.datetime
    lines: tuple[AccessLine, ...]
    staff: tuple[StaffSummary, ...]
    digest: str
    review: AccessReview | None


def month_bounds(month: str) -> tuple[dt.datetime, dt.datetime]:
    """`YYYY-MM` -> [start, end) in UTC. Raises ValueError for anything else."""
    start = dt.datetime.strptime(month, "%Y-%m").replace(tzinfo=dt.UTC)
    end = (start + dt.timedelta(days=32)).replace(day=1)
    return start, end


def month_of(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m")


def _is_access() -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    return (
        or_(AuditEvent.action.like("%.viewed"), AuditEvent.action.like("%.downloaded")),
        AuditEvent.actor_role != "contributor",
    )


def access_lines(session: Session, start: dt.datetime, end: dt.datetime) -> list[AccessLine]:
    q = select(AuditEvent).where(*_is_access(), AuditEvent.at >= start, AuditEvent.at < end)
    return [
        AccessLine(e.at, e.actor_id, e.actor_role, e.action, e.object_type, e.object_id, (e.details or {}).get("size"))
        for e in session.scalars(q.order_by(AuditEvent.at, AuditEvent.id))
    ]


def unreviewed_months(session: Session, now: dt.datetime) -> list[str]:
    """Months with staff access that ended more than REVIEW_GRACE ago and have no sign-off."""
    months = {month_of(at) for at in session.scalars(select(AuditEvent.at).where(*_is_access()))}
    signed = set(session.scalars(select(AccessReview.month)))
    return sorted(m for m in months - signed if month_bounds(m)[1] + REVIEW_GRACE < now)


def _digest(month: str, lines: list[AccessLine]) -> str:
    body = [
        [line.at.isoformat(), line.actor_id, line.actor_role, line.action, line.object_type, line.object_id]
        for line in lines
    ]
    return hashlib.sha256(canonical_json({"month": month, "lines": body})).hexdigest()


def _summaries(lines: list[AccessLine]) -> tuple[StaffSummary, ...]:
    views = Counter((line.actor_id, line.actor_role) for line in lines)
    objects = {
        key: len({(x.object_type, x.object_id) for x in lines if (x.actor_id, x.actor_role) == key}) for key in views
    }
    return tuple(StaffSummary(k[0], k[1], n, objects[k]) for k, n in views.most_common())


class AccessReviewService:
    def __init__(self, session: Session, clock: Clock, audit: AuditLog) -> None:
        self.session = session
        self.clock = clock
        self.audit = audit

    def report(self, month: str) -> AccessReport:
        """The month's report. Raises ValueError for a malformed month."""
        start, end = month_bounds(month)
        lines = access_lines(self.session, start, end)
        review = self.session.scalar(select(AccessReview).where(AccessReview.month == month))
        return AccessReport(month, start, end, tuple(lines), _summaries(lines), _digest(month, lines), review)

    def sign_off(self, officer: User, month: str, digest: str, note: str = "") -> AccessReview:
        """Sign the month off. `digest` is the report's digest as shown to the officer. Raises
        AccessReviewError when the month is not over, is already signed off, or the report changed."""
        report = self.report(month)
        if report.end > self.clock.now():
            raise AccessReviewError(month, "not_over", "a month can be signed off only once it is over")
        if report.review is not None:
            raise AccessReviewError(month, "already_signed_off", "this month is already signed off")
        if digest != report.digest:
            raise AccessReviewError(month, "report_changed", "the report changed since it was shown: review it again")
        review = AccessReview(
            month=month,
            views=len(report.lines),
            digest=report.digest,
            signed_off_by=officer.id,
            signed_off_at=self.clock.now(),
            note=note.strip(),
        )
        self.session.add(review)
        self.session.flush()
        self.audit.record(
            Actor(officer.id, officer.role.value),
            "access_review.signed_off",
            "access_review",
            review.id,
            month=month,
            views=review.views,
            digest=review.digest,
        )
        self.session.flush()
        return review

    def reviews(self) -> list[AccessReview]:
        return list(self.session.scalars(select(AccessReview).order_by(AccessReview.month.desc())))

    def unreviewed(self) -> list[str]:
        return unreviewed_months(self.session, self.clock.now())
