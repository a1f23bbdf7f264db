"""`datadam bench feedback`: how long after an upload finishes the contributor sees the gates' answer.

Issue 5 asks for first feedback within ~2 s of the upload finishing. This measures it on the embedded default as
a contributor meets it: a fresh data folder (SQLite, encrypted blob files, in-process job workers), the demo
campaign, the demo contributor logged in, photos uploaded one at a time through the JSON API the set page uses,
and the set's status polled (every `POLL_SECONDS`) until the photo leaves "checking". The data folder is set up
in another process (as `make run` does before serving), so the first upload also pays for loading the face
models in the worker, as the first upload after a server start does; it is reported apart from the others.

Photos: real camera photos of faces from `<data>/face_recognition/examples` when the shared data is there, else
the demo's own sample portraits (webapp.demo_media).
"""

from __future__ import annotations

import io
import multiprocessing
import re
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from webapp.demo import DEMO_PASSWORD

POLL_SECONDS = 0.05
TIMEOUT_SECONDS = 120.0
CONTRIBUTOR = "contributor@demo.datadam"
CAMPAIGN = "aging-faces-demo"
BRACKET, AGE = "10-19", "15"  # the demo contributor's emptiest bracket
_SUFFIXES = {".jpg", ".jpeg", ".png"}


def sample_photos(data_dir: Path | None, count: int) -> list[tuple[str, bytes]]:
    """(name, bytes) of up to `count` face photos: the shared data's face_recognition examples, else demo ones."""
    folder = (data_dir / "face_recognition" / "examples") if data_dir else None
    if folder is not None and folder.is_dir():
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in _SUFFIXES and p.is_file())
        if files:
            return [(p.name, p.read_bytes()) for p in files[:count]]
    from webapp.demo_media import face_photo

    return [(f"demo-{n}.jpg", face_photo(100 + n)) for n in range(count)]


def run_feedback_bench(photos: Sequence[tuple[str, bytes]], workdir: Path | None = None) -> dict[str, Any]:
    """Upload `photos` one by one into a fresh embedded install and time each one's first gate answer."""
    from webapp import create_app

    with tempfile.TemporaryDirectory(prefix="datadam-feedback-", dir=workdir) as folder:
        # Set up like `make run` does, in another process (`datadam db upgrade`, `datadam demo`), so this one
        # starts like the server: no face model loaded until the first upload needs it.
        context = multiprocessing.get_context("spawn")
        with context.Pool(1) as pool:
            pool.apply(_prepare, (folder,))
        app = create_app(_settings(folder))
        client = app.test_client()
        _login(client)
        token = _csrf(client, f"/me/campaigns/{CAMPAIGN}/set")
        try:
            rows = [_one(client, token, name, data) for name, data in photos]
        finally:
            queue = app.extensions["datadam.background"].queue
            if hasattr(queue, "stop"):
                queue.stop()
    answered = [r for r in rows if r["feedback_seconds"] is not None]
    warm = [r["feedback_seconds"] for r in answered[1:]]
    return {
        "photos": len(rows),
        "answered": len(answered),
        "first_feedback_seconds": answered[0]["feedback_seconds"] if answered else None,
        "warm_median_seconds": round(statistics.median(warm), 3) if warm else None,
        "warm_max_seconds": round(max(warm), 3) if warm else None,
        "upload_request_median_seconds": round(statistics.median(r["upload_seconds"] for r in rows), 3),
        "per_photo": rows,
    }


def _settings(folder: str) -> Any:
    from webapp.config import load

    return load({"data_dir": folder, "env": "development", "job_backend": "inprocess"})


def _prepare(folder: str) -> None:
    from webapp import create_app, migrate
    from webapp.demo import seed

    settings = _settings(folder)
    migrate.upgrade(settings.database_url, master_key=settings.master_key_bytes)
    with create_app(settings).app_context():
        seed()


def _login(client: Any) -> None:
    token = _csrf(client, "/login")
    response = client.post("/login", data={"email": CONTRIBUTOR, "password": DEMO_PASSWORD, "csrf_token": token})
    if response.status_code != 302:
        raise RuntimeError(f"demo contributor login failed ({response.status_code})")


def _csrf(client: Any, path: str) -> str:
    body = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf-token" content="([^"]+)"', body) or re.search(
        r'name="csrf_token"[^>]*value="([^"]+)"', body
    )
    if not match:
        raise RuntimeError(f"no CSRF token on {path}")
    return match.group(1)


def _one(client: Any, token: str, name: str, data: bytes) -> dict[str, Any]:
    started = time.perf_counter()
    response = client.post(
        f"/api/v1/campaigns/{CAMPAIGN}/set/photos",
        data={"bracket": BRACKET, "age_years": AGE, "file": (io.BytesIO(data), name)},
        headers={"X-CSRFToken": token, "Accept": "application/json"},
        content_type="multipart/form-data",
    )
    uploaded = time.perf_counter()
    row: dict[str, Any] = {"name": name, "kib": round(len(data) / 1024), "upload_seconds": round(uploaded - started, 3),
                           "feedback_seconds": None, "state": None}
    if response.status_code != 201:
        row["state"] = f"refused ({response.status_code})"
        return row
    photo = response.get_json()["photo"]
    while photo["state"] == "checking" and time.perf_counter() - uploaded < TIMEOUT_SECONDS:
        time.sleep(POLL_SECONDS)
        status = client.get(f"/api/v1/campaigns/{CAMPAIGN}/set").get_json()
        photo = next((p for b in status["brackets"] for p in b["photos"] if p["id"] == photo["id"]), photo)
    if photo["state"] != "checking":
        row["feedback_seconds"] = round(time.perf_counter() - uploaded, 3)
    row["state"] = photo["state"]
    row["notes"] = photo.get("notes")
    return row
