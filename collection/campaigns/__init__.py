"""Campaigns: what a programme collects, under which rules and payment, and its lifecycle."""

from collection.campaigns.models import Campaign, CampaignStateError, CampaignStatus

__all__ = ["Campaign", "CampaignStateError", "CampaignStatus"]
