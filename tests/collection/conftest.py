"""Fixtures for the collection tests: a real database (a SQLite file, or PostgreSQL when
DATADAM_TEST_DATABASE_URL is set) that worker subprocesses can share; tables are created directly."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from _db_support import DbTarget, normalise_url
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from collection.crypto import ContributorKey
from collection.jobs import Job
from consent.db import Base

INFRA_TABLES = [ContributorKey.__table__, Job.__table__]


@pytest.fixture
def db_target(tmp_path: Path) -> Iterator[DbTarget]:
    """A SQLite file in tmp_path, or a private, dropped-afterwards schema in the test PostgreSQL."""
    url = os.environ.get("DATADAM_TEST_DATABASE_URL")
    if not url:
        yield DbTarget(f"sqlite:///{tmp_path / 'collection.db'}")
        return
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(normalise_url(url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield DbTarget(url, schema)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def infra_engine(db_target: DbTarget) -> Iterator[Engine]:
    engine = db_target.engine()
    Base.metadata.create_all(engine, tables=INFRA_TABLES)  # type: ignore[arg-type]
    yield engine
    engine.dispose()


@pytest.fixture
def session_factory(infra_engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(infra_engine, expire_on_commit=False)


@pytest.fixture
def infra_session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with session_factory() as session:
        yield session
