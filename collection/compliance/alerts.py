"""What the compliance dashboard flags as overdue right now: rights requests past their 10-day deadline, data
held past retention, erasures owed for more than 5 days, and months of staff access not signed off."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from collection.compliance.access_log import unreviewed_months
from collection.compliance.deadlines import ErasureObligation, overdue_erasures
from collection.compliance.models import RightsRequest
from collection.compliance.retention import RetentionDue, retention_due
from collection.compliance.rights import overdue_requests


@dataclass(frozen=True)
class Alerts:
    rights_overdue: tuple[RightsRequest, ...]
    retention_due: tuple[RetentionDue, ...]
    erasures_overdue: tuple[ErasureObligation, ...]
    unreviewed_months: tuple[str, ...]

    @property
    def total(self) -> int:
        return (
            len(self.rights_overdue)
            + len(self.retention_due)
            + len(self.erasures_overdue)
            + len(self.unreviewed_months)
        )


def current_alerts(session: Session, now: dt.datetime) -> Alerts:
    return Alerts(
        tuple(overdue_requests(session, now)),
        tuple(retention_due(session, now)),
        tuple(overdue_erasures(session, now)),
        tuple(unreviewed_months(session, now)),
    )
