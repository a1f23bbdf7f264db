"""Language: Korean first, English second. The account's choice wins, then an explicit switch kept in the
session, then the browser's Accept-Language, then the installation default."""

from __future__ import annotations

import datetime as dt

from flask import Flask, request, session
from flask_login import current_user

from webapp.extensions import babel

LANGUAGES = ("ko", "en")


def select_locale() -> str:
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return chosen
    if current_user and current_user.is_authenticated and current_user.locale in LANGUAGES:
        return current_user.locale
    best = request.accept_languages.best_match(LANGUAGES)
    from flask import current_app

    return best or current_app.config["DATADAM_DEFAULT_LOCALE"]


def init_app(app: Flask, default_locale: str) -> None:
    app.config["DATADAM_DEFAULT_LOCALE"] = default_locale
    app.config["BABEL_DEFAULT_LOCALE"] = default_locale
    babel.init_app(app, locale_selector=select_locale)


def krw(amount: int) -> str:
    """A won amount as the reader writes money: "30,000원" in Korean, "KRW 30,000" in English (the wording the
    consent documents use). Only for what people read: stored data, bank files and the API keep plain integers."""
    from flask_babel import get_locale

    locale = get_locale()
    if locale is not None and locale.language == "en":
        return f"KRW {amount:,}"
    return f"{amount:,}원"


KST_MINUTE = "%Y-%m-%d %H:%M"


def kst(when: dt.datetime | dt.date | None, fmt: str = KST_MINUTE) -> str:
    """A moment as people read it: on the Korean calendar and clock, whatever the language (the product is for
    Korea, and a date must not differ between pages). Naive datetimes are UTC (that is how the models store time);
    a calendar date (`dt.date`, such as a birth date) has no zone and is shown as it is; None shows "—".
    Only for what people read: receipts, exports, the API and `<time datetime>` keep ISO UTC."""
    if when is None:
        return "—"
    if not isinstance(when, dt.datetime):
        return when.isoformat()
    from consent.clock import KOREA

    moment = when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)
    return moment.astimezone(KOREA).strftime(fmt)


def kst_date(when: dt.datetime | dt.date | None) -> str:
    """The Korean calendar date of a moment ("2026-11-23" for 2026-11-22 15:00 UTC)."""
    return kst(when, "%Y-%m-%d")


def kst_time(when: dt.datetime | dt.date | None, seconds: bool = False) -> str:
    """A moment with its time of day, labelled: "2026-11-23 00:30 KST" ("—" for None; a calendar date has no time
    of day and no zone, so it is shown as it is, unlabelled)."""
    if when is None or not isinstance(when, dt.datetime):
        return kst(when)
    return kst(when, KST_MINUTE + (":%S" if seconds else "")) + " KST"
