"""Contributors' rights requests (access/export, correction, deletion, suspension of processing), each with the
statutory 10-day deadline (PIPA Enforcement Decree Art. 41(4), 43(3), 44(2)) that compliance officers see ticking.

Acting on a request uses the one existing path for each effect: deletion goes through ErasureService (the same
crypto-shredding as a withdrawal); access points the contributor to the self-service export
(collection.contributions.export), which is always complete; suspension writes a ProcessingSuspension that every
processing step must ask `is_suspended` about (see the package docstring for what is wired where), and lifting it
queues the checks that waited; correction goes through `correct` (collection.compliance.correction), which the
closing note then describes. Every step leaves an audit event with
pseudonymous ids only. Services flush; the caller commits.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from collection.accounts.models import User
from collection.audit.log import Actor, AuditLog
from collection.compliance.correction import (
    CORRECTABLE,
    Correction,
    CorrectionResult,
    apply_correction,
    correctable_photos,
)
from collection.compliance.deletion_impact import DeletionImpact, deletion_impact
from collection.compliance.errors import CorrectionRefused, RightsRequestError
from collection.compliance.models import (
    RIGHTS_SLA,
    ProcessingSuspension,
    RightsKind,
    RightsRequest,
    RightsState,
    RightsStateError,
)
from collection.contributions.gates import requeue_checks
from collection.contributions.models import Enrollment, EnrollmentState, Photo, current_enrollment
from collection.contributions.uploads import SET_IDENTITY_JOB
from collection.erasure.service import ErasureService
from collection.errors import NotFound
from collection.jobs import JobQueue
from consent.clock import KOREA, Clock

MAX_DETAILS = 2000




@dataclass(frozen=True)
class RequestTimer:
    """A request as the officer's list shows it: days left to the due date (0 on the day it is due, negative
    after it), and whether the stored deadline has passed."""

    request: RightsRequest
    days_left: int
    overdue: bool


def timer(request: RightsRequest, now: dt.datetime) -> RequestTimer:
    """Days are counted the way PIPA's "within 10 days" is counted (Civil Act Art. 157 and 159: the day of
    receipt is not counted and the period runs to the end of its last day), on the Korean calendar: 10 on the
    day a request arrives, whatever the hour, 0 on the due date. Truncating the hours left would say 9 a second
    after receipt. `overdue` stays the stored deadline's (`due_at`, receipt + 10 days to the minute)."""
    return RequestTimer(request, days_until(request.due_at, now), request.overdue(now))


def days_until(due: dt.datetime, now: dt.datetime) -> int:
    """Whole days from `now` to `due` on the Korean calendar: 0 on the due date whatever the hour, negative after
    it (a deadline of "N days from receipt" reads N on the day of receipt)."""
    return (due.astimezone(KOREA).date() - now.astimezone(KOREA).date()).days


def overdue_requests(session: Session, now: dt.datetime) -> list[RightsRequest]:
    """Requests still open past their deadline."""
    q = select(RightsRequest).where(
        RightsRequest.state.in_([RightsState.OPEN, RightsState.IN_PROGRESS]), RightsRequest.due_at < now
    )
    return list(session.scalars(q.order_by(RightsRequest.due_at)))


