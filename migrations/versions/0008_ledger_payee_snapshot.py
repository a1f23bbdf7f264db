"""ledger entries keep the payee's account as it was when they joined a payout batch (holder and number sealed)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22

New nullable columns, so no rows to convert: entries batched before this revision have no copy, and their bank
file falls back to the payee's current account as before. The sealed columns are plain LargeBinary here and are
written only by the application, which holds the field key (consent.sealed).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('ledger_entries') as batch:
        batch.add_column(sa.Column('payee_bank_code', sa.String(length=3), nullable=True))
        batch.add_column(sa.Column('payee_holder', sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column('payee_account_number', sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('ledger_entries') as batch:
        batch.drop_column('payee_account_number')
        batch.drop_column('payee_holder')
        batch.drop_column('payee_bank_code')
