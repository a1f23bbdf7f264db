"""Every route, with every role and anonymously, gets the expected allow/deny. The table below is the test's
own statement of policy: a new route that is not listed here fails the suite."""

from __future__ import annotations

import re
from typing import Any

import pytest

ROLES = ("anonymous", "contributor", "operator", "compliance", "admin")
EVERYONE = set(ROLES)
SIGNED_IN = EVERYONE - {"anonymous"}

# endpoint -> roles that may use it
EXPECTED: dict[str, set[str]] = {
    "public.home": EVERYONE,
    "public.set_language": EVERYONE,
    "public.healthz": EVERYONE,
    "public.privacy": EVERYONE,
    "auth.login": EVERYONE,
    "auth.signup": EVERYONE,
    "auth.logout": SIGNED_IN,
    "auth.me": SIGNED_IN,
    "contribute.dashboard": {"contributor"},
    "operate.dashboard": {"operator", "admin"},
    "operate.new_campaign": {"operator", "admin"},
    "operate.campaign": {"operator", "admin"},
    "operate.edit_campaign": {"operator", "admin"},
    "operate.open_campaign": {"operator", "admin"},
    "operate.close_campaign": {"operator", "admin"},
    "comply.dashboard": {"compliance", "admin"},
    "admin.dashboard": {"admin"},
    "admin.create_user": {"admin"},
    "api.openapi": EVERYONE,
    "api.campaigns": EVERYONE,
    "api.me": SIGNED_IN,
    # consent (issue 3)
    # compliance officers read the published documents and the review queue; only operators change them
    "operate.consent_document": {"operator", "admin", "compliance"},
    "operate.consent_draft": {"operator", "admin"},
    "operate.consent_draft_add_matter": {"operator", "admin"},
    "operate.consent_draft_remove_matter": {"operator", "admin"},
    "operate.consent_publish": {"operator", "admin"},
    "operate.consent_version": {"operator", "admin", "compliance"},
    "operate.consent_diff": {"operator", "admin", "compliance"},
    "operate.consent_review": {"operator", "admin", "compliance"},
    "operate.consent_review_decide": {"operator", "admin"},
    "contribute.consent_sign": {"contributor"},
    "contribute.consent_withdraw": {"contributor"},
    "contribute.consent_receipts": {"contributor"},
    "contribute.consent_receipt": {"contributor"},
    "contribute.consent_receipt_download": {"contributor"},
    "public.consent_keys": EVERYONE,
    "public.consent_verify": EVERYONE,
    # full inspection and payments (issue 4)
    "operate.review_queue": {"operator", "admin"},
    "operate.review_claim": {"operator", "admin"},
    "operate.review_release": {"operator", "admin"},
    "operate.review_set": {"operator", "admin"},
    "operate.review_decide": {"operator", "admin"},
    "operate.review_photo": {"operator", "admin"},
    "operate.review_appeals": {"operator", "admin"},
    "operate.review_appeal_decide": {"operator", "admin"},
    "operate.payments_home": {"operator", "admin"},
    "operate.payments_create_batch": {"operator", "admin"},
    "operate.payments_batch": {"operator", "admin"},
    "operate.payments_export": {"operator", "admin"},
    "operate.payments_mark_paid": {"operator", "admin"},
    # contributing (issue 4): campaign page, set pages, thumbnails, voice, export, JSON API
    "public.campaign": EVERYONE,
    "contribute.join": {"contributor"},
    "contribute.set_page": {"contributor"},
    "contribute.upload_photos": {"contributor"},
    "contribute.replace_photo": {"contributor"},
    "contribute.delete_photo": {"contributor"},
    "contribute.request_review": {"contributor"},
    "contribute.appeal": {"contributor"},
    "contribute.photo_thumb": {"contributor"},
    "contribute.upload_voice": {"contributor"},
    "contribute.voice_audio": {"contributor"},
    "contribute.submit_set": {"contributor"},
    "contribute.export_page": {"contributor"},
    "contribute.export_download": {"contributor"},
    "api.contribution_set": {"contributor"},
    "api.upload_photo": {"contributor"},
    "api.delete_photo": {"contributor"},
    "api.request_review": {"contributor"},
    "api.upload_voice": {"contributor"},
    "api.submit_set": {"contributor"},
    # compliance (issue 7): registers, rights requests, reports; the contributor's rights page
    **{
        f"comply.{name}": {"compliance", "admin"}
        for name in (
            "consent_registry_page",
            "consent_subject",
            "consent_verify_all",
            "consent_receipt_file",
            "consent_flags",
            "consent_flag_resolve",
            "erasure_ledger",
            "retention_report",
            "retention_run",
            "access_review",
            "access_review_sign_off",
            "rights_requests",
            "rights_request",
            "rights_start",
            "rights_complete",
            "rights_correct",
            "rights_refuse",
            "suspension_lift",
            "conformance_report",
            "processing_records",
            "audit_checkpoints",
            "audit_events",
            "audit_checkpoint_file",
        )
    },
    "contribute.rights_page": {"contributor"},
    "contribute.rights_submit": {"contributor"},
    "contribute.rights_resume": {"contributor"},
    # payout account (issue 4): where the contributor is paid
    "contribute.payout_page": {"contributor"},
    "contribute.payout_save": {"contributor"},
    # releases (issue 6): operators draft and build, compliance officers verify, approve and download
    **{f"operate.{n}": {"operator", "admin"} for n in ("releases", "release_new", "release_page", "release_build")},
    **{
        f"comply.{name}": {"compliance", "admin"}
        for name in (
            "releases",
            "release_page",
            "release_verify",
            "release_approve",
            "release_download",
            "release_withdrawal_list",
        )
    },
}