class RightsService:
    def __init__(
        self, session: Session, clock: Clock, audit: AuditLog, erasure: ErasureService, queue: JobQueue | None = None
    ) -> None:
        """`queue` runs the checks that waited while processing was suspended, once it is lifted, and the identity
        check again after a corrected birth date; without one (tests that run no jobs) nothing is queued."""
        self.session = session
        self.clock = clock
        self.audit = audit
        self.erasure = erasure
        self.queue = queue

    # -- the contributor's side ----------------------------------------------------------------------------
    def submit(self, user: User, kind: RightsKind, campaign_id: str | None, details: str = "") -> RightsRequest:
        """Record a request. Raises RightsRequestError when the campaign is not one of the user's, or the
        same kind of request for the same scope is already open."""
        if campaign_id is not None and self._enrollment(user, campaign_id) is None:
            raise RightsRequestError("not_enrolled", "you have not taken part in this campaign")
        if self._open_duplicate(user, kind, campaign_id):
            raise RightsRequestError("already_open", "the same request is already being handled")
        now = self.clock.now()
        request = RightsRequest(
            subject_id=user.subject_id,
            user_id=user.id,
            campaign_id=campaign_id,
            kind=kind,
            details=details.strip()[:MAX_DETAILS],
            received_at=now,
            due_at=now + RIGHTS_SLA,
        )
        self.session.add(request)
        self.session.flush()
        self._audit(Actor(user.subject_id, "contributor"), "rights.requested", request, kind=kind.value)
        return request

    def for_user(self, user: User) -> list[RightsRequest]:
        q = select(RightsRequest).where(RightsRequest.user_id == user.id)
        return list(self.session.scalars(q.order_by(RightsRequest.received_at.desc())))

    # -- the compliance officer's side ------------------------------------------------------------------------
    def get(self, request_id: str) -> RightsRequest:
        """Raises NotFound."""
        request = self.session.get(RightsRequest, request_id)
        if request is None:
            raise NotFound("rights request", request_id)
        return request

    def timers(self, include_closed: bool = False) -> list[RequestTimer]:
        q = select(RightsRequest)
        if not include_closed:
            q = q.where(RightsRequest.state.in_([RightsState.OPEN, RightsState.IN_PROGRESS]))
        now = self.clock.now()
        return [timer(r, now) for r in self.session.scalars(q.order_by(RightsRequest.due_at))]

    def overdue(self) -> list[RightsRequest]:
        return overdue_requests(self.session, self.clock.now())

    def start(self, officer: User, request: RightsRequest) -> None:
        """Mark the request as being handled. Raises RightsRequestError."""
        self._transition(request.start, officer.id, self.clock.now())
        self._audit(_staff(officer), "rights.started", request)

    def complete(self, officer: User, request: RightsRequest, note: str, confirmed: bool = False) -> dict[str, Any]:
        """Carry out the request (see the module docstring), close it with `note` and return what was done. An
        account-wide deletion erases everything the person gave, so it needs `confirmed` (the officer read
        `deletion_impact`). Raises RightsRequestError when the request is closed, the note is empty or an
        account-wide deletion is not confirmed."""
        self._transition(request.require_closable, note)
        if request.kind is RightsKind.DELETION and request.campaign_id is None and not confirmed:
            raise RightsRequestError("unconfirmed", "confirm what the account-wide deletion affects first")
        outcome = getattr(self, f"_do_{request.kind.value}")(officer, request)
        self._transition(request.close, officer.id, self.clock.now(), note)
        request.outcome = outcome
        if request.kind is RightsKind.DELETION:
            request.details = ""  # the contributor's own words go with their data
        self.session.flush()
        self._audit(_staff(officer), "rights.completed", request, kind=request.kind.value, **outcome)
        return outcome

    def refuse(self, officer: User, request: RightsRequest, note: str) -> None:
        """Close without acting (PIPA allows refusal with reasons, e.g. a legal duty to keep). Raises
        RightsRequestError."""
        self._transition(request.close, officer.id, self.clock.now(), note, True)
        self.session.flush()
        self._audit(_staff(officer), "rights.refused", request, kind=request.kind.value)

    def deletion_impact(self, request: RightsRequest) -> DeletionImpact:
        """What completing a deletion request would affect (unpaid payments, releases, sets in review)."""
        return deletion_impact(self.session, request.user_id, request.subject_id, request.campaign_id)

    def correction_photos(self, request: RightsRequest) -> list[Photo]:
        """The photos whose stated age a correction request can correct."""
        return correctable_photos(self.session, request.user_id, request.campaign_id)

    def correct(self, officer: User, request: RightsRequest, correction: Correction) -> CorrectionResult:
        """Correct the contributor's data on an open correction request (see collection.compliance.correction).
        The audit event and the request's outcome name the fields that changed, never their values; the identity
        check of every set whose ages moved is queued again. Raises CorrectionRefused."""
        if request.kind is not RightsKind.CORRECTION or request.closed:
            raise CorrectionRefused("request", "invalid_state")
        result = apply_correction(self.session, self._user(request), request, correction, self.clock.now().date())
        if not result.fields:
            return result
        if self.queue is not None:
            for set_id in result.sets:
                self.queue.enqueue(self.session, SET_IDENTITY_JOB, {"set_id": set_id}, dedupe_key=f"identity:{set_id}")
        done = dict(request.outcome or {})
        earlier = set(done.get("corrected", [])) | set(result.fields)
        done["corrected"] = [f for f in CORRECTABLE if f in earlier]
        done["photos_corrected"] = int(done.get("photos_corrected", 0)) + len(result.photos)
        request.outcome = done  # a new dict: the JSON column notices the change
        self._audit(_staff(officer), "rights.corrected", request, fields=result.fields, photos=len(result.photos),
                    identity_rechecked=len(result.sets))
        return result

    def lift_suspension(self, officer: User, enrollment_id: str) -> int:
        """End every active suspension of the enrollment; returns how many ended. The photos and recordings
        whose checks were skipped while it lasted are queued again (with the set's identity check), so none
        stays "being checked" for ever; the jobs run after the caller commits."""
        return self._lift(enrollment_id, officer.id, _staff(officer))

    def own_suspensions(self, user: User) -> list[Enrollment]:
        """The contributor's enrollments whose processing is suspended now."""
        q = select(Enrollment).where(Enrollment.user_id == user.id, Enrollment.id.in_(
            select(ProcessingSuspension.enrollment_id).where(ProcessingSuspension.lifted_at.is_(None))))
        return list(self.session.scalars(q))

    def resume_own(self, user: User, enrollment_id: str) -> int:
        """The contributor ends a suspension they asked for: it was theirs to ask, so it is theirs to end, at once
        and without waiting for an officer (PIPA Art. 37). Returns how many suspensions ended. Raises NotFound for
        an enrollment that is not theirs."""
        enrollment = self.session.get(Enrollment, enrollment_id)
        if enrollment is None or enrollment.user_id != user.id:
            raise NotFound("enrollment", enrollment_id)
        return self._lift(enrollment_id, user.id, Actor(user.subject_id, "contributor"))

    def _lift(self, enrollment_id: str, by: str, actor: Actor) -> int:
        rows = self._active_suspensions(enrollment_id)
        for row in rows:
            row.lifted_at, row.lifted_by = self.clock.now(), by
        self.session.flush()
        if rows:
            requeued = requeue_checks(self.session, self.queue, enrollment_id) if self.queue is not None else 0
            self.audit.record(actor, "processing.resumed", "enrollment", enrollment_id, requeued=requeued)
        return len(rows)

    # -- the effects ------------------------------------------------------------------------------------------
    def _do_deletion(self, officer: User, request: RightsRequest) -> dict[str, Any]:
        user = self._user(request)
        actor = _staff(officer)
        if request.campaign_id is None:
            erased = self.erasure.erase_account(user, "account_deletion")
            return {"erasure_ids": [r.id for r in erased], "account_erased": True}
        enrollment = self._enrollment(user, request.campaign_id)
        if enrollment is None or enrollment.state is EnrollmentState.ERASED:
            return {"erasure_ids": []}
        return {"erasure_ids": [self.erasure.erase_enrollment(enrollment, "admin_request", actor).id]}

    def _do_access(self, officer: User, request: RightsRequest) -> dict[str, Any]:
        # The self-service export holds everything datadam keeps about the person; the officer's note tells
        # the contributor where it is (their "My data" page) and anything it cannot contain.
        return {"export": "self_service"}

    def _do_correction(self, officer: User, request: RightsRequest) -> dict[str, Any]:
        # what the correction form changed (field names only); the note tells the contributor the rest
        done = request.outcome or {}
        return {"corrected": list(done.get("corrected", [])), "photos_corrected": int(done.get("photos_corrected", 0))}

    def _do_suspension(self, officer: User, request: RightsRequest) -> dict[str, Any]:
        now, suspended = self.clock.now(), []
        for enrollment in self._scope(request):
            if enrollment.state is EnrollmentState.ERASED or self._active_suspensions(enrollment.id):
                continue
            self.session.add(
                ProcessingSuspension(
                    enrollment_id=enrollment.id, request_id=request.id, suspended_at=now, suspended_by=officer.id
                )
            )
            suspended.append(enrollment.id)
            self.audit.record(_staff(officer), "processing.suspended", "enrollment", enrollment.id)
        return {"suspended_enrollments": suspended}

    # -- helpers ----------------------------------------------------------------------------------------------
    def _scope(self, request: RightsRequest) -> list[Enrollment]:
        q = select(Enrollment).where(Enrollment.user_id == request.user_id)
        if request.campaign_id is not None:
            q = q.where(Enrollment.campaign_id == request.campaign_id)
        return list(self.session.scalars(q))

    def _enrollment(self, user: User, campaign_id: str) -> Enrollment | None:
        return current_enrollment(self.session, user.id, campaign_id)

    def _user(self, request: RightsRequest) -> User:
        user = self.session.get(User, request.user_id)
        if user is None:
            raise NotFound("user", request.user_id)
        return user

    def _active_suspensions(self, enrollment_id: str) -> list[ProcessingSuspension]:
        q = select(ProcessingSuspension).where(
            ProcessingSuspension.enrollment_id == enrollment_id, ProcessingSuspension.lifted_at.is_(None)
        )
        return list(self.session.scalars(q))

    def _open_duplicate(self, user: User, kind: RightsKind, campaign_id: str | None) -> bool:
        q = select(RightsRequest.id).where(
            RightsRequest.user_id == user.id,
            RightsRequest.kind == kind,
            RightsRequest.state.in_([RightsState.OPEN, RightsState.IN_PROGRESS]),
            RightsRequest.campaign_id.is_(None) if campaign_id is None else RightsRequest.campaign_id == campaign_id,
        )
        return self.session.scalar(q.limit(1)) is not None

    @staticmethod
    def _transition(step: Any, *args: Any) -> None:
        try:
            step(*args)
        except RightsStateError as exc:
            raise RightsRequestError("invalid_state", str(exc)) from exc

    def _audit(self, actor: Actor, action: str, request: RightsRequest, **details: Any) -> None:
        details.setdefault("subject", request.subject_id)
        if request.campaign_id:
            details.setdefault("campaign_id", request.campaign_id)
        self.audit.record(actor, action, "rights_request", request.id, **details)
        self.session.flush()


def _staff(officer: User) -> Actor:
    return Actor(officer.id, officer.role.value)
