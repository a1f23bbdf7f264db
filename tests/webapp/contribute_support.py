"""Helpers shared by the contributor set page and API tests: consent through the app's own services, a small
campaign, a browser-like CSRF token, a synthetic speech-like WAV, and a wrapper that runs a service call in a
request context and commits (the way a view would)."""

from __future__ import annotations

import datetime as dt
import html
import io
import re
import wave
from collections.abc import Callable
from typing import Any

import numpy as np

from tests.consent._consent_support import make_notice

ADULT = dt.date(1995, 3, 4)  # 31 on the test clock (2026-11-21)
CHILD = dt.date(2015, 6, 1)  # 11
EN = {"Accept-Language": "en"}
BRACKETS = [
    {"key": "0-9", "min_age": 0, "max_age": 9, "photos": 1},
    {"key": "20-29", "min_age": 20, "max_age": 29, "photos": 1},
]
PROMPTS = [
    {
        "key": "p1",
        "text_ko": "오늘은 날씨가 맑고 바람이 시원합니다.",
        "text_en": "Today the weather is clear and the wind is cool.",
        "min_seconds": 1,
        "max_seconds": 10,
    },
]
ALL_YES = {"collection": True, "sensitive": True, "release": False, "voice": True}


def in_app(app: Any, fn: Callable[[], Any]) -> Any:
    """Run `fn` inside a request context with the app's services and commit, like a view."""
    from webapp.db import get_session

    with app.test_request_context():
        result = fn()
        get_session().commit()
        return result


def publish(app: Any, campaign: Any) -> Any:
    from webapp.services import consent

    def go() -> Any:
        service = consent()
        return service.publish(service.draft(campaign.id, make_notice(campaign=campaign.slug)), by=None)

    return in_app(app, go)


def give_consent(app: Any, user: Any, campaign: Any, decisions: dict[str, bool] | None = None) -> None:
    from consent.service import Signing
    from webapp.services import consent

    def go() -> None:
        service = consent()
        version = service.current_version(campaign.id)
        service.give(user.subject_id, version, Signing(decisions or ALL_YES, "ko", "김민지"))

    in_app(app, go)


def csrf(client: Any, path: str) -> str:
    body = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf-token" content="([^"]+)"', body) or re.search(
        r'name="csrf_token"[^>]*value="([^"]+)"', body
    )
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def text(resp: Any) -> str:
    return html.unescape(resp.get_data(as_text=True))


def speech_like_wav(seconds: float = 3.0, rate: int = 16_000, seed: int = 1) -> bytes:
    """A voiced, syllable-like signal: a wandering fundamental with harmonics and formant-ish weights,
    amplitude-modulated into ~4 syllables a second with short pauses, over faint noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = 140 + 30 * np.sin(2 * np.pi * 0.7 * t) + 10 * np.sin(2 * np.pi * 3.1 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voice = sum(np.sin(k * phase) * w for k, w in ((1, 1.0), (2, 0.6), (3, 0.45), (5, 0.3), (8, 0.15)))
    syllables = np.clip(np.sin(2 * np.pi * 4.0 * t), 0, None) ** 0.6
    words = (np.sin(2 * np.pi * 0.5 * t) > -0.7).astype(float)
    edges = np.clip(np.minimum(t - 0.15, seconds - 0.15 - t) * 8, 0, 1)
    signal = 0.25 * voice * syllables * words * edges + 0.002 * rng.standard_normal(t.size)
    pcm = (np.clip(signal, -1, 1) * 32767).astype("<i2").tobytes()
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return out.getvalue()


def small_campaign(make_campaign: Any, **kw: Any) -> Any:
    return make_campaign(brackets=BRACKETS, **kw)


def switch_language(client: Any, lang: str) -> None:
    """Choose the page language the way a person does (the switch in the header; kept on the account)."""
    resp = client.post("/language", data={"csrf_token": csrf(client, "/"), "lang": lang, "next": "/"})
    assert resp.status_code == 302
