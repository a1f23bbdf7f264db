"""Findings of the compliance walk-through: the access-log sign-off is offered only for a finished month, a refused
sign-off keeps the note, a sign-off names its officer, thumbnail and full-size views are told apart; staff roles
in words on /admin/; the audit page's heading comes first."""

from __future__ import annotations

import datetime as dt
import html
import re
from typing import Any

from collection.audit.log import Actor, AuditLog
from consent.clock import FixedClock
from tests.webapp.contribute_support import EN, csrf, text


def _views(db_session: Any, actor: Any, when: dt.datetime) -> None:
    log = AuditLog(db_session, FixedClock(when))
    log.record(Actor(actor.id, "operator"), "photo.viewed", "photo", "p-thumb", size="thumb")
    log.record(Actor(actor.id, "operator"), "photo.viewed", "photo", "p-full", size="full")
    db_session.commit()


def test_the_month_in_progress_offers_no_sign_off(
    client: Any, login: Any, make_user: Any, db_session: Any
) -> None:
    _views(db_session, make_user("operator"), dt.datetime(2026, 11, 2, tzinfo=dt.UTC))  # the clock is 2026-11-21
    login(make_user("compliance", locale="en"))
    page = text(client.get("/comply/access-review?month=2026-11", headers=EN))
    assert "still in progress: it can be signed off from 2026-12-01" in page
    assert 'name="note"' not in client.get("/comply/access-review?month=2026-11").get_data(as_text=True)
    assert "viewed a photo (thumbnail)" in page and "viewed a photo (full size)" in page


def test_a_refused_sign_off_keeps_the_note_and_a_sign_off_names_its_officer(
    client: Any, login: Any, make_user: Any, db_session: Any
) -> None:
    operator = make_user("operator")
    _views(db_session, operator, dt.datetime(2026, 10, 2, tzinfo=dt.UTC))
    officer = make_user("compliance", name="김감독")
    login(officer)
    url = "/comply/access-review?month=2026-10"
    resp = client.post("/comply/access-review/2026-10/sign-off",
                       data={"csrf_token": csrf(client, url), "digest": "0" * 64, "note": "두 건 모두 검수 업무"})
    page = html.unescape(resp.get_data(as_text=True))
    assert resp.status_code == 409 and "두 건 모두 검수 업무" in page and "다시 검토" in page
    digest = re.search(r'name="digest" type="hidden" value="([0-9a-f]{64})"', page) or re.search(
        r'value="([0-9a-f]{64})"', page)
    assert digest
    resp = client.post("/comply/access-review/2026-10/sign-off",
                       data={"csrf_token": csrf(client, url), "digest": digest.group(1), "note": "확인"})
    assert resp.status_code == 302
    page = html.unescape(client.get(url).get_data(as_text=True))
    assert "김감독" in page and officer.email in page
    assert not re.search(rf"{officer.id}[^<]*확인", page)


def test_admin_shows_roles_in_words_and_audit_heading_comes_first(
    client: Any, login: Any, make_user: Any
) -> None:
    make_user("operator")
    login(make_user("admin"))
    page = client.get("/admin/").get_data(as_text=True)
    assert "<td>operator</td>" not in page and "<td>admin</td>" not in page and "<td>운영자</td>" in page
    login(make_user("compliance"))
    audit = client.get("/comply/audit").get_data(as_text=True)
    assert audit.index("<h1>") < audit.index('<nav class="actions"')
