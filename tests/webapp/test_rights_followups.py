"""Acting on contributors' rights requests, end to end through the pages: a suspension of processing pauses the
set (uploads and sending refused, the waiting photo says so) and lifting it checks what waited; a correction
request lets the officer correct the sealed name, birth date and a photo's age; an account-wide deletion shows
what it affects and needs a tick, and a payment owed to an erased account is never marked paid."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
from sqlalchemy import select

from collection.compliance import RightsRequest, RightsState
from collection.contributions.models import Enrollment, Photo, PhotoState
from collection.errors import NotFound
from collection.jobs import Job, JobState
from tests.webapp.contribute_support import (
    ADULT,
    EN,
    PROMPTS,
    csrf,
    give_consent,
    in_app,
    publish,
    small_campaign,
    speech_like_wav,
    text,
)
from webapp.demo_media import face_photo


def set_url(campaign: Any) -> str:
    return f"/me/campaigns/{campaign.slug}/set"


def ask(client: Any, kind: str, scope: str, details: str = "") -> None:
    form = {"csrf_token": csrf(client, "/me/rights"), "kind": kind, "scope": scope, "details": details}
    assert client.post("/me/rights", data=form).status_code == 302


def switch_to(client: Any, login: Any, user: Any) -> None:
    client.post("/logout", data={"csrf_token": csrf(client, "/")})
    login(user)


def latest_request(db_session: Any) -> RightsRequest:
    db_session.expire_all()
    return db_session.scalars(select(RightsRequest).order_by(RightsRequest.received_at.desc())).first()


def upload(client: Any, campaign: Any, data: bytes, age: str = "7") -> Any:
    form = {"csrf_token": csrf(client, set_url(campaign)), "bracket": "0-9", "age_years": age,
            "photos": [(io.BytesIO(data), "me.jpg")]}
    return client.post(f"/me/campaigns/{campaign.slug}/set/photos", data=form, content_type="multipart/form-data")


def upload_then_suspend(app: Any, client: Any, db_session: Any, user: Any, campaign: Any, officer: Any
                        ) -> tuple[str, str]:
    """The contributor asks for a suspension, uploads a photo, and the officer completes the suspension before the
    photo's check runs (it is skipped). Returns the photo's and the request's ids."""
    from webapp.compliance_services import rights
    from webapp.services import uploads

    ask(client, "suspension", campaign.id, "잠시 멈춰 주세요")
    request_id = latest_request(db_session).id

    def upload_and_complete() -> Photo:
        photo = uploads().add_photo(user, campaign, "0-9", face_photo(1), 7)
        service = rights()
        service.complete(officer, service.get(request_id), "처리를 정지했습니다.")
        return photo

    return in_app(app, upload_and_complete).id, request_id


# --- 1. suspension of processing -------------------------------------------------------------------------------


