"""Support for the end-to-end browser tests: the real app served by a werkzeug thread on 127.0.0.1, the few
things a person could not do in the UI (an operator account, an open campaign with a published consent notice),
photo files written from the project's own sample media, screenshots per step, and the server-side facts a
failing wait reports (job errors, log records) so a red test says why a photo never left "checking"."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask
from playwright.sync_api import Page
from werkzeug.serving import BaseWSGIServer, make_server

OPERATOR_EMAIL = "operator@e2e.datadam"
OPERATOR_PASSWORD = "operator-e2e-password-1"
CAMPAIGN_SLUG = "faces-e2e"
CAMPAIGN_TITLE = "Two face photos (browser test)"
PAYMENT_KRW = 30_000
BRACKETS = [
    {"key": "20-29", "min_age": 20, "max_age": 29, "photos": 1},
    {"key": "30-39", "min_age": 30, "max_age": 39, "photos": 1},
]


class LogRecords(logging.Handler):
    """Keeps WARNING and worse from the app's own loggers (job runner, gates, views) for failure messages."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.split(".")[0] in {"collection", "webapp", "quality_gates", "consent"}:
            self.lines.append(f"{record.levelname} {record.name}: {record.getMessage()}")


@dataclass
class LiveApp:
    """The running app: its address, the Flask object (for read-only diagnostics) and where files go."""

    app: Flask
    server: BaseWSGIServer
    base_url: str
    tmp: Path
    logs: LogRecords
    thread: threading.Thread = field(init=False)

    def start(self) -> None:
        self.thread = threading.Thread(target=self.server.serve_forever, name="e2e-http", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        from webapp.background import get
        from webapp.db import engine

        self.server.shutdown()
        self.thread.join(10)
        self.server.server_close()
        logging.getLogger().removeHandler(self.logs)
        queue = get(self.app).queue
        if hasattr(queue, "stop"):
            queue.stop(timeout=30)  # a gate job still running finishes before the database goes away
        engine(self.app).dispose()

    def url(self, path: str) -> str:
        return self.base_url + path

    def diagnostics(self) -> str:
        """Job rows that did not succeed and the warnings the app logged: what a failed wait shows."""
        from sqlalchemy import select

        from collection.jobs import Job
        from webapp.db import session_factory

        with session_factory(self.app)() as session:
            jobs = session.scalars(select(Job).order_by(Job.created_at)).all()
            rows = [f"job {j.kind} {j.state.value} attempts={j.attempts} error={j.last_error!r}" for j in jobs]
        return "\n".join(["jobs:", *rows, "log:", *self.logs.lines[-20:]])


def serve(settings: dict[str, Any], tmp: Path) -> LiveApp:
    """Migrate the database, build the app through the factory, seed it and serve it on a free local port."""
    from webapp import create_app
    from webapp.migrate import upgrade

    upgrade(settings["database_url"])
    app = create_app(settings)
    with app.app_context():
        seed(app)
    logs = LogRecords()
    logging.getLogger().addHandler(logs)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    live = LiveApp(app, server, f"http://127.0.0.1:{server.server_port}", tmp, logs)
    live.start()
    return live


def seed(app: Flask) -> None:
    """The operator account and the open campaign with its published consent notice: staff accounts and
    notices are made by other people (admins, the controller) outside this flow."""
    from collection.accounts import Role
    from webapp.db import get_session
    from webapp.services import accounts

    operator = accounts().create_staff(OPERATOR_EMAIL, OPERATOR_PASSWORD, Role.OPERATOR, "E2E Operator", "en")
    get_session().flush()
    campaign = _open_campaign(operator.id)
    _publish_notice(campaign)
    get_session().commit()


def _open_campaign(owner_id: str) -> Any:
    from collection.campaigns import Campaign, CampaignStatus
    from webapp.db import get_session
    from webapp.services import clock

    campaign = Campaign(
        slug=CAMPAIGN_SLUG,
        status=CampaignStatus.DRAFT,
        brackets=BRACKETS,
        voice_prompts=[],
        title_ko="얼굴 사진 2장 (브라우저 시험)",
        title_en=CAMPAIGN_TITLE,
        description_ko="두 연령대에서 각 1장씩, 본인의 얼굴 사진 2장을 제출합니다.",
        description_en="Two photos of your own face, one from each of two age brackets.",
        photo_rules={"min_face_side_px": 120, "min_inter_eye_px": 40.0},
        payment_krw=PAYMENT_KRW,
        quota=10,
        min_age=20,
        max_age=60,
        retention_days=180,
        created_by=owner_id,
        created_at=clock().now(),
    )
    get_session().add(campaign)
    campaign.open(clock().now())
    get_session().flush()
    return campaign


def _publish_notice(campaign: Any) -> None:
    from collection.campaigns.notice_template import default_notice
    from webapp.services import consent, settings

    service, s = consent(), settings()
    notice = default_notice(campaign, s.controller_name, s.controller_contact, s.jurisdictions)
    service.publish(service.draft(campaign.id, notice), by=None)


def write_photos(folder: Path) -> dict[str, Path]:
    """Photo files a contributor would pick: sample face variants and one photo with no face at all."""
    from webapp.demo_media import blank_photo, face_photo

    folder.mkdir(parents=True, exist_ok=True)
    made = {
        "twenties": face_photo(1, size=720),
        "thirties": face_photo(2, size=720),
        "replacement": face_photo(3, size=720),
    }
    made["no_face"] = blank_photo(seed=3)
    paths = {}
    for name, data in made.items():
        paths[name] = folder / f"{name}.jpg"
        paths[name].write_bytes(data)
    return paths


def birth_date_aged(years: float, today: dt.date | None = None) -> dt.date:
    """A birth date that makes someone `years` old today (half a year past a birthday: no edge cases)."""
    today = today or dt.date.today()
    return today - dt.timedelta(days=round(years * 365.25))


class Shots:
    """Full-page screenshots named by step and device, in the order taken."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.taken: list[Path] = []

    def take(self, page: Page, name: str) -> Path:
        path = self.folder / f"{len(self.taken) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        self.taken.append(path)
        return path
