"""Dates and times people read are Korean time on every page, labelled KST, in Korean and in English: a moment
between 15:00 and 24:00 UTC is already the next day in Korea, and a page that printed UTC showed the day before.
Machine values (the signed receipt file) keep UTC."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from tests.conftest import csrf_token
from tests.webapp.test_consent_pages import ADULT, EN, give, publish, receipt_id, text, upload

LATE = {"hours": 6, "minutes": 30}  # the test clock's 09:00 UTC + 6:30 = 15:30 UTC on 21 Nov = 00:30 KST on 22 Nov


def test_a_consent_given_late_in_the_utc_day_is_dated_on_the_korean_calendar_on_every_page(
    app: Any, client: Any, clock: Any, make_campaign: Any, make_user: Any, login: Any
) -> None:
    campaign = make_campaign()
    publish(app, campaign)
    login(make_user("contributor", birth=ADULT))
    clock.advance(**LATE)
    rid = receipt_id(give(client, campaign.slug))

    listing = text(client.get("/me/consent/"))
    receipt = text(client.get(f"/me/consent/receipts/{rid}"))
    assert "2026-11-22 00:30 KST" in listing and "2026-11-22 00:30:00 KST" in receipt
    for page in (listing, receipt):
        assert "UTC" not in page and "2026-11-21" not in page

    data = client.get(f"/me/consent/receipts/{rid}/receipt.json").data
    assert "2026-11-21T15:30:00" in json.dumps(json.loads(data))  # the signed file keeps UTC

    client.post("/logout", data={"csrf_token": csrf_token(client, "/me/consent/")})
    for headers in ({}, EN):  # the public verify page, in Korean and in English
        checked = text(upload(client, data, **headers))
        assert "2026-11-22 00:30 KST" in checked and "UTC" not in checked


def test_staff_pages_show_korean_time_in_english_too(
    app: Any, client: Any, clock: Any, make_campaign: Any, make_user: Any, login: Any
) -> None:
    campaign = make_campaign()
    clock.advance(**LATE)
    publish(app, campaign)
    login(make_user("operator", locale="en"))
    for path in (f"/operate/campaigns/{campaign.slug}/consent", f"/operate/campaigns/{campaign.slug}/consent/v1"):
        body = text(client.get(path, headers=EN))
        assert "2026-11-22 00:30 KST" in body and "UTC" not in body, path


def test_the_kst_filters_take_none_naive_utc_and_calendar_dates(app: Any) -> None:
    with app.test_request_context():
        env = app.jinja_env
        render = lambda source, **values: env.from_string(source).render(**values)  # noqa: E731
        assert render("{{ x | kst_time }}|{{ x | kst_date }}|{{ x | kst }}", x=None) == "—|—|—"
        naive = dt.datetime(2026, 11, 21, 15, 30)  # naive means UTC in this codebase
        assert render("{{ x | kst_time(seconds=True) }}", x=naive) == "2026-11-22 00:30:00 KST"
        assert render("{{ x | kst_date }}", x=dt.datetime(2026, 11, 21, 23, 59, tzinfo=dt.UTC)) == "2026-11-22"
        assert render("{{ x | kst_date }}", x=dt.date(1995, 3, 4)) == "1995-03-04"  # a birth date has no zone
