"""Fixtures of the end-to-end tests: the live app (a real server thread on 127.0.0.1, SQLite file, in-process
gate workers) and one headless Debian Chromium per person, each with a fresh profile folder. The tests skip,
saying why, only when /usr/bin/chromium is absent; Playwright's own browser downloads are never used."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.e2e_support import LiveApp, Shots, serve

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",  # the test may run as root in a container, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}
DESKTOP = {"viewport": {"width": 1280, "height": 900}}
WAIT_MS = 60_000  # the first gate job loads the face models


@pytest.fixture()
def live(tmp_path: Path) -> Iterator[LiveApp]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent (Debian package 'chromium'; `make test` installs it when run as root)")
    settings = {
        "env": "testing",
        "data_dir": tmp_path / "var",
        "database_url": f"sqlite:///{tmp_path / 'e2e.sqlite3'}",
        "job_backend": "inprocess",
    }
    app = serve(settings, tmp_path)
    yield app
    app.stop()


@pytest.fixture()
def shots(tmp_path: Path) -> Shots:
    return Shots(tmp_path / "screens")


@pytest.fixture()
def person(live: LiveApp, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """`person(name, device)` opens a browser of its own for one person (its own profile, so its own cookies)
    and returns its page; every browser is closed at the end."""
    from playwright.sync_api import sync_playwright

    contexts: list[Any] = []
    with sync_playwright() as playwright:

        def open_browser(name: str, device: dict[str, Any]) -> Any:
            context = playwright.chromium.launch_persistent_context(
                str(tmp_path / f"profile-{name}"),
                executable_path=str(CHROMIUM),
                headless=True,
                args=LAUNCH_ARGS,
                locale="en-US",
                accept_downloads=True,
                **device,
            )
            context.set_default_timeout(15_000)
            contexts.append(context)
            return context.pages[0] if context.pages else context.new_page()

        yield open_browser
        for context in contexts:
            context.close()
