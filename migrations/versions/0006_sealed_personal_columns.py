"""seal personal-data columns (AES-256-GCM under a key derived from the master key); email blind index

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22

Columns sealed: signature_names.name and .salt, users.email, .display_name and .birth_date, photos.captured_at
and .contributor_note. users.email loses its unique constraint to the new users.email_index (HMAC-SHA256 of the
normalised address), which carries it instead.

Existing rows are converted in place: add a `<column>_sealed` column, fill it and blank the old value in the same
UPDATE, then drop the old column and take its name. The master key comes from the alembic config attribute
`master_key` (set by `datadam db upgrade`), else from datadam's configuration like the database URL in env.py;
it is read only when there are rows to convert, and checked against a stored contributor key first (when there
is one), so a wrong key stops the migration instead of sealing data nobody can open.

After upgrading: SQLite rebuilds the tables with secure_delete on, so the old values are gone from the file;
PostgreSQL keeps dead row versions until VACUUM runs on users, photos and signature_names. Backups taken
before the upgrade still hold the plain values: replace them.

The sealing format and key derivation are copied here on purpose (a migration must keep doing what it did when
it shipped); they match consent.sealed version 1.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op
from Crypto.Cipher import AES
from Crypto.Hash import SHA256
from Crypto.Protocol.KDF import HKDF
from Crypto.Random import get_random_bytes

import consent.db

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

_HKDF_SALT = b"datadam/master-key-derivation/v1"
_AAD_DOMAIN = b"datadam/sealed-field\x00"
_VERSION = 1


def _text_in(value: Any) -> bytes:
    return value.encode("utf-8")


def _text_out(raw: bytes) -> str:
    return raw.decode("utf-8")


def _date_in(value: dt.date) -> bytes:
    return value.isoformat().encode("ascii")


def _date_out(raw: bytes) -> dt.date:
    return dt.date.fromisoformat(raw.decode("ascii"))


def _time_in(value: dt.datetime) -> bytes:
    return value.astimezone(dt.UTC).isoformat().encode("ascii")


def _time_out(raw: bytes) -> dt.datetime:
    return dt.datetime.fromisoformat(raw.decode("ascii")).astimezone(dt.UTC)


# table -> (primary key columns, {sealed column: (plain type, nullable, encode, decode)})
_Column = tuple[sa.types.TypeEngine[Any], bool, Callable[[Any], bytes], Callable[[bytes], Any]]
_Tables = dict[str, tuple[tuple[str, ...], dict[str, _Column]]]
TABLES: _Tables = {
    "signature_names": (
        ("record_id", "role"),
        {
            "name": (sa.String(length=200), False, _text_in, _text_out),
            "salt": (sa.String(length=64), False, _text_in, _text_out),
        },
    ),
    "users": (
        ("id",),
        {
            "email": (sa.String(length=254), True, _text_in, _text_out),
            "display_name": (sa.String(length=100), True, _text_in, _text_out),
            "birth_date": (sa.Date(), True, _date_in, _date_out),
        },
    ),
    "photos": (
        ("id",),
        {
            "captured_at": (consent.db.UTCDateTime(timezone=True), True, _time_in, _time_out),
            "contributor_note": (sa.Text(), True, _text_in, _text_out),
        },
    ),
}


class _Keys:
    """The field and email-index keys, derived from the master key on first use."""

    def __init__(self) -> None:
        self._master: bytes | None = None
        self._derived: dict[str, bytes] = {}

    def master(self) -> bytes:
        if self._master is None:
            key = op.get_context().config.attributes.get("master_key")
            if key is None:
                from webapp.config import load

                key = load().master_key_bytes
            _check_master_key(key)
            self._master = key
        return self._master

    def derive(self, purpose: str) -> bytes:
        if purpose not in self._derived:
            self._derived[purpose] = HKDF(self.master(), 32, _HKDF_SALT, SHA256, context=purpose.encode("utf-8"))
        return self._derived[purpose]

    def seal(self, plaintext: bytes, field: str) -> bytes:
        nonce = get_random_bytes(12)
        cipher = AES.new(self.derive(f"sealed-field/v{_VERSION}"), AES.MODE_GCM, nonce=nonce, mac_len=16)
        cipher.update(_AAD_DOMAIN + bytes([_VERSION]) + field.encode("utf-8"))
        ciphertext, tag = cipher.encrypt_and_digest(plaintext)
        return bytes([_VERSION]) + nonce + ciphertext + tag

    def open(self, sealed: bytes, field: str) -> bytes:
        if sealed[0] != _VERSION:
            raise RuntimeError(f"{field}: a sealed value of unknown key version {sealed[0]}")
        cipher = AES.new(self.derive(f"sealed-field/v{_VERSION}"), AES.MODE_GCM, nonce=sealed[1:13], mac_len=16)
        cipher.update(_AAD_DOMAIN + bytes([_VERSION]) + field.encode("utf-8"))
        try:
            return cipher.decrypt_and_verify(sealed[13:-16], sealed[-16:])
        except ValueError:
            raise RuntimeError(f"{field}: a sealed value does not open under this master key") from None

    def email_index(self, email: str) -> str:
        key = self.derive("blind-index/users.email")
        return hmac.new(key, email.strip().lower().encode("utf-8"), hashlib.sha256).hexdigest()


def _check_master_key(key: bytes) -> None:
    """Refuse a master key that does not unwrap this database's contributor keys (it would be the wrong one)."""
    if not isinstance(key, bytes) or len(key) != 32:
        raise RuntimeError("the master key must be 32 bytes")
    wrapped = op.get_bind().execute(
        sa.text("SELECT wrapped_key FROM contributor_keys WHERE wrapped_key IS NOT NULL LIMIT 1")
    ).scalar()
    if wrapped is None:
        return
    try:
        AES.new(key, AES.MODE_KW).unseal(bytes(wrapped))
    except ValueError:
        raise RuntimeError("the configured master key does not match this database's contributor keys") from None


