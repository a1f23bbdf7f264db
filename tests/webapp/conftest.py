"""Fixtures the contributor-page tests share: a small published campaign, an adult contributor signed in, and
that contributor consented and joined (a module may define its own fixture of the same name instead)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.webapp.contribute_support import ADULT, csrf, give_consent, publish, small_campaign


@pytest.fixture()
def campaign(make_campaign: Any, app: Any) -> Any:
    c = small_campaign(make_campaign)
    publish(app, c)
    return c


@pytest.fixture()
def contributor(make_user: Any, login: Any) -> Any:
    user = make_user("contributor", birth=ADULT)
    login(user)
    return user


@pytest.fixture()
def joined(app: Any, client: Any, campaign: Any, contributor: Any) -> Any:
    give_consent(app, contributor, campaign)
    resp = client.post(
        f"/me/campaigns/{campaign.slug}/join", data={"csrf_token": csrf(client, f"/campaigns/{campaign.slug}")}
    )
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/me/campaigns/{campaign.slug}/set")
    return contributor


@pytest.fixture(autouse=True)
def fresh_health_probes() -> None:
    """/healthz reuses its outside probes for a few seconds per process: each test starts without their answers."""
    from webapp.blueprints.public import views

    views._probes.clear()
