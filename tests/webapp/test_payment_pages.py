"""The operator's payment pages through the test client: entries waiting for payment and their total, payout
batches (every entry in one batch once), the bank-transfer CSV (attachment, UTF-8 with a BOM, the same on every
download, no spreadsheet formulas from typed names, each payee's bank account), entries whose contributor has
no payout account waiting outside the batches, and marking paid (confirmed, and paid once however often)."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest
from sqlalchemy import select

from collection.audit.models import AuditEvent
from collection.contributions.models import PhotoSet, SetState
from collection.payments.models import LedgerEntry, PayoutBatch
from collection.payments.service import CSV_COLUMNS, csv_cell
from tests.conftest import csrf_token
from tests.webapp.test_review_pages import accept_set, count, flashes, page, publish, signed_in, submitted_set


@pytest.fixture()
def accepted(app: Any, clock: Any, make_user: Any, make_campaign: Any) -> dict[str, Any]:
    """Two contributors' sets, accepted by an operator: two ledger entries of 400,000 won each."""
    campaign = make_campaign(payment_krw=400_000)
    version = publish(app, campaign)
    operator = make_user("operator", locale="en")
    people = []
    for start in (0, 20):
        contributor, set_id, photo_ids = submitted_set(app, clock, make_user, campaign, version, start=start)
        save_account(app, contributor, number=f"110-234-5678{start:02d}")
        accept_set(app, operator, campaign, set_id, photo_ids)
        people.append((contributor, set_id))
    return {"campaign": campaign, "operator": operator, "people": people, "client": signed_in(app, operator)}


def save_account(app: Any, user: Any, number: str, bank: str = "088", holder: str | None = None) -> None:
    """The contributor's payout account, saved through the payment service as the contributor page does."""
    from tests.webapp.test_review_pages import in_app
    from webapp.db import get_session

    with in_app(app) as s:
        s.payments().save_payout_account(user, bank, holder or user.display_name, number)
        get_session().commit()


def post(client: Any, url: str, **data: str) -> Any:
    return client.post(url, data={"csrf_token": csrf_token(client, "/operate/payments"), **data})


def new_batch(client: Any) -> str:
    resp = post(client, "/operate/payments/batches")
    assert resp.status_code == 302, resp.text[:300]
    return str(resp.headers["Location"].rsplit("/", 1)[1])


def test_entries_waiting_for_payment_show_with_their_total(accepted: dict[str, Any]) -> None:
    body = page(accepted["client"].get("/operate/payments"))
    assert "홍길동0" in body and "홍길동20" in body
    assert body.count(accepted["campaign"].title_en) >= 2  # each entry names its campaign by title
    assert "Total (2 entries)" in body and "KRW 800,000" in body
    assert "Create a payout batch" in body


def test_a_batch_takes_every_waiting_entry_once(accepted: dict[str, Any], db_session: Any) -> None:
    client = accepted["client"]
    batch_id = new_batch(client)
    body = page(client.get(f"/operate/payments/batches/{batch_id}"))
    assert "KRW 800,000" in body and "홍길동0" in body and "홍길동20" in body
    resp = post(client, "/operate/payments/batches")
    assert "Nothing to pay: every accepted set is already in a batch." in flashes(client.get(resp.headers["Location"]))
    assert count(db_session, PayoutBatch) == 1
    assert count(db_session, LedgerEntry, LedgerEntry.batch_id == batch_id) == 2
    index = page(client.get("/operate/payments"))
    assert "Nothing is waiting for payment." in index and db_session.get(PayoutBatch, batch_id).reference in index


