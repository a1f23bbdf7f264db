"""Pages anyone may see: the list of open campaigns, the language switch, and the health check."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from flask import Blueprint, Response, jsonify, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_login import current_user
from sqlalchemy import select, text

from webapp import db
from webapp.access import public
from webapp.i18n import LANGUAGES

bp = Blueprint("public", __name__)


@bp.get("/")
@public
def home() -> str:
    from webapp.services import open_campaigns

    # a signed-in contributor sees at once which campaigns are not for their age
    contributor = current_user.is_authenticated and current_user.role.value == "contributor"
    campaigns, not_for_me = open_campaigns(current_user.user if contributor else None)
    return render_template("public/home.html", campaigns=campaigns, locale=str(get_locale()), not_for_me=not_for_me)


@bp.post("/language")
@public
def set_language() -> Response:
    lang = request.form.get("lang", "")
    if lang in LANGUAGES:
        session["lang"] = lang
        if current_user.is_authenticated:
            from webapp.services import accounts

            accounts().change_locale(current_user.user, lang)
            db.get_session().commit()
    target = request.form.get("next") or url_for("public.home")
    return redirect(target if target.startswith("/") and not target.startswith("//") else url_for("public.home"))


@bp.get("/healthz")
@public
def healthz() -> tuple[Response, int]:
    from flask import current_app

    from webapp.migrate import current, heads

    engine = db.engine(current_app)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        at = list(current(engine))
    except Exception as exc:  # noqa: BLE001 - a health check reports, it does not raise
        return jsonify(status="error", database="unreachable", detail=type(exc).__name__), 503
    expected = list(heads())
    ok = set(at) == set(expected)
    body = {
        "status": "ok" if ok else "migrations_pending",
        "database": engine.dialect.name,
        "migrations": {"current": at, "head": expected, "up_to_date": ok},
    }
    if not ok:
        body["action"] = "run: datadam db upgrade"
        return jsonify(body), 503
    body |= _background_health()
    if body.get("broker") == "unreachable" or body["blobs"] == "unreachable" or body["jobs"]["stuck"]:
        body["status"] = "degraded"  # pages still work; checks wait (see README: `datadam jobs tick`)
    return jsonify(body), 200


def _background_health() -> dict[str, object]:
    """Jobs waiting longer than a lost message would (queued over two minutes, or leases expired), whether the
    Celery broker answers, and whether the blob store does: the web still serves pages without them, but uploads
    stay 'checking' or fail, and packages cannot be handed out."""
    from sqlalchemy import func

    from collection.jobs import LOST_AFTER, Job
    from webapp.services import clock, settings

    now = clock().now()
    stuck = db.get_session().scalar(select(func.count(Job.id)).where(Job.lost(now, now - LOST_AFTER))) or 0
    out: dict[str, object] = {"jobs": {"backend": settings().job_backend, "stuck": int(stuck)}}
    out["blobs"] = _probed("blobs", _blob_probe)
    if settings().job_backend == "celery":
        out["broker"] = _probed("broker", _broker_probe)
    return out


# The outside services' answers are reused for this long: /healthz is public and polled by load balancers, so each
# request must neither send a HEAD to the bucket nor wait on a slow broker (a stalled probe would fail every
# host's health check at once).
PROBE_TTL_SECONDS = 15.0
_probes: dict[str, tuple[float, str]] = {}
_probe_lock = threading.Lock()


def _probed(name: str, probe: Callable[[], bool]) -> str:
    """"ok" or "unreachable" from `probe`, asked at most once per PROBE_TTL_SECONDS per process."""
    now = time.monotonic()
    with _probe_lock:
        cached = _probes.get(name)
        if cached is not None and now - cached[0] < PROBE_TTL_SECONDS:
            return cached[1]
    answer = "ok" if probe() else "unreachable"
    with _probe_lock:
        _probes[name] = (time.monotonic(), answer)
    return answer


def _blob_probe() -> bool:
    from collection.errors import StorageError
    from webapp.services import background

    try:
        background().blobs.check()  # a HEAD of the bucket, or the local folder's permissions
        return True
    except StorageError:
        return False


def _broker_probe() -> bool:
    from kombu import Connection

    from webapp.services import settings

    try:
        with Connection(settings().broker_url, connect_timeout=1) as conn:
            conn.ensure_connection(max_retries=1)
        return True
    except Exception:  # noqa: BLE001 - a health check reports, it does not raise
        return False


@bp.get("/privacy")
@public
def privacy() -> str:
    """The privacy policy, generated from the campaigns' published notices (collection.compliance.processing)."""
    from collection.compliance import records_of_processing
    from webapp.services import clock, settings

    s = settings()
    records = records_of_processing(db.get_session(), clock().now(), str(get_locale()))
    return render_template(
        "public/privacy.html", records=records, controller=s.controller_name, contact=s.controller_contact
    )
