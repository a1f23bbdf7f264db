"""The compliance pages and commands end to end: a contributor asks for deletion on their rights page, the
officer sees the timer turn overdue on the dashboard and completes it (erasure), the registers and reports
render, the access log is signed off, the privacy policy comes from the notices, and `datadam retention run`
and `datadam compliance report` work from the command line."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest

from collection.audit.log import Actor, AuditLog
from collection.compliance import RightsRequest, RightsState
from collection.contributions.models import Enrollment, EnrollmentState
from consent.clock import FixedClock
from tests.webapp.contribute_support import EN, csrf, give_consent, in_app, publish, text


@pytest.fixture()
def campaign(app: Any, make_campaign: Any) -> Any:
    campaign = make_campaign(retention_days=30)
    publish(app, campaign)
    return campaign


@pytest.fixture()
def enrolled(app: Any, make_user: Any, campaign: Any) -> Any:
    from webapp.services import contributions

    user = make_user("contributor", locale="en")
    give_consent(app, user, campaign)
    in_app(app, lambda: contributions().enroll(user, campaign))
    return user


def _request(db_session: Any) -> RightsRequest:
    from sqlalchemy import select

    request = db_session.scalar(select(RightsRequest))
    assert request is not None
    return request


def test_a_deletion_request_from_form_to_erasure(
    app: Any, client: Any, login: Any, make_user: Any, campaign: Any, enrolled: Any, clock: Any, db_session: Any
) -> None:
    login(enrolled)
    page = text(client.get("/me/rights", headers=EN))
    assert "Delete my data" in page and campaign.title_en in page
    form = {"csrf_token": csrf(client, "/me/rights"), "kind": "deletion", "scope": campaign.id, "details": "bye"}
    assert client.post("/me/rights", data=form).status_code == 302
    mine = client.get("/me/rights").get_data(as_text=True)
    assert "2026-12-01" in text(client.get("/me/rights"))  # answer due in 10 days
    # on a phone the header row is hidden: every cell of the request carries its own label
    row = mine[mine.index('<table class="table my-requests">'):]
    assert re.findall(r"data-label=\"([^\"]+)\"", row) == ["Request", "Scope", "Sent", "Answer due", "State", "Answer"]
    assert client.post("/me/rights", data={**form, "csrf_token": csrf(client, "/me/rights")}).status_code == 409
    client.post("/logout", data={"csrf_token": csrf(client, "/me/rights")})

    clock.advance(days=11)
    login(make_user("compliance", locale="en"))
    request = _request(db_session)
    dashboard = text(client.get("/comply/", headers=EN))
    assert f"Rights request {request.id[:8]} (deletion) was due 2026-12-01" in dashboard
    listed = text(client.get("/comply/rights", headers=EN))
    assert "overdue by 1 days" in listed and "Deletion request" in listed and "Not started" in listed
    path = f"/comply/rights/{request.id}"
    assert client.post(f"{path}/complete", data={"csrf_token": csrf(client, path), "note": " "}).status_code == 302
    assert request.state is RightsState.OPEN  # a note is required
    client.post(f"{path}/complete", data={"csrf_token": csrf(client, path), "note": "Deleted."})
    db_session.expire_all()
    assert _request(db_session).state is RightsState.COMPLETED
    enrollment = db_session.query(Enrollment).filter_by(user_id=enrolled.id).one()
    assert enrollment.state is EnrollmentState.ERASED
    assert "Nothing is overdue." in text(client.get("/comply/", headers=EN))
    ledger = text(client.get("/comply/erasures", headers=EN))
    assert enrolled.subject_id in ledger and "erasure request" in ledger and "proven" in ledger


def test_registers_and_reports_render(
    app: Any, client: Any, login: Any, make_user: Any, campaign: Any, enrolled: Any, db_session: Any
) -> None:
    login(make_user("compliance", locale="en"))
    found = text(client.get(f"/comply/consents?q={enrolled.subject_id}", headers=EN))
    assert enrolled.subject_id in found and "consent given" in found
    browse = text(client.get("/comply/consents", headers=EN))  # no id needed to see what is there
    assert "Latest 50 consent events" in browse and enrolled.subject_id in browse and "not needed" in browse
    assert f"<td>{campaign.title_en}</td>" in browse  # each event names its campaign
    history = text(client.get(f"/comply/consents/subjects/{enrolled.subject_id}", headers=EN))
    assert "Required consents in force" in history and "valid" in history
    assert "Collection and use of personal information" in history and "collection_and_use" not in history
    assert "Collection and use of personal information: yes" in history and "collection: yes" not in history
    assert client.get("/comply/consents/subjects/nobody").status_code == 404
    token = csrf(client, "/comply/consents")
    verified = text(client.post("/comply/consents/verify", data={"csrf_token": token, "campaign": ""}, headers=EN))
    assert "1 of 1 receipts verified." in verified and "PASS" in verified

    report = text(client.get("/comply/conformance", headers=EN))
    assert "Conformance report" in report and "FAIL" in report and "No signed checkpoint exists" in report
    processing = text(client.get("/comply/processing", headers=EN))
    assert "Accredited research institutes" in processing and campaign.slug in processing
    assert "Nothing is held past its retention period." in text(client.get("/comply/retention", headers=EN))


def test_access_review_sign_off_through_the_page(
    app: Any, client: Any, login: Any, make_user: Any, db_session: Any, campaign: Any, enrolled: Any
) -> None:
    from collection.contributions.models import Photo, PhotoSet, PhotoState

    photo_set = db_session.query(PhotoSet).filter_by(user_id=enrolled.id).one()
    photo = Photo(set_id=photo_set.id, campaign_id=campaign.id, user_id=enrolled.id, bracket="20-29", version=1,
                  state=PhotoState.PASSED, blob_key="x", content_mac="0" * 64,
                  created_at=dt.datetime(2026, 10, 1, tzinfo=dt.UTC))
    db_session.add(photo)
    db_session.flush()
    operator, officer = make_user("operator", name="박검수"), make_user("compliance", locale="en")
    log = AuditLog(db_session, FixedClock(dt.datetime(2026, 10, 9, tzinfo=dt.UTC)))
    log.record(Actor(operator.id, "operator"), "photo.viewed", "photo", photo.id, size="full")
    log.record(Actor(operator.id, "operator"), "photo.viewed", "photo", "gone", size="full")
    db_session.commit()
    login(officer)
    assert "Staff access in 2026-10 is not signed off." in text(client.get("/comply/", headers=EN))
    page = text(client.get("/comply/access-review", headers=EN))  # opens on the month waiting for its sign-off
    assert "Access-log review 2026-10" in page
    assert operator.id in page and "Operator" in page  # the role in words, not its code
    assert "박검수" in page and operator.email in page  # who looked, by name
    assert enrolled.subject_id in page and campaign.slug in page and "erased since" in page  # whose face
    assert "viewed a photo" in page and "photo.viewed" not in page
    raw = client.get("/comply/access-review", headers=EN).get_data(as_text=True)
    assert "People whose faces they saw" in page and "<td>2</td><td>2</td><td>1</td>" in raw  # 2 photos, 1 person
    assert "This month so far" in page  # the month in progress is one link away
    import re

    digest = re.search(r'name="digest" type="hidden" value="([0-9a-f]{64})"', page) or re.search(
        r'id="digest" name="digest" type="hidden" value="([0-9a-f]{64})"', page
    )
    assert digest, page[:2000]
    token = csrf(client, "/comply/access-review?month=2026-10")
    resp = client.post(
        "/comply/access-review/2026-10/sign-off", data={"csrf_token": token, "digest": digest.group(1), "note": "ok"}
    )
    assert resp.status_code == 302
    assert "signed off" in text(client.get("/comply/access-review?month=2026-10", headers=EN))
    assert "Nothing is overdue." in text(client.get("/comply/", headers=EN))
    assert client.get("/comply/access-review?month=garbage").status_code == 404


def test_the_privacy_policy_comes_from_the_published_notices(client: Any, campaign: Any) -> None:
    page = text(client.get("/privacy", headers=EN))
    assert "Accredited research institutes" in page and "Face recognition research" in page
    assert "AES-256-GCM" in page


def test_retention_run_and_the_conformance_report_from_the_command_line(
    app: Any, runner: Any, campaign: Any, enrolled: Any, clock: Any, db_session: Any, tmp_path: Path
) -> None:
    campaign.close(clock.now())
    db_session.commit()
    clock.advance(days=31)
    result = runner.invoke(args=["retention", "run", "--dry-run"])
    assert result.exit_code == 0 and f"campaign {campaign.slug}" in result.output
    result = runner.invoke(args=["retention", "run"])
    assert result.exit_code == 0 and "1 enrollments erased" in result.output, result.output
    db_session.expire_all()
    assert db_session.query(Enrollment).filter_by(user_id=enrolled.id).one().state is EnrollmentState.ERASED
    # a database backup from before the run is restored: the ledger copy outside the database erases it again
    db_session.query(Enrollment).filter_by(user_id=enrolled.id).one().state = EnrollmentState.ACTIVE
    db_session.commit()
    result = runner.invoke(args=["erasure", "reapply"])
    assert result.exit_code == 0 and "1 erasure(s) carried out again" in result.output, result.output
    db_session.expire_all()
    assert db_session.query(Enrollment).filter_by(user_id=enrolled.id).one().state is EnrollmentState.ERASED
    assert "0 erasure(s)" in runner.invoke(args=["erasure", "reapply"]).output  # nothing left to do

    out = tmp_path / "report.html"
    result = runner.invoke(args=["compliance", "report", "--out", str(out)])
    assert result.exit_code == 1 and "FAIL  4. The audit log" in result.output  # no checkpoint yet
    html = out.read_text()  # the file is written in Korean: results and requirements in words, not codes
    assert "<style>" in html and "부적합" in html and "감사 로그가 마지막 서명 체크포인트와 일치함" in html
    assert "저장소에서 생체 정보 객체" in html and "read raw from storage" not in html  # evidence in words too

    from collection.audit.checkpoints import CheckpointWriter
    from consent.service import KeyStore
    from webapp.compliance_services import checkpoint_dir
    from webapp.db import get_session
    from webapp.services import settings

    def checkpoint() -> Any:
        session = get_session()
        return CheckpointWriter(session, clock, KeyStore(session, settings().master_key_bytes, clock), checkpoint_dir())

    in_app(app, lambda: checkpoint().write())
    result = runner.invoke(args=["compliance", "report"])
    assert result.exit_code == 0, result.output
    assert "PASS  2. Nothing is kept past its retention period" in result.output


def test_officers_see_the_checkpoints_verify_the_log_and_download_each_file(
    app: Any, client: Any, login: Any, make_user: Any, enrolled: Any, db_session: Any
) -> None:
    from collection.audit.checkpoints import CheckpointWriter
    from collection.audit.models import AuditEvent
    from consent.service import KeyStore
    from webapp.config import Settings

    officer = make_user("compliance", locale="en")
    login(officer)
    assert "No checkpoint has been written yet" in text(client.get("/comply/audit", headers=EN))
    settings: Settings = app.extensions["datadam.settings"]
    folder = settings.checkpoint_folder
    clock = app.extensions["datadam.clock"]
    CheckpointWriter(db_session, clock, KeyStore(db_session, settings.master_key_bytes, clock), folder).write()
    db_session.commit()

    page = text(client.get("/comply/audit", headers=EN))
    assert "consistent" in page and "not consistent" not in page and "audit-keys.json" in page
    name = sorted(p.name for p in folder.glob("checkpoint-*.json"))[0]
    assert name in page
    for file_name in (name, "audit-keys.json"):
        with client.get(f"/comply/audit/files/{file_name}") as got:
            assert got.status_code == 200 and got.data == (folder / file_name).read_bytes()
    for bad in ("..%2F..%2Fsecret_key", "checkpoint-1.json", "secret_key"):
        assert client.get(f"/comply/audit/files/{bad}").status_code == 404
    downloads = db_session.query(AuditEvent).filter_by(action="audit.checkpoint_downloaded").all()
    assert [(e.actor_id, e.object_id) for e in downloads] == [(officer.id, name), (officer.id, "audit-keys.json")]
    login(make_user("operator"))
    assert client.get("/comply/audit").status_code == 403


def test_the_retention_page_schedules_each_closed_campaigns_destruction(
    client: Any, login: Any, make_user: Any, campaign: Any, enrolled: Any, clock: Any, db_session: Any
) -> None:
    login(make_user("compliance", locale="en"))
    assert "No closed campaign is waiting" in text(client.get("/comply/retention", headers=EN))
    campaign.close(clock.now())
    db_session.commit()
    page = text(client.get("/comply/retention", headers=EN))
    ends = campaign.retention_ends()
    assert campaign.title_en in page and f"{campaign.retention_days} days" in page
    assert ends.astimezone(dt.timezone(dt.timedelta(hours=9))).date().isoformat() in page  # the KST day
    schedule = page[page.index("Destruction scheduled"):page.index("Held past retention")]
    assert "held\">1</td>" in schedule  # one person's data still held
