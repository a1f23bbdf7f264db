"""The public page of one campaign: what is collected, for how much, from whom, and the way in (sign up, sign in,
or for a signed-in contributor: eligibility, consent, join, or a link to their set)."""

from __future__ import annotations

from flask import render_template
from flask_login import current_user

from collection.campaigns import Campaign, CampaignStatus
from collection.errors import ContributionError, NotFound
from webapp.access import public
from webapp.blueprints.public.views import bp
from webapp.gate_messages import Advice, error_advice
from webapp.services import campaigns, consent, contributions


def _contributor_standing(campaign: Campaign) -> dict[str, object]:
    """For a signed-in contributor: joined already? consent in force? eligible (and if not, why)?"""
    if not current_user.is_authenticated or current_user.role.value != "contributor":
        return {}
    user, service = current_user.user, contributions()
    enrollment = service.enrollment(user, campaign)
    standing: dict[str, object] = {"joined": enrollment is not None and enrollment.state.value == "active"}
    standing["consented"] = consent().may_upload(user.subject_id, campaign.id)
    if not standing["joined"]:
        try:
            service.check_eligible(user, campaign)
        except ContributionError as exc:
            standing["ineligible"] = error_advice(exc)
    return standing


def campaign_page(campaign: Campaign, problem: Advice | None = None) -> str:
    from webapp.blueprints.contribute.set_forms import ActionForm

    standing = _contributor_standing(campaign)
    return render_template(
        "public/campaign.html",
        campaign=campaign,
        standing=standing,
        problem=problem or standing.get("ineligible"),
        form=ActionForm(),
    )


@bp.get("/campaigns/<slug>")
@public
def campaign(slug: str) -> str:
    found = campaigns().by_slug(slug)
    if found.status is CampaignStatus.DRAFT:
        raise NotFound("campaign", slug)  # a draft is not public yet
    return campaign_page(found)
