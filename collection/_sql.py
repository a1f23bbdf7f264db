"""Small SQL helpers shared by the collection services that must behave the same on SQLite and PostgreSQL.

`insert_ignore` exists because savepoints are not safe on SQLite's Python driver (a SAVEPOINT that opens the
transaction is committed by its RELEASE), so "insert, catch the duplicate, roll back to the savepoint" would
leak rows out of the caller's transaction. `INSERT ... ON CONFLICT DO NOTHING` needs no savepoint on either.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Table, TextClause
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_ignore(
    session: Session,
    table: Table,
    values: Mapping[str, Any],
    conflict_columns: Sequence[str],
    conflict_where: ColumnElement[bool] | TextClause | None = None,
) -> bool:
    """Insert one row unless it collides with a unique index on `conflict_columns`; True when it was inserted.

    `conflict_where` names a partial unique index by its predicate. Runs in the session's transaction.
    Raises NotImplementedError on a database other than SQLite or PostgreSQL.
    """
    dialect = session.get_bind().dialect.name
    module: Any
    if dialect == "postgresql":
        module = postgresql
    elif dialect == "sqlite":
        module = sqlite
    else:
        raise NotImplementedError(f"insert_ignore supports sqlite and postgresql, not {dialect}")
    stmt = module.insert(table).values(**values)
    stmt = stmt.on_conflict_do_nothing(index_elements=list(conflict_columns), index_where=conflict_where)
    # RETURNING, not rowcount: DBAPIs need not report a row count for INSERT (psycopg here reports -1).
    stmt = stmt.returning(*table.primary_key.columns)
    return session.execute(stmt).first() is not None
