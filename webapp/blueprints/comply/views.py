"""The compliance officer's pages."""

from __future__ import annotations

from flask import Blueprint, render_template
from sqlalchemy import func, select

from collection.accounts import Role, User
from collection.campaigns import Campaign
from webapp.access import allow
from webapp.db import get_session

bp = Blueprint("comply", __name__, url_prefix="/comply")


@bp.get("/")
@allow(Role.COMPLIANCE, Role.ADMIN)
def dashboard() -> str:
    session = get_session()
    counts = {
        "campaigns": session.scalar(select(func.count()).select_from(Campaign)),
        "contributors": session.scalar(
            select(func.count()).select_from(User).where(User.role == Role.CONTRIBUTOR, User.erased_at.is_(None))
        ),
    }
    return render_template("comply/dashboard.html", counts=counts)
