"""Signing keys: generation, sealed storage, rotation, signing for a moment, the public key document."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import pytest
from _consent_support import START

from consent.canonical import b64url_encode
from consent.clock import FixedClock
from consent.errors import (
    KeyDecryptionError,
    KeyDocumentError,
    KeyNotValidError,
    KeyRingError,
    NoActiveKeyError,
    UnknownKeyError,
)
from consent.keys import (
    KeyRing,
    PublicKeyDocument,
    SigningKey,
    generate_master_key,
    key_id,
    parse_public_key_document,
    public_key_document,
)

MESSAGE = b"a message to sign"


def test_a_generated_key_is_named_after_its_public_key_and_valid_from_now(clock: FixedClock) -> None:
    clock.advance(microseconds=750_000)
    ring = KeyRing(generate_master_key(), clock)
    key = ring.generate("consent")
    assert len(key.public.public_key) == 32
    assert key.kid == key_id(key.public.public_key) and len(key.kid) == 24
    assert key.public.valid_from == START  # whole seconds, like receipt timestamps
    assert key.public.valid_until is None
    assert ring.current("consent") == key


def test_each_installation_gets_distinct_keys(clock: FixedClock) -> None:
    first = KeyRing(generate_master_key(), clock).generate()
    second = KeyRing(generate_master_key(), clock).generate()
    assert first.kid != second.kid


def test_signatures_verify_with_the_public_half_only(keyring: KeyRing) -> None:
    key = keyring.current()
    signature = keyring.sign(MESSAGE, kid=key.kid, at=START)
    assert len(signature) == 64
    assert key.public.verify(MESSAGE, signature)
    assert not key.public.verify(MESSAGE + b"!", signature)
    assert not key.public.verify(MESSAGE, signature[:-1] + bytes([signature[-1] ^ 1]))


def test_the_private_key_is_stored_sealed(keyring: KeyRing) -> None:
    key = keyring.current()
    blob = key.sealed_private_key
    assert len(blob) == 1 + 12 + 16 + 32 and blob[0] == 1
    stored = json.dumps(key.to_dict())
    assert "d" not in key.to_dict()  # no JWK private member
    assert "sealedPrivateKey" in stored


def test_the_same_key_sealed_twice_gives_different_blobs(clock: FixedClock) -> None:
    master = generate_master_key()
    blobs = {KeyRing(master, clock).generate().sealed_private_key[1:13] for _ in range(3)}
    assert len(blobs) == 3  # fresh random nonces


def test_a_wrong_master_key_cannot_sign(keyring: KeyRing, clock: FixedClock) -> None:
    other = KeyRing(generate_master_key(), clock, keyring.keys)
    with pytest.raises(KeyDecryptionError) as caught:
        other.sign(MESSAGE, kid=keyring.current().kid, at=START)
    assert caught.value.kid == keyring.current().kid


@pytest.mark.parametrize("position", [0, 1, 13, 29, 60])
def test_a_tampered_sealed_key_cannot_sign(
    keyring: KeyRing, clock: FixedClock, master_key: bytes, position: int
) -> None:
    key = keyring.current()
    blob = bytearray(key.sealed_private_key)
    blob[position] ^= 0x01
    tampered = KeyRing(master_key, clock, [dataclasses.replace(key, sealed_private_key=bytes(blob))])
    with pytest.raises(KeyDecryptionError):
        tampered.sign(MESSAGE, kid=key.kid, at=START)


def test_a_sealed_key_moved_onto_another_keys_row_cannot_sign(clock: FixedClock, master_key: bytes) -> None:
    ring = KeyRing(master_key, clock)
    consent, audit = ring.generate("consent"), ring.generate("audit")
    swapped = dataclasses.replace(audit, sealed_private_key=consent.sealed_private_key)
    moved = KeyRing(master_key, clock, [swapped])
    with pytest.raises(KeyDecryptionError):
        moved.sign(MESSAGE, kid=audit.kid, at=START)


def test_stored_keys_load_back_and_still_sign(keyring: KeyRing, clock: FixedClock, master_key: bytes) -> None:
    keyring.rotate()
    rows = [json.loads(json.dumps(key.to_dict())) for key in keyring.keys]
    loaded = KeyRing(master_key, clock, [SigningKey.from_dict(row) for row in rows])
    assert loaded.keys == keyring.keys
    current = loaded.current()
    assert current.public.verify(MESSAGE, loaded.sign(MESSAGE, kid=current.kid, at=START))


def test_a_stored_key_with_a_foreign_public_key_is_refused(keyring: KeyRing) -> None:
    row = keyring.current().to_dict()
    row["x"] = b64url_encode(bytes(range(32)))
    with pytest.raises(KeyDocumentError, match="kid does not match"):
        SigningKey.from_dict(row)


def test_generate_refuses_a_second_current_key(keyring: KeyRing) -> None:
    with pytest.raises(KeyRingError, match="rotate"):
        keyring.generate("consent")


def test_rotation_retires_the_current_key_and_starts_a_new_one(keyring: KeyRing, clock: FixedClock) -> None:
    old = keyring.current()
    clock.advance(days=30, microseconds=400_000)
    rotation = keyring.rotate()
    rotated_at = START + dt.timedelta(days=30)
    assert rotation.retired is not None and rotation.retired.kid == old.kid
    assert rotation.retired.public.valid_until == rotated_at + dt.timedelta(seconds=1)
    assert rotation.created.public.valid_from == rotated_at and rotation.created.public.valid_until is None
    assert keyring.current() == rotation.created
    assert keyring.get(old.kid) == rotation.retired
    assert len(keyring.keys) == 2


def test_a_retired_key_signs_only_inside_its_validity(keyring: KeyRing, clock: FixedClock) -> None:
    old = keyring.current()
    clock.advance(days=30)
    keyring.rotate()
    assert keyring.sign(MESSAGE, kid=old.kid, at=START + dt.timedelta(days=29))
    with pytest.raises(KeyNotValidError):
        keyring.sign(MESSAGE, kid=old.kid, at=START + dt.timedelta(days=30, seconds=1))
    with pytest.raises(KeyNotValidError):
        keyring.sign(MESSAGE, kid=old.kid, at=START - dt.timedelta(seconds=1))


def test_rotate_without_a_key_creates_the_first(clock: FixedClock) -> None:
    ring = KeyRing(generate_master_key(), clock)
    rotation = ring.rotate("release")
    assert rotation.retired is None and ring.current("release") == rotation.created


def test_purposes_have_separate_keys(keyring: KeyRing) -> None:
    audit = keyring.generate("audit")
    assert keyring.current("audit") == audit != keyring.current("consent")
    keyring.rotate("audit")
    assert keyring.current("consent").public.valid_until is None


def test_current_needs_a_key_covering_now(clock: FixedClock) -> None:
    ring = KeyRing(generate_master_key(), clock)
    with pytest.raises(NoActiveKeyError) as caught:
        ring.current("consent")
    assert caught.value.purpose == "consent"
    ring.generate("consent")
    clock.advance(seconds=-5)
    with pytest.raises(NoActiveKeyError):
        ring.current("consent")
    with pytest.raises(KeyRingError, match="before the start"):
        ring.rotate("consent")


def test_unknown_key_ids_are_refused(keyring: KeyRing) -> None:
    with pytest.raises(UnknownKeyError):
        keyring.sign(MESSAGE, kid="a" * 24, at=START)


@pytest.mark.parametrize("purpose", ["", "Consent", "consent keys", "x" * 40, "1st"])
def test_purpose_labels_are_checked(keyring: KeyRing, purpose: str) -> None:
    with pytest.raises(KeyRingError, match="purpose"):
        keyring.generate(purpose)


@pytest.mark.parametrize("master", [b"", b"\x00" * 16, b"\x00" * 33])
def test_the_master_key_must_be_32_bytes(clock: FixedClock, master: bytes) -> None:
    with pytest.raises(KeyRingError, match="32 bytes"):
        KeyRing(master, clock)


def test_a_ring_refuses_duplicate_or_competing_keys(keyring: KeyRing, clock: FixedClock, master_key: bytes) -> None:
    key = keyring.current()
    with pytest.raises(KeyRingError, match="duplicate"):
        KeyRing(master_key, clock, [key, key])
    rival = KeyRing(master_key, clock).generate("consent")
    with pytest.raises(KeyRingError, match="two current keys"):
        KeyRing(master_key, clock, [key, rival])


def test_a_naive_clock_is_refused() -> None:
    ring = KeyRing(generate_master_key(), FixedClock(dt.datetime(2025, 1, 1)))
    with pytest.raises(KeyRingError, match="aware"):
        ring.generate()


# --- public key document -----------------------------------------------------------------------------------


def test_the_document_publishes_every_key_as_an_ed25519_jwk(keyring: KeyRing, clock: FixedClock) -> None:
    clock.advance(days=10)
    keyring.rotate()
    document = public_key_document(keyring)
    assert document["schema"] == "datadam/consent-keys/1"
    first, second = document["keys"]
    assert first == {
        "kty": "OKP",
        "crv": "Ed25519",
        "alg": "Ed25519",
        "use": "sig",
        "kid": keyring.keys[0].kid,
        "x": b64url_encode(keyring.keys[0].public.public_key),
        "purpose": "consent",
        "validFrom": "2025-03-01T09:00:00Z",
        "validUntil": "2025-03-11T09:00:01Z",
    }
    assert second["validFrom"] == "2025-03-11T09:00:00Z" and second["validUntil"] is None
    assert "sealed" not in json.dumps(document)


def test_the_document_parses_back_to_the_same_keys(keyring: KeyRing) -> None:
    keyring.generate("audit")
    text = json.dumps(public_key_document(keyring))
    parsed = parse_public_key_document(text.encode())
    assert set(parsed.keys) == {key.public for key in keyring.keys}
    assert parse_public_key_document(json.loads(text)) == parsed
    assert parsed.find(keyring.current().kid) == keyring.current().public
    assert parsed.find("b" * 24) is None


def test_one_purpose_can_be_published_alone(keyring: KeyRing) -> None:
    keyring.generate("audit")
    document = keyring.public_keys({"consent"}).to_dict()
    assert [key["purpose"] for key in document["keys"]] == ["consent"]
    assert public_key_document([keyring.current("audit")])["keys"][0]["purpose"] == "audit"


def test_unknown_members_are_ignored_as_jwk_allows(keyring: KeyRing) -> None:
    document = public_key_document(keyring)
    document["issuer"] = "https://datadam.example"
    document["keys"][0]["x5t"] = "ignored"
    assert len(parse_public_key_document(document).keys) == 1


def _mutate(document: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    entry = document["keys"][0]
    if value is _DELETE:
        del entry[path]
    else:
        entry[path] = value
    return document


_DELETE = object()


@pytest.mark.parametrize(
    ("member", "value", "problem"),
    [
        ("kty", "EC", "kty must be"),
        ("crv", "Ed448", "crv must be"),
        ("alg", "EdDSA", "alg must be"),
        ("use", "enc", "use must be"),
        ("kid", "a" * 24, "kid does not match"),
        ("x", b64url_encode(b"\x00" * 31), "32-byte"),
        ("x", b64url_encode(b"\xff" * 32), "32-byte"),  # not a point on the curve
        ("x", 42, "32-byte"),
        ("purpose", "Consent!", "purpose"),
        ("validFrom", "yesterday", "UTC timestamp"),
        ("validUntil", _DELETE, "validUntil is required"),
        ("validUntil", "2025-03-01T09:00:00Z", "after validFrom"),
        ("validUntil", "2025-03-01T08:00:00Z", "after validFrom"),
    ],
)
def test_malformed_keys_are_refused_with_a_path(keyring: KeyRing, member: str, value: Any, problem: str) -> None:
    document = _mutate(public_key_document(keyring), member, value)
    with pytest.raises(KeyDocumentError, match=problem) as caught:
        parse_public_key_document(document)
    assert caught.value.path.startswith("$.keys[0]")


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        (b"{not json", "not strict JSON"),
        (b'{"schema":"x","schema":"y"}', "duplicate"),
        ([], "JSON object"),
        ({"keys": []}, "schema must be"),
        ({"schema": "datadam/consent-keys/1", "keys": {}}, "keys must be a list"),
        ({"schema": "datadam/consent-keys/1", "keys": ["k"]}, "JSON object"),
    ],
)
def test_malformed_documents_are_refused(document: Any, problem: str) -> None:
    with pytest.raises(KeyDocumentError, match=problem):
        parse_public_key_document(document)


def test_a_key_listed_twice_is_refused(keyring: KeyRing) -> None:
    document = public_key_document(keyring)
    document["keys"].append(dict(document["keys"][0]))
    with pytest.raises(KeyDocumentError, match="twice"):
        parse_public_key_document(document)


def test_an_empty_document_is_valid_but_knows_no_key() -> None:
    parsed = parse_public_key_document({"schema": "datadam/consent-keys/1", "keys": []})
    assert parsed == PublicKeyDocument(keys=())