def _url(rule: Any) -> str:
    url = rule.rule
    for arg in rule.arguments:
        url = url.replace(f"<{arg}>", "x").replace(f"<string:{arg}>", "x").replace(f"<int:{arg}>", "1")
    return url


def test_every_route_has_an_expectation(app: Any) -> None:
    endpoints = {r.endpoint for r in app.url_map.iter_rules() if r.endpoint != "static"}
    assert endpoints - EXPECTED.keys() == set(), "routes without an access expectation in this test"
    assert EXPECTED.keys() - endpoints == set(), "expectations for routes that no longer exist"


@pytest.mark.parametrize("role", ROLES)
def test_every_route_with_every_role(app: Any, client: Any, make_user: Any, login: Any, role: str) -> None:
    user = make_user(role) if role != "anonymous" else None
    if user is not None:
        login(user)
    app.config["WTF_CSRF_ENABLED"] = False  # this test is about roles; CSRF has its own tests
    failures = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            resp = client.open(_url(rule), method=method)
            allowed = role in EXPECTED[rule.endpoint]
            denied = resp.status_code in (401, 403) or (
                resp.status_code == 302 and "/login" in resp.headers.get("Location", "")
            )
            if allowed and denied:
                failures.append(f"{method} {rule.rule}: {role} was refused ({resp.status_code})")
            if not allowed and not denied:
                failures.append(f"{method} {rule.rule}: {role} got in ({resp.status_code})")
            if rule.endpoint == "auth.logout" and user is not None:
                app.config["WTF_CSRF_ENABLED"] = True
                login(user)  # sign back in for the next routes
                app.config["WTF_CSRF_ENABLED"] = False
    assert not failures, "\n".join(failures)


def test_an_undeclared_route_is_refused(app: Any, client: Any, make_user: Any) -> None:
    @app.get("/undeclared")
    def undeclared() -> str:
        return "open"

    assert client.get("/undeclared").status_code == 403


def test_anonymous_api_gets_json_401(client: Any) -> None:
    resp = client.get("/api/v1/me")
    assert resp.status_code == 401
    assert resp.get_json() == {"error": "authentication_required"}


def test_every_api_route_is_documented(app: Any) -> None:
    from webapp.blueprints.api.views import openapi_paths

    rules = [r.rule.removeprefix("/api/v1") for r in app.url_map.iter_rules() if r.rule.startswith("/api/v1")]
    routes = {re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule) for rule in rules}  # Flask <x> is OpenAPI {x}
    assert routes == openapi_paths()


# -- denials in the tamper-evident audit log -------------------------------------------------------------------
def _denials(db_session: Any) -> list[Any]:
    from collection.audit.models import AuditEvent

    return db_session.query(AuditEvent).filter_by(action="access.denied").order_by(AuditEvent.at).all()


def test_a_denied_page_is_audited_and_committed(client: Any, make_user: Any, login: Any, db_session: Any) -> None:
    user = make_user("contributor")
    login(user)
    assert client.get("/operate/?q=secret").status_code == 403
    (event,) = _denials(db_session)  # read back through another session: the 403 did not roll it back
    assert (event.actor_id, event.actor_role, event.object_type, event.object_id) == (
        user.subject_id,
        "contributor",
        "endpoint",
        "operate.dashboard",
    )
    assert event.details == {
        "endpoint": "operate.dashboard",
        "method": "GET",
        "path": "/operate/",  # never the query string
        "required_roles": ["admin", "operator"],
    }


def test_a_denied_api_call_is_audited(app: Any, client: Any, make_user: Any, login: Any, db_session: Any) -> None:
    staff = make_user("compliance")
    login(staff)
    app.config["WTF_CSRF_ENABLED"] = False
    resp = client.post("/api/v1/campaigns/x/set/submit")
    assert resp.status_code == 403 and resp.get_json() == {"error": "forbidden"}
    (event,) = _denials(db_session)
    assert (event.actor_id, event.actor_role) == (staff.id, "compliance")
    assert event.details["endpoint"] == "api.submit_set" and event.details["method"] == "POST"
    assert event.details["required_roles"] == ["contributor"]


def test_an_undeclared_route_refusal_is_audited_for_signed_in_users(
    app: Any, client: Any, make_user: Any, login: Any, db_session: Any
) -> None:
    @app.get("/undeclared")
    def undeclared() -> str:
        return "open"

    assert client.get("/undeclared").status_code == 403
    assert _denials(db_session) == []  # anonymous traffic cannot grow the append-only log
    admin = make_user("admin")
    login(admin)
    assert client.get("/undeclared").status_code == 403
    (event,) = _denials(db_session)
    assert event.actor_id == admin.id and event.details["required_roles"] == []
    assert event.details["endpoint"] == "undeclared"


def test_allowed_and_anonymous_requests_are_not_denials(
    client: Any, make_user: Any, login: Any, db_session: Any
) -> None:
    assert client.get("/operate/").status_code == 302  # to the sign-in page
    login(make_user("operator"))
    assert client.get("/operate/").status_code == 200
    assert _denials(db_session) == []
