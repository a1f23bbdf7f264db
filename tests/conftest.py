"""Suite-wide fixtures: the real data folder, the database (SQLite always, PostgreSQL when
DATADAM_TEST_DATABASE_URL is set), a rolled-back session per test, the app, its client and factories."""

from __future__ import annotations

import base64
import datetime as dt
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session, sessionmaker

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PG_URL = os.environ.get("DATADAM_TEST_DATABASE_URL", "")
DEMO_PASSWORD = "correct horse battery"
# The master key of the whole suite: the shared engine seals personal-data columns with it, so the app under test
# (whose sessions run on that engine) is configured with it too. tests.collection.flow_support.MASTER is the same.
MASTER_KEY = b"M" * 32
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real evaluation data beside the checkout; tests using it skip cleanly where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent")
    return SHARED_DATA


WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")


def worker_database(base_url: str, name: str) -> str:
    """A fresh PostgreSQL database of its own for this test process (xdist workers never share one)."""
    from webapp.db import make_engine

    name = f"{name}_{WORKER}" if WORKER else name
    admin = make_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return base_url.rsplit("/", 1)[0] + "/" + name


def drop_database(base_url: str, url: str) -> None:
    from webapp.db import make_engine

    admin = make_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)"))
    admin.dispose()


def reset_postgres(url: str) -> None:
    from webapp.db import make_engine

    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated database: every DB-backed test runs on SQLite, and again on PostgreSQL when configured."""
    from webapp.migrate import upgrade

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
    else:
        if not PG_URL:
            pytest.skip("DATADAM_TEST_DATABASE_URL is not set")
        url = worker_database(PG_URL, "datadam_suite") if WORKER else PG_URL
        reset_postgres(url)
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def engine(db_url: str) -> Iterator[Engine]:
    from consent.sealed import FieldCipher
    from webapp.db import make_engine

    eng = make_engine(db_url, FieldCipher.from_master_key(MASTER_KEY))
    yield eng
    eng.dispose()


@pytest.fixture()
def connection(engine: Engine) -> Iterator[Connection]:
    """One connection in an outer transaction that is rolled back after the test: nothing a test writes stays."""
    with engine.connect() as conn:
        outer = conn.begin()
        yield conn
        if outer.is_active:
            outer.rollback()


@pytest.fixture()
def test_sessionmaker(connection: Connection) -> sessionmaker[Session]:
    return sessionmaker(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)


@pytest.fixture()
def db_session(test_sessionmaker: sessionmaker[Session]) -> Iterator[Session]:
    session = test_sessionmaker()
    yield session
    session.close()


@pytest.fixture()
def clock() -> Any:
    from consent.clock import FixedClock

    return FixedClock(dt.datetime(2026, 11, 21, 9, 0, tzinfo=dt.UTC))


@pytest.fixture()
def app_settings(request: pytest.FixtureRequest, tmp_path: Path, db_url: str) -> dict[str, Any]:
    """Settings for the app under test; `@pytest.mark.config(key=value)` overrides per test."""
    overrides: dict[str, Any] = {
        "env": "testing",
        "data_dir": tmp_path / "var",
        "database_url": db_url,
        "job_backend": "sync",
        "master_key": base64.b64encode(MASTER_KEY).decode(),
    }
    for marker in request.node.iter_markers("config"):
        overrides.update(marker.kwargs)
    return overrides


@pytest.fixture()
def app(app_settings: dict[str, Any], test_sessionmaker: sessionmaker[Session], clock: Any) -> Iterator[Any]:
    from webapp import create_app
    from webapp.db import ENGINE_KEY, SESSIONMAKER_KEY
    from webapp.services import CLOCK_KEY

    app = create_app(app_settings)
    app.extensions[SESSIONMAKER_KEY] = test_sessionmaker
    app.extensions[CLOCK_KEY] = clock
    yield app
    app.extensions[ENGINE_KEY].dispose()


@pytest.fixture()
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture()
def runner(app: Any) -> Any:
    return app.test_cli_runner()


@pytest.fixture()
def make_user(db_session: Session, clock: Any) -> Callable[..., Any]:
    """Create an account of any role directly through the account service (password: DEMO_PASSWORD)."""
    from collection.accounts import AccountService, Role, SignupData, email_blind_index

    counter = iter(range(1, 10_000))

    def make(role: str = "contributor", birth: dt.date = dt.date(1995, 3, 4), locale: str = "ko", **kw: Any) -> Any:
        n = next(counter)
        service = AccountService(
            db_session, clock, b"k" * 32, hasher=FAST_HASHER, email_index=email_blind_index(MASTER_KEY)
        )
        email = kw.get("email", f"{role}{n}@example.com")
        if role == "contributor":
            user = service.sign_up(SignupData(email, DEMO_PASSWORD, kw.get("name", f"참여자 {n}"), birth, locale))
        else:
            user = service.create_staff(email, DEMO_PASSWORD, Role(role), kw.get("name", f"Staff {n}"), locale)
        db_session.commit()
        return user

    return make


def user_by_email(session: Session, email: str) -> Any:
    """The account holding `email`, found the way the app finds it: by the blind index of the sealed address."""
    from sqlalchemy import select

    from collection.accounts import User, email_blind_index
    from collection.accounts.service import normalize_email

    digest = email_blind_index(MASTER_KEY).digest(normalize_email(email))
    return session.scalars(select(User).where(User.email_index == digest)).one()


def csrf_token(client: Any, path: str = "/login") -> str:
    """Fetch a page and read the CSRF token from its form (tests post like a browser does)."""
    import re

    html = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'id="csrf_token"[^>]*value="([^"]+)"', html
    )
    assert match, f"no CSRF token on {path}"
    return match.group(1)


@pytest.fixture()
def login(client: Any) -> Callable[[Any], Any]:
    def do(user: Any, password: str = DEMO_PASSWORD) -> Any:
        token = csrf_token(client, "/login")
        resp = client.post("/login", data={"email": user.email, "password": password, "csrf_token": token})
        assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
        return resp

    return do


@pytest.fixture()
def make_campaign(db_session: Session, clock: Any, make_user: Callable[..., Any]) -> Callable[..., Any]:
    """An open campaign (brackets 0-9 .. 30-39) owned by a fresh operator; keyword arguments override fields."""
    from collection.campaigns import Campaign, CampaignStatus

    counter = iter(range(1, 10_000))

    def make(open_it: bool = True, **kw: Any) -> Any:
        n = next(counter)
        values: dict[str, Any] = {
            "slug": f"faces-{n}",
            "title_ko": f"얼굴 캠페인 {n}",
            "title_en": f"Faces campaign {n}",
            "status": CampaignStatus.DRAFT,
            "brackets": [
                {"key": k, "min_age": lo, "max_age": lo + 9, "photos": 2}
                for k, lo in (("0-9", 0), ("10-19", 10), ("20-29", 20), ("30-39", 30))
            ],
            "photo_rules": {},
            "voice_prompts": [],
            "payment_krw": 400_000,
            "min_age": 14,
            "max_age": 60,
            "created_at": clock.now(),
        }
        values.update(kw)
        campaign = Campaign(**values)
        db_session.add(campaign)
        if open_it:
            campaign.open(clock.now())
        db_session.commit()
        return campaign

    return make
