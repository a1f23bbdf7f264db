"""Migrations: one head; upgrade -> downgrade -> upgrade; no drift between models and migrations; the data
conversion of 0006 (sealing personal-data columns) and 0009 (sealing free text) both ways. On SQLite, and on
PostgreSQL when DATADAM_TEST_DATABASE_URL is set (in a database of its own)."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.orm import Session

from collection.models import metadata
from tests.conftest import MASTER_KEY as MASTER
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


# -- 0006: personal-data columns sealed in place ----------------------------------------------------------------
PLAIN = {
    "email": "plain.person@example.com",
    "display_name": "PLAINNAME-Kq3",
    "birth_date": dt.date(1911, 7, 13),
    "signature": "PLAINSIGN-Zr8",
    "guardian": "PLAINGUARD-Wm2",
    "note": "PLAINNOTE-Hx5",
    "captured_at": dt.datetime(1923, 5, 17, 8, 9, 10, tzinfo=dt.UTC),
}
NOW = dt.datetime(2026, 11, 21, 9, 0, tzinfo=dt.UTC)


def _filler(column: sa.Column[Any]) -> Any:
    """A value for a required column the test does not care about."""
    kind = column.type
    if isinstance(kind, sa.Boolean):
        return False
    if isinstance(kind, sa.Integer | sa.Float | sa.Numeric):
        return 1
    if isinstance(kind, sa.JSON):
        return {}
    if isinstance(kind, sa.DateTime):
        return NOW
    if isinstance(kind, sa.Date):
        return NOW.date()
    if isinstance(kind, sa.LargeBinary):
        return b"x"
    return "x"


def _insert(conn: sa.Connection, meta: sa.MetaData, table: str, **values: Any) -> None:
    t = meta.tables[table]
    for column in t.columns:
        if column.name not in values and not column.nullable and column.server_default is None:
            values[column.name] = _filler(column)
    conn.execute(t.insert().values(**values))


def _plain_rows_at_0005(url: str) -> None:
    """Rows as 0005 stored them: personal data in clear, plus children whose ON DELETE must not fire."""
    from collection.crypto import DataKey, MasterKey

    engine = make_engine(url)
    meta = sa.MetaData()
    meta.reflect(engine)
    with engine.begin() as conn:
        _insert(
            conn,
            meta,
            "users",
            id="u1",
            subject_id="sub_1",
            email=PLAIN["email"],
            display_name=PLAIN["display_name"],
            birth_date=PLAIN["birth_date"],
            role="contributor",
        )
        _insert(conn, meta, "users", id="u2", subject_id="sub_2", role="operator")  # no personal data at all
        _insert(conn, meta, "login_attempts", id="la1", user_id="u1", ip_hash="h", succeeded=True, at=NOW)
        _insert(conn, meta, "campaigns", id="c1", slug="c1", created_by="u2")
        _insert(conn, meta, "notice_versions", id="n1", campaign_id="c1", number=1)
        _insert(conn, meta, "consent_records", id="r1", subject_id="sub_1", campaign_id="c1", notice_version_id="n1")
        _insert(conn, meta, "signature_names", record_id="r1", role="principal", name=PLAIN["signature"], salt="ab")
        _insert(conn, meta, "signature_names", record_id="r1", role="guardian", name=PLAIN["guardian"], salt="cd")
        _insert(conn, meta, "enrollments", id="e1", campaign_id="c1", user_id="u1")
        _insert(conn, meta, "photo_sets", id="s1", enrollment_id="e1", campaign_id="c1", user_id="u1")
        _insert(
            conn,
            meta,
            "photos",
            id="p1",
            set_id="s1",
            campaign_id="c1",
            user_id="u1",
            state="checking",
            captured_at=PLAIN["captured_at"],
            contributor_note=PLAIN["note"],
        )
        _insert(conn, meta, "photos", id="p2", set_id="s1", campaign_id="c1", user_id="u1")
        _insert(conn, meta, "photo_decisions", id="d1", photo_id="p1", set_id="s1", reviewer_id="u2")
        wrapped = MasterKey(MASTER).wrap(DataKey.generate())
        _insert(conn, meta, "contributor_keys", contributor_id="e1", wrapped_key=wrapped, created_at=NOW)
    engine.dispose()


def _raw_dump(url: str) -> str:
    """Every row of every table as text (dates as YYYY-MM-DD), read without any field key."""
    engine = make_engine(url)
    meta = sa.MetaData()
    meta.reflect(engine)
    with engine.connect() as conn:
        rows = [" | ".join(map(str, row)) for table in meta.sorted_tables for row in conn.execute(sa.select(table))]
    engine.dispose()
    return "\n".join(rows)


def _count(url: str, table: str) -> int:
    engine = make_engine(url)
    with engine.connect() as conn:
        n = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
    engine.dispose()
    return int(n)


def test_0006_seals_existing_rows_and_downgrade_restores_them(fresh_url: str) -> None:
    from collection.accounts import User, email_blind_index
    from collection.contributions.models import Photo
    from consent.models import SignatureName
    from consent.sealed import FieldCipher

    migrate.upgrade(fresh_url, "0005")
    _plain_rows_at_0005(fresh_url)
    with pytest.raises(RuntimeError, match="master key does not match"):
        migrate.upgrade(fresh_url, "head", master_key=b"W" * 32)
    assert PLAIN["note"] in _raw_dump(fresh_url)  # the refused upgrade changed nothing

    migrate.upgrade(fresh_url, "head", master_key=MASTER)
    assert _drift(fresh_url) == []
    dump = _raw_dump(fresh_url)
    for value in ("plain.person", "PLAINNAME", "1911-07-13", "PLAINSIGN", "PLAINGUARD", "PLAINNOTE", "1923-05-17"):
        assert value not in dump
    assert [_count(fresh_url, t) for t in ("login_attempts", "photo_decisions", "photos")] == [1, 1, 2]
    if fresh_url.startswith("sqlite"):  # the rebuilt tables ran with secure_delete: no old page keeps a value
        db_file = Path(fresh_url.removeprefix("sqlite:///"))
        for path in (db_file, db_file.with_name(db_file.name + "-wal")):
            assert not path.exists() or b"PLAINNOTE" not in path.read_bytes(), path

    engine = make_engine(fresh_url, FieldCipher.from_master_key(MASTER))
    with Session(engine) as session:
        user = session.get_one(User, "u1")
        assert (user.email, user.display_name, user.birth_date) == (
            PLAIN["email"],
            PLAIN["display_name"],
            PLAIN["birth_date"],
        )
        assert user.email_index == email_blind_index(MASTER).digest(PLAIN["email"])
        assert session.get_one(User, "u2").email_index is None
        names = {row.role: row.name for row in session.scalars(sa.select(SignatureName))}
        assert names == {"principal": PLAIN["signature"], "guardian": PLAIN["guardian"]}
        photo = session.get_one(Photo, "p1")
        assert (photo.captured_at, photo.contributor_note) == (PLAIN["captured_at"], PLAIN["note"])
    engine.dispose()

    migrate.downgrade(fresh_url, "0005", master_key=MASTER)
    dump = _raw_dump(fresh_url)
    for value in (PLAIN["email"], PLAIN["display_name"], "1911-07-13", PLAIN["signature"], PLAIN["note"]):
        assert value in dump
    assert [_count(fresh_url, t) for t in ("login_attempts", "photo_decisions", "photos")] == [1, 1, 2]
    engine = make_engine(fresh_url)
    assert "uq_users_email" in {c["name"] for c in inspect(engine).get_unique_constraints("users")}
    engine.dispose()
    migrate.upgrade(fresh_url, "head", master_key=MASTER)
    assert _drift(fresh_url) == []


# -- 0009: free text people write about themselves sealed in place --------------------------------------------
FREE_TEXT = {
    ("rights_requests", "details"): "PLAINDETAILS-Jd4 my daughter's photos",
    ("rights_requests", "resolution_note"): "PLAINRESOLUTION-Rn7",
    ("photo_decisions", "comment"): "PLAINCOMMENT-Cm2",
    ("appeals", "note"): "PLAINAPPEAL-Ap9 it is me after surgery",
    ("appeals", "answer"): "PLAINANSWER-An3",
    ("photos", "review_comment"): "PLAINREVIEW-Rv6",
}


def _plain_free_text_at_0008(url: str) -> None:
    from collection.crypto import DataKey, MasterKey

    engine = make_engine(url)
    meta = sa.MetaData()
    meta.reflect(engine)
    text_of = {column: value for (_table, column), value in FREE_TEXT.items()}
    with engine.begin() as conn:
        _insert(conn, meta, "users", id="u1", subject_id="sub_1", role="contributor")
        _insert(conn, meta, "users", id="u2", subject_id="sub_2", role="operator")
        _insert(conn, meta, "campaigns", id="c1", slug="c1", created_by="u2")
        _insert(conn, meta, "enrollments", id="e1", campaign_id="c1", user_id="u1")
        _insert(conn, meta, "photo_sets", id="s1", enrollment_id="e1", campaign_id="c1", user_id="u1")
        _insert(conn, meta, "photos", id="p1", set_id="s1", campaign_id="c1", user_id="u1", state="rejected",
                review_comment=text_of["review_comment"])
        _insert(conn, meta, "photos", id="p2", set_id="s1", campaign_id="c1", user_id="u1", state="checking")
        _insert(conn, meta, "photo_decisions", id="d1", photo_id="p1", set_id="s1", reviewer_id="u2",
                decision="reject", comment=text_of["comment"])
        _insert(conn, meta, "appeals", id="a1", photo_id="p1", set_id="s1", decision_id="d1", state="open",
                note=text_of["note"], answer=text_of["answer"])
        _insert(conn, meta, "rights_requests", id="q1", subject_id="sub_1", user_id="u1", kind="deletion", state="open",
                details=text_of["details"], resolution_note=text_of["resolution_note"])
        _insert(conn, meta, "rights_requests", id="q2", subject_id="sub_1", user_id="u1", kind="access", state="open",
                details="")
        wrapped = MasterKey(MASTER).wrap(DataKey.generate())
        _insert(conn, meta, "contributor_keys", contributor_id="e1", wrapped_key=wrapped, created_at=NOW)
    engine.dispose()


def test_0009_seals_free_text_and_downgrade_restores_it(fresh_url: str) -> None:
    from collection.compliance.models import RightsRequest
    from collection.contributions.models import Photo
    from collection.review.models import Appeal, PhotoDecision
    from consent.sealed import FieldCipher

    migrate.upgrade(fresh_url, "0008")
    _plain_free_text_at_0008(fresh_url)
    with pytest.raises(RuntimeError, match="master key does not match"):
        migrate.upgrade(fresh_url, "head", master_key=b"W" * 32)
    assert "PLAINAPPEAL" in _raw_dump(fresh_url)

    migrate.upgrade(fresh_url, "head", master_key=MASTER)
    assert _drift(fresh_url) == []
    dump = _raw_dump(fresh_url)
    for value in FREE_TEXT.values():
        assert value.split()[0] not in dump
    engine = make_engine(fresh_url, FieldCipher.from_master_key(MASTER))
    with Session(engine) as session:
        request = session.get_one(RightsRequest, "q1")
        assert (request.details, request.resolution_note) == (
            FREE_TEXT[("rights_requests", "details")], FREE_TEXT[("rights_requests", "resolution_note")])
        assert session.get_one(RightsRequest, "q2").details == ""
        appeal = session.get_one(Appeal, "a1")
        assert (appeal.note, appeal.answer) == (FREE_TEXT[("appeals", "note")], FREE_TEXT[("appeals", "answer")])
        assert session.get_one(PhotoDecision, "d1").comment == FREE_TEXT[("photo_decisions", "comment")]
        assert session.get_one(Photo, "p1").review_comment == FREE_TEXT[("photos", "review_comment")]
        assert session.get_one(Photo, "p2").review_comment is None
    engine.dispose()

    migrate.downgrade(fresh_url, "0008", master_key=MASTER)
    dump = _raw_dump(fresh_url)
    assert all(value in dump for value in FREE_TEXT.values())
    migrate.upgrade(fresh_url, "head", master_key=MASTER)
    assert _drift(fresh_url) == []


def test_0010_lets_a_person_join_again_after_an_erasure_and_keeps_one_live_enrollment(fresh_url: str) -> None:
    migrate.upgrade(fresh_url, "0009")
    engine = make_engine(fresh_url)
    meta = sa.MetaData()
    meta.reflect(engine)
    with engine.begin() as conn:
        _insert(conn, meta, "users", id="u1", subject_id="sub_1", role="contributor")
        _insert(conn, meta, "users", id="u2", subject_id="sub_2", role="operator")
        _insert(conn, meta, "campaigns", id="c1", slug="c1", created_by="u2")
        _insert(conn, meta, "enrollments", id="e1", campaign_id="c1", user_id="u1", state="erased")
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:  # 0009: one enrollment per person, ever
        _insert(conn, meta, "enrollments", id="e2", campaign_id="c1", user_id="u1", state="active")
    engine.dispose()

    migrate.upgrade(fresh_url)
    engine = make_engine(fresh_url)
    meta = sa.MetaData()
    meta.reflect(engine)
    with engine.begin() as conn:
        _insert(conn, meta, "enrollments", id="e2", campaign_id="c1", user_id="u1", state="active")
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:  # but only one live one
        _insert(conn, meta, "enrollments", id="e3", campaign_id="c1", user_id="u1", state="active")
    with pytest.raises(RuntimeError, match="joined a campaign again"):
        migrate.downgrade(fresh_url, "0009")
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM enrollments WHERE id = 'e2'"))
    engine.dispose()
    migrate.downgrade(fresh_url, "0009")
    migrate.upgrade(fresh_url)
    assert _drift(fresh_url) == []
