"""Language: Korean first, English second. The account's choice wins, then an explicit switch kept in the
session, then the browser's Accept-Language, then the installation default."""

from __future__ import annotations

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