def test_a_suspension_pauses_the_set_and_lifting_it_checks_what_waited(
    app: Any, client: Any, login: Any, make_user: Any, campaign: Any, joined: Any, db_session: Any
) -> None:

    officer = make_user("compliance", locale="en")
    # The photo's check is still queued when the officer completes the suspension: the check is skipped.
    photo_id, request_id = upload_then_suspend(app, client, db_session, joined, campaign, officer)
    db_session.expire_all()
    assert db_session.get(Photo, photo_id).state is PhotoState.CHECKING
    job = db_session.scalars(select(Job).where(Job.kind == "photo.gates")).one()
    assert job.state is JobState.SKIPPED

    page = text(client.get(set_url(campaign)))
    assert "이 캠페인에서 회원님 정보의 처리가 회원님의 요청으로 정지되어 있습니다." in page
    assert "처리 정지 중: 해제되면 검사합니다" in page
    shown = client.get(f"/api/v1/campaigns/{campaign.slug}/set").get_json()
    card = shown["brackets"][0]["photos"][0]
    assert card["state"] == "checking" and card["state_label"] == "처리 정지 중: 해제되면 검사합니다"
    assert shown["suspended"] and not shown["checking"]  # the page does not wait for results that cannot come
    assert f"/me/campaigns/{campaign.slug}/set/photos" not in page  # no upload form while suspended
    refused = text(client.get(upload(client, campaign, face_photo(2)).headers["Location"]))
    assert "처리가 회원님의 요청으로 정지되어 있어" in refused
    assert len(db_session.scalars(select(Photo)).all()) == 1  # nothing stored
    sent = client.post(f"/me/campaigns/{campaign.slug}/set/submit",
                       data={"csrf_token": csrf(client, set_url(campaign))})
    assert sent.status_code == 409 and "회원님의 요청으로 정지되어 있습니다." in text(sent)  # sent from a stale page

    switch_to(client, login, officer)
    enrollment = db_session.scalars(select(Enrollment).where(Enrollment.user_id == joined.id)).one()
    path = f"/comply/rights/{request_id}"
    lifted = client.post(f"/comply/suspensions/{enrollment.id}/lift", data={"csrf_token": csrf(client, path)})
    assert "checked now" in text(client.get(lifted.headers["Location"], headers=EN))

    db_session.expire_all()
    assert db_session.get(Photo, photo_id).state is PhotoState.PASSED  # the queued check ran after the commit
    kinds = {(j.kind, j.state) for j in db_session.scalars(select(Job))}
    assert ("photo.gates", JobState.DONE) in kinds and ("set.identity", JobState.DONE) in kinds

    switch_to(client, login, joined)
    page = text(client.get(set_url(campaign)))
    assert "정지되어 있습니다" not in page and "처리 정지 중" not in page
    assert f"/me/campaigns/{campaign.slug}/set/photos" in page
    assert latest_request(db_session).state is RightsState.COMPLETED


def test_the_contributor_ends_their_own_suspension_and_the_waiting_photo_is_checked(
    app: Any, client: Any, make_user: Any, campaign: Any, joined: Any, db_session: Any
) -> None:
    """A suspension the contributor asked for is theirs to end: from /me/rights, at once, no officer needed."""
    from webapp.compliance_services import rights

    photo_id, _ = upload_then_suspend(app, client, db_session, joined, campaign, make_user("compliance"))
    page = text(client.get("/me/rights"))
    assert "회원님의 요청으로 정지된 처리" in page and campaign.title_ko in page
    assert "내 권리 페이지에서 정지를 끝내십시오" in text(client.get(set_url(campaign)))
    enrollment = db_session.scalars(select(Enrollment).where(Enrollment.user_id == joined.id)).one()
    other = make_user("contributor", birth=ADULT)
    token = csrf(client, "/me/rights")
    resumed = client.post(f"/me/rights/suspensions/{enrollment.id}/resume", data={"csrf_token": token})
    assert "처리가 재개되었습니다" in text(client.get(resumed.headers["Location"]))
    db_session.expire_all()
    assert db_session.get(Photo, photo_id).state is PhotoState.PASSED  # the check that waited ran
    assert "회원님의 요청으로 정지된 처리" not in text(client.get("/me/rights"))
    with pytest.raises(NotFound):  # nobody ends someone else's suspension
        in_app(app, lambda: rights().resume_own(other, enrollment.id))


def test_a_recording_that_waited_for_a_suspension_is_checked_once_it_is_lifted(
    app: Any, client: Any, login: Any, make_user: Any, make_campaign: Any, db_session: Any
) -> None:
    from collection.contributions.models import VoiceClip
    from webapp.compliance_services import rights
    from webapp.services import uploads

    voiced = small_campaign(make_campaign, voice_prompts=PROMPTS)
    publish(app, voiced)
    user = make_user("contributor", birth=ADULT, locale="en")
    login(user)
    give_consent(app, user, voiced)
    client.post(f"/me/campaigns/{voiced.slug}/join", data={"csrf_token": csrf(client, f"/campaigns/{voiced.slug}")})
    ask(client, "suspension", voiced.id)
    request_id = latest_request(db_session).id
    officer = make_user("compliance", locale="en")

    def record_then_suspend() -> str:
        clip = uploads().add_voice(user, voiced, "p1", speech_like_wav())
        service = rights()
        service.complete(officer, service.get(request_id), "Suspended.")
        return clip.id

    clip_id = in_app(app, record_then_suspend)
    shown = client.get(f"/api/v1/campaigns/{voiced.slug}/set", headers=EN).get_json()
    assert shown["voice"][0]["clip"]["state_label"] == "Processing suspended: checked once it is lifted"
    enrollment = db_session.scalars(select(Enrollment).where(Enrollment.user_id == user.id)).one()
    in_app(app, lambda: rights().lift_suspension(officer, enrollment.id))
    db_session.expire_all()
    assert db_session.get(VoiceClip, clip_id).state is not PhotoState.CHECKING


