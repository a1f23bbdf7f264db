"""the compliance officer's follow-up of a consent an operator flagged

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-22

An operator flags a consent with a reason for the compliance officer to follow up (`review_state` 'flagged',
`review_note`). The officer now resolves the flag with a note: the review state becomes 'resolved' (a string
enum without a database constraint: no change needed) and the follow-up is kept next to the flag
(`resolution_note`, `resolved_by`, `resolved_at`), so the flag's reason, who raised it and when stay as they were.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import consent.db

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('consent_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('resolution_note', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('resolved_by', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('resolved_at', consent.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('consent_records', schema=None) as batch_op:
        batch_op.drop_column('resolved_at')
        batch_op.drop_column('resolved_by')
        batch_op.drop_column('resolution_note')
