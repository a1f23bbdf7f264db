"""The compliance officer reads the audit log back: events newest first, filtered by action family, by who acted,
by the object and by KST calendar days, staff named, contributors shown by pseudonymous id only, and a bad
filter said on the page."""

from __future__ import annotations

import datetime as dt
import html
from typing import Any

from collection.audit.log import Actor, AuditLog
from consent.clock import FixedClock
from tests.webapp.contribute_support import EN


def _log(db_session: Any, who: Actor, action: str, when: dt.datetime, object_id: str) -> None:
    AuditLog(db_session, FixedClock(when)).record(who, action, "release", object_id, items=3)


def page(client: Any, query: str = "", headers: Any = None) -> str:
    resp = client.get(f"/comply/audit/events{query}", headers=headers or {})
    assert resp.status_code == 200
    return html.unescape(resp.get_data(as_text=True))


def test_the_officer_filters_the_audit_log(client: Any, login: Any, make_user: Any, db_session: Any) -> None:
    operator = make_user("operator", name="박운영", email="op@example.com")
    contributor = make_user("contributor", email="person@example.com")
    utc = dt.UTC
    _log(db_session, Actor(operator.id, "operator"), "release.built", dt.datetime(2026, 11, 3, 1, tzinfo=utc), "rel-a")
    # 2026-11-04 16:30 UTC is already 2026-11-05 in Korea
    _log(db_session, Actor(operator.id, "operator"), "release.approved", dt.datetime(2026, 11, 4, 16, 30, tzinfo=utc),
         "rel-b")
    _log(db_session, Actor(contributor.subject_id, "contributor"), "set.submitted",
         dt.datetime(2026, 11, 6, tzinfo=utc), "set-1")
    db_session.commit()
    login(make_user("compliance", locale="en"))

    everything = page(client, headers=EN)
    assert "4 events match." in everything  # and the officer's own sign-in
    assert everything.index("set-1") < everything.index("rel-b") < everything.index("rel-a")  # newest first
    assert "박운영 <op@example.com>" in everything and "release approved" in everything
    assert f"contributor {contributor.subject_id[:12]}" in everything and "person@example.com" not in everything

    family = page(client, "?action=release", EN)
    assert "2 events match." in family and "set-1" not in family
    assert "1 events match." in page(client, "?action=release.approved", EN)
    assert "1 events match." in page(client, f"?actor={contributor.subject_id}", EN)
    assert "1 events match." in page(client, "?object=rel-a", EN)
    korean_day = page(client, "?since=2026-11-05&until=2026-11-05", EN)
    assert "1 events match." in korean_day and "rel-b" in korean_day  # counted on the KST calendar

    refused = page(client, "?since=2026-11-06&until=2026-11-01", EN)  # the bad end is ignored, the start kept
    assert "The end date is before the start date." in refused and "2 events match." in refused
    assert "Not a valid date value" in page(client, "?since=not-a-date")
    far = page(client, "?since=0001-01-01&until=9999-12-31", EN)  # beyond the calendar's ends: said, not a crash
    assert "Give a date between 2020 and 2100." in far and "4 events match." in far
    assert "0 events match." in page(client, "?action=%25", EN)  # a LIKE wildcard is a character, not a pattern
    assert "4 events match." in page(client, "?endpoint=x&_external=1", EN)  # other query keys are ignored


def test_contributors_and_operators_cannot_read_the_audit_log(client: Any, login: Any, make_user: Any) -> None:
    for role in ("contributor", "operator"):
        login(make_user(role))
        assert client.get("/comply/audit/events").status_code in (302, 403)
