"""datadam's web layer: the Flask UI and JSON API. `create_app` is the only place an app is built."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, render_template, request

from webapp import access, auth, db, errors, i18n, security
from webapp.config import Settings, load
from webapp.services import CLOCK_KEY, SETTINGS_KEY

SCHEMA_OK_KEY = "datadam.schema_ok"


def create_app(config: Mapping[str, Any] | Settings | None = None) -> Flask:
    """Build the app from defaults + `DATADAM_*` environment + `config` overrides (a mapping or Settings)."""
    settings = config if isinstance(config, Settings) else load(config)
    app = Flask(__name__)
    app.testing = settings.testing
    if settings.proxy_hops:
        # behind a TLS proxy: the client's address (hashed for sign-in limits), scheme and host come from its headers
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = settings.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    app.extensions[SETTINGS_KEY] = settings
    app.extensions[CLOCK_KEY] = None
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db.init_app(app, settings.database_url, settings.master_key_bytes)
    _refuse_outdated_schema(app)
    security.init_app(app, settings)
    auth.init_app(app)
    i18n.init_app(app, settings.default_locale)
    access.init_app(app)
    errors.init_app(app)
    from webapp import background

    background.init_app(app, settings)
    _register_blueprints(app)
    _register_template_helpers(app)
    from webapp import commands

    commands.register(app)
    return app


def _register_blueprints(app: Flask) -> None:
    from webapp.blueprints import admin, api, comply, contribute, operate, public
    from webapp.blueprints import auth as auth_bp

    for module in (public, auth_bp, contribute, operate, comply, admin, api):
        app.register_blueprint(module.bp)


def _refuse_outdated_schema(app: Flask) -> None:
    """Serve nothing but /healthz while the database is behind the migrations."""
    from webapp.migrate import pending

    @app.before_request
    def _check() -> Response | tuple[str, int] | None:
        if app.extensions.get(SCHEMA_OK_KEY) or request.endpoint in ("public.healthz", "static"):
            return None
        if pending(db.engine(app)):
            return render_template("schema_behind.html"), 503
        app.extensions[SCHEMA_OK_KEY] = True
        return None


def _register_template_helpers(app: Flask) -> None:
    from flask_babel import get_locale

    from webapp.conformance_words import basis_text, evidence_text

    app.jinja_env.globals["evidence_text"] = evidence_text
    # Every date and time people read is shown in KST (legal deadlines run on the Korean calendar, and a date must
    # not differ between pages); machine values (receipts, exports, the API) stay ISO UTC. See `i18n.kst`.
    app.jinja_env.filters["kst"] = i18n.kst
    app.jinja_env.filters["kst_date"] = i18n.kst_date
    app.jinja_env.filters["kst_time"] = i18n.kst_time
    # Money as people read it in their language ("30,000원" / "KRW 30,000"); see `i18n.krw`.
    app.jinja_env.filters["krw"] = i18n.krw
    app.jinja_env.globals["basis_text"] = basis_text
    from webapp.release_words import build_error_text, excluded_label, failure_text, field_labels

    app.jinja_env.globals["build_error_text"] = build_error_text
    app.jinja_env.globals["verify_failure_text"] = failure_text
    app.jinja_env.globals["release_field_labels"] = field_labels
    app.jinja_env.globals["release_excluded"] = excluded_label
    from webapp.blueprints.operate.consent_forms import kind_label

    app.jinja_env.globals["matter_kind"] = kind_label

    @app.context_processor
    def _helpers() -> dict[str, Any]:
        return {"current_locale": str(get_locale()), "languages": i18n.LANGUAGES}
