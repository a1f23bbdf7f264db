"""Migrations: one head; upgrade -> downgrade -> upgrade; no drift between models and migrations. On SQLite,
and on PostgreSQL when DATADAM_TEST_DATABASE_URL is set (in a database of its own)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from collection.models import metadata
from tests.conftest import drop_database, worker_database
from webapp import migrate
from webapp.db import make_engine

PG_URL = os.environ.get("DATADAM_TEST_DATABASE_URL", "")


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'm.sqlite3'}"
        return
    if not PG_URL:
        pytest.skip("DATADAM_TEST_DATABASE_URL is not set")
    url = worker_database(PG_URL, "datadam_migrations_test")
    yield url
    drop_database(PG_URL, url)


def test_single_head() -> None:
    assert len(migrate.heads()) == 1


def _drift(url: str) -> list[object]:
    engine = make_engine(url)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, metadata)
    engine.dispose()
    return diff


def test_upgrade_downgrade_upgrade_without_drift(fresh_url: str) -> None:
    migrate.upgrade(fresh_url)
    assert _drift(fresh_url) == []
    migrate.downgrade(fresh_url, "base")
    engine = make_engine(fresh_url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    migrate.upgrade(fresh_url)
    assert _drift(fresh_url) == []
    engine = make_engine(fresh_url)
    assert not migrate.pending(engine)
    engine.dispose()


def test_drift_is_detected(fresh_url: str) -> None:
    """The drift check can fail: a table the models know but the database lacks shows up."""
    migrate.upgrade(fresh_url)
    engine = make_engine(fresh_url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE login_attempts"))
    engine.dispose()
    assert any("login_attempts" in str(d) for d in _drift(fresh_url))
