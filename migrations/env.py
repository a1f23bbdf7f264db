"""Alembic environment. The database URL comes from datadam's configuration, never from an ini file.

On SQLite, altering a table means rebuilding it (batch mode), and dropping the old copy of a table that others
reference would run their ON DELETE actions with foreign keys on. So, as SQLite's documented procedure for
table changes says, foreign keys are off while migrations run and `PRAGMA foreign_key_check` must come back
empty before the migration transaction commits.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from alembic import context
from sqlalchemy import Connection

from collection.models import metadata

config = context.config


def _url() -> str:
    url = config.attributes.get("database_url")
    if url:
        return url
    from webapp.config import load

    return load().database_url


def _configure(connection: Connection | None = None, url: str | None = None) -> None:
    context.configure(
        connection=connection,
        url=url,
        target_metadata=metadata,
        render_as_batch=True,  # SQLite needs batch mode to alter tables
        compare_type=True,
        literal_binds=connection is None,
    )


def run_offline() -> None:
    _configure(url=_url())
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    from webapp.db import make_engine

    engine = make_engine(_url())
    try:
        with engine.connect() as conn, _sqlite_foreign_keys_off(conn):
            _configure(connection=conn)
            with context.begin_transaction():
                context.run_migrations()
                _check_foreign_keys(conn)
    finally:
        engine.dispose()  # also when a migration fails: no connection is left for the garbage collector


@contextmanager
def _sqlite_foreign_keys_off(conn: Connection) -> Iterator[None]:
    # The pragma is a no-op inside a transaction, so it goes to the driver before SQLAlchemy begins one.
    if conn.dialect.name != "sqlite":
        yield
        return
    conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
    try:
        yield
    finally:
        conn.connection.driver_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]


def _check_foreign_keys(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":
        broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
        if broken:
            raise RuntimeError(f"migration left {len(broken)} broken foreign key(s), first: {tuple(broken[0])}")


if context.is_offline_mode():
    run_offline()
else:
    run_online()
