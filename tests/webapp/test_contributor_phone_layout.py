"""The contributor's pages fit a 390 px phone screen: long values (timestamps, SHA-256 digests, key and receipt
ids, addresses) wrap instead of running off the edge. Each page is fetched through the test client, given the
app's own stylesheet, and laid out by headless Debian Chromium at 390x844; the document must be no wider than the
screen. Skips, saying why, where /usr/bin/chromium is absent (`make test` installs it when run as root)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.webapp.contribute_support import ADULT, csrf, give_consent, publish, small_campaign

CHROMIUM = Path("/usr/bin/chromium")
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def phone() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent (Debian package 'chromium')")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport=PHONE, is_mobile=True, device_scale_factor=2)
        yield page
        browser.close()


def laid_out_width(client: Any, phone: Any, url: str) -> int:
    """The document's width when `url` (as the client gets it) is laid out on the phone with datadam.css."""
    resp = client.get(url)
    assert resp.status_code == 200, url
    with client.get("/static/css/datadam.css") as css:
        style = css.get_data(as_text=True)
    page = re.sub(r'<link rel="stylesheet"[^>]*>', lambda _m: f"<style>{style}</style>", resp.get_data(as_text=True))
    page = re.sub(r"<script\b[^>]*>.*?</script>", "", page, flags=re.S)
    phone.set_content(page)
    return int(phone.evaluate("document.documentElement.scrollWidth"))


def test_contributor_pages_fit_a_phone(
    app: Any, client: Any, make_campaign: Any, make_user: Any, login: Any, phone: Any
) -> None:
    campaign = small_campaign(make_campaign)
    publish(app, campaign)
    user = make_user("contributor", birth=ADULT)
    login(user)
    give_consent(app, user, campaign)
    client.post(f"/me/campaigns/{campaign.slug}/join", data={"csrf_token": csrf(client, "/me/")})
    receipts = client.get("/me/consent/").get_data(as_text=True)
    receipt = re.search(r'href="(/me/consent/receipts/[^"/]+)"', receipts)
    assert receipt
    for url in (receipt.group(1), "/privacy", "/me/consent/", "/me/", f"/me/campaigns/{campaign.slug}/set",
                f"/me/campaigns/{campaign.slug}/consent", "/me/data"):
        assert laid_out_width(client, phone, url) <= PHONE["width"], url
