"""After an operator closes a campaign, a contributor whose set was never sent for review sees why nothing more
can go into it: no upload form, a refused upload that says so, and the photos already uploaded can be deleted."""

from __future__ import annotations

import io
from typing import Any

from sqlalchemy import select

from collection.campaigns.models import CampaignStatus
from collection.contributions.models import Photo
from tests.webapp.contribute_support import csrf, in_app, text
from webapp.demo_media import face_photo


def set_url(campaign: Any) -> str:
    return f"/me/campaigns/{campaign.slug}/set"


def upload(client: Any, campaign: Any, data: bytes) -> Any:
    form = {"csrf_token": csrf(client, set_url(campaign)), "bracket": "0-9", "age_years": "7",
            "photos": [(io.BytesIO(data), "me.jpg")]}
    return client.post(f"/me/campaigns/{campaign.slug}/set/photos", data=form, content_type="multipart/form-data")


def test_a_set_not_sent_before_the_close_takes_nothing_more_but_can_be_emptied(
    app: Any, client: Any, campaign: Any, joined: Any, db_session: Any
) -> None:
    from webapp.services import uploads

    photo_id = in_app(app, lambda: uploads().add_photo(joined, campaign, "0-9", face_photo(1), 7)).id
    stored = db_session.get(type(campaign), campaign.id)
    stored.status = CampaignStatus.CLOSED
    db_session.commit()

    page = text(client.get(set_url(campaign)))
    assert "캠페인이 종료되었습니다. 종료 전에 검수에 보내지 않은 세트에는" in page
    assert f"/me/campaigns/{campaign.slug}/set/photos" not in page  # no upload form
    assert not client.get(f"/api/v1/campaigns/{campaign.slug}/set").get_json()["ready"]
    refused = text(client.get(upload(client, campaign, face_photo(2)).headers["Location"]))
    assert "캠페인이 종료되었습니다" in refused
    assert len(db_session.scalars(select(Photo)).all()) == 1  # nothing more stored

    removed = client.post(f"/me/photos/{photo_id}/delete", data={"csrf_token": csrf(client, set_url(campaign))})
    assert removed.status_code in (302, 303)
    db_session.expire_all()
    assert db_session.scalars(select(Photo)).all() == []
