"""Security in one module: CSRF everywhere, security headers, cookie flags, request size limit, and the idle /
absolute lifetime of staff sessions."""

from __future__ import annotations

import datetime as dt

from flask import Flask, Response, flash, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, logout_user

from webapp.config import Settings
from webapp.extensions import csrf

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def init_app(app: Flask, settings: Settings) -> None:
    local_dev = not settings.production
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_content_length,
        SESSION_COOKIE_SECURE=not local_dev,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="datadam_session",
        REMEMBER_COOKIE_SECURE=not local_dev,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=settings.staff_absolute_hours),
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session, which is itself bounded
    )
    csrf.init_app(app)
    hsts = settings.production

    @app.after_request
    def _headers(resp: Response) -> Response:
        resp.headers.setdefault("Content-Security-Policy", CSP)
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["Permissions-Policy"] = "camera=(self), microphone=(self), geolocation=()"
        resp.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        if hsts:
            resp.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        if request.endpoint != "static" and current_user.is_authenticated and "Cache-Control" not in resp.headers:
            resp.headers["Cache-Control"] = "no-store"
        return resp

    idle = dt.timedelta(minutes=settings.staff_idle_minutes)
    absolute = dt.timedelta(hours=settings.staff_absolute_hours)

    @app.before_request
    def _staff_session_lifetime() -> Response | None:
        if request.endpoint == "static":  # files need no user, so no database
            return None
        if not current_user.is_authenticated or not current_user.role.is_staff:
            return None
        now = dt.datetime.now(dt.UTC)
        started = _stamp(session.get("login_at"))
        seen = _stamp(session.get("seen_at"))
        if started is None or seen is None or now - seen > idle or now - started > absolute:
            logout_user()
            session.clear()
            flash(_("Your staff session expired. Please sign in again."), "warning")
            if request.path.startswith("/api/"):
                return Response('{"error": "session_expired"}', 401, mimetype="application/json")
            return redirect(url_for("auth.login", next=request.full_path))
        session["seen_at"] = now.isoformat()
        return None


def _stamp(value: object) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        return None


def start_session(is_staff: bool) -> None:
    """Called right after a successful sign-in: fresh session id, timestamps for the staff limits."""
    now = dt.datetime.now(dt.UTC).isoformat()
    session["login_at"] = now
    session["seen_at"] = now
    session.permanent = is_staff
