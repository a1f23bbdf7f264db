"""The compliance officer's pages speak Korean to a Korean reader all the way down: the conformance report's legal
bases, and the audit log verification's problems on the audit page and in the report."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text as sql

from collection.audit.checkpoints import CheckpointWriter
from collection.audit.log import Actor, AuditLog
from collection.audit.models import AuditEvent
from consent.service import KeyStore
from tests.webapp.contribute_support import EN, csrf, text

KO = {"Accept-Language": "ko"}


def test_the_conformance_report_cites_the_law_in_korean(client: Any, login: Any, make_user: Any) -> None:
    login(make_user("compliance"))  # a Korean account
    page = text(client.get("/comply/conformance", headers=KO))
    assert "개인정보 보호법 제21조; GDPR 제5조(1)(e)" in page
    assert "개인정보의 안전성 확보조치 기준 제8조(접속기록의 보관 및 월 1회 이상 점검)" in page
    assert "PIPA" not in page and "Art." not in page and "Enforcement Decree" not in page


def test_every_check_has_its_basis_worded_and_the_words_match_the_check(app: Any) -> None:
    from webapp.compliance_services import conformance
    from webapp.conformance_words import BASIS, basis_text

    with app.test_request_context(headers=EN):
        results = conformance().run().results
        assert {r.key for r in results} == set(BASIS)
        assert all(basis_text(r.key, r.basis) == r.basis for r in results)  # the English is the check's own
    with app.test_request_context(headers=KO):
        assert all("PIPA" not in basis_text(r.key, r.basis) for r in results)
        assert basis_text("a_new_check", "PIPA Art. 99") == "PIPA Art. 99"  # unknown: as the check cites it


def _tampered_log(app: Any, db_session: Any) -> AuditEvent:
    """Three events under a signed checkpoint, then the second edited behind the append-only trigger's back."""
    clock = app.extensions["datadam.clock"]
    log = AuditLog(db_session, clock)
    for i in range(3):
        log.record(Actor("staff1", "operator"), "photo.viewed", "photo", f"p{i}")
    db_session.flush()
    folder = app.extensions["datadam.settings"].checkpoint_folder
    CheckpointWriter(db_session, clock, KeyStore(db_session, b"a" * 32, clock), folder).write()
    if db_session.get_bind().dialect.name == "postgresql":
        db_session.execute(sql("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"))
    else:
        db_session.execute(sql("DROP TRIGGER IF EXISTS audit_events_no_update"))
    db_session.execute(sql("UPDATE audit_events SET object_id = 'other' WHERE position = 2"))
    if db_session.get_bind().dialect.name == "postgresql":
        db_session.execute(sql("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only"))
    db_session.commit()
    return db_session.query(AuditEvent).filter_by(position=2).one()


def test_audit_log_problems_are_said_in_korean(app: Any, client: Any, login: Any, make_user: Any,
                                               db_session: Any) -> None:
    officer = make_user("compliance")
    edited = _tampered_log(app, db_session)
    login(officer)
    page = text(client.get("/comply/audit", headers=KO))
    assert f"2번 위치의 이벤트({edited.id})가 수정됨 (내용이 더 이상 일치하지 않음)" in page
    assert "서명된 루트와 맞지 않음: 1번과 3번 위치 사이의 이벤트가 재정렬·삭제되거나 다시 쓰임" in page
    assert "was edited" not in page and "no longer give the signed root" not in page
    report = text(client.get("/comply/conformance", headers=KO))
    assert f"2번 위치의 이벤트({edited.id})가 수정됨" in report and "was edited" not in report
    client.post("/logout", data={"csrf_token": csrf(client, "/comply/audit")})
    login(make_user("compliance", locale="en"))
    english = text(client.get("/comply/audit", headers=EN))
    assert f"Event {edited.id} at position 2 was edited (its content no longer matches)" in english


def test_a_missing_checkpoint_folder_is_said_in_korean(
    app: Any, client: Any, login: Any, make_user: Any
) -> None:
    login(make_user("compliance"))  # signing in writes audit events; no checkpoint folder exists yet
    page = text(client.get("/comply/audit", headers=KO))
    assert "체크포인트 폴더가 없음" in page and "does not exist" not in page
