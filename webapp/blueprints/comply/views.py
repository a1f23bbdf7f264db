"""The compliance officer's pages."""

from __future__ import annotations

from flask import Blueprint, render_template
from sqlalchemy import ColumnElement, distinct, func, select
from sqlalchemy.orm import Session

from collection.accounts import Role, User
from collection.campaigns import Campaign
from collection.contributions.models import Enrollment, EnrollmentState
from webapp.access import allow
from webapp.db import get_session
from webapp.services import consent

bp = Blueprint("comply", __name__, url_prefix="/comply")


@bp.get("/")
@allow(Role.COMPLIANCE, Role.ADMIN)
def dashboard() -> str:
    session = get_session()
    counts = {"campaigns": session.scalar(select(func.count()).select_from(Campaign)), **contributor_counts(session)}
    return render_template("comply/dashboard.html", counts=counts, open_flags=consent().count_open_flags())


def contributor_counts(session: Session) -> dict[str, int]:
    """People by what is held about them: `held` have campaign data held now (an enrollment not erased);
    `erased` had campaign data and all of it was erased (withdrawal, deletion, retention) or deleted their
    account after taking part; `accounts_only` signed up and hold an account but took part in no campaign."""
    live = select(Enrollment.user_id).where(Enrollment.state != EnrollmentState.ERASED)
    took_part = select(Enrollment.user_id)
    contributors = select(User.id).where(User.role == Role.CONTRIBUTOR)

    def count(*where: ColumnElement[bool]) -> int:
        return int(session.scalar(select(func.count(distinct(User.id))).where(User.id.in_(contributors), *where))
                   or 0)

    return {
        "held": count(User.id.in_(live)),
        "erased": count(User.id.in_(took_part), User.id.not_in(live)),
        "accounts_only": count(User.id.not_in(took_part), User.erased_at.is_(None)),
    }