# --- 2. correction ---------------------------------------------------------------------------------------------


def correction_form(client: Any, path: str, **values: str) -> dict[str, str]:
    return {"csrf_token": csrf(client, path), "display_name": "", "birth_date": "", "photo": "", "photo_age": "",
            **values}


def test_the_officer_corrects_the_sealed_name_birth_date_and_a_photos_age(
    app: Any, client: Any, login: Any, make_user: Any, campaign: Any, joined: Any, db_session: Any
) -> None:
    from collection.accounts import User
    from collection.audit.models import AuditEvent

    upload(client, campaign, face_photo(1), age="7")
    form = {"csrf_token": csrf(client, set_url(campaign)), "bracket": "20-29", "age_years": "",
            "photos": [(io.BytesIO(face_photo(3)), "adult.jpg")]}
    client.post(f"/me/campaigns/{campaign.slug}/set/photos", data=form, content_type="multipart/form-data")
    dated = db_session.scalars(select(Photo).where(Photo.bracket == "20-29")).one()
    dated.captured_at, dated.age_years, dated.age_source = dt.datetime(2021, 6, 1, tzinfo=dt.UTC), 26, "capture_date"
    db_session.commit()  # as if the photo's date had said when it was taken: its age follows the birth date
    ask(client, "correction", campaign.id, "생년월일이 잘못 적혀 있습니다. 1994년 5월 6일이 맞고, 이름도 바뀌었습니다.")
    request_id = latest_request(db_session).id
    old_name = joined.display_name
    officer = make_user("compliance", locale="en")
    switch_to(client, login, officer)
    path = f"/comply/rights/{request_id}"
    page = text(client.get(path, headers=EN))
    assert "Correct the data" in page and old_name in page and "1995-03-04" in page
    photo = db_session.scalars(select(Photo).where(Photo.bracket == "0-9")).one()
    identity_jobs = len(db_session.scalars(select(Job).where(Job.kind == "set.identity")).all())

    # bad input: a clear error on the field, and the page keeps what was typed
    resp = client.post(f"{path}/correct", headers=EN,
                       data=correction_form(client, path, display_name="김민지", birth_date="2030-01-01"))
    assert resp.status_code == 409 and "A birth date must be in the past." in text(resp)
    assert 'value="2030-01-01"' in text(resp) and 'value="김민지"' in text(resp)
    resp = client.post(f"{path}/correct", headers=EN, data=correction_form(client, path, display_name="김민지",
                                                                           birth_date="1995-02-30"))
    assert resp.status_code == 400 and "This date does not exist." in text(resp) and 'value="1995-02-30"' in text(resp)
    resp = client.post(f"{path}/correct", headers=EN, data=correction_form(
        client, path, display_name=old_name, photo=photo.id, photo_age="25"))
    assert resp.status_code == 409 and "ages 0 to 9" in text(resp) and 'value="25"' in text(resp)
    db_session.expire_all()
    assert db_session.get(User, joined.id).display_name == old_name  # nothing changed by a refused correction

    resp = client.post(f"{path}/correct", headers=EN, data=correction_form(
        client, path, display_name="김민지", birth_date="1994-05-06", photo=photo.id, photo_age="8"))
    assert resp.status_code == 302
    assert "Corrected: name, birth date, a photo's age." in text(client.get(resp.headers["Location"], headers=EN))

    db_session.expire_all()
    person = db_session.get(User, joined.id)
    assert person.display_name == "김민지" and person.birth_date.isoformat() == "1994-05-06"
    assert db_session.get(Photo, photo.id).age_years == 8
    assert db_session.get(Photo, dated.id).age_years == 27  # worked out again from the corrected birth date
    raw = db_session.execute(text_sql("SELECT display_name, birth_date FROM users WHERE id = :id"),
                             {"id": joined.id}).one()
    assert "김민지" not in str(raw) and "1994" not in str(raw)  # still sealed at rest
    events = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "rights.corrected")).all()
    assert [e.details["fields"] for e in events] == [["display_name", "birth_date", "photo_age"]]
    every_detail = " ".join(str(e.details) for e in db_session.scalars(select(AuditEvent)))
    for value in ("김민지", old_name, "1994-05-06", "1995-03-04"):
        assert value not in every_detail
    assert len(db_session.scalars(select(Job).where(Job.kind == "set.identity")).all()) == identity_jobs + 1

    client.post(f"{path}/complete", data={"csrf_token": csrf(client, path), "note": "이름과 생년월일을 정정했습니다."})
    closed = text(client.get(path, headers=EN))
    assert "Corrected: name, birth date, a photo's age." in closed and "Correct the data" not in closed
    assert latest_request(db_session).outcome == {"corrected": ["display_name", "birth_date", "photo_age"],
                                                  "photos_corrected": 2}


