"""Who may reach which endpoint. Every view declares its audience with `@allow(...)` or `@public`; a single
before-request hook enforces it, and an endpoint without a declaration is refused (fail closed), so a new route
cannot ship open by accident. The route-walking test holds its own table of expectations.

A signed-in user refused a page leaves an `access.denied` audit event (who, which endpoint, method and path, which
roles it needs), committed before the 403 so the refusal persists. Anonymous requests are sent to sign in and leave
no event: unauthenticated traffic must not be able to grow the append-only log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Response, abort, current_app, jsonify, redirect, request, url_for
from flask_login import current_user

from collection.accounts import Role
from collection.accounts.service import audit_actor
from webapp.db import get_session
from webapp.services import audit

F = TypeVar("F", bound=Callable[..., Any])
PUBLIC = "public"
AUTHENTICATED = "authenticated"
STAFF = frozenset({Role.OPERATOR, Role.COMPLIANCE, Role.ADMIN})


def allow(*roles: Role) -> Callable[[F], F]:
    """Let only signed-in users with one of these roles in. Admins are not implicitly allowed everywhere."""

    def mark(view: F) -> F:
        view.datadam_access = frozenset(roles)  # type: ignore[attr-defined]
        return view

    return mark


def public(view: F) -> F:
    view.datadam_access = PUBLIC  # type: ignore[attr-defined]
    return view


def signed_in(view: F) -> F:
    view.datadam_access = AUTHENTICATED  # type: ignore[attr-defined]
    return view


def rule_for(app: Flask, endpoint: str) -> Any:
    if endpoint == "static":
        return PUBLIC
    view = app.view_functions.get(endpoint)
    return getattr(view, "datadam_access", None)


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path.startswith("/.well-known/")


def init_app(app: Flask) -> None:
    @app.before_request
    def _enforce() -> Response | None:
        if request.endpoint is None:
            return None  # 404/405 are produced by the router
        rule = rule_for(current_app, request.endpoint)
        if rule is None:
            current_app.logger.error("endpoint %s has no access rule: refused", request.endpoint)
            return _deny(request.endpoint, frozenset())
        if rule == PUBLIC:
            return None
        if not current_user.is_authenticated:
            if wants_json():
                return Response('{"error": "authentication_required"}', 401, mimetype="application/json")
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        if rule == AUTHENTICATED or current_user.role in rule:
            return None
        return _deny(request.endpoint, rule)


def _deny(endpoint: str, required: frozenset[Role]) -> Response:
    """Refuse with 403, first recording and committing the refusal of a signed-in user."""
    if current_user.is_authenticated:
        audit().record(
            audit_actor(current_user.user),
            "access.denied",
            "endpoint",
            endpoint[:64],
            endpoint=endpoint,
            method=request.method,
            path=request.path,  # never the query string, which may carry search terms or addresses
            required_roles=sorted(role.value for role in required),
        )
        # Nothing else has run in this request yet, so this commits the event alone; a 403 rolls nothing back.
        get_session().commit()
    if wants_json():
        resp = jsonify(error="forbidden")
        resp.status_code = 403
        return resp
    abort(403)
