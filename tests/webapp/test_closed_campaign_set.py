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


def test_a_set_never_sent_is_destroyed_at_the_first_daily_run_after_the_close(
    app: Any, client: Any, login: Any, make_user: Any, clock: Any, campaign: Any, joined: Any, db_session: Any
) -> None:
    from collection.contributions.models import Enrollment, EnrollmentState
    from collection.erasure.models import ErasureRecord
    from webapp.services import uploads

    in_app(app, lambda: uploads().add_photo(joined, campaign, "0-9", face_photo(1), 7))
    stored = db_session.get(type(campaign), campaign.id)
    stored.status, stored.closed_at = CampaignStatus.CLOSED, clock.now()
    db_session.commit()
    page = text(client.get(set_url(campaign)))
    assert "사진과 녹음은 다음 일일 보유기간 처리 때 파기됩니다" in page
    assert "올린 사진은 지금도 삭제할 수 있습니다" not in page

    clock.advance(days=1)  # long before the end of retention (close + retention_days)
    officer = make_user("compliance", locale="en")
    client.post("/logout", data={"csrf_token": csrf(client, "/")})
    login(officer)
    listed = text(client.get("/comply/retention", headers={"Accept-Language": "en"}))
    assert "Never sent before the close" in listed  # the officer sees what the next run destroys
    resp = client.post("/comply/retention/run", data={"csrf_token": csrf(client, "/comply/retention")})
    assert "Retention run: 1 enrollments erased." in text(client.get(resp.headers["Location"]))
    db_session.expire_all()
    enrollment = db_session.scalars(select(Enrollment).where(Enrollment.user_id == joined.id)).one()
    assert enrollment.state is EnrollmentState.ERASED
    assert db_session.scalars(select(Photo)).all() == []
    record = db_session.scalars(select(ErasureRecord)).one()
    assert record.reason == "campaign_closed_unsent"
    ledger = text(client.get("/comply/erasures", headers={"Accept-Language": "en"}))
    assert "campaign closed before the set was sent" in ledger


def test_a_set_sent_for_review_stays_until_the_end_of_retention(
    app: Any, clock: Any, campaign: Any, joined: Any, db_session: Any
) -> None:
    from collection.contributions.models import Enrollment, EnrollmentState, PhotoSet, SetState

    photo_set = db_session.scalars(select(PhotoSet).where(PhotoSet.user_id == joined.id)).one()
    photo_set.state = SetState.SUBMITTED
    stored = db_session.get(type(campaign), campaign.id)
    stored.status, stored.closed_at = CampaignStatus.CLOSED, clock.now()
    db_session.commit()

    def run() -> int:
        from webapp.compliance_services import retention

        return len(retention().run(trigger="officer").erased)

    assert in_app(app, run) == 0
    db_session.expire_all()
    assert db_session.scalars(select(Enrollment)).one().state is EnrollmentState.ACTIVE


def test_closing_says_that_sets_never_sent_are_destroyed_at_the_next_daily_run(
    app: Any, client: Any, login: Any, make_user: Any, campaign: Any, joined: Any
) -> None:
    from webapp.services import uploads

    in_app(app, lambda: uploads().add_photo(joined, campaign, "0-9", face_photo(1), 7))
    client.post("/logout", data={"csrf_token": csrf(client, "/")})
    login(make_user("operator", locale="en"))
    page = text(client.get(f"/operate/campaigns/{campaign.slug}"))
    assert "Sets never sent for review: 1." in page
    assert "their photos and recordings are destroyed at the next daily retention run" in page
