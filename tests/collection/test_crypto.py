"""Envelope encryption and crypto-shredding: format, tamper detection, key wrap vectors, the key vault."""

from __future__ import annotations

import base64
import datetime as dt
import threading

import pytest
from Crypto.Cipher import AES
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from collection.crypto import (
    FORMAT_V1,
    AssociatedData,
    ContributorKey,
    DataKey,
    KeyVault,
    MasterKey,
    open_sealed,
    seal,
)
from collection.errors import (
    CollectionError,
    CryptoError,
    DecryptionFailed,
    InvalidKeyMaterial,
    KeyDestroyed,
    KeyUnwrapFailed,
)
from consent.clock import FixedClock

AAD = AssociatedData("c1", "photo-1", 1)
T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)


# --- primitives -----------------------------------------------------------------------------------


def test_key_wrap_matches_rfc3394_vector_4_6() -> None:
    """RFC 3394 section 4.6: wrap 256 bits of key data with a 256-bit KEK."""
    kek = MasterKey(bytes(range(32)))
    data = DataKey(bytes.fromhex("00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F"))
    expected = bytes.fromhex("28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21")
    assert kek.wrap(data) == expected
    assert kek.unwrap(expected) == data


def test_unwrap_refuses_other_master_key_and_tampering() -> None:
    master, other = MasterKey.generate(), MasterKey.generate()
    wrapped = master.wrap(DataKey.generate())
    with pytest.raises(KeyUnwrapFailed):
        other.unwrap(wrapped)
    tampered = bytes([wrapped[0] ^ 1]) + wrapped[1:]
    with pytest.raises(KeyUnwrapFailed):
        master.unwrap(tampered)
    with pytest.raises(KeyUnwrapFailed):
        master.unwrap(wrapped[:-8])


@pytest.mark.parametrize("size", [0, 16, 31, 33])
def test_keys_of_wrong_length_are_refused(size: int) -> None:
    with pytest.raises(InvalidKeyMaterial) as err:
        MasterKey(b"k" * size)
    assert (err.value.length, err.value.expected) == (size, 32)
    with pytest.raises(InvalidKeyMaterial):
        DataKey(b"k" * size)


def test_master_key_from_base64_and_repr_hides_bytes() -> None:
    raw = bytes(range(32))
    key = MasterKey.from_base64(base64.b64encode(raw).decode() + "\n")
    assert key.wrap(DataKey(raw)) == MasterKey(raw).wrap(DataKey(raw))
    assert raw.hex() not in repr(key) and "***" in repr(key)
    assert raw.hex() not in repr(DataKey(raw))
    with pytest.raises(InvalidKeyMaterial):
        MasterKey.from_base64("not base64!")


def test_sealed_layout_is_version_nonce_ciphertext_tag() -> None:
    """Decrypt with plain AES-GCM from the documented layout: proves the format, not just a round trip."""
    key = DataKey.generate()
    sealed = seal(b"hello face", key, AAD)
    assert sealed[0] == FORMAT_V1 and len(sealed) == 1 + 12 + len(b"hello face") + 16
    cipher = AES.new(key.key_bytes, AES.MODE_GCM, nonce=sealed[1:13])
    cipher.update(bytes([FORMAT_V1]) + AAD.encode())
    assert cipher.decrypt_and_verify(sealed[13:-16], sealed[-16:]) == b"hello face"


def test_every_seal_uses_a_fresh_nonce() -> None:
    key = DataKey.generate()
    outputs = {seal(b"same bytes", key, AAD) for _ in range(50)}
    assert len(outputs) == 50
    assert len({s[1:13] for s in outputs}) == 50


@given(plaintext=st.binary(max_size=4096))
def test_round_trip_any_plaintext(plaintext: bytes) -> None:
    key = DataKey.generate()
    sealed = seal(plaintext, key, AAD)
    assert open_sealed(sealed, key, AAD) == plaintext
    if len(plaintext) >= 8:
        assert plaintext not in sealed


