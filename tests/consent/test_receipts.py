"""Consent receipts: what a receipt records, how it is signed, and that verification catches every change."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import functools
import json
from collections.abc import Callable
from typing import Any

import pytest
from _consent_support import POLICY_URL, PRINCIPAL, START, make_notice, replace_matter, text
from hypothesis import given, settings
from hypothesis import strategies as st

from consent.canonical import b64url_decode, canonical_json
from consent.clock import FixedClock
from consent.errors import (
    KeyNotValidError,
    NoActiveKeyError,
    ReceiptBuildError,
    ReceiptFormatError,
    UnknownKeyError,
)
from consent.keys import (
    KeyRing,
    PublicKeyDocument,
    generate_master_key,
    parse_public_key_document,
    public_key_document,
)
from consent.notice import LocalizedText, Notice, notice_sha256
from consent.receipts import (
    ConsentEvent,
    EventType,
    Failure,
    GuardianConsent,
    GuardianRelationship,
    IssuedReceipt,
    Verification,
    Withdrawal,
    build_receipt,
    commit_name,
    encode_signed_receipt,
    issue_receipt,
    name_matches_commitment,
    receipt_facts,
    sign_receipt,
    verify_receipt,
)

KANTARA_FIELDS = [
    "version",
    "jurisdiction",
    "consentTimestamp",
    "collectionMethod",
    "consentReceiptID",
    "language",
    "piiPrincipalId",
    "piiControllers",
    "policyUrl",
    "services",
    "sensitive",
    "spiCat",
]
PURPOSE_FIELDS = [
    "purpose",
    "purposeCategory",
    "consentType",
    "piiCategory",
    "primaryPurpose",
    "termination",
    "thirdPartyDisclosure",
    "thirdPartyName",
]
RECEIPT_ID = "0b9c7a3e-1f6d-4c2a-9e8b-5d4c3b2a1f00"
KID = "a" * 24


def event_for(notice: Notice, **changes: Any) -> ConsentEvent:
    """Consent to every matter of `notice` by an adult, in Korean; keyword arguments replace fields."""
    values: dict[str, Any] = dict(
        event=EventType.GIVEN,
        principal_id=PRINCIPAL,
        language="ko",
        decisions={m.id: True for m in notice.matters},
    )
    values.update(changes)
    return ConsentEvent(**values)


def build(notice: Notice, event: ConsentEvent | None = None, **changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = dict(receipt_id=RECEIPT_ID, timestamp=START, kid=KID, policy_url=POLICY_URL)
    values.update(changes)
    return build_receipt(event or event_for(notice), notice, **values)


def withdrawal_of(notice: Notice, receipt_id: str, *matters: str, **changes: Any) -> ConsentEvent:
    decisions = {m.id: m.id not in matters for m in notice.matters}
    return event_for(
        notice, event=EventType.WITHDRAWN, decisions=decisions, withdrawal=Withdrawal(receipt_id, matters), **changes
    )


def sign_raw(keyring: KeyRing, receipt: dict[str, Any], kid: str | None = None) -> bytes:
    """Sign `receipt` as is, bypassing the checks of `sign_receipt` (how a broken or forged file is made)."""
    kid = kid or keyring.current().kid
    signature = keyring.sign(canonical_json(receipt), kid=kid, at=keyring.current().public.valid_from)
    return encode_signed_receipt(receipt, kid=kid, signature=signature)


@pytest.fixture
def issued(notice: Notice, keyring: KeyRing) -> IssuedReceipt:
    return issue_receipt(event_for(notice), notice, keyring, policy_url=POLICY_URL)


@pytest.fixture
def keys_doc(keyring: KeyRing) -> dict[str, Any]:
    return public_key_document(keyring)


def verify(data: bytes, keys: Any, now: dt.datetime = START) -> Verification:
    return verify_receipt(data, keys, now=now)


# --- what a receipt records --------------------------------------------------------------------------------


def test_the_receipt_carries_every_kantara_field(notice: Notice) -> None:
    receipt = build(notice)
    assert set(KANTARA_FIELDS) <= set(receipt)
    assert receipt["version"] == "KI-CR-v1.1.0"
    assert receipt["jurisdiction"] == "KR,EU"
    assert receipt["consentTimestamp"] == int(START.timestamp())
    assert receipt["collectionMethod"] == "web_form"
    assert receipt["consentReceiptID"] == RECEIPT_ID
    assert receipt["language"] == "ko"
    assert receipt["piiPrincipalId"] == PRINCIPAL
    assert receipt["policyUrl"] == POLICY_URL
    assert receipt["piiControllers"] == [
        {
            "piiController": "데이터댐 주식회사",
            "onBehalf": False,
            "contact": "개인정보 보호책임자 김민",
            "address": "서울특별시 중구 세종대로 1",
            "email": "privacy@datadam.example",
            "phone": "+82-2-000-0000",
        }
    ]
    assert receipt["sensitive"] is True and receipt["spiCat"] == ["face_features", "voice_features"]
    (service,) = receipt["services"]
    assert service["service"] == "얼굴 데이터 수집 동의서"
    assert all(list(purpose) == PURPOSE_FIELDS for purpose in service["purposes"])
    release = service["purposes"][2]
    assert release["thirdPartyDisclosure"] is True and release["thirdPartyName"] == "인증된 연구 기관"
    assert release["termination"] == "라이선스 종료 후 1년" and release["primaryPurpose"] is False
    assert service["purposes"][0]["primaryPurpose"] is True
    assert service["purposes"][0]["termination"] == "수집일로부터 3년"


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_the_record_binds_the_notice_version_and_the_hash_of_the_text_shown(notice: Notice, lang: str) -> None:
    record = build(notice, event_for(notice, language=lang))["record"]
    assert record["header"] == {
        "recordId": RECEIPT_ID,
        "schemaVersion": "datadam/consent-record/1",
        "createdAt": "2025-03-01T09:00:00Z",
        "signingKeyId": KID,
    }
    assert record["processing"]["notice"] == {
        "campaign": "faces-2025",
        "version": 1,
        "versionId": "faces-2025@v1",
        "language": lang,
        "sha256": notice_sha256(notice, lang),
    }
    assert record["processing"]["jurisdictions"] == ["KR", "EU"]


def test_each_matter_has_its_own_yes_or_no_and_only_consented_ones_are_kantara_purposes(notice: Notice) -> None:
    decisions = {"collection": True, "sensitive": True, "release": False, "voice": True}
    receipt = build(notice, event_for(notice, decisions=decisions))
    matters = receipt["record"]["processing"]["matters"]
    assert [(m["id"], m["kind"], m["required"], m["consented"]) for m in matters] == [
        ("collection", "collection_and_use", True, True),
        ("sensitive", "sensitive_information", True, True),
        ("release", "third_party_provision", False, False),
        ("voice", "voice_recording", False, True),
    ]
    assert matters[1]["legalBasis"] == ["KR-PIPA-23(1)(1)", "EU-GDPR-6(1)(a)", "EU-GDPR-9(2)(a)"]
    assert matters[2]["legalBasis"] == ["KR-PIPA-17(1)(1)", "EU-GDPR-6(1)(a)"]
    purposes = receipt["services"][0]["purposes"]
    assert [p["purpose"] for p in purposes] == [matters[i]["summary"] for i in (0, 1, 3)]
    assert not any(p["thirdPartyDisclosure"] for p in purposes)
    assert receipt["record"]["parties"]["recipients"] == []


def test_a_korea_only_notice_cites_only_pipa(notice: Notice) -> None:
    receipt = build(dataclasses.replace(notice, jurisdictions=("KR",)))
    assert receipt["jurisdiction"] == "KR"
    assert receipt["record"]["processing"]["matters"][0]["legalBasis"] == ["KR-PIPA-15(1)(1)"]


def test_the_person_appears_only_by_pseudonym_and_commitments(notice: Notice) -> None:
    signature = commit_name("홍길동")
    receipt = build(notice, event_for(notice, signature_commitment=signature.value))
    principal = receipt["record"]["parties"]["principal"]
    assert principal == {"id": PRINCIPAL, "underFourteen": False, "signatureCommitment": signature.value}
    assert "홍길동" not in canonical_json(receipt).decode()
    assert name_matches_commitment("  홍길동 ", signature.salt, signature.value)
    assert not name_matches_commitment("홍길순", signature.salt, signature.value)
    assert not name_matches_commitment("홍길동", b"\x00" * 32, signature.value)


def test_a_name_commitment_hides_the_name_behind_a_random_salt() -> None:
    first, second = commit_name("Jane Doe"), commit_name("Jane Doe")
    assert first.value != second.value and len(first.salt) == 32
    assert commit_name("Jane\u00a0 Doe", first.salt) == first  # whitespace collapsed, as typed
    with pytest.raises(ValueError):
        commit_name("   ")


@pytest.mark.parametrize(
    "principal",
    ["someone@example.com", "홍길동", "short", "has space in it", "x" * 129, "01012345678", "900101-1234567"],
)
def test_the_principal_id_must_be_a_pseudonym(notice: Notice, principal: str) -> None:
    with pytest.raises(ReceiptBuildError) as caught:
        build(notice, event_for(notice, principal_id=principal))
    assert caught.value.field == "principal_id"


def test_an_under_14_contributor_needs_a_legal_representative(notice: Notice) -> None:
    with pytest.raises(ReceiptBuildError) as caught:
        build(notice, event_for(notice, under_14=True))
    assert caught.value.field == "guardian"
    name = commit_name("김보호")
    guardian = GuardianConsent(GuardianRelationship.PARENT, name.value)
    receipt = build(notice, event_for(notice, under_14=True, guardian=guardian))
    parties, event = receipt["record"]["parties"], receipt["record"]["events"][0]
    assert parties["principal"]["underFourteen"] is True
    assert parties["guardian"] == {"relationship": "parent", "nameCommitment": name.value}
    assert event["actor"] == "guardian"
    assert "김보호" not in canonical_json(receipt).decode()


def test_a_guardian_is_recorded_only_for_a_minor(notice: Notice) -> None:
    guardian = GuardianConsent(GuardianRelationship.LEGAL_GUARDIAN, commit_name("김보호").value)
    with pytest.raises(ReceiptBuildError, match="only for a contributor under 14"):
        build(notice, event_for(notice, guardian=guardian))


@pytest.mark.parametrize("declined", ["collection", "sensitive"])
def test_declining_a_required_matter_makes_no_consent(notice: Notice, declined: str) -> None:
    decisions = {m.id: m.id != declined for m in notice.matters}
    with pytest.raises(ReceiptBuildError, match="required matters") as caught:
        build(notice, event_for(notice, decisions=decisions))
    assert caught.value.field == "decisions"


@pytest.mark.parametrize(
    "decisions",
    [
        {"collection": True, "sensitive": True, "release": False},
        {"collection": True, "sensitive": True, "release": False, "voice": False, "extra": True},
        {"collection": True, "sensitive": True, "release": "no", "voice": False},
    ],
)
def test_decisions_cover_exactly_the_notices_matters(notice: Notice, decisions: dict[str, Any]) -> None:
    with pytest.raises(ReceiptBuildError) as caught:
        build(notice, event_for(notice, decisions=decisions))
    assert caught.value.field == "decisions"


def test_an_incomplete_notice_cannot_be_consented_to(notice: Notice) -> None:
    draft = dataclasses.replace(notice, retention=LocalizedText(ko="3년"))
    with pytest.raises(ReceiptBuildError, match="not publishable") as caught:
        build(draft)
    assert caught.value.field == "notice"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"receipt_id": "short"}, "receipt_id"),
        ({"timestamp": dt.datetime(2025, 3, 1)}, "timestamp"),
        ({"kid": "NOT-A-KID"}, "kid"),
        ({"policy_url": "ftp://x"}, "policy_url"),
    ],
)
def test_bad_inputs_are_named(notice: Notice, changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ReceiptBuildError) as caught:
        build(notice, **changes)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"language": "ja"}, "language"),
        ({"collection_method": "Web Form"}, "collection_method"),
        ({"signature_commitment": "홍길동"}, "signature_commitment"),
        ({"previous_receipt_id": "?"}, "previous_receipt_id"),
        ({"withdrawal": Withdrawal(RECEIPT_ID, ("release",))}, "withdrawal"),
    ],
)
def test_bad_event_fields_are_named(notice: Notice, changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ReceiptBuildError) as caught:
        build(notice, event_for(notice, **changes))
    assert caught.value.field == field


def test_sub_second_times_are_truncated(notice: Notice) -> None:
    receipt = build(notice, timestamp=START + dt.timedelta(microseconds=999_999))
    assert receipt["consentTimestamp"] == int(START.timestamp())


def test_a_withdrawal_references_the_receipt_and_keeps_the_rest_in_force(notice: Notice) -> None:
    receipt = build(notice, withdrawal_of(notice, RECEIPT_ID, "release", "voice"), receipt_id="withdrawal-0001")
    event = receipt["record"]["events"][0]
    assert event["type"] == "withdrawn"
    assert event["withdraws"] == {"receiptId": RECEIPT_ID, "matters": ["release", "voice"]}
    consented = [m["id"] for m in receipt["record"]["processing"]["matters"] if m["consented"]]
    assert consented == ["collection", "sensitive"]
    assert len(receipt["services"][0]["purposes"]) == 2


def test_withdrawing_everything_leaves_no_purpose_in_force(notice: Notice) -> None:
    all_ids = tuple(m.id for m in notice.matters)
    receipt = build(notice, withdrawal_of(notice, RECEIPT_ID, *all_ids))
    assert receipt["services"][0]["purposes"] == [] and receipt["sensitive"] is False and receipt["spiCat"] == []


def test_a_withdrawal_never_needs_a_guardian(notice: Notice) -> None:
    receipt = build(notice, withdrawal_of(notice, RECEIPT_ID, "release", under_14=True))
    assert receipt["record"]["events"][0]["actor"] == "principal"


@pytest.mark.parametrize(
    "withdrawal",
    [None, Withdrawal(RECEIPT_ID, ()), Withdrawal("?", ("release",)), Withdrawal(RECEIPT_ID, ("release", "release"))],
)
def test_a_withdrawal_must_name_a_receipt_and_matters(notice: Notice, withdrawal: Withdrawal | None) -> None:
    event = dataclasses.replace(withdrawal_of(notice, RECEIPT_ID, "release"), withdrawal=withdrawal)
    with pytest.raises(ReceiptBuildError):
        build(notice, event)


def test_a_withdrawn_matter_cannot_stay_in_force(notice: Notice) -> None:
    event = dataclasses.replace(
        withdrawal_of(notice, RECEIPT_ID, "release"), decisions={m.id: True for m in notice.matters}
    )
    with pytest.raises(ReceiptBuildError, match="'release' must be a notice matter set to false"):
        build(notice, event)


def test_a_reconsent_points_at_the_receipt_it_follows(notice: Notice) -> None:
    v2 = dataclasses.replace(notice, version=2, purpose=text("새 목적", "New purpose"))
    receipt = build(v2, event_for(v2, event=EventType.RECONSENTED, previous_receipt_id=RECEIPT_ID))
    event = receipt["record"]["events"][0]
    assert event["type"] == "reconsented" and event["previousReceiptId"] == RECEIPT_ID
    assert receipt["record"]["processing"]["notice"]["versionId"] == "faces-2025@v2"


# --- signing and verifying ---------------------------------------------------------------------------------


def test_an_issued_receipt_verifies_offline(issued: IssuedReceipt, keys_doc: dict[str, Any], notice: Notice) -> None:
    for keys in (keys_doc, json.dumps(keys_doc).encode(), json.dumps(keys_doc)):
        result = verify(issued.data, keys)
        assert result == Verification(True, None, issued.receipt, None, result.facts)
    facts = verify(issued.data, keys_doc).facts
    assert facts is not None
    assert facts.receipt_id == issued.receipt_id and facts.kid == issued.kid
    assert facts.event is EventType.GIVEN and facts.timestamp == START
    assert facts.notice_version_id == "faces-2025@v1" and facts.notice_sha256 == notice_sha256(notice, "ko")
    assert facts.consented == ("collection", "sensitive", "release", "voice") and facts.declined == ()
    assert facts.withdraws_receipt_id is None and facts.under_14 is False


def test_the_file_is_the_canonical_envelope(issued: IssuedReceipt) -> None:
    envelope = json.loads(issued.data)
    assert list(envelope) == ["receipt", "signature"]
    assert envelope["signature"]["alg"] == "Ed25519" and envelope["signature"]["kid"] == issued.kid
    assert len(envelope["signature"]["value"]) == 86
    assert canonical_json(envelope) == issued.data
    assert envelope["receipt"] == issued.receipt


def test_the_signature_covers_the_canonical_receipt(issued: IssuedReceipt, keyring: KeyRing) -> None:
    value = b64url_decode(json.loads(issued.data)["signature"]["value"])
    assert keyring.get(issued.kid).public.verify(canonical_json(issued.receipt), value)


def test_one_trailing_newline_is_tolerated_but_nothing_else(issued: IssuedReceipt, keys_doc: dict[str, Any]) -> None:
    assert verify(issued.data + b"\n", keys_doc).valid
    for edited in (issued.data + b"\n\n", issued.data + b" ", b" " + issued.data):
        assert verify(edited, keys_doc).failure is Failure.NOT_CANONICAL
    pretty = json.dumps(json.loads(issued.data), indent=2, ensure_ascii=False).encode()
    result = verify(pretty, keys_doc)
    assert not result.valid and result.failure is Failure.NOT_CANONICAL and result.receipt is None
    assert "canonical" in (result.reason or "")


@functools.cache
def _signed_sample() -> tuple[bytes, dict[str, Any]]:
    notice = make_notice()
    guardian = GuardianConsent(GuardianRelationship.PARENT, commit_name("김보호").value)
    event = event_for(notice, under_14=True, guardian=guardian, signature_commitment=commit_name("홍길동").value)
    ring = KeyRing(generate_master_key(), FixedClock(START))
    ring.generate()
    return issue_receipt(event, notice, ring, policy_url=POLICY_URL).data, public_key_document(ring)


def test_the_sample_used_for_byte_flips_is_valid() -> None:
    data, keys = _signed_sample()
    assert verify(data, keys).valid


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_changing_any_byte_makes_verification_fail(data: st.DataObject) -> None:
    signed, keys = _signed_sample()
    position = data.draw(st.integers(min_value=0, max_value=len(signed) - 1), label="position")
    mask = data.draw(st.integers(min_value=1, max_value=255), label="xor mask")
    tampered = bytearray(signed)
    tampered[position] ^= mask
    result = verify(bytes(tampered), keys)
    assert not result.valid and result.reason and result.receipt is None


@pytest.mark.slow
def test_flipping_the_low_bit_of_every_byte_fails() -> None:
    signed, document = _signed_sample()
    keys = parse_public_key_document(document)
    for position in range(len(signed)):
        tampered = bytearray(signed)
        tampered[position] ^= 0x01
        assert not verify(bytes(tampered), keys).valid, position


def test_an_unknown_key_fails(issued: IssuedReceipt, clock: FixedClock) -> None:
    stranger = KeyRing(generate_master_key(), clock)
    stranger.generate()
    result = verify(issued.data, public_key_document(stranger))
    assert result.failure is Failure.UNKNOWN_KEY and issued.kid in (result.reason or "")


def test_a_key_published_for_another_purpose_fails(issued: IssuedReceipt, keyring: KeyRing) -> None:
    public = dataclasses.replace(keyring.current().public, purpose="audit")
    assert verify(issued.data, PublicKeyDocument((public,))).failure is Failure.WRONG_KEY_PURPOSE


def test_a_receipt_stamped_after_its_key_ended_fails(issued: IssuedReceipt, keyring: KeyRing) -> None:
    # As published after a compromise: the key's validity ends before the receipt's time.
    ended = dataclasses.replace(keyring.current().public, valid_until=START)
    result = verify(issued.data, PublicKeyDocument((ended,)), now=START + dt.timedelta(days=1))
    assert result.failure is Failure.KEY_NOT_VALID
    assert "outside the validity" in (result.reason or "")
    not_yet = dataclasses.replace(keyring.current().public, valid_from=START + dt.timedelta(seconds=1))
    assert verify(issued.data, PublicKeyDocument((not_yet,))).failure is Failure.KEY_NOT_VALID


def test_a_retired_key_cannot_vouch_for_a_later_receipt(
    notice: Notice, keyring: KeyRing, clock: FixedClock, master_key: bytes
) -> None:
    old = keyring.current()
    clock.advance(days=30)
    keyring.rotate()
    # Someone holding the old private key stretches its validity on their copy and signs a later receipt.
    stretched = dataclasses.replace(old, public=dataclasses.replace(old.public, valid_until=None))
    thief = KeyRing(master_key, clock, [stretched])
    receipt = build(notice, timestamp=START + dt.timedelta(days=40), kid=old.kid)
    at = START + dt.timedelta(days=40)
    forged = encode_signed_receipt(
        receipt, kid=old.kid, signature=thief.sign(canonical_json(receipt), kid=old.kid, at=at)
    )
    result = verify(forged, public_key_document(keyring), now=at)
    assert result.failure is Failure.KEY_NOT_VALID


def test_rotation_keeps_old_receipts_valid(notice: Notice, keyring: KeyRing, clock: FixedClock) -> None:
    first = issue_receipt(event_for(notice), notice, keyring, policy_url=POLICY_URL)
    clock.advance(days=90)
    keyring.rotate()
    second = issue_receipt(event_for(notice), notice, keyring, policy_url=POLICY_URL)
    assert first.kid != second.kid
    keys = public_key_document(keyring)
    later = START + dt.timedelta(days=365)
    assert verify(first.data, keys, now=later).valid and verify(second.data, keys, now=later).valid


def test_a_receipt_from_the_rotation_second_stays_valid(notice: Notice, keyring: KeyRing, clock: FixedClock) -> None:
    clock.advance(seconds=60, microseconds=300_000)
    before = issue_receipt(event_for(notice), notice, keyring, policy_url=POLICY_URL)
    clock.advance(microseconds=400_000)
    keyring.rotate()
    after = issue_receipt(event_for(notice), notice, keyring, policy_url=POLICY_URL)
    assert before.timestamp == after.timestamp and before.kid != after.kid
    keys = public_key_document(keyring)
    assert verify(before.data, keys, now=clock.now()).valid and verify(after.data, keys, now=clock.now()).valid


def test_a_receipt_from_the_future_fails(issued: IssuedReceipt, keys_doc: dict[str, Any]) -> None:
    assert verify(issued.data, keys_doc, now=START - dt.timedelta(minutes=4)).valid  # clock skew allowed
    result = verify(issued.data, keys_doc, now=START - dt.timedelta(hours=1))
    assert result.failure is Failure.FUTURE


def test_verification_defaults_to_the_system_clock(issued: IssuedReceipt, keys_doc: dict[str, Any]) -> None:
    assert verify_receipt(issued.data, keys_doc).valid  # the receipt is from 2025, before any real "now"


def _drop(path: str) -> Callable[[dict[str, Any]], None]:
    def mutate(receipt: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = receipt
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        del target[last]

    return mutate


MISSING = [
    *KANTARA_FIELDS,
    "record",
    "record.header.signingKeyId",
    "record.processing.notice.sha256",
    "record.parties.principal.underFourteen",
    "record.events.0.withdraws",
    "services.0.purposes.0.consentType",
    "piiControllers.0.piiController",
]


@pytest.mark.parametrize("path", MISSING)
def test_a_signed_receipt_missing_a_field_fails(issued: IssuedReceipt, keyring: KeyRing, path: str) -> None:
    receipt = copy.deepcopy(issued.receipt)
    _drop(path)(receipt)
    result = verify(sign_raw(keyring, receipt), public_key_document(keyring))
    assert result.failure is Failure.SCHEMA
    expected = "receipt." + path.replace(".0.", "[0].").replace(".0", "[0]")
    assert result.reason == f"missing required field {expected}"


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda r: r.update(consentTimestamp="2025-03-01"), "receipt.consentTimestamp must be an integer"),
        (lambda r: r.update(sensitive="true"), "receipt.sensitive must be true or false"),
        (lambda r: r.update(services={}), "receipt.services must be a list"),
        (lambda r: r.update(version="KI-CR-v1.0.0"), "receipt.version must be one of"),
        (lambda r: r.update(piiPrincipalId="a@b.example"), "receipt.piiPrincipalId has the wrong format"),
        (lambda r: r.update(extra=1), "receipt.extra is not a field of this schema"),
        (lambda r: r["record"]["processing"]["notice"].update(sha256="abc"), "sha256 has the wrong format"),
        (lambda r: r["record"]["events"][0].update(type="expired"), "type must be one of"),
        (lambda r: r["record"].update(events=[]), "must have at least 1 item"),
    ],
)
def test_a_signed_receipt_with_bad_types_fails(
    issued: IssuedReceipt, keyring: KeyRing, mutate: Callable[[dict[str, Any]], None], reason: str
) -> None:
    receipt = copy.deepcopy(issued.receipt)
    mutate(receipt)
    result = verify(sign_raw(keyring, receipt), public_key_document(keyring))
    assert result.failure is Failure.SCHEMA and reason in (result.reason or "")


def _decline_first_matter(receipt: dict[str, Any]) -> None:
    receipt["record"]["processing"]["matters"][0]["consented"] = False
    receipt["services"][0]["purposes"].pop(0)


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda r: r["record"]["header"].update(recordId="another-id-0001"), "recordId differs"),
        (lambda r: r["record"]["header"].update(signingKeyId="b" * 24), "signing key id"),
        (lambda r: r["record"]["events"][0].update(time="2025-03-01T09:00:01Z"), "times differ"),
        (lambda r: r.update(language="en"), "languages differ"),
        (lambda r: r["services"][0]["purposes"].pop(), "purposes differ"),
        (lambda r: _decline_first_matter(r), "without every required matter"),
        (lambda r: r["record"]["parties"]["principal"].update(underFourteen=True), "under 14"),
    ],
)
def test_a_signed_but_inconsistent_receipt_fails(
    issued: IssuedReceipt, keyring: KeyRing, mutate: Callable[[dict[str, Any]], None], reason: str
) -> None:
    receipt = copy.deepcopy(issued.receipt)
    mutate(receipt)
    result = verify(sign_raw(keyring, receipt), public_key_document(keyring))
    assert result.failure is Failure.INCONSISTENT and reason in (result.reason or "")


@pytest.mark.parametrize(
    ("data", "failure"),
    [
        (b"", Failure.MALFORMED),
        (b"not json", Failure.MALFORMED),
        (b"\xff\xfe", Failure.MALFORMED),
        (b'{"receipt":{},"receipt":{}}', Failure.MALFORMED),
        ("a str, not bytes", Failure.MALFORMED),
        (b"[]", Failure.ENVELOPE),
        (b'{"receipt":{}}', Failure.ENVELOPE),
        (b'{"receipt":{},"signature":{"alg":"RS256","kid":"aaaaaaaaaaaaaaaaaaaaaaaa","value":"x"}}', Failure.ENVELOPE),
    ],
)
def test_malformed_files_fail_with_a_reason(data: Any, failure: Failure, keys_doc: dict[str, Any]) -> None:
    result = verify(data, keys_doc)
    assert not result.valid and result.failure is failure and result.reason


def test_a_non_canonical_signature_spelling_fails(issued: IssuedReceipt, keys_doc: dict[str, Any]) -> None:
    envelope = json.loads(issued.data)
    value = envelope["signature"]["value"]
    # The last of 86 characters carries 2 data bits and 4 unused ones; setting an unused bit keeps the bytes.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    envelope["signature"]["value"] = value[:-1] + alphabet[alphabet.index(value[-1]) ^ 1]
    result = verify(canonical_json(envelope), keys_doc)
    assert result.failure is Failure.ENVELOPE and "canonical base64url" in (result.reason or "")


def test_a_malformed_key_document_fails(issued: IssuedReceipt) -> None:
    result = verify(issued.data, {"keys": []})
    assert result.failure is Failure.KEY_DOCUMENT and "schema" in (result.reason or "")


# --- signing rules -----------------------------------------------------------------------------------------


def test_sign_receipt_refuses_what_would_not_verify(issued: IssuedReceipt, keyring: KeyRing) -> None:
    broken = copy.deepcopy(issued.receipt)
    del broken["policyUrl"]
    with pytest.raises(ReceiptBuildError, match="policyUrl"):
        sign_receipt(broken, keyring)


def test_sign_receipt_uses_only_a_consent_key_valid_at_the_receipt_time(notice: Notice, keyring: KeyRing) -> None:
    audit = keyring.generate("audit")
    with pytest.raises(KeyNotValidError, match="not a 'consent' key"):
        sign_receipt(build(notice, kid=audit.kid), keyring)
    with pytest.raises(UnknownKeyError):
        sign_receipt(build(notice, kid="b" * 24), keyring)
    early = build(notice, kid=keyring.current().kid, timestamp=START - dt.timedelta(seconds=1))
    with pytest.raises(KeyNotValidError, match="outside its validity"):
        sign_receipt(early, keyring)


def test_issuing_needs_a_current_consent_key(notice: Notice, clock: FixedClock) -> None:
    with pytest.raises(NoActiveKeyError):
        issue_receipt(event_for(notice), notice, KeyRing(generate_master_key(), clock), policy_url=POLICY_URL)


def test_issued_receipts_get_fresh_ids(notice: Notice, keyring: KeyRing) -> None:
    ids = {issue_receipt(event_for(notice), notice, keyring, policy_url=POLICY_URL).receipt_id for _ in range(3)}
    assert len(ids) == 3


def test_withdrawal_and_guardian_receipts_verify(notice: Notice, keyring: KeyRing) -> None:
    given = issue_receipt(event_for(notice), notice, keyring, policy_url=POLICY_URL)
    withdrawal = withdrawal_of(notice, given.receipt_id, "release")
    withdrawn = issue_receipt(withdrawal, notice, keyring, policy_url=POLICY_URL)
    facts = verify(withdrawn.data, public_key_document(keyring)).facts
    assert facts is not None and facts.event is EventType.WITHDRAWN
    assert facts.withdraws_receipt_id == given.receipt_id and facts.withdrawn_matters == ("release",)
    assert facts.consented == ("collection", "sensitive", "voice") and facts.declined == ("release",)
    guardian = GuardianConsent(GuardianRelationship.LEGAL_GUARDIAN, commit_name("김보호").value)
    minor = issue_receipt(event_for(notice, under_14=True, guardian=guardian), notice, keyring, policy_url=POLICY_URL)
    minor_facts = verify(minor.data, public_key_document(keyring)).facts
    assert minor_facts is not None and minor_facts.under_14


def test_receipt_facts_refuses_a_broken_receipt(issued: IssuedReceipt) -> None:
    broken = copy.deepcopy(issued.receipt)
    broken["record"]["events"] = "none"
    with pytest.raises(ReceiptFormatError, match="receipt.record.events must be a list"):
        receipt_facts(broken)


def test_a_naive_now_is_a_callers_mistake(issued: IssuedReceipt, keys_doc: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="aware"):
        verify_receipt(issued.data, keys_doc, now=dt.datetime(2025, 3, 1))


def test_an_english_receipt_hashes_the_english_text(notice: Notice, keyring: KeyRing) -> None:
    issued = issue_receipt(event_for(notice, language="en"), notice, keyring, policy_url=POLICY_URL)
    assert issued.receipt["services"][0]["service"] == "Face data collection consent"
    assert issued.receipt["record"]["processing"]["notice"]["sha256"] == notice_sha256(notice, "en")
    assert verify(issued.data, public_key_document(keyring)).valid


def test_a_changed_notice_text_is_a_different_hash(notice: Notice) -> None:
    changed = replace_matter(notice, "release", summary=text("다른 요약", "Another summary"))
    assert (
        build(changed)["record"]["processing"]["notice"]["sha256"]
        != build(notice)["record"]["processing"]["notice"]["sha256"]
    )