def test_a_birth_date_that_would_have_refused_the_person_is_not_taken_and_the_officer_is_told_what_to_do(
    app: Any, client: Any, login: Any, make_user: Any, make_campaign: Any, campaign: Any, joined: Any,
    db_session: Any,
) -> None:
    from collection.accounts import User

    ask(client, "correction", campaign.id, "생년월일이 잘못 적혀 있습니다.")
    request_id = latest_request(db_session).id
    switch_to(client, login, make_user("compliance", locale="en"))
    path = f"/comply/rights/{request_id}"
    assert "The name and birth date are stored encrypted" in text(client.get(path, headers=EN))

    # the campaign takes ages 14 to 60: born 2015 they were 11 when they joined (and 70 if born 1955)
    for born in ("2015-06-01", "1955-01-01"):
        form = correction_form(client, path, display_name=joined.display_name, birth_date=born)
        resp = client.post(f"{path}/correct", headers=EN, data=form)
        body = text(resp)
        assert resp.status_code == 409 and "not within the ages 14 to 60 of a campaign they are enrolled in" in body
        assert "Complete a deletion for that campaign first" in body and f'value="{born}"' in body

    # a campaign that takes children: an adult's consent, under 14 by the new date, needs a legal representative
    campaign.min_age = 0
    db_session.commit()
    form = correction_form(client, path, display_name=joined.display_name, birth_date="2015-06-01")
    resp = client.post(f"{path}/correct", headers=EN, data=form)
    body = text(resp)
    assert resp.status_code == 409 and "under 14 when they joined" in body
    assert "must first withdraw their consent" in body and 'value="2015-06-01"' in body
    db_session.expire_all()
    assert db_session.get(User, joined.id).birth_date.isoformat() == "1995-03-04"  # nothing changed


def test_an_age_worked_out_again_outside_its_bracket_is_shown_to_the_officer(
    app: Any, client: Any, login: Any, make_user: Any, campaign: Any, joined: Any, db_session: Any
) -> None:
    form = {"csrf_token": csrf(client, set_url(campaign)), "bracket": "20-29", "age_years": "",
            "photos": [(io.BytesIO(face_photo(3)), "adult.jpg")]}
    client.post(f"/me/campaigns/{campaign.slug}/set/photos", data=form, content_type="multipart/form-data")
    dated = db_session.scalars(select(Photo).where(Photo.bracket == "20-29")).one()
    dated.captured_at, dated.age_years, dated.age_source = dt.datetime(2021, 6, 1, tzinfo=dt.UTC), 26, "capture_date"
    db_session.commit()
    ask(client, "correction", campaign.id, "생년월일이 1990년 1월 1일입니다.")
    request_id = latest_request(db_session).id
    switch_to(client, login, make_user("compliance", locale="en"))
    path = f"/comply/rights/{request_id}"
    form = correction_form(client, path, display_name=joined.display_name, birth_date="1990-01-01")
    resp = client.post(f"{path}/correct", headers=EN, data=form)
    assert resp.status_code == 302
    told = text(client.get(resp.headers["Location"], headers=EN))
    assert f"Photo {dated.id[:8]} (ages 20-29): by the corrected birth date it was taken at age 31" in told
    assert "Ask the contributor to replace it." in told


