"""The audit log for compliance officers: its events, filtered and paged (who did what to which object, when),
and its signed checkpoints: the log verified against them now, the list of checkpoint files and the public keys
that check them, each downloadable (every download is itself audited), so an officer can keep copies outside this
server and verify the log independently later (`datadam audit verify --checkpoints DIR`)."""

from __future__ import annotations

import datetime as dt
import json
import re

from flask import Response, abort, render_template, request, send_file
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import or_, select

from collection.accounts import Role, User
from collection.audit.browse import EventFilter, action_families, events
from collection.audit.checkpoints import KEYS_FILE, verify
from collection.audit.log import Actor
from collection.audit.models import AuditEvent
from consent.clock import KOREA
from webapp.access import allow
from webapp.blueprints.comply.compliance_forms import AuditEventsForm
from webapp.blueprints.comply.registry_views import OFFICERS
from webapp.blueprints.comply.views import bp
from webapp.compliance_services import checkpoint_dir
from webapp.compliance_words import action_label, event_choices
from webapp.db import get_session
from webapp.services import audit

_FILE_NAME = re.compile(r"checkpoint-\d{12}-\d{8}T\d{6}\.json")


@bp.get("/audit")
@allow(*OFFICERS)
def audit_checkpoints() -> str:
    folder = checkpoint_dir()
    files = []
    for path in sorted(folder.glob("checkpoint-*.json"), reverse=True) if folder.is_dir() else []:
        if _FILE_NAME.fullmatch(path.name):
            body = json.loads(path.read_bytes())
            files.append({"name": path.name, "size": body.get("size"), "time": body.get("time"),
                          "kid": body.get("kid"), "bytes": path.stat().st_size})
    report = verify(get_session(), folder)
    return render_template("comply/audit.html", report=report, files=files,
                           keys_present=(folder / KEYS_FILE).is_file())


@bp.get("/audit/files/<name>")
@allow(*OFFICERS)
def audit_checkpoint_file(name: str) -> Response:
    if name != KEYS_FILE and not _FILE_NAME.fullmatch(name):
        abort(404)
    path = checkpoint_dir() / name
    if not path.is_file():
        abort(404)
    user = current_user.user
    audit().record(Actor(user.id, user.role.value), "audit.checkpoint_downloaded", "audit_file", name)
    get_session().commit()
    resp = send_file(path, as_attachment=True, download_name=name, mimetype="application/json")
    resp.headers["Cache-Control"] = "no-store"
    return resp


# --- browsing the events -----------------------------------------------------------------------------------------


@bp.get("/audit/events")
@allow(*OFFICERS)
def audit_events() -> str:
    """The audit log's events, newest first, filtered by action (or its family), who acted, the object acted on
    and a KST date range; a bad filter value is said on the page and ignored."""
    form = AuditEventsForm(request.args, meta={"csrf": False})
    session = get_session()
    form.action.choices = [("", _("All actions"))] + event_choices(action_families(session))
    form.validate()
    good = {name: field.data for name, field in form._fields.items() if not field.errors}  # a bad value is ignored
    wanted = EventFilter(
        action=good.get("action") or None, actor_id=(good.get("actor") or "").strip() or None,
        object_id=(good.get("object") or "").strip() or None,
        since=kst_day_start(good.get("since")), until=kst_day_start(good.get("until"), next_day=True),
    )
    page = events(session, wanted, request.args.get("page", 1, type=int))
    # the pages' links carry the filter's own fields only (never arbitrary query keys into url_for)
    args = {name: value for name in form._fields if (value := request.args.get(name))}
    return render_template("comply/audit_events.html", form=form, page=page, actors=actor_names(page.events),
                           action_label=action_label, args=args)


def kst_day_start(day: dt.date | None, next_day: bool = False) -> dt.datetime | None:
    """The UTC moment a KST calendar day starts (or the next one starts): the form asks for dates as Koreans count
    them."""
    if day is None:
        return None
    return dt.datetime.combine(day + dt.timedelta(days=int(next_day)), dt.time(), KOREA).astimezone(dt.UTC)


def actor_names(rows: list[AuditEvent]) -> dict[str, str]:
    """Actor id -> how the page names them: staff by name and email (they act under their own names), contributors
    by their pseudonymous subject id only (the log never needs more to be read)."""
    ids = {e.actor_id for e in rows if e.actor_id}
    users = get_session().scalars(select(User).where(or_(User.id.in_(ids), User.subject_id.in_(ids))))
    names = {}
    for u in users:
        if u.role is Role.CONTRIBUTOR:
            names[u.subject_id] = _("contributor %(id)s", id=u.subject_id[:12])
        else:
            names[u.id] = f"{u.display_name} <{u.email}>" if u.email else _("erased account")
    return names
