"""The contributor's pages: their dashboard (campaigns joined, sets, earnings, receipts)."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user

from collection.accounts import Role
from webapp.access import allow
from webapp.services import open_campaigns

bp = Blueprint("contribute", __name__, url_prefix="/me")


@bp.get("/")
@allow(Role.CONTRIBUTOR)
def dashboard() -> str:
    campaigns, not_for_me = open_campaigns(current_user.user)  # marked as on the home page
    return render_template("contribute/dashboard.html", campaigns=campaigns, not_for_me=not_for_me)
