"""`datadam consent verify | export | rotate-key` and the demo's signed consent, through the app's CLI runner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from collection.campaigns.notice_template import default_notice
from consent.canonical import canonical_json
from consent.keys import KeyRing, generate_master_key
from consent.receipts import encode_signed_receipt
from consent.service import Signing

YES = {"collection": True, "sensitive": True, "release": True}


def in_app(app: Any, fn: Any) -> Any:
    from webapp.db import get_session
    from webapp.services import consent

    with app.test_request_context():
        result = fn(consent())
        get_session().commit()
        return result


@pytest.fixture()
def signed(app: Any, make_campaign: Any, make_user: Any) -> Any:
    """A published notice and one signed consent; returns (campaign, record)."""
    campaign = make_campaign()
    person = make_user("contributor")

    def run(service: Any) -> Any:
        notice = default_notice(campaign, "데이터댐", "privacy@datadam.example")
        version = service.publish(service.draft(campaign.id, notice), by=None)
        return service.give(person.subject_id, version, Signing(decisions=YES, language="ko", signature="김민지"))

    return campaign, in_app(app, run)


def keys_document(app: Any) -> dict[str, Any]:
    return in_app(app, lambda s: s.keys.public_document().to_dict())


def write(path: Path, data: bytes | dict[str, Any]) -> str:
    path.write_bytes(data if isinstance(data, bytes) else canonical_json(data))
    return str(path)


def test_verify_a_valid_receipt_offline_with_the_key_file(runner: Any, app: Any, signed: Any, tmp_path: Path) -> None:
    _campaign, record = signed
    receipt = write(tmp_path / "r.json", record.receipt_bytes)
    keys = write(tmp_path / "k.json", keys_document(app))
    result = runner.invoke(args=["consent", "verify", receipt, "--keys", keys])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "valid" and record.id in result.output


def test_verify_without_a_key_file_uses_the_published_keys(runner: Any, signed: Any, tmp_path: Path) -> None:
    _campaign, record = signed
    result = runner.invoke(args=["consent", "verify", write(tmp_path / "r.json", record.receipt_bytes)])
    assert result.exit_code == 0 and result.output.startswith("valid")


def test_verify_refuses_a_changed_byte(runner: Any, app: Any, signed: Any, tmp_path: Path) -> None:
    _campaign, record = signed
    data = bytearray(record.receipt_bytes)
    data[data.index(b'"language":"ko"') + 13] = ord("x")  # "ko" -> "kx"
    result = runner.invoke(
        args=[
            "consent",
            "verify",
            write(tmp_path / "r.json", bytes(data)),
            "--keys",
            write(tmp_path / "k.json", keys_document(app)),
        ]
    )
    assert result.exit_code == 1
    assert "invalid (bad_signature)" in result.output and "valid\n" not in result.output


def test_verify_refuses_an_unknown_key(runner: Any, signed: Any, tmp_path: Path, clock: Any) -> None:
    _campaign, record = signed
    stranger = KeyRing(generate_master_key(), clock)
    stranger.generate("consent")
    keys = write(tmp_path / "k.json", stranger.public_keys().to_dict())
    result = runner.invoke(args=["consent", "verify", write(tmp_path / "r.json", record.receipt_bytes), "--keys", keys])
    assert result.exit_code == 1 and "invalid (unknown_key)" in result.output


def test_verify_refuses_a_key_outside_its_validity(
    runner: Any, app: Any, make_campaign: Any, make_user: Any, clock: Any, tmp_path: Path
) -> None:
    """A key revoked back to before the receipt's time (e.g. after a compromise) no longer vouches for it."""
    campaign, person = make_campaign(), make_user("contributor")
    in_app(app, lambda s: s.keys.ensure())
    clock.advance(hours=2)

    def run(service: Any) -> Any:
        version = service.publish(service.draft(campaign.id, default_notice(campaign, "C", "c@example.com")), by=None)
        return service.give(person.subject_id, version, Signing(decisions=YES, language="en", signature="Kim"))

    record = in_app(app, run)
    document = keys_document(app)
    key = document["keys"][0]
    key["validUntil"] = key["validFrom"].replace("T09:00:00Z", "T10:00:00Z")  # revoked an hour before signing
    result = runner.invoke(
        args=[
            "consent",
            "verify",
            write(tmp_path / "r.json", record.receipt_bytes),
            "--keys",
            write(tmp_path / "k.json", document),
        ]
    )
    assert result.exit_code == 1 and "invalid (key_not_valid_at_time)" in result.output


