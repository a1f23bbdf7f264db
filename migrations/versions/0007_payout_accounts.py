"""payout accounts: where each contributor is paid (bank code; holder name and account number sealed)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23

A new table, so no rows to convert: the sealed columns are plain LargeBinary here and are written only by the
application, which holds the field key (consent.sealed).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import consent.db

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('payout_accounts',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('bank_code', sa.String(length=3), nullable=False),
    sa.Column('holder_name', sa.LargeBinary(), nullable=False),
    sa.Column('account_number', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', consent.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', consent.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_payout_accounts_user_id_users'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payout_accounts')),
    sa.UniqueConstraint('user_id', name=op.f('uq_payout_accounts_user_id'))
    )


def downgrade() -> None:
    op.drop_table('payout_accounts')
