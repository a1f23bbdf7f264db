"""Whether processing of an enrollment is suspended at the contributor's request (restriction, GDPR art. 18).

Its own module, importing only models, so every processing step (gates, review, release selection) can ask
without depending on the rights service, which depends on erasure, which depends on releases.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from collection.compliance.models import ProcessingSuspension


def is_suspended(session: Session, enrollment_id: str) -> bool:
    """True while processing of the enrollment is suspended at the contributor's request."""
    q = select(ProcessingSuspension.id).where(
        ProcessingSuspension.enrollment_id == enrollment_id, ProcessingSuspension.lifted_at.is_(None)
    )
    return session.scalar(q.limit(1)) is not None
