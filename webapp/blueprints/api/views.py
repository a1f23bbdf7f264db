"""JSON API, version 1. Same access rules as the pages; documented in webapp/openapi.json (served below)."""

from __future__ import annotations

import json
from pathlib import Path

from flask import Blueprint, Response, jsonify, request
from flask_login import current_user
from sqlalchemy import select

from collection.campaigns import Campaign, CampaignStatus
from webapp.access import public, signed_in
from webapp.db import get_session

bp = Blueprint("api", __name__, url_prefix="/api/v1")
OPENAPI_FILE = Path(__file__).resolve().parents[2] / "openapi.json"


def _campaign_json(c: Campaign, locale: str) -> dict[str, object]:
    return {
        "slug": c.slug,
        "title": c.title(locale),
        "description": c.description(locale),
        "status": c.status.value,
        "brackets": c.brackets,
        "total_photos": c.total_photos,
        "payment_krw": c.payment_krw,
        "has_voice": c.has_voice,
        "eligible_ages": [c.min_age, c.max_age],
    }


@bp.get("/openapi.json")
@public
def openapi() -> Response:
    return Response(OPENAPI_FILE.read_text(encoding="utf-8"), mimetype="application/json")


@bp.get("/campaigns")
@public
def campaigns() -> Response:
    locale = request.args.get("lang", "ko")
    rows = get_session().scalars(select(Campaign).where(Campaign.status == CampaignStatus.OPEN))
    return jsonify(campaigns=[_campaign_json(c, locale) for c in rows])


@bp.get("/me")
@signed_in
def me() -> Response:
    u = current_user.user
    return jsonify(id=u.id, role=u.role.value, display_name=u.display_name, locale=u.locale)


def openapi_paths() -> set[str]:
    return set(json.loads(OPENAPI_FILE.read_text(encoding="utf-8"))["paths"])
