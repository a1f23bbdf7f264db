"""Migration 0012 (stored release packages): its downgrade refuses while a release keeps its package only as a
sealed copy in the blob store, since dropping `releases.package_key` would make that copy unreadable for good."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.test_migrations import _insert
from webapp import migrate
from webapp.db import make_engine


def test_the_downgrade_refuses_while_a_package_is_stored(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.sqlite3'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    meta = sa.MetaData()
    meta.reflect(engine)
    with engine.begin() as conn:
        _insert(conn, meta, "campaigns", id="c1")
        _insert(conn, meta, "releases", id="r1", campaign_id="c1", package_blob="releases/r1/aaaa/",
                package_key=b"k" * 40)
    engine.dispose()

    with pytest.raises(RuntimeError, match="1 release\\(s\\) keep their package only as a sealed copy"):
        migrate.downgrade(url, "0011")
    engine = make_engine(url)
    columns = {c["name"] for c in sa.inspect(engine).get_columns("releases")}
    assert {"package_blob", "package_key"} <= columns  # nothing was dropped
    with engine.begin() as conn:
        assert conn.scalar(sa.text("SELECT package_key FROM releases WHERE id = 'r1'")) == b"k" * 40
        conn.execute(sa.text("UPDATE releases SET package_blob = NULL, package_key = NULL"))  # erased
    engine.dispose()

    migrate.downgrade(url, "0011")
    engine = make_engine(url)
    assert "package_key" not in {c["name"] for c in sa.inspect(engine).get_columns("releases")}
    engine.dispose()