def _table(name: str, pk: tuple[str, ...], *columns: sa.ColumnClause[Any]) -> sa.TableClause:
    return sa.table(name, *(sa.column(k, sa.String()) for k in pk), *columns)


def _convert(name: str, keys: _Keys, seal: bool, tables: _Tables) -> None:
    """Fill the new columns from the current ones: seal `<c>` into `<c>_sealed` (blanking `<c>`, so the live row
    keeps no plain copy in the column about to be dropped), or open `<c>` into `<c>_plain`."""
    pk, columns = tables[name]
    suffix = "sealed" if seal else "plain"
    source = [sa.column(c, plain_type if seal else sa.LargeBinary()) for c, (plain_type, *_r) in columns.items()]
    target = [sa.column(f"{c}_{suffix}") for c in columns]
    extra = [sa.column("email_index")] if name == "users" and seal else []
    table = _table(name, pk, *source, *target, *extra)
    conn = op.get_bind()
    updates = []
    for row in conn.execute(sa.select(*(table.c[k] for k in pk), *source)).all():
        values: dict[str, Any] = {f"pk_{k}": v for k, v in zip(pk, row[: len(pk)], strict=True)}
        for (column, (_t, _n, encode, decode)), value in zip(columns.items(), row[len(pk) :], strict=True):
            field = f"{name}.{column}"
            if value is None:
                values[f"new_{column}"] = None
            elif seal:
                values[f"new_{column}"] = keys.seal(encode(value), field)
            else:
                values[f"new_{column}"] = decode(keys.open(bytes(value), field))
        if any(values[f"new_{c}"] is not None for c in columns):
            if seal and name == "users":
                email = row[len(pk)]
                values["new_email_index"] = None if email is None else keys.email_index(email)
            updates.append(values)
    if not updates:
        return
    assignments: dict[str, Any] = {f"{c}_{suffix}": sa.bindparam(f"new_{c}") for c in columns}
    if seal:
        assignments |= {c: None for c in columns}
        if name == "users":
            assignments["email_index"] = sa.bindparam("new_email_index")
    where = sa.and_(*(table.c[k] == sa.bindparam(f"pk_{k}") for k in pk))
    conn.execute(table.update().where(where).values(assignments), updates)


def upgrade() -> None:
    seal_columns(TABLES)


def seal_columns(tables: _Tables) -> None:
    """Seal the listed columns of existing rows in place (also used by later revisions that seal more columns)."""
    keys = _Keys()
    for name, (_pk, columns) in tables.items():
        with op.batch_alter_table(name, schema=None) as batch_op:
            for column, (plain_type, nullable, *_r) in columns.items():
                batch_op.add_column(sa.Column(f"{column}_sealed", sa.LargeBinary(), nullable=True))
                if not nullable:  # blanked during the conversion, dropped right after
                    batch_op.alter_column(column, existing_type=plain_type, nullable=True)
            if name == "users":
                batch_op.add_column(sa.Column("email_index", sa.String(length=64), nullable=True))
        _convert(name, keys, seal=True, tables=tables)
        with op.batch_alter_table(name, schema=None) as batch_op:
            if name == "users":
                batch_op.drop_constraint(batch_op.f("uq_users_email"), type_="unique")
                batch_op.create_unique_constraint(batch_op.f("uq_users_email_index"), ["email_index"])
            for column, (_t, nullable, *_r) in columns.items():
                batch_op.drop_column(column)
                batch_op.alter_column(
                    f"{column}_sealed", new_column_name=column, existing_type=sa.LargeBinary(), nullable=nullable
                )


def downgrade() -> None:
    open_columns(TABLES)
    # separately: inside the batch of open_columns, "email" would still name the dropped column
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f("uq_users_email"), ["email"])


def open_columns(tables: _Tables) -> None:
    """Turn the listed sealed columns back into plain ones (the reverse of `seal_columns`)."""
    keys = _Keys()
    for name, (_pk, columns) in tables.items():
        with op.batch_alter_table(name, schema=None) as batch_op:
            for column, (plain_type, *_r) in columns.items():
                batch_op.add_column(sa.Column(f"{column}_plain", plain_type, nullable=True))
        _convert(name, keys, seal=False, tables=tables)
        with op.batch_alter_table(name, schema=None) as batch_op:
            if name == "users":
                batch_op.drop_constraint(batch_op.f("uq_users_email_index"), type_="unique")
                batch_op.drop_column("email_index")
            for column, (plain_type, nullable, *_r) in columns.items():
                batch_op.drop_column(column)
                # alembic's batch rename cannot take a TypeDecorator (UTCDateTime) as the existing type
                existing = plain_type.impl_instance if isinstance(plain_type, sa.TypeDecorator) else plain_type
                batch_op.alter_column(
                    f"{column}_plain", new_column_name=column, existing_type=existing, nullable=nullable
                )
