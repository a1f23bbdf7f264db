"""`outside_transaction`: a slow handler's work runs with its session holding no transaction, and a use of the
session inside it is refused before it reaches the database (it would take SQLite's write lock)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from collection.jobs import Job, JobState, outside_transaction

NOW = dt.datetime(2026, 11, 21, 9, 0, tzinfo=dt.UTC)


def _job(job_id: str) -> Job:
    return Job(id=job_id, kind="test", payload={}, state=JobState.QUEUED, created_at=NOW)


def test_entering_commits_what_was_done_and_the_block_holds_no_transaction(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory() as session:
        session.add(_job("set-up"))
        session.flush()
        with outside_transaction(session):
            assert not session.in_transaction()
            with session_factory() as other:  # committed: visible to everyone
                assert other.get(Job, "set-up") is not None
        session.add(_job("effect"))  # afterwards the session works as before
        session.commit()
        assert session.scalar(select(func.count()).select_from(Job)) == 2


def test_using_the_session_inside_is_refused_and_leaves_no_transaction(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory() as session:
        with pytest.raises(RuntimeError, match="outside any transaction"), outside_transaction(session):
            session.scalar(select(func.count()).select_from(Job))
        assert not session.in_transaction()
        assert session.scalar(select(func.count()).select_from(Job)) == 0  # and usable again after the block