def test_the_bank_file_is_an_attachment_excel_reads_as_utf8(accepted: dict[str, Any], db_session: Any) -> None:
    client = accepted["client"]
    batch_id = new_batch(client)
    first = post(client, f"/operate/payments/batches/{batch_id}/export")
    reference = db_session.get(PayoutBatch, batch_id).reference
    assert first.status_code == 200 and first.mimetype == "text/csv" and first.mimetype_params["charset"] == "utf-8"
    assert first.headers["Content-Disposition"] == f'attachment; filename="datadam-payout-{reference}.csv"'
    assert first.data.startswith(b"\xef\xbb\xbf")  # the byte order mark Excel needs to read Hangul as UTF-8
    rows = list(csv.reader(io.StringIO(first.data.decode("utf-8-sig"))))
    assert tuple(rows[0]) == CSV_COLUMNS
    contributors = {c.id: c for c, _ in accepted["people"]}
    assert sorted((r[0], r[2], r[3], r[4], r[5]) for r in rows[1:]) == sorted(
        (reference, c.id, c.display_name, accepted["campaign"].slug, "400000") for c in contributors.values()
    )
    # the bank details a transfer needs: code, Korean bank name, holder, the number as digits only
    assert sorted(tuple(r[7:]) for r in rows[1:]) == [
        ("088", "신한은행", "홍길동0", "1102345678" + "00"),
        ("088", "신한은행", "홍길동20", "1102345678" + "20"),
    ]
    second = post(client, f"/operate/payments/batches/{batch_id}/export")
    assert second.data == first.data  # the same file every time
    exported = select(AuditEvent).where(AuditEvent.action == "payout.exported", AuditEvent.object_id == batch_id)
    assert len(db_session.scalars(exported).all()) == 2
    assert "File downloaded" in page(client.get(f"/operate/payments/batches/{batch_id}"))


def test_marking_paid_twice_pays_once(accepted: dict[str, Any], db_session: Any) -> None:
    client = accepted["client"]
    batch_id = new_batch(client)
    url = f"/operate/payments/batches/{batch_id}/paid"
    unconfirmed = post(client, url)
    assert unconfirmed.status_code == 400 and "Tick the confirmation first." in page(unconfirmed)
    assert db_session.get(PayoutBatch, batch_id).paid_at is None
    resp = post(client, url, confirm="y")
    assert "Marked paid: 2 entries." in flashes(client.get(resp.headers["Location"]))
    db_session.expire_all()
    paid_at = db_session.get(PayoutBatch, batch_id).paid_at
    assert paid_at is not None
    for _, set_id in accepted["people"]:
        assert db_session.get(PhotoSet, set_id).state is SetState.PAID
    again = post(client, url, confirm="y")
    assert "This batch was already paid: nothing changed." in flashes(client.get(again.headers["Location"]))
    db_session.expire_all()
    assert db_session.get(PayoutBatch, batch_id).paid_at == paid_at
    marked = select(AuditEvent).where(AuditEvent.action == "payout.marked_paid", AuditEvent.object_id == batch_id)
    assert [e.details["entries"] for e in db_session.scalars(marked)] == [2]
    body = page(client.get(f"/operate/payments/batches/{batch_id}"))
    assert "Every entry of this batch is paid." in body and "Mark the batch paid" not in body


def test_a_formula_typed_as_a_name_is_not_run_by_the_spreadsheet(
    app: Any, clock: Any, make_user: Any, make_campaign: Any
) -> None:
    campaign = make_campaign()
    version = publish(app, campaign)
    operator = make_user("operator", locale="en")
    contributor, set_id, photo_ids = submitted_set(app, clock, make_user, campaign, version)
    from tests.webapp.test_review_pages import in_app
    from webapp.db import get_session

    with in_app(app):
        get_session().merge(contributor).display_name = '=HYPERLINK("http://evil.example","x")'
    save_account(app, contributor, "1002-345-678901", bank="020", holder="@SUM(A1)")
    accept_set(app, operator, campaign, set_id, photo_ids)
    client = signed_in(app, operator)
    batch_id = new_batch(client)
    rows = list(
        csv.reader(io.StringIO(post(client, f"/operate/payments/batches/{batch_id}/export").data.decode("utf-8-sig")))
    )
    assert rows[1][3] == '\'=HYPERLINK("http://evil.example","x")'
    assert rows[1][7:] == ["020", "우리은행", "'@SUM(A1)", "1002345678901"]


