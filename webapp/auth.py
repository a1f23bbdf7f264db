"""Flask-Login glue: the signed-in user is the account row wrapped in a small adapter (the domain model knows
nothing of Flask-Login)."""

from __future__ import annotations

from typing import Any

from flask import Flask, g
from flask_login import UserMixin

from collection.accounts import Role, User
from webapp.db import get_session
from webapp.extensions import login_manager


class SessionUser(UserMixin):
    def __init__(self, user: User) -> None:
        self.user = user

    def get_id(self) -> str:
        return self.user.id

    @property
    def is_active(self) -> bool:  # type: ignore[override]
        return self.user.active and self.user.erased_at is None

    @property
    def role(self) -> Role:
        return self.user.role

    def __getattr__(self, name: str) -> Any:
        return getattr(self.user, name)


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def _load(user_id: str) -> SessionUser | None:
        user = get_session().get(User, user_id)
        if user is None or not user.active or user.erased_at is not None:
            return None
        return SessionUser(user)


def forget_user_for_this_request() -> None:
    """Treat the visitor as anonymous until this request ends (their account could not be loaded); the session
    cookie is left alone, so the next request is theirs again."""
    g._login_user = login_manager.anonymous_user()
