"""The contributor's pages: their dashboard (campaigns joined, sets, earnings, receipts)."""

from __future__ import annotations

from flask import Blueprint, render_template
from sqlalchemy import select

from collection.accounts import Role
from collection.campaigns import Campaign, CampaignStatus
from webapp.access import allow
from webapp.db import get_session

bp = Blueprint("contribute", __name__, url_prefix="/me")


@bp.get("/")
@allow(Role.CONTRIBUTOR)
def dashboard() -> str:
    open_campaigns = get_session().scalars(select(Campaign).where(Campaign.status == CampaignStatus.OPEN))
    return render_template("contribute/dashboard.html", campaigns=list(open_campaigns))
