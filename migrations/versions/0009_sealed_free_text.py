"""seal the free text written about a contributor: rights requests, review comments, appeals

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22

A contributor explaining a rights request or an appeal, and staff explaining a rejection, an appeal's outcome or
a request's resolution, write free text that can hold anything (names, health, family). These columns are now sealed like those of 0006
(AES-256-GCM under the master-derived field key, associated data naming the column): rights_requests.details
and .resolution_note, photo_decisions.comment, appeals.note and .answer, photos.review_comment.

Existing rows are converted in place with 0006's own procedure (`seal_columns` / `open_columns`, loaded from its
file so both revisions keep doing exactly what they did when they shipped), including its check that the master
key matches this database's contributor keys before anything is sealed. After upgrading, PostgreSQL keeps dead
row versions until VACUUM runs on these four tables; SQLite rebuilds them with secure_delete on.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def _revision_0006() -> ModuleType:
    path = Path(__file__).with_name("0006_sealed_personal_columns.py")
    spec = importlib.util.spec_from_file_location("datadam_migration_0006", path)
    if spec is None or spec.loader is None:  # pragma: no cover - the file ships beside this one
        raise RuntimeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tables(m: ModuleType) -> dict[str, tuple[tuple[str, ...], dict[str, object]]]:
    text = (sa.Text(), m._text_in, m._text_out)
    return {
        "rights_requests": (("id",), {"details": (text[0], False, *text[1:]),
                                      "resolution_note": (text[0], True, *text[1:])}),
        "photo_decisions": (("id",), {"comment": (text[0], True, *text[1:])}),
        "appeals": (("id",), {"note": (text[0], False, *text[1:]),
                              "answer": (sa.String(length=500), True, *text[1:])}),
        "photos": (("id",), {"review_comment": (text[0], True, *text[1:])}),
    }


def upgrade() -> None:
    m = _revision_0006()
    m.seal_columns(_tables(m))


def downgrade() -> None:
    m = _revision_0006()
    m.open_columns(_tables(m))