@pytest.mark.parametrize(
    "aad",
    [
        AssociatedData("c2", "photo-1", 1),
        AssociatedData("c1", "photo-2", 1),
        AssociatedData("c1", "photo-1", 2),
    ],
    ids=["other-contributor", "other-object", "other-version"],
)
def test_wrong_associated_data_fails(aad: AssociatedData) -> None:
    key = DataKey.generate()
    with pytest.raises(DecryptionFailed) as err:
        open_sealed(seal(b"data", key, AAD), key, aad)
    assert err.value.reason == "authentication" and err.value.object_id == aad.object_id


def test_wrong_key_fails() -> None:
    sealed = seal(b"data", DataKey.generate(), AAD)
    with pytest.raises(DecryptionFailed):
        open_sealed(sealed, DataKey.generate(), AAD)


def test_any_flipped_bit_is_detected() -> None:
    key = DataKey.generate()
    sealed = seal(b"0123456789abcdef", key, AAD)
    for index in range(len(sealed)):
        tampered = bytearray(sealed)
        tampered[index] ^= 0x01
        with pytest.raises(DecryptionFailed):
            open_sealed(bytes(tampered), key, AAD)


@pytest.mark.parametrize("blob", [b"", b"\x01" + b"\x00" * 27, b"\x02" + b"\x00" * 40])
def test_malformed_blobs_fail_as_format_errors(blob: bytes) -> None:
    with pytest.raises(DecryptionFailed) as err:
        open_sealed(blob, DataKey.generate(), AAD)
    assert err.value.reason.startswith("format")


def test_associated_data_encoding_is_unambiguous() -> None:
    assert AssociatedData("ab", "c", 1).encode() != AssociatedData("a", "bc", 1).encode()
    assert AssociatedData("a", "b", 256).encode() != AssociatedData("a", "b", 1).encode()
    with pytest.raises(ValueError):
        AssociatedData("", "b", 1)
    with pytest.raises(ValueError):
        AssociatedData("a", "b", -1)


def test_crypto_errors_share_the_collection_base() -> None:
    for error in (InvalidKeyMaterial, KeyUnwrapFailed, DecryptionFailed, KeyDestroyed):
        assert issubclass(error, CryptoError) and issubclass(error, CollectionError)


# --- the key vault --------------------------------------------------------------------------------


@pytest.fixture
def master() -> MasterKey:
    return MasterKey.generate()


def test_key_is_created_once_and_stored_only_wrapped(infra_session: Session, master: MasterKey) -> None:
    vault = KeyVault(infra_session, master, FixedClock(T0))
    key = vault.key_for("c1")
    assert vault.key_for("c1") == key
    infra_session.commit()
    row = infra_session.execute(select(ContributorKey)).scalar_one()
    assert row.wrapped_key is not None and len(row.wrapped_key) == 40
    assert key.key_bytes not in row.wrapped_key
    assert master.unwrap(row.wrapped_key) == key
    assert row.created_at == T0 and row.destroyed_at is None
    assert KeyVault(infra_session, master).key_for("c1") == key


def test_contributors_get_distinct_keys(infra_session: Session, master: MasterKey) -> None:
    vault = KeyVault(infra_session, master)
    assert vault.key_for("c1") != vault.key_for("c2")


def test_vault_flushes_but_never_commits(infra_session: Session, master: MasterKey) -> None:
    KeyVault(infra_session, master).key_for("c1")
    assert infra_session.execute(select(ContributorKey)).scalar_one().contributor_id == "c1"
    infra_session.rollback()
    assert infra_session.execute(select(ContributorKey)).scalar_one_or_none() is None


def test_seal_and_open_through_the_vault(infra_session: Session, master: MasterKey) -> None:
    vault = KeyVault(infra_session, master)
    sealed = vault.seal("c1", "photo-9", 3, b"canary-3f9a")
    infra_session.commit()
    assert KeyVault(infra_session, master).open("c1", "photo-9", 3, sealed) == b"canary-3f9a"
    with pytest.raises(DecryptionFailed):
        vault.open("c1", "photo-9", 4, sealed)
    with pytest.raises(DecryptionFailed):
        vault.open("c2", "photo-9", 3, sealed)