def text_sql(sql: str) -> Any:
    from sqlalchemy import text as sql_text

    return sql_text(sql)


# --- 3. account-wide deletion and the payment it leaves --------------------------------------------------------


def test_an_account_deletion_shows_the_unpaid_payment_needs_a_tick_and_the_payment_is_never_paid_to_nobody(
    app: Any, clock: Any, make_user: Any, make_campaign: Any, db_session: Any
) -> None:
    import csv

    from collection.accounts import User
    from collection.compliance import RightsKind
    from collection.payments.models import LedgerEntry, PayoutBatch
    from tests.webapp.test_payment_pages import new_batch, post, save_account
    from tests.webapp.test_review_pages import accept_set, page, publish, signed_in, submitted_set
    from tests.webapp.test_review_pages import in_app as services_in

    campaign = make_campaign(payment_krw=30_000)
    version = publish(app, campaign)
    operator = make_user("operator", locale="en")
    people = []
    for start in (0, 20):
        person, set_id, photo_ids = submitted_set(app, clock, make_user, campaign, version, start=start)
        save_account(app, person, number=f"110-234-5678{start:02d}")
        accept_set(app, operator, campaign, set_id, photo_ids)
        people.append(person)
    leaving, staying = people
    cashier = signed_in(app, operator)
    batch_id = new_batch(cashier)
    with services_in(app):
        from webapp.compliance_services import rights

        request_id = rights().submit(leaving, RightsKind.DELETION, None, "계정을 지워 주세요").id

    officer = signed_in(app, make_user("compliance", locale="en"))
    path = f"/comply/rights/{request_id}"
    before = page(officer.get(path))
    assert "What this deletion affects" in before and "Payments earned and not paid yet: KRW 30,000" in before
    reference = db_session.get(PayoutBatch, batch_id).reference
    assert f"in payout batch {reference}" in before and "can no longer be transferred" in before

    note = "계정과 자료를 삭제했습니다."
    untouched = officer.post(f"{path}/complete", data={"csrf_token": csrf(officer, path), "note": note})
    assert untouched.status_code == 400
    assert "Tick the confirmation first: nothing was erased." in page(untouched) and note in page(untouched)
    db_session.expire_all()
    assert db_session.get(User, leaving.id).erased_at is None
    assert db_session.get(RightsRequest, request_id).state is RightsState.OPEN

    done = officer.post(f"{path}/complete", data={"csrf_token": csrf(officer, path), "note": note, "confirm": "y"})
    assert done.status_code == 302
    db_session.expire_all()
    assert db_session.get(User, leaving.id).erased_at is not None

    batch_page = page(cashier.get(f"/operate/payments/batches/{batch_id}"))
    assert "account erased: not in the file, not paid" in batch_page
    assert "1 entries (KRW 30,000) are left out of the file and cannot be marked paid" in batch_page
    exported = post(cashier, f"/operate/payments/batches/{batch_id}/export").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(exported.lstrip("\ufeff"))))
    assert [r["account_id"] for r in rows] == [staying.id]  # no row without a bank account

    marked = post(cashier, f"/operate/payments/batches/{batch_id}/paid", confirm="y")
    told = page(cashier.get(marked.headers["Location"]))
    assert "Marked paid: 1 entries." in told
    assert "Not marked paid: 1 entries (KRW 30,000) have no payee" in told
    db_session.expire_all()
    paid = {e.user_id: e.paid_at for e in db_session.scalars(select(LedgerEntry))}
    assert paid[leaving.id] is None and paid[staying.id] is not None
    assert "1 entries (KRW 30,000) are owed to accounts that were erased" in page(cashier.get("/operate/payments"))
