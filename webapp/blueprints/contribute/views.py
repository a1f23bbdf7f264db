"""The contributor's pages: their dashboard (campaigns joined, sets, earnings, receipts)."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user
from sqlalchemy import select

from collection.accounts import Role
from collection.campaigns import Campaign, CampaignStatus
from webapp.access import allow
from webapp.db import get_session
from webapp.services import clock

bp = Blueprint("contribute", __name__, url_prefix="/me")


@bp.get("/")
@allow(Role.CONTRIBUTOR)
def dashboard() -> str:
    open_campaigns = list(get_session().scalars(
        select(Campaign).where(Campaign.status == CampaignStatus.OPEN).order_by(Campaign.opened_at.desc())
    ))
    # as on the home page: the campaigns this person's age does not fit are marked at once
    age = current_user.user.age_on(clock().now().date())
    not_for_me = {c.id for c in open_campaigns if age is not None and not c.accepts_age(age)}
    return render_template("contribute/dashboard.html", campaigns=open_campaigns, not_for_me=not_for_me)
