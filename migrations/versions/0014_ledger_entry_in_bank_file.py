"""ledger entries record when they were first written into their batch's bank file

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-22

`ledger_entries.exported_at`: set on the first download of the batch's bank file that lists the entry. Once it is
set the transfer may be under way, so the entry is marked paid with its batch even if the payee's account (and the
copy of their bank account on the entry) was erased afterwards. Existing rows are filled in from what is known:
an entry of an exported batch that still holds its payee copy, or whose payee was erased after the export, was in
the file.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import consent.db

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('exported_at', consent.db.UTCDateTime(timezone=True), nullable=True))
    op.execute(
        """
        UPDATE ledger_entries SET exported_at = (
            SELECT payout_batches.exported_at FROM payout_batches WHERE payout_batches.id = ledger_entries.batch_id
        )
        WHERE exported_at IS NULL AND batch_id IN (
            SELECT id FROM payout_batches WHERE exported_at IS NOT NULL
        ) AND (
            payee_bank_code IS NOT NULL
            OR EXISTS (
                SELECT 1 FROM users, payout_batches
                WHERE users.id = ledger_entries.user_id AND payout_batches.id = ledger_entries.batch_id
                AND users.erased_at >= payout_batches.exported_at
            )
        )
        """
    )


def downgrade() -> None:
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.drop_column('exported_at')
