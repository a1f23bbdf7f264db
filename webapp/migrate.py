"""Schema migrations through alembic, driven from datadam's own configuration (no alembic.ini)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(database_url: str, master_key: bytes | None = None) -> Config:
    """`master_key` is for migrations that convert sealed columns; without it they read datadam's configuration."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["database_url"] = database_url
    if master_key is not None:
        cfg.attributes["master_key"] = master_key
    return cfg


def upgrade(database_url: str, revision: str = "head", master_key: bytes | None = None) -> None:
    command.upgrade(alembic_config(database_url, master_key), revision)


def downgrade(database_url: str, revision: str, master_key: bytes | None = None) -> None:
    command.downgrade(alembic_config(database_url, master_key), revision)


def heads(database_url: str = "") -> tuple[str, ...]:
    return tuple(ScriptDirectory.from_config(alembic_config(database_url)).get_heads())


def current(engine: Engine) -> tuple[str, ...]:
    with engine.connect() as conn:
        return tuple(MigrationContext.configure(conn).get_current_heads())


def pending(engine: Engine) -> bool:
    """True when the database is behind (or ahead of, or unrelated to) the code's migrations."""
    return set(current(engine)) != set(heads())
