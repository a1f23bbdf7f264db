"""A test database that several processes can share: a SQLite file, or a private schema in the
PostgreSQL named by DATADAM_TEST_DATABASE_URL. Used by conftest and worker subprocesses (no pytest here)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, create_engine, event

ENV_VAR = "DATADAM_TEST_DB_TARGET"


@dataclass(frozen=True)
class DbTarget:
    url: str
    schema: str | None = None

    def engine(self) -> Engine:
        return make_engine(self.url, self.schema)

    def to_env(self) -> str:
        return json.dumps({"url": self.url, "schema": self.schema})

    @classmethod
    def from_env(cls) -> DbTarget:
        data = json.loads(os.environ[ENV_VAR])
        return cls(data["url"], data["schema"])


def normalise_url(url: str) -> str:
    """`postgresql://` means psycopg2 to SQLAlchemy; this project ships psycopg 3."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def make_engine(url: str, schema: str | None = None) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    connect_args: dict[str, Any] = {}
    if schema:
        connect_args["options"] = f"-csearch_path={schema}"
    return create_engine(normalise_url(url), connect_args=connect_args, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
