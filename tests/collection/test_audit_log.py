"""The audit log's tamper evidence: each kind of tampering is detected and the first bad event is named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from collection.audit.checkpoints import CheckpointWriter, verify
from collection.audit.log import Actor, AuditLog
from collection.audit.models import AuditEvent
from consent.service import KeyStore


@pytest.fixture()
def log(db_session: Any, clock: Any) -> AuditLog:
    return AuditLog(db_session, clock)


@pytest.fixture()
def writer(db_session: Any, clock: Any, tmp_path: Path) -> CheckpointWriter:
    return CheckpointWriter(db_session, clock, KeyStore(db_session, b"a" * 32, clock), tmp_path / "cp")


def _events(log: AuditLog, clock: Any, n: int) -> None:
    for i in range(n):
        clock.advance(seconds=1)
        log.record(Actor("staff1", "operator"), "photo.viewed", "photo", f"p{i}", n=i)
    log.session.flush()


def _untriggered(db_session: Any, sql: str, **params: Any) -> None:
    """Tamper as a database superuser would: bypass the append-only trigger."""
    dialect = db_session.get_bind().dialect.name
    if dialect == "postgresql":
        db_session.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"))
        db_session.execute(text(sql), params)
        db_session.execute(text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only"))
    else:
        db_session.execute(text("DROP TRIGGER IF EXISTS audit_events_no_update"))
        db_session.execute(text("DROP TRIGGER IF EXISTS audit_events_no_delete"))
        db_session.execute(text(sql), params)
    db_session.expire_all()


def test_a_clean_log_verifies(log: AuditLog, writer: CheckpointWriter, clock: Any, db_session: Any) -> None:
    _events(log, clock, 5)
    cp = writer.write()
    _events(log, clock, 3)
    writer.write()
    report = verify(db_session, writer.folder)
    assert report.ok, report.problems
    assert (cp.size, report.size, report.checkpoints) == (5, 8, 2)


def test_the_trigger_refuses_update_and_delete(
    log: AuditLog, writer: CheckpointWriter, clock: Any, db_session: Any
) -> None:
    _events(log, clock, 2)
    writer.write()
    with pytest.raises(DBAPIError):
        with db_session.begin_nested():
            db_session.execute(text("UPDATE audit_events SET action = 'nothing' WHERE position = 1"))
    with pytest.raises(DBAPIError):
        with db_session.begin_nested():
            db_session.execute(text("DELETE FROM audit_events WHERE position = 2"))


def test_an_edited_event_is_named(log: AuditLog, writer: CheckpointWriter, clock: Any, db_session: Any) -> None:
    _events(log, clock, 6)
    writer.write()
    _untriggered(db_session, "UPDATE audit_events SET object_id = 'other' WHERE position = 4")
    report = verify(db_session, writer.folder)
    assert not report.ok and report.first_bad_position == 4


def test_a_deleted_event_is_named(log: AuditLog, writer: CheckpointWriter, clock: Any, db_session: Any) -> None:
    _events(log, clock, 6)
    writer.write()
    _untriggered(db_session, "DELETE FROM audit_events WHERE position = 3")
    report = verify(db_session, writer.folder)
    assert not report.ok and report.first_bad_position == 3


def test_a_truncated_tail_or_old_backup_is_caught(
    log: AuditLog, writer: CheckpointWriter, clock: Any, db_session: Any
) -> None:
    _events(log, clock, 6)
    writer.write()
    _untriggered(db_session, "DELETE FROM audit_events WHERE position > 4")
    report = verify(db_session, writer.folder)
    assert not report.ok and report.first_bad_position == 5
    assert "older backup" in report.problems[0]
    assert verify(db_session, None).ok  # without checkpoints a truncated tail cannot be seen: why they exist


def test_reordered_events_are_caught(log: AuditLog, writer: CheckpointWriter, clock: Any, db_session: Any) -> None:
    _events(log, clock, 6)
    writer.write()
    _untriggered(db_session, "UPDATE audit_events SET position = -1 WHERE position = 2")
    _untriggered(db_session, "UPDATE audit_events SET position = 2 WHERE position = 5")
    _untriggered(db_session, "UPDATE audit_events SET position = 5 WHERE position = -1")
    report = verify(db_session, writer.folder)
    assert not report.ok and report.first_bad_position == 1


def test_a_rewritten_log_is_caught_by_an_earlier_checkpoint(
    log: AuditLog, writer: CheckpointWriter, clock: Any, db_session: Any
) -> None:
    from collection.audit.log import leaf_hash

    _events(log, clock, 4)
    writer.write()
    _events(log, clock, 4)
    writer.write()
    # The attacker edits event 6 AND recomputes its leaf hash, so the log is internally consistent again.
    _untriggered(db_session, "UPDATE audit_events SET object_id = 'forged' WHERE position = 6")
    event = db_session.query(AuditEvent).filter_by(position=6).one()
    _untriggered(db_session, "UPDATE audit_events SET leaf_hash = :h WHERE position = 6", h=leaf_hash(event))
    assert verify(db_session, None).ok  # the database alone cannot tell...
    report = verify(db_session, writer.folder)
    assert not report.ok and report.first_bad_position == 5  # ...the checkpoints narrow it to events 5-8


def test_a_forged_checkpoint_is_refused(log: AuditLog, writer: CheckpointWriter, clock: Any, db_session: Any) -> None:
    import json

    _events(log, clock, 3)
    writer.write()
    path = next(writer.folder.glob("checkpoint-*.json"))
    body = json.loads(path.read_bytes())
    body["size"] = 2
    path.chmod(0o644)
    path.write_text(json.dumps(body))
    report = verify(db_session, writer.folder)
    assert not report.ok and "bad signature" in report.problems[0]


def test_checkpoint_files_are_read_only(log: AuditLog, writer: CheckpointWriter, clock: Any) -> None:
    _events(log, clock, 1)
    writer.write()
    path = next(writer.folder.glob("checkpoint-*.json"))
    assert path.stat().st_mode & 0o222 == 0


def test_a_missing_checkpoint_folder_fails(
    log: AuditLog, writer: CheckpointWriter, clock: Any, db_session: Any
) -> None:
    _events(log, clock, 2)
    writer.write()
    report = verify(db_session, writer.folder.with_name("cp-typo"))
    assert not report.ok and "does not exist" in report.problems[0]


def test_an_emptied_checkpoint_folder_fails_once_events_exist(
    log: AuditLog, writer: CheckpointWriter, clock: Any, db_session: Any
) -> None:
    writer.folder.mkdir()
    assert verify(db_session, writer.folder).ok  # an empty log needs no checkpoint
    _events(log, clock, 3)
    report = verify(db_session, writer.folder)  # not yet sequenced, still events
    assert not report.ok and "no signed checkpoint" in report.problems[0] and "3 events" in report.problems[0]
    writer.write()
    for path in writer.folder.glob("checkpoint-*.json"):
        path.unlink()
    report = verify(db_session, writer.folder)
    assert not report.ok and report.checkpoints == 0 and "no signed checkpoint" in report.problems[0]
