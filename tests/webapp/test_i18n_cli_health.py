"""Languages, the CLI, the health check and the refusal to serve on an outdated schema."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from tests.conftest import csrf_token, user_by_email

TRANSLATIONS = Path(__file__).resolve().parents[2] / "webapp" / "translations" / "ko" / "LC_MESSAGES"


def test_korean_first_english_on_request(client: Any) -> None:
    assert "모집 중인 캠페인" in client.get("/").get_data(as_text=True)
    html = client.get("/", headers={"Accept-Language": "en-US,en;q=0.9"}).get_data(as_text=True)
    assert "Open campaigns" in html and 'lang="en"' in html


def test_language_switch_sticks(client: Any) -> None:
    token = csrf_token(client, "/")
    resp = client.post("/language", data={"lang": "en", "next": "/privacy", "csrf_token": token})
    assert resp.headers["Location"] == "/privacy"
    assert "Privacy policy" in client.get("/privacy").get_data(as_text=True)


def test_every_message_is_translated_and_compiled() -> None:
    with open(TRANSLATIONS / "messages.po", "rb") as fh:
        po = read_po(fh)
    untranslated = [m.id for m in po if m.id and not m.string]
    assert untranslated == []
    with open(TRANSLATIONS / "messages.mo", "rb") as fh:
        mo = read_mo(fh)
    def key(message: Any) -> tuple[str | None, Any]:  # Babel's read_mo gives the context as bytes
        context = message.context
        return (context.decode() if isinstance(context, bytes) else context, message.id)

    assert {key(m): m.string for m in po if m.id} == {key(m): m.string for m in mo if m.id}, "run make translations"


def test_demo_is_idempotent_and_prints_logins(runner: Any, db_session: Any) -> None:
    from collection.accounts import User
    from collection.campaigns import Campaign

    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    assert "operator@demo.datadam" in first.output and "aging-faces-demo (open)" in first.output
    counts = (db_session.query(User).count(), db_session.query(Campaign).count())
    second = runner.invoke(args=["demo"])
    assert second.exit_code == 0 and second.output == first.output
    assert (db_session.query(User).count(), db_session.query(Campaign).count()) == counts


def test_demo_still_seeds_years_from_now(runner: Any, clock: Any) -> None:
    """The demo contributor's age follows the clock: a fixed birth date would fall out of the campaign's age limit."""
    clock.advance(days=365 * 4 + 100)  # 2031: a contributor born in 1991 would be 40, over the limit of 35
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    assert "aging-faces-demo (open)" in result.output


def test_demo_birth_date_on_a_leap_day() -> None:
    from webapp.demo import DEMO_AGE, demo_birth_date

    assert demo_birth_date(dt.date(2028, 2, 29)) == dt.date(2028 - DEMO_AGE, 2, 28)
    assert demo_birth_date(dt.date(2026, 11, 21)) == dt.date(2026 - DEMO_AGE, 11, 21)


def test_users_create(runner: Any, db_session: Any) -> None:
    from collection.accounts import Role

    res = runner.invoke(
        args=[
            "users",
            "create",
            "--role",
            "operator",
            "--email",
            "Op@Example.com",
            "--name",
            "운영",
            "--password",
            "a long password",
        ]
    )
    assert res.exit_code == 0, res.output
    assert user_by_email(db_session, "op@example.com").role is Role.OPERATOR
    again = runner.invoke(
        args=[
            "users",
            "create",
            "--role",
            "operator",
            "--email",
            "op@example.com",
            "--name",
            "x",
            "--password",
            "a long password",
        ]
    )
    assert again.exit_code == 1 and "already uses this email" in again.output
    unusable = runner.invoke(args=["users", "create", "--role", "operator", "--email", "operator@scale8.test",
                                   "--name", "x", "--password", "a long password"])
    assert unusable.exit_code == 2 and "not an address the sign-in form accepts" in unusable.output
    assert "created" not in unusable.output  # it could never have signed in


def test_healthz_reports_database_and_migrations(client: Any) -> None:
    body = client.get("/healthz").get_json()
    assert body["status"] == "ok" and body["migrations"]["up_to_date"] is True
    assert body["jobs"]["stuck"] == 0 and body["blobs"] == "ok"


def test_healthz_says_degraded_when_the_blob_folder_is_gone(client: Any, app: Any) -> None:
    import shutil

    from webapp.background import get

    assert client.get("/healthz").get_json()["blobs"] == "ok"
    shutil.rmtree(get(app).blobs.root)  # e.g. the data volume was not mounted
    # the answer is reused for a few seconds: a public, polled endpoint must not probe the store on every request
    assert client.get("/healthz").get_json()["blobs"] == "ok"
    from webapp.blueprints.public import views

    views._probes.clear()  # as if PROBE_TTL_SECONDS had passed
    resp = client.get("/healthz")
    body = resp.get_json()
    assert resp.status_code == 200 and body["status"] == "degraded" and body["blobs"] == "unreachable"


def test_healthz_asks_the_s3_bucket(client: Any, app: Any, monkeypatch: Any) -> None:
    from moto.server import ThreadedMotoServer

    from collection.storage import S3BlobStore, make_s3_client
    from webapp.background import get

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        s3 = make_s3_client(endpoint_url=f"http://{host}:{port}", region_name="us-east-1", access_key_id="test",
                            secret_access_key="test", path_style=True, timeout=2.0, max_attempts=1)
        s3.create_bucket(Bucket="datadam")
        monkeypatch.setattr(get(app), "blobs", S3BlobStore("datadam", s3))
        assert client.get("/healthz").get_json()["blobs"] == "ok"
        monkeypatch.setattr(get(app), "blobs", S3BlobStore("no-such-bucket", s3))
        from webapp.blueprints.public import views

        views._probes.clear()  # the next probe, once the reuse time has passed
        body = client.get("/healthz").get_json()
        assert body["blobs"] == "unreachable" and body["status"] == "degraded"
    finally:
        server.stop()


def test_healthz_says_degraded_while_jobs_wait_longer_than_a_lost_message(client: Any, db_session: Any,
                                                                         clock: Any) -> None:
    from collection.jobs import Job

    db_session.add(Job(kind="photo.gates", payload={"photo_id": "x"}, created_at=clock.now() - dt.timedelta(minutes=5)))
    db_session.commit()
    resp = client.get("/healthz")
    body = resp.get_json()
    assert resp.status_code == 200 and body["status"] == "degraded" and body["jobs"]["stuck"] == 1  # pages still work


def test_outdated_schema_is_refused_with_the_command(tmp_path: Path) -> None:
    from webapp import create_app

    app = create_app({"env": "testing", "data_dir": tmp_path, "database_url": f"sqlite:///{tmp_path}/old.db"})
    client = app.test_client()
    resp = client.get("/")
    assert resp.status_code == 503 and "datadam db upgrade" in resp.get_data(as_text=True)
    health = client.get("/healthz")
    assert health.status_code == 503 and health.get_json()["action"] == "run: datadam db upgrade"
    res = app.test_cli_runner().invoke(args=["db", "check"])
    assert res.exit_code == 1
    assert app.test_cli_runner().invoke(args=["db", "upgrade"]).exit_code == 0
    assert client.get("/").status_code == 200


@pytest.mark.config(job_backend="celery", broker_url="redis://127.0.0.1:6390/5")  # nothing listens there
def test_healthz_says_when_the_celery_broker_does_not_answer(client: Any) -> None:
    body = client.get("/healthz").get_json()
    assert body["broker"] == "unreachable" and body["status"] == "degraded"


def test_worker_refuses_without_celery(runner: Any) -> None:
    res = runner.invoke(args=["worker"])
    assert res.exit_code == 1 and "DATADAM_JOB_BACKEND=celery" in res.output


@pytest.mark.config(job_backend="celery", broker_url="redis://127.0.0.1:6390/5")
def test_workers_on_one_host_get_names_of_their_own(runner: Any, app: Any, monkeypatch: Any) -> None:
    from webapp.background import get as background

    started: list[list[str]] = []
    monkeypatch.setattr(type(background(app).celery_app()), "worker_main", lambda self, argv: started.append(argv))
    assert runner.invoke(args=["worker"]).exit_code == 0
    assert runner.invoke(args=["worker", "--name", "gates-1@%h"]).exit_code == 0
    names = [next(a for a in argv if a.startswith("--hostname=")) for argv in started]
    assert names[0].startswith("--hostname=datadam-") and names[0].endswith("@%h")
    assert names[1] == "--hostname=gates-1@%h"
