"""Writing audit events. Callers pass ids, never names, emails, IPs or biometric data; the event is added to the
caller's session, so it commits (or rolls back) with the change it records."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from collection.audit.models import AuditEvent
from consent.canonical import canonical_json
from consent.clock import Clock
from consent.db import new_id

LEAF_PREFIX = b"\x00"  # RFC 6962 leaf domain separation


@dataclass(frozen=True)
class Actor:
    """Who acts: a user row id (staff) or a subject id (contributor), and a role label."""

    id: str | None
    role: str

    @classmethod
    def system(cls) -> Actor:
        return cls(None, "system")


def event_content(event: AuditEvent) -> dict[str, Any]:
    """The canonical content an event's leaf hash covers (everything but the hash and position)."""
    return {
        "id": event.id,
        "at": event.at.isoformat(),
        "actor_id": event.actor_id,
        "actor_role": event.actor_role,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "details": event.details,
    }


def leaf_hash(event: AuditEvent) -> str:
    return hashlib.sha256(LEAF_PREFIX + canonical_json(event_content(event))).hexdigest()


class AuditLog:
    def __init__(self, session: Session, clock: Clock) -> None:
        self.session = session
        self.clock = clock

    def record(self, actor: Actor, action: str, object_type: str, object_id: str | None, **details: Any) -> AuditEvent:
        event = AuditEvent(
            id=new_id(),
            at=self.clock.now(),
            actor_id=actor.id,
            actor_role=actor.role,
            action=action,
            object_type=object_type,
            object_id=object_id,
            details=details,
        )
        event.leaf_hash = leaf_hash(event)
        self.session.add(event)
        return event