def test_verify_refuses_a_missing_field_even_when_signed(runner: Any, app: Any, signed: Any, tmp_path: Path) -> None:
    """A well-signed file that lacks a schema field (here `policyUrl`) is still refused, by name."""
    _campaign, record = signed
    receipt = json.loads(record.receipt)["receipt"]
    del receipt["policyUrl"]

    def resign(service: Any) -> bytes:
        ring, kid = service.keys.ring(), record.kid
        signature = ring.sign(canonical_json(receipt), kid=kid, at=record.created_at)
        return encode_signed_receipt(receipt, kid=kid, signature=signature)

    data = in_app(app, resign)
    result = runner.invoke(
        args=[
            "consent",
            "verify",
            write(tmp_path / "r.json", data),
            "--keys",
            write(tmp_path / "k.json", keys_document(app)),
        ]
    )
    assert result.exit_code == 1
    assert "invalid (bad_schema)" in result.output and "receipt.policyUrl" in result.output


def test_verify_names_a_malformed_key_file(runner: Any, signed: Any, tmp_path: Path) -> None:
    _campaign, record = signed
    keys = write(tmp_path / "k.json", b'{"schema": "nope", "keys": []}')
    result = runner.invoke(args=["consent", "verify", write(tmp_path / "r.json", record.receipt_bytes), "--keys", keys])
    assert result.exit_code == 1 and "bad_key_document" in result.output


def test_export_writes_every_receipt_and_the_keys_and_they_verify(
    runner: Any, app: Any, signed: Any, make_campaign: Any, make_user: Any, tmp_path: Path
) -> None:
    campaign, first = signed
    other = make_campaign()
    person = make_user("contributor")

    def second(service: Any) -> Any:
        version = service.publish(service.draft(other.id, default_notice(other, "C", "c@example.com")), by=None)
        given = service.give(person.subject_id, version, Signing(decisions=YES, language="en", signature="Lee"))
        return given, service.withdraw(person.subject_id, other.id, ["release"])

    given, withdrawal = in_app(app, second)
    out = tmp_path / "archive"
    result = runner.invoke(args=["consent", "export", "--out", str(out)])
    assert result.exit_code == 0 and "exported 3 receipt(s)" in result.output
    files = sorted(out.glob("receipts/*/*.json"))
    assert {f.stem for f in files} == {first.id, given.id, withdrawal.id}
    assert (out / "receipts" / campaign.slug / f"{first.id}.json").read_bytes() == first.receipt_bytes
    for path in files:
        check = runner.invoke(args=["consent", "verify", str(path), "--keys", str(out / "consent-keys.json")])
        assert check.exit_code == 0, check.output

    only = tmp_path / "one"
    result = runner.invoke(args=["consent", "export", "--out", str(only), "--campaign", other.slug])
    assert result.exit_code == 0 and len(list(only.glob("receipts/*/*.json"))) == 2
    assert runner.invoke(args=["consent", "export", "--out", str(only), "--campaign", "nope"]).exit_code == 1


def test_rotate_key_keeps_old_receipts_verifiable(
    runner: Any, app: Any, signed: Any, clock: Any, tmp_path: Path
) -> None:
    _campaign, record = signed
    clock.advance(days=1)
    result = runner.invoke(args=["consent", "rotate-key"])
    assert result.exit_code == 0 and f"retired {record.kid}" in result.output
    document = keys_document(app)
    assert len(document["keys"]) == 2
    new_kid = next(k["kid"] for k in document["keys"] if k["validUntil"] is None)
    assert new_kid != record.kid and new_kid in result.output
    receipt = write(tmp_path / "r.json", record.receipt_bytes)
    assert (
        runner.invoke(args=["consent", "verify", receipt, "--keys", write(tmp_path / "k.json", document)]).exit_code
        == 0
    )


def test_demo_leaves_a_signed_consent_to_export_and_verify(runner: Any, db_session: Any, tmp_path: Path) -> None:
    from consent.models import ConsentRecord, NoticeVersion

    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    assert "demo consent: notice v1 published" in first.output
    counts = (db_session.query(ConsentRecord).count(), db_session.query(NoticeVersion).count())
    assert counts == (2, 2)  # the demo contributor in the 70-photo campaign, the second in the quick one
    second = runner.invoke(args=["demo"])
    assert second.exit_code == 0 and second.output == first.output
    assert (db_session.query(ConsentRecord).count(), db_session.query(NoticeVersion).count()) == counts
    out = tmp_path / "demo"
    assert runner.invoke(args=["consent", "export", "--out", str(out)]).exit_code == 0
    (receipt,) = out.glob("receipts/aging-faces-demo/*.json")
    check = runner.invoke(args=["consent", "verify", str(receipt), "--keys", str(out / "consent-keys.json")])
    assert check.exit_code == 0 and check.output.startswith("valid")
