"""The database handle of the web app: one engine per app, one session per request, closed at teardown.

Views and CLI commands commit (the edge commits); services only flush. The engine carries the field key of the
sealed personal-data columns (`consent.sealed`), derived from the configured master key when the engine is built.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, g
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from consent.sealed import FieldCipher, install_field_cipher

ENGINE_KEY = "datadam.engine"
SESSIONMAKER_KEY = "datadam.sessionmaker"
IMMEDIATE_OPTION = "datadam_sqlite_immediate"


def make_engine(url: str, field_cipher: FieldCipher | None = None, **kwargs: Any) -> Engine:
    """An engine with the same transactional behaviour on SQLite as on PostgreSQL.

    Without `field_cipher` the engine refuses to write or read sealed personal-data columns (fine for
    migrations, health checks and administration of the database itself)."""
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        engine = create_engine(url, **kwargs)
        _sqlite_proper_transactions(engine)
    else:
        kwargs.setdefault("pool_pre_ping", True)
        engine = create_engine(url, **kwargs)
    if field_cipher is not None:
        install_field_cipher(engine, field_cipher)
    return engine


def _sqlite_proper_transactions(engine: Engine) -> None:
    # pysqlite's own transaction handling defers BEGIN and breaks SAVEPOINT; the SQLAlchemy-documented recipe
    # hands transaction control to SQLAlchemy. Foreign keys are off by default in SQLite; WAL lets the
    # in-process job threads read while a request writes.
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _rec: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        # Erasure must not leave deleted values readable in free pages of the database file.
        cur.execute("PRAGMA secure_delete=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        # Sessions (requests, jobs) begin IMMEDIATE, taking the write lock up front: a deferred transaction that
        # reads and then writes fails at once with "database is locked" when a background job committed in
        # between (busy_timeout cannot help there). Short read-only checks (health, migrations) stay deferred.
        immediate = conn.get_execution_options().get(IMMEDIATE_OPTION)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions as requests, CLI commands and jobs use them: on SQLite each transaction takes the write lock as
    it begins, so none may stay open through slow work (`collection.jobs.outside_transaction`)."""
    return sessionmaker(engine.execution_options(**{IMMEDIATE_OPTION: True}), expire_on_commit=False)


def init_app(app: Flask, url: str, master_key: bytes) -> None:
    engine = make_engine(url, FieldCipher.from_master_key(master_key))
    app.extensions[ENGINE_KEY] = engine
    app.extensions[SESSIONMAKER_KEY] = make_sessionmaker(engine)
    app.teardown_appcontext(_close_session)


def engine(app: Flask) -> Engine:
    return app.extensions[ENGINE_KEY]


def session_factory(app: Flask) -> sessionmaker[Session]:
    return app.extensions[SESSIONMAKER_KEY]


def get_session() -> Session:
    """The session of the current request or CLI command (created on first use)."""
    if "db_session" not in g:
        from flask import current_app

        g.db_session = session_factory(current_app)()
    return g.db_session


def _close_session(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
