"""Sealed columns: AES-256-GCM with random nonces, bound to their column, keyed per engine, failing closed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, Table, create_engine, insert, select, text
from sqlalchemy.exc import StatementError

from consent.errors import FieldDecryptionError, FieldKeyMissingError
from consent.sealed import (
    BlindIndex,
    FieldCipher,
    SealedDate,
    SealedText,
    SealedUTCDateTime,
    derive_key,
    install_field_cipher,
)

MASTER = b"m" * 32
META = MetaData()
PEOPLE = Table(
    "people",
    META,
    Column("id", Integer, primary_key=True),
    Column("name", SealedText("people.name")),
    Column("born", SealedDate("people.born")),
    Column("seen", SealedUTCDateTime("people.seen")),
)


@pytest.fixture
def engine() -> Iterator[Engine]:
    eng = create_engine("sqlite://")
    META.create_all(eng)
    yield eng
    eng.dispose()


def test_seal_opens_only_for_its_column_and_key() -> None:
    cipher = FieldCipher.from_master_key(MASTER)
    sealed = cipher.seal(b"Kim Minji", "users.display_name")
    assert sealed[0] == 1 and len(sealed) == 1 + 12 + len(b"Kim Minji") + 16
    assert cipher.seal(b"Kim Minji", "users.display_name") != sealed  # a fresh nonce every time
    assert cipher.open(sealed, "users.display_name") == b"Kim Minji"
    with pytest.raises(FieldDecryptionError):
        cipher.open(sealed, "users.email")  # moved to another column
    with pytest.raises(FieldDecryptionError):
        FieldCipher.from_master_key(b"w" * 32).open(sealed, "users.display_name")
    with pytest.raises(FieldDecryptionError):
        cipher.open(sealed[:-1] + bytes([sealed[-1] ^ 1]), "users.display_name")
    with pytest.raises(FieldDecryptionError, match="unknown key version"):
        cipher.open(b"\x07" + sealed[1:], "users.display_name")


def test_a_new_key_version_seals_while_the_old_one_still_opens() -> None:
    old = FieldCipher({1: derive_key(MASTER, "sealed-field/v1")})
    rotated = FieldCipher({1: derive_key(MASTER, "sealed-field/v1"), 2: derive_key(b"n" * 32, "sealed-field/v2")})
    legacy = old.seal(b"note", "photos.contributor_note")
    assert rotated.open(legacy, "photos.contributor_note") == b"note"
    assert rotated.seal(b"note", "photos.contributor_note")[0] == 2


def test_derived_keys_and_blind_indexes_are_separated_by_purpose() -> None:
    assert derive_key(MASTER, "a") != derive_key(MASTER, "b") != MASTER
    index = BlindIndex.from_master_key(MASTER, "users.email")
    assert index.digest("a@example.com") == index.digest("a@example.com")
    assert index.digest("a@example.com") != BlindIndex.from_master_key(b"w" * 32, "users.email").digest("a@example.com")
    assert "***" in repr(index) and "***" in repr(FieldCipher.from_master_key(MASTER))


def test_engine_with_a_cipher_reads_back_what_the_database_holds_only_as_ciphertext(engine: Engine) -> None:
    install_field_cipher(engine, FieldCipher.from_master_key(MASTER))
    seen = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
    with engine.begin() as conn:
        conn.execute(insert(PEOPLE).values(id=1, name="김민지", born=dt.date(1990, 1, 2), seen=seen))
        conn.execute(insert(PEOPLE).values(id=2))
        assert conn.execute(select(PEOPLE.c.name, PEOPLE.c.born, PEOPLE.c.seen).where(PEOPLE.c.id == 1)).one() == (
            "김민지",
            dt.date(1990, 1, 2),
            seen,
        )
        raw = conn.execute(text("SELECT name, born, seen FROM people WHERE id = 1")).one()
        assert all(isinstance(value, bytes) for value in raw)
        assert "김민지".encode() not in raw[0] and b"1990" not in raw[1] and b"2024" not in raw[2]
        assert conn.execute(select(PEOPLE.c.id).where(PEOPLE.c.name.is_(None))).scalars().all() == [2]


def test_without_a_cipher_nothing_is_written_in_clear_or_read(engine: Engine) -> None:
    with pytest.raises(StatementError) as info, engine.begin() as conn:
        conn.execute(insert(PEOPLE).values(id=1, name="김민지"))
    assert isinstance(info.value.orig, FieldKeyMissingError)
    with engine.begin() as conn:
        conn.execute(insert(PEOPLE).values(id=2))  # NULL holds nothing: allowed
        assert conn.execute(text("SELECT count(*) FROM people WHERE name IS NOT NULL")).scalar() == 0
        sealed = FieldCipher.from_master_key(MASTER).seal("김민지".encode(), "people.name")
        conn.execute(text("UPDATE people SET name = :v"), {"v": sealed})
        with pytest.raises(FieldKeyMissingError):
            conn.execute(select(PEOPLE.c.name)).all()


def test_sealed_columns_refuse_sql_comparison() -> None:
    with pytest.raises(TypeError, match="blind index"):
        _ = PEOPLE.c.name == "김민지"
    with pytest.raises(TypeError, match="blind index"):
        _ = PEOPLE.c.born < dt.date(2000, 1, 1)
    assert str(PEOPLE.c.name.is_not(None)) == "people.name IS NOT NULL"
    assert str(PEOPLE.c.name == None) == "people.name IS NULL"  # noqa: E711


def test_values_of_the_wrong_kind_are_refused(engine: Engine) -> None:
    install_field_cipher(engine, FieldCipher.from_master_key(MASTER))
    for values in ({"born": dt.datetime(1990, 1, 2, tzinfo=dt.UTC)}, {"seen": dt.datetime(2024, 1, 1)}):
        with pytest.raises(StatementError), engine.begin() as conn:
            conn.execute(insert(PEOPLE).values(id=3, **values))