@pytest.mark.parametrize(
    ("typed", "written"),
    [
        ("김민지", "김민지"),
        ("=1+1", "'=1+1"),
        ("+82 10", "'+82 10"),
        ("-5", "'-5"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_csv_cells_that_start_like_a_formula_are_escaped(typed: str, written: str) -> None:
    assert csv_cell(typed) == written


def test_the_contributor_sees_the_accepted_set_in_their_earnings(app: Any, accepted: dict[str, Any]) -> None:
    contributor, _ = accepted["people"][0]
    body = page(signed_in(app, contributor).get("/me/"))
    assert "400,000원" in body
    # one card per payment: the campaign it is for, and every value with its (translated) label in the page text
    cards = body[body.index('<ul class="cards earnings">'):]
    cards = cards[: cards.index("</ul>")]
    assert accepted["campaign"].title_ko in cards
    assert re.findall(r"<dt>([^<]+)</dt>", cards) == ["금액", "승인일", "지급일"] and "지급 대기" in cards


def test_entries_without_a_payout_account_wait_outside_the_batches(
    app: Any, clock: Any, make_user: Any, make_campaign: Any, db_session: Any
) -> None:
    campaign = make_campaign(payment_krw=250_000)
    version = publish(app, campaign)
    operator = make_user("operator", locale="en")
    with_account, set_a, photos_a = submitted_set(app, clock, make_user, campaign, version, start=0)
    without, set_b, photos_b = submitted_set(app, clock, make_user, campaign, version, start=20)
    save_account(app, with_account, "3333-01-2345678")
    for set_id, photo_ids in ((set_a, photos_a), (set_b, photos_b)):
        accept_set(app, operator, campaign, set_id, photo_ids)
    client = signed_in(app, operator)
    body = page(client.get("/operate/payments"))
    assert "1 entries (KRW 250,000) wait for the contributor's account details" in body
    assert "Total (1 entries)" in body and "홍길동0" in body and "홍길동20" not in body

    first = new_batch(client)
    assert [e.user_id for e in db_session.scalars(select(LedgerEntry).where(LedgerEntry.batch_id == first))] == [
        with_account.id
    ]
    resp = post(client, "/operate/payments/batches")  # only the waiting entry is left: no batch
    assert "Nothing to pay yet: the waiting entries need their contributors' bank accounts." in flashes(
        client.get(resp.headers["Location"])
    )
    assert count(db_session, PayoutBatch) == 1

    save_account(app, without, "110-987-654321", bank="090")
    assert "wait for the contributor's account details" not in page(client.get("/operate/payments"))
    second = new_batch(client)  # takes the entry that waited, and nothing paid or batched before
    db_session.expire_all()
    assert [e.user_id for e in db_session.scalars(select(LedgerEntry).where(LedgerEntry.batch_id == second))] == [
        without.id
    ]
    assert count(db_session, LedgerEntry, LedgerEntry.batch_id == first) == 1
    body = page(client.get(f"/operate/payments/batches/{second}"))
    assert "카카오뱅크" in body and "110987654321" in body


def test_a_payee_owed_twice_in_one_campaign_is_pointed_out(accepted: dict[str, Any], db_session: Any) -> None:
    from collection.contributions.models import Enrollment, EnrollmentState

    (contributor, set_id), _other = accepted["people"]
    first = db_session.get(PhotoSet, set_id)
    db_session.get(Enrollment, first.enrollment_id).state = EnrollmentState.ERASED  # withdrew, data erased
    db_session.flush()
    enrollment = Enrollment(campaign_id=first.campaign_id, user_id=contributor.id, joined_at=first.created_at,
                            state=EnrollmentState.ACTIVE)  # joined anew
    db_session.add(enrollment)
    db_session.flush()
    again = PhotoSet(enrollment_id=enrollment.id, campaign_id=first.campaign_id, user_id=contributor.id,
                     state=SetState.ACCEPTED)
    db_session.add(again)
    db_session.flush()
    db_session.add(LedgerEntry(set_id=again.id, user_id=contributor.id, campaign_id=first.campaign_id,
                               amount_krw=400_000, created_at=first.created_at))
    db_session.commit()
    body = page(accepted["client"].get("/operate/payments"))
    assert body.count("1 other payment(s) in this campaign") == 2  # both of that person's entries, not the other's
    assert "joined anew can be owed for a new set" in body
    review_page = page(accepted["client"].get(f"/operate/review/sets/{again.id}"))
    assert "This contributor also has 1 other payment(s) in this campaign (KRW 400,000)" in review_page  # accepted
    batch = page(accepted["client"].get(f"/operate/payments/batches/{new_batch(accepted['client'])}"))
    assert batch.count("1 other payment(s) in this campaign") == 2


# --- money as people read it: one rule, "30,000원" in Korean and "KRW 30,000" in English ------------------------


@pytest.mark.parametrize(("lang", "shown"), [("ko", "1,234,567원"), ("en", "KRW 1,234,567")])
def test_the_krw_filter_writes_money_the_readers_way(app: Any, lang: str, shown: str) -> None:
    from webapp.i18n import krw

    with app.test_request_context("/", headers={"Accept-Language": lang}):
        assert app.jinja_env.from_string("{{ amount | krw }}").render(amount=1_234_567) == shown
        assert krw(1_234_567) == shown  # the same rule for flash messages built in Python


def test_operators_reading_korean_see_won_on_the_payment_pages(
    app: Any, accepted: dict[str, Any], make_user: Any
) -> None:
    client = signed_in(app, make_user("operator", locale="ko"))
    body = page(client.get("/operate/payments"))
    assert "800,000원" in body and "400,000원" in body and "KRW" not in body
    batch = page(client.get(f"/operate/payments/batches/{new_batch(client)}"))
    assert "800,000원" in batch and "400,000원" in batch and "KRW" not in batch


def test_the_contributor_is_told_the_payment_in_won(app: Any, accepted: dict[str, Any]) -> None:
    contributor, _ = accepted["people"][0]
    body = page(signed_in(app, contributor).get(f"/me/campaigns/{accepted['campaign'].slug}/set"))
    assert "세트가 승인되었습니다. 다음 지급 때 보상이 지급됩니다(지급액: 400,000원)." in body and "KRW" not in body


def test_a_korean_warning_states_the_waiting_total_in_won(
    app: Any, clock: Any, make_user: Any, make_campaign: Any
) -> None:
    campaign = make_campaign(payment_krw=250_000)
    version = publish(app, campaign)
    operator = make_user("operator", locale="ko")
    _person, set_id, photo_ids = submitted_set(app, clock, make_user, campaign, version)
    accept_set(app, operator, campaign, set_id, photo_ids)  # no payout account: the entry waits
    body = page(signed_in(app, operator).get("/operate/payments"))
    assert "1건(합계 250,000원)이 참여자의 계좌 정보를 기다리고 있습니다" in body and "KRW" not in body


# --- a payee erased after the bank file went out; two operators marking at once -------------------------------


def erase_account(app: Any, make_user: Any, person: Any) -> str:
    """An account-wide deletion request, completed by a compliance officer through the request page (which first
    shows what it affects). Returns that page as it read before completing."""
    from collection.compliance import RightsKind
    from tests.webapp.test_review_pages import in_app

    with in_app(app):
        from webapp.compliance_services import rights

        request_id = rights().submit(person, RightsKind.DELETION, None, "계정을 지워 주세요").id
    officer = signed_in(app, make_user("compliance", locale="en"))
    path = f"/comply/rights/{request_id}"
    before = page(officer.get(path))
    token = csrf_token(officer, path)
    done = officer.post(f"{path}/complete", data={"csrf_token": token, "note": "삭제했습니다.", "confirm": "y"})
    assert done.status_code == 302, page(done)[:500]
    return before


def bank_rows(client: Any, batch_id: str) -> list[dict[str, str]]:
    exported = post(client, f"/operate/payments/batches/{batch_id}/export").get_data(as_text=True)
    return list(csv.DictReader(io.StringIO(exported.lstrip("\ufeff"))))


def test_a_payment_in_a_downloaded_bank_file_is_marked_paid_after_its_payee_is_erased(
    app: Any, make_user: Any, accepted: dict[str, Any], db_session: Any
) -> None:
    client = accepted["client"]
    (leaving, _), (staying, _) = accepted["people"]
    batch_id = new_batch(client)
    assert len(bank_rows(client, batch_id)) == 2  # the file goes to the bank: both transfers are under way

    before = erase_account(app, make_user, leaving)
    assert "in a downloaded bank file: the transfer may be under way. Mark the batch paid once the bank confirms." in (
        before
    )
    batch_page = page(client.get(f"/operate/payments/batches/{batch_id}"))
    assert "account erased after the file was downloaded: mark paid once the bank confirms" in batch_page
    assert "not in the file, not paid" not in batch_page and "Mark the batch paid" in batch_page
    assert "owed to accounts that were erased" not in page(client.get("/operate/payments"))

    marked = post(client, f"/operate/payments/batches/{batch_id}/paid", confirm="y")
    told = flashes(client.get(marked.headers["Location"]))
    assert "Marked paid: 2 entries." in told and not any("Not marked paid" in f for f in told)
    db_session.expire_all()
    assert all(e.paid_at is not None for e in db_session.scalars(select(LedgerEntry)))

    # the paid batch's file still lists what the bank paid; the erased payee's bank details are gone
    rows = {r["account_id"]: r for r in bank_rows(client, batch_id)}
    assert set(rows) == {leaving.id, staying.id}
    assert rows[leaving.id]["payee_name"] == "(erased)" and rows[leaving.id]["amount_krw"] == "400000"
    assert [rows[leaving.id][c] for c in ("bank_code", "bank_name", "account_holder", "account_number")] == [""] * 4
    batch_page = page(client.get(f"/operate/payments/batches/{batch_id}"))
    assert "account erased after payment" in batch_page and "not in the file, not paid" not in batch_page


def test_a_paid_entry_whose_payee_is_erased_later_is_not_called_unpaid(
    app: Any, make_user: Any, accepted: dict[str, Any], db_session: Any
) -> None:
    client = accepted["client"]
    (leaving, _), (staying, _) = accepted["people"]
    batch_id = new_batch(client)
    post(client, f"/operate/payments/batches/{batch_id}/paid", confirm="y")  # paid without a file download
    erase_account(app, make_user, leaving)
    batch_page = page(client.get(f"/operate/payments/batches/{batch_id}"))
    assert "account erased after payment" in batch_page
    assert "not in the file, not paid" not in batch_page and "left out of the file" not in batch_page
    rows = {r["account_id"]: r for r in bank_rows(client, batch_id)}
    assert set(rows) == {leaving.id, staying.id} and rows[leaving.id]["account_number"] == ""


def test_a_repeated_mark_paid_with_an_erased_payee_records_one_audit_event(
    app: Any, make_user: Any, accepted: dict[str, Any], db_session: Any
) -> None:
    client = accepted["client"]
    (leaving, _), _ = accepted["people"]
    batch_id = new_batch(client)
    erase_account(app, make_user, leaving)  # before any download: that entry can never be paid
    for _ in range(3):
        post(client, f"/operate/payments/batches/{batch_id}/paid", confirm="y")
    marked = select(AuditEvent).where(AuditEvent.action == "payout.marked_paid", AuditEvent.object_id == batch_id)
    assert [(e.details["entries"], e.details["skipped_no_payee"]) for e in db_session.scalars(marked)] == [(1, 1)]


def test_two_operators_marking_a_batch_at_once_pay_it_once(
    clock: Any, test_sessionmaker: Any, accepted: dict[str, Any], db_session: Any
) -> None:
    from collection.audit.log import AuditLog
    from collection.payments.service import PaymentService

    client = accepted["client"]
    batch_id = new_batch(client)
    # the first operator's request (a session of its own) has read the batch and its entries, all unpaid ...
    first = test_sessionmaker()
    service = PaymentService(first, clock, AuditLog(first, clock))
    batch = service.batch(batch_id)
    read = service.entries(batch)  # held, as a request holds what it read
    assert all(e.paid_at is None for e in read)
    # ... when a second operator's request marks the batch paid and commits
    resp = post(client, f"/operate/payments/batches/{batch_id}/paid", confirm="y")
    assert "Marked paid: 2 entries." in flashes(client.get(resp.headers["Location"]))
    assert service.mark_paid(accepted["operator"], batch) == 0
    first.commit()
    first.close()
    marked = select(AuditEvent).where(AuditEvent.action == "payout.marked_paid", AuditEvent.object_id == batch_id)
    assert [e.details["entries"] for e in db_session.scalars(marked)] == [2]
