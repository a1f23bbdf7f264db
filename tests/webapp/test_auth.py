"""Sign-up, sign-in, sign-out, throttling, staff session limits, CSRF and security headers, through the client."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from tests.conftest import DEMO_PASSWORD, MASTER_KEY, csrf_token, user_by_email


def _signup(client: Any, **over: Any) -> Any:
    data = {
        "display_name": "김민지",
        "email": "minji@example.com",
        "birth_date": "1998-02-03",
        "password": "a long enough pw",
        "confirm": "a long enough pw",
        "locale": "ko",
        "privacy": "y",
    }
    data.update(over)
    data["csrf_token"] = csrf_token(client, "/signup")
    return client.post("/signup", data=data)


def _errors(resp: Any) -> list[str]:
    return re.findall(r"<li>([^<]+)</li>", resp.get_data(as_text=True))


def test_signup_creates_a_contributor_and_signs_in(client: Any, db_session: Any) -> None:
    from collection.accounts import Role

    resp = _signup(client)
    assert resp.status_code == 302 and resp.headers["Location"] == "/me/"
    user = user_by_email(db_session, "minji@example.com")
    assert user.role is Role.CONTRIBUTOR and user.birth_date == dt.date(1998, 2, 3)
    assert user.last_login_at is not None  # signing up signed them in
    assert user.password_hash.startswith("$argon2id$")
    assert "a long enough pw" not in user.password_hash
    page = client.get("/me/").get_data(as_text=True)
    assert "김민지님, 안녕하세요" in page


def test_signup_errors_sit_next_to_their_fields_and_keep_input(client: Any, make_user: Any) -> None:
    make_user("contributor", email="taken@example.com")
    resp = _signup(client, email="taken@example.com", password="short", confirm="short", birth_date="2999-01-01")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert 'id="password-err"' in html and 'id="birth_date-err"' in html
    assert 'value="김민지"' in html  # nothing typed is lost


def test_signup_refuses_a_taken_email(client: Any, make_user: Any) -> None:
    make_user("contributor", email="taken@example.com")
    resp = _signup(client, email="Taken@Example.com")
    assert resp.status_code == 200
    assert any("이미 이 이메일" in e for e in _errors(resp))


def test_the_email_is_sealed_yet_found_for_sign_in_and_the_duplicate_refusal(
    client: Any, make_user: Any, db_session: Any
) -> None:
    from sqlalchemy import text

    from collection.accounts import email_blind_index

    user = make_user("contributor", email="Sealed.Person@Example.com")
    stored = db_session.execute(text("SELECT email, email_index FROM users WHERE id = :id"), {"id": user.id}).one()
    assert b"sealed.person" not in bytes(stored.email).lower()
    assert stored.email_index == email_blind_index(MASTER_KEY).digest("sealed.person@example.com")

    refused = _signup(client, email="SEALED.person@example.com")
    assert refused.status_code == 200 and any("이미 이 이메일" in e for e in _errors(refused))
    assert user_by_email(db_session, "sealed.person@example.com").id == user.id  # still exactly one

    token = csrf_token(client, "/login")
    form = {"email": "sealed.PERSON@example.com", "password": DEMO_PASSWORD, "csrf_token": token}
    signed_in = client.post("/login", data=form)
    assert signed_in.status_code == 302 and signed_in.headers["Location"] == "/me/"


def test_login_wrong_password_then_lockout_with_minutes(client: Any, make_user: Any, clock: Any) -> None:
    user = make_user("operator")
    for _ in range(5):
        token = csrf_token(client)
        resp = client.post("/login", data={"email": user.email, "password": "wrong-password", "csrf_token": token})
        assert "이메일 또는 비밀번호가 올바르지 않습니다." in resp.get_data(as_text=True)
    token = csrf_token(client)
    resp = client.post("/login", data={"email": user.email, "password": DEMO_PASSWORD, "csrf_token": token})
    assert "15분 후에 다시 시도해 주세요" in resp.get_data(as_text=True)  # even the right password waits
    clock.advance(minutes=16)
    token = csrf_token(client)
    resp = client.post("/login", data={"email": user.email, "password": DEMO_PASSWORD, "csrf_token": token})
    assert resp.status_code == 302 and resp.headers["Location"] == "/operate/"


def test_throttle_per_network_across_accounts(db_session: Any, clock: Any, make_user: Any) -> None:
    from collection.accounts import AccountService, email_blind_index
    from collection.accounts.service import ThrottlePolicy
    from collection.errors import InvalidCredentials, LoginThrottled

    policy = ThrottlePolicy(max_failures=5, ip_max_failures=3)
    service = AccountService(db_session, clock, b"k" * 32, policy, email_index=email_blind_index(MASTER_KEY))
    for i in range(3):
        with pytest.raises(InvalidCredentials):
            service.authenticate(f"nobody{i}@example.com", "x", "203.0.113.9")
    with pytest.raises(LoginThrottled) as info:
        service.authenticate(make_user("contributor").email, DEMO_PASSWORD, "203.0.113.9")
    assert info.value.scope == "network" and info.value.minutes == 15
    assert service.authenticate(make_user("contributor").email, DEMO_PASSWORD, "198.51.100.7")


def test_ip_is_stored_only_as_a_keyed_hash(db_session: Any, clock: Any, make_user: Any) -> None:
    from collection.accounts import AccountService, LoginAttempt, email_blind_index

    user = make_user("contributor")
    service = AccountService(db_session, clock, b"k" * 32, email_index=email_blind_index(MASTER_KEY))
    service.authenticate(user.email, DEMO_PASSWORD, "192.0.2.44")
    row = db_session.query(LoginAttempt).filter_by(user_id=user.id).one()
    assert "192.0.2.44" not in row.ip_hash and len(row.ip_hash) == 64


def test_each_role_lands_on_its_dashboard_and_signs_out(client: Any, make_user: Any, login: Any) -> None:
    for role, path in [
        ("contributor", "/me/"),
        ("operator", "/operate/"),
        ("compliance", "/comply/"),
        ("admin", "/admin/"),
    ]:
        resp = login(make_user(role))
        assert resp.headers["Location"] == path
        assert client.get(path).status_code == 200
        token = csrf_token(client, path)
        assert client.post("/logout", data={"csrf_token": token}).status_code == 302
        assert client.get(path).status_code == 302  # back to the sign-in page


def test_staff_session_expires_after_idle_time(client: Any, make_user: Any, login: Any) -> None:
    login(make_user("operator"))
    assert client.get("/operate/").status_code == 200
    with client.session_transaction() as sess:
        sess["seen_at"] = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=16)).isoformat()
    resp = client.get("/operate/")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_staff_session_has_an_absolute_limit(client: Any, make_user: Any, login: Any) -> None:
    login(make_user("compliance"))
    with client.session_transaction() as sess:
        sess["login_at"] = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=8, minutes=1)).isoformat()
    assert client.get("/comply/").status_code == 302


def test_contributor_session_is_not_cut_after_15_minutes(client: Any, make_user: Any, login: Any) -> None:
    login(make_user("contributor"))
    with client.session_transaction() as sess:
        sess["seen_at"] = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30)).isoformat()
    assert client.get("/me/").status_code == 200


def test_post_without_csrf_token_is_refused(client: Any, make_user: Any) -> None:
    user = make_user("contributor")
    resp = client.post("/login", data={"email": user.email, "password": DEMO_PASSWORD})
    assert resp.status_code == 400
    assert "양식이 만료" in resp.get_data(as_text=True)


def test_security_headers_and_cookie_flags(client: Any, make_user: Any, login: Any) -> None:
    resp = client.get("/")
    csp = resp.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert "Strict-Transport-Security" not in resp.headers  # local development: plain http
    cookie = login(make_user("contributor")).headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


@pytest.mark.config(env="production", secret_key="s" * 40, master_key="QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=",
                    base_url="https://data.example.kr", controller_name="Data Co.",
                    controller_contact="dpo@data.example.kr", audit_checkpoint_dir="/tmp/datadam-test-checkpoints")
def test_production_adds_hsts_and_secure_cookies(app: Any, client: Any) -> None:
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert "max-age=" in client.get("/").headers["Strict-Transport-Security"]


def test_request_size_limit(app: Any, client: Any) -> None:
    app.config["WTF_CSRF_ENABLED"] = False
    resp = client.post("/login", data={"email": "x" * (app.config["MAX_CONTENT_LENGTH"] + 10)})
    limit = app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024)
    assert resp.status_code == 413 and f"최대 {limit}MB" in resp.get_data(as_text=True)  # it names the limit


def test_open_redirect_is_refused(client: Any, make_user: Any) -> None:
    user = make_user("contributor")
    token = csrf_token(client)
    resp = client.post(
        "/login?next=//evil.example/x", data={"email": user.email, "password": DEMO_PASSWORD, "csrf_token": token}
    )
    assert resp.headers["Location"] == "/me/"


# -- sign-ins in the tamper-evident audit log ------------------------------------------------------------------
def _auth_events(db_session: Any, action: str) -> list[Any]:
    from collection.audit.models import AuditEvent

    return db_session.query(AuditEvent).filter_by(action=action).order_by(AuditEvent.at, AuditEvent.id).all()


def _post_login(client: Any, email: str, password: str) -> Any:
    return client.post("/login", data={"email": email, "password": password, "csrf_token": csrf_token(client)})


def _content(event: Any) -> str:
    from collection.audit.log import event_content

    return str(event_content(event))


def test_a_sign_in_is_audited_and_committed(client: Any, make_user: Any, db_session: Any, clock: Any) -> None:
    staff, contributor = make_user("operator"), make_user("contributor")
    assert _post_login(client, staff.email, DEMO_PASSWORD).status_code == 302
    client.post("/logout", data={"csrf_token": csrf_token(client, "/operate/")})
    clock.advance(seconds=1)
    assert _post_login(client, contributor.email, DEMO_PASSWORD).status_code == 302
    first, second = _auth_events(db_session, "auth.signed_in")  # read back through another session: committed
    assert (first.actor_id, first.actor_role, first.object_type, first.object_id) == (
        staff.id,
        "operator",
        "user",
        staff.id,
    )
    # contributors act by their opaque subject id, like everywhere else in the log
    assert (second.actor_id, second.actor_role, second.object_id) == (
        contributor.subject_id,
        "contributor",
        contributor.id,
    )
    for event in (first, second):
        assert DEMO_PASSWORD not in _content(event) and "@" not in _content(event)


def test_a_wrong_password_is_audited_by_user_id_without_password_or_email(
    client: Any, make_user: Any, db_session: Any
) -> None:
    user = make_user("compliance")
    _post_login(client, user.email, "wrong-password")
    (event,) = _auth_events(db_session, "auth.sign_in_failed")
    assert (event.actor_id, event.actor_role, event.object_type, event.object_id) == (
        None,
        "anonymous",
        "user",
        user.id,
    )
    assert event.details == {"reason": "wrong_password"}
    assert "wrong-password" not in _content(event) and user.email not in _content(event)
    assert _auth_events(db_session, "auth.signed_in") == []


def test_an_unknown_email_is_audited_only_as_a_keyed_hash(client: Any, db_session: Any, clock: Any) -> None:
    for email, guess in [
        ("Nobody@Example.com", "guess-one-two"),
        ("NOBODY@example.com", "guess-three"),
        ("somebody@example.com", "guess-four"),
    ]:
        _post_login(client, email, guess)
        clock.advance(seconds=1)
    first, again, other = _auth_events(db_session, "auth.sign_in_failed")
    assert first.object_id is None and first.details["reason"] == "unknown_account"
    digest = first.details["email_hash"]
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert again.details["email_hash"] == digest  # the same (normalised) address links its attempts...
    assert other.details["email_hash"] != digest
    import hashlib

    assert digest != hashlib.sha256(b"nobody@example.com").hexdigest()  # ...but only with the server's key
    for event in (first, again, other):
        assert "example.com" not in _content(event) and "guess" not in _content(event)


def test_a_disabled_account_is_audited_as_such(client: Any, make_user: Any, db_session: Any) -> None:
    user = make_user("operator")
    user.active = False
    db_session.commit()
    _post_login(client, user.email, DEMO_PASSWORD)
    (event,) = _auth_events(db_session, "auth.sign_in_failed")
    assert event.object_id == user.id and event.details == {"reason": "account_disabled"}


def test_auditing_leaves_throttling_unchanged(client: Any, make_user: Any, db_session: Any, clock: Any) -> None:
    from collection.accounts import LoginAttempt

    user = make_user("operator")
    for _ in range(5):
        _post_login(client, user.email, "wrong-password")
    resp = _post_login(client, user.email, DEMO_PASSWORD)
    assert "15분 후에 다시 시도해 주세요" in resp.get_data(as_text=True)
    # the throttled attempt is refused before the password is checked: no attempt row, no event, as before
    assert db_session.query(LoginAttempt).filter_by(user_id=user.id).count() == 5
    assert len(_auth_events(db_session, "auth.sign_in_failed")) == 5
    clock.advance(minutes=16)
    assert _post_login(client, user.email, DEMO_PASSWORD).status_code == 302
    assert [e.object_id for e in _auth_events(db_session, "auth.signed_in")] == [user.id]


def test_a_database_that_does_not_answer_gives_a_503_page_and_files_still_load(
    client: Any, make_user: Any, login: Any, monkeypatch: Any
) -> None:
    """A locked SQLite (a long write elsewhere) or an unreachable PostgreSQL: the user cannot be loaded. The page
    says so with a 503 and Retry-After instead of failing again while rendering its own error page."""
    from sqlalchemy.exc import OperationalError

    from webapp.extensions import login_manager

    login(make_user("operator"))

    def locked(_user_id: str) -> Any:
        raise OperationalError("SELECT users", {}, Exception("database is locked"))

    monkeypatch.setattr(login_manager, "_user_callback", locked)
    page = client.get("/operate/")
    assert page.status_code == 503 and page.headers["Retry-After"] == "5"
    assert "<html" in page.get_data(as_text=True)  # the error page itself rendered
    api = client.get("/api/v1/me", headers={"Accept": "application/json"})
    assert api.status_code == 503 and api.get_json()["error"] == "unavailable"
    css = client.get("/static/css/datadam.css")
    assert css.status_code == 200  # files need no user
    css.close()

    def broken(_user_id: str) -> Any:
        raise OperationalError("SELECT users", {}, Exception("no such table: users"))

    monkeypatch.setattr(login_manager, "_user_callback", broken)
    with pytest.raises(OperationalError):  # a real fault is not dressed up as "come back in 5 s"
        client.get("/operate/")


def _who(app: Any) -> Any:
    from flask import request

    from webapp.access import public

    app.add_url_rule("/_who", "who", public(lambda: f"{request.scheme} {request.host} {request.remote_addr}"))
    return app.test_client()


PROXIED = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "data.example.kr"}


@pytest.mark.config(proxy_hops=1)
def test_behind_one_proxy_the_client_address_and_scheme_come_from_its_headers(app: Any) -> None:
    assert _who(app).get("/_who", headers=PROXIED).get_data(as_text=True) == "https data.example.kr 203.0.113.7"


def test_without_a_proxy_setting_forwarded_headers_are_not_trusted(app: Any) -> None:
    said = _who(app).get("/_who", headers=PROXIED).get_data(as_text=True)
    assert "203.0.113.7" not in said and said.startswith("http ")  # a client cannot fake its address
