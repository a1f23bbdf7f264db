"""Reading the audit log back: the events a compliance officer asks for (by action, by who acted, by the object
acted on, within a time window), newest first, a page at a time. The log itself is append-only and sealed by the
checkpoints (`checkpoints`); this module only reads it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from collection.audit.models import AuditEvent

PAGE_SIZE = 50


@dataclass(frozen=True)
class EventFilter:
    """What to show: `action` is a whole action ("release.approved") or its family ("release"); times are
    inclusive lower and exclusive upper bounds (UTC)."""

    action: str | None = None
    actor_id: str | None = None
    object_id: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None

    def apply(self, query: Select[Any]) -> Select[Any]:
        if self.action:
            family = "." not in self.action
            query = query.where(AuditEvent.action.startswith(self.action + ".", autoescape=True) if family
                                else AuditEvent.action == self.action)
        if self.actor_id:
            query = query.where(AuditEvent.actor_id == self.actor_id)
        if self.object_id:
            query = query.where(AuditEvent.object_id == self.object_id)
        if self.since:
            query = query.where(AuditEvent.at >= self.since)
        if self.until:
            query = query.where(AuditEvent.at < self.until)
        return query


@dataclass(frozen=True)
class EventPage:
    events: list[AuditEvent]
    total: int  # events matching the filter, on every page
    page: int
    pages: int


def events(session: Session, wanted: EventFilter, page: int = 1, page_size: int = PAGE_SIZE) -> EventPage:
    """One page (1-based; past the last page gives the last) of the events matching `wanted`, newest first."""
    total = session.scalar(wanted.apply(select(func.count()).select_from(AuditEvent))) or 0
    pages = max(1, -(-total // page_size))
    page = min(max(page, 1), pages)
    query = wanted.apply(select(AuditEvent)).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    rows = list(session.scalars(query.offset((page - 1) * page_size).limit(page_size)))
    return EventPage(rows, total, page, pages)


def action_families(session: Session) -> list[str]:
    """Every action recorded so far, sorted (for the filter's choices)."""
    return sorted(session.scalars(select(AuditEvent.action).distinct()))
