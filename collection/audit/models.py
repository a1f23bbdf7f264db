"""Audit events: append-only, written in the same transaction as the change they record, with no personal data
(actors and objects by random ids). Each event carries its own leaf hash over its canonical content; a sequencer
later gives events their final `position` in the tamper-evident log (see collection.audit.log)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from consent.db import Base, IdPk, Timestamp


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_object", "object_type", "object_id"),)

    id: Mapped[IdPk]
    at: Mapped[Timestamp]
    actor_id: Mapped[str | None] = mapped_column(String(40), index=True)  # user row id or subject id
    actor_role: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(60), index=True)
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    leaf_hash: Mapped[str] = mapped_column(String(64))
    position: Mapped[int | None] = mapped_column(unique=True)

    def __repr__(self) -> str:
        return f"<AuditEvent {self.id} {self.action}>"