def test_opening_for_contributor_without_key_fails_without_creating_one(
    infra_session: Session, master: MasterKey
) -> None:
    sealed = seal(b"x", DataKey.generate(), AssociatedData("c9", "o", 1))
    with pytest.raises(DecryptionFailed):
        KeyVault(infra_session, master).open("c9", "o", 1, sealed)
    assert infra_session.execute(select(ContributorKey)).scalar_one_or_none() is None


def test_other_master_key_cannot_unwrap_stored_keys(infra_session: Session, master: MasterKey) -> None:
    sealed = KeyVault(infra_session, master).seal("c1", "o", 1, b"x")
    infra_session.commit()
    with pytest.raises(KeyUnwrapFailed) as err:
        KeyVault(infra_session, MasterKey.generate()).open("c1", "o", 1, sealed)
    assert err.value.contributor_id == "c1"


def test_destroy_shreds_the_key_for_good(infra_session: Session, master: MasterKey) -> None:
    clock = FixedClock(T0)
    vault = KeyVault(infra_session, master, clock)
    sealed = vault.seal("c1", "photo-1", 1, b"canary-77")
    other = vault.seal("c2", "photo-1", 1, b"kept")
    infra_session.commit()
    clock.advance(days=3)
    vault.destroy("c1")
    infra_session.commit()

    raw = infra_session.execute(
        text("SELECT wrapped_key, destroyed_at FROM contributor_keys WHERE contributor_id='c1'")
    )
    wrapped, destroyed_at = raw.one()
    assert wrapped is None and destroyed_at is not None
    for fresh in (vault, KeyVault(infra_session, master)):
        with pytest.raises(KeyDestroyed) as err:
            fresh.open("c1", "photo-1", 1, sealed)
        assert err.value.contributor_id == "c1" and err.value.destroyed_at == T0 + dt.timedelta(days=3)
        with pytest.raises(KeyDestroyed):
            fresh.seal("c1", "photo-2", 1, b"new data after erasure")
        with pytest.raises(KeyDestroyed):
            fresh.key_for("c1")
    assert vault.open("c2", "photo-1", 1, other) == b"kept"
    assert vault.is_destroyed("c1") and not vault.is_destroyed("c2")


def test_destroy_is_idempotent_and_keeps_the_first_time(infra_session: Session, master: MasterKey) -> None:
    clock = FixedClock(T0)
    vault = KeyVault(infra_session, master, clock)
    vault.key_for("c1")
    vault.destroy("c1")
    clock.advance(days=1)
    vault.destroy("c1")
    infra_session.commit()
    assert infra_session.get(ContributorKey, "c1").destroyed_at == T0  # type: ignore[union-attr]


def test_destroy_before_any_key_leaves_a_tombstone(infra_session: Session, master: MasterKey) -> None:
    vault = KeyVault(infra_session, master)
    vault.destroy("c5")
    infra_session.commit()
    with pytest.raises(KeyDestroyed):
        KeyVault(infra_session, master).key_for("c5")


def test_parallel_first_use_yields_one_key(session_factory: sessionmaker[Session], master: MasterKey) -> None:
    """Two transactions create the same contributor's key at once: both end with the same key, no error."""
    results: dict[str, DataKey] = {}
    errors: list[BaseException] = []

    def second() -> None:
        try:
            with session_factory() as session:
                results["b"] = KeyVault(session, master).key_for("c1")
                session.commit()
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    with session_factory() as first:
        results["a"] = KeyVault(first, master).key_for("c1")
        thread = threading.Thread(target=second)
        thread.start()
        thread.join(timeout=0.5)  # let the second insert reach the database and wait on the first
        first.commit()
    thread.join(timeout=60)
    assert not errors and results["a"] == results["b"]
    with session_factory() as session:
        assert len(session.execute(select(ContributorKey)).scalars().all()) == 1
