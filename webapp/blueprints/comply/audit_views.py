"""The audit log's signed checkpoints for compliance officers: the log verified against them now, the list of
checkpoint files and the public keys that check them, each downloadable (every download is itself audited), so
an officer can keep copies outside this server and verify the log independently later (`datadam audit verify
--checkpoints DIR`)."""

from __future__ import annotations

import json
import re

from flask import Response, abort, render_template, send_file
from flask_login import current_user

from collection.audit.checkpoints import KEYS_FILE, verify
from collection.audit.log import Actor
from webapp.access import allow
from webapp.blueprints.comply.registry_views import OFFICERS
from webapp.blueprints.comply.views import bp
from webapp.compliance_services import checkpoint_dir
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
