"""The contributor's payout account through the test client and the service: per-field errors (unknown bank,
malformed number) with nothing typed lost, CSRF, the saved account shown masked but its last four digits, an
audit event without the number, the dashboard's notice and link, and the columns sealed at rest."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select, text

from collection.audit.models import AuditEvent
from collection.errors import InvalidPayoutAccount
from collection.payments.banks import masked, normalize_account_number
from collection.payments.models import PayoutAccount
from tests.conftest import csrf_token
from tests.webapp.test_review_pages import page, signed_in

URL = "/me/payout"


@pytest.fixture()
def contributor(make_user: Any) -> Any:
    return make_user("contributor", locale="en", name="Kim Minji")


def submit(client: Any, **fields: str) -> Any:
    return client.post(URL, data={"csrf_token": csrf_token(client, URL), **fields})


def errors_of(body: str, field: str) -> list[str]:
    block = re.search(rf'<ul class="errors" id="{field}-err">(.*?)</ul>', body, re.S)
    return re.findall(r"<li>([^<]+)</li>", block.group(1)) if block else []


def stored(db_session: Any, user: Any) -> PayoutAccount | None:
    db_session.expire_all()
    return db_session.scalar(select(PayoutAccount).where(PayoutAccount.user_id == user.id))


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("110-234-56789a", "Use digits and hyphens only."),
        ("110--234-567890", "Use digits and hyphens only."),
        ("-1102345678", "Use digits and hyphens only."),
        ("123-456-789", "An account number has 10 to 16 digits."),
        ("1234-5678-9012-34567", "An account number has 10 to 16 digits."),
        ("", "Enter the account number."),
    ],
)
def test_a_bad_account_number_is_refused_and_nothing_typed_is_lost(
    app: Any, contributor: Any, db_session: Any, typed: str, message: str
) -> None:
    client = signed_in(app, contributor)
    resp = submit(client, bank="004", holder_name="김민지", account_number=typed)
    body = page(resp)
    assert resp.status_code == 400
    assert errors_of(body, "account_number") == [message]
    assert errors_of(body, "bank") == [] and errors_of(body, "holder_name") == []
    assert 'value="김민지"' in body and re.search(r'<option selected value="004">|<option value="004" selected', body)
    assert f'value="{typed}"' in body if typed else True
    assert stored(db_session, contributor) is None


def test_an_unknown_bank_is_refused(app: Any, contributor: Any, db_session: Any) -> None:
    client = signed_in(app, contributor)
    body = page(submit(client, bank="999", holder_name="김민지", account_number="110-234-567890"))
    assert errors_of(body, "bank") == ["Choose your bank from the list."]
    assert 'value="110-234-567890"' in body
    missing = page(submit(client, bank="", holder_name="", account_number="110-234-567890"))
    assert errors_of(missing, "bank") == ["Choose your bank."]
    assert errors_of(missing, "holder_name") == ["Enter the account holder's name."]
    assert stored(db_session, contributor) is None


def test_the_service_checks_the_rules_too(app: Any, contributor: Any) -> None:
    from tests.webapp.test_review_pages import in_app

    with in_app(app) as s:
        for args, field in (
            (("999", "김민지", "1102345678"), "bank"),
            (("004", "   ", "1102345678"), "holder_name"),
            (("004", "김민지", "11023456"), "account_number"),
        ):
            with pytest.raises(InvalidPayoutAccount) as raised:
                s.payments().save_payout_account(contributor, *args)
            assert raised.value.field == field


def test_saving_without_the_csrf_token_is_refused(app: Any, contributor: Any, db_session: Any) -> None:
    client = signed_in(app, contributor)
    resp = client.post(URL, data={"bank": "004", "holder_name": "김민지", "account_number": "110-234-567890"})
    assert resp.status_code == 400
    assert stored(db_session, contributor) is None


def test_the_saved_account_is_masked_and_changing_it_is_audited(app: Any, contributor: Any, db_session: Any) -> None:
    client = signed_in(app, contributor)
    resp = submit(client, bank="004", holder_name=" 김민지 ", account_number="110-234-567890")
    assert resp.status_code == 302 and resp.headers["Location"].endswith(URL)
    account = stored(db_session, contributor)
    assert account is not None
    assert (account.bank_code, account.holder_name, account.account_number) == ("004", "김민지", "110234567890")
    body = page(client.get(URL))
    assert "Your payout account was saved." in body
    assert "KB Kookmin Bank" in body and "••••••••7890" in body
    assert "110234567890" not in body and "110-234-567890" not in body and "23456" not in body

    assert submit(client, bank="090", holder_name="김민지", account_number="3333-01-2345678").status_code == 302
    account = stored(db_session, contributor)
    assert account is not None and (account.bank_code, account.account_number) == ("090", "3333012345678")
    assert db_session.scalar(select(PayoutAccount.id).where(PayoutAccount.user_id == contributor.id)) == account.id
    events = db_session.scalars(select(AuditEvent).where(AuditEvent.object_type == "payout_account")).all()
    assert [(e.action, e.actor_id, e.details) for e in events] == [
        ("payout_account.created", contributor.subject_id, {"bank_code": "004"}),
        ("payout_account.changed", contributor.subject_id, {"bank_code": "090"}),
    ]
    assert not any("567890" in str(e.details) or "2345678" in str(e.details) for e in events)


def test_the_dashboard_asks_for_an_account_until_one_is_saved(app: Any, contributor: Any) -> None:
    client = signed_in(app, contributor)
    body = page(client.get("/me/"))
    assert "Add the bank account your earnings are paid to" in body and f'href="{URL}"' in body
    submit(client, bank="088", holder_name="김민지", account_number="110-234-567890")
    body = page(client.get("/me/"))
    assert "Add the bank account your earnings are paid to" not in body and f'href="{URL}"' in body


def test_the_holder_and_number_are_sealed_at_rest(app: Any, contributor: Any, db_session: Any) -> None:
    client = signed_in(app, contributor)
    submit(client, bank="081", holder_name="PAYEE-CANARY-Zq7", account_number="9876-5432-1098-76")
    raw = db_session.execute(
        text("SELECT bank_code, holder_name, account_number FROM payout_accounts WHERE user_id = :u"),
        {"u": contributor.id},
    ).one()
    assert raw[0] == "081"
    sealed = bytes(raw[1]) + bytes(raw[2])
    for needle in ("PAYEE-CANARY", "98765432109876", "9876-5432", "109876"):
        assert needle.encode() not in sealed
    account = stored(db_session, contributor)
    assert account is not None and account.account_number == "98765432109876"  # the app, with the key, reads it


def test_account_number_helpers() -> None:
    assert normalize_account_number(" 110-234-567890 ") == "110234567890"
    assert normalize_account_number("１１０－２３４－５６７８９０") == "110234567890"  # typed in full-width mode
    assert masked("110234567890") == "••••••••7890"
    with pytest.raises(InvalidPayoutAccount):
        normalize_account_number("110 234 567890")
