"""a person may join a campaign again after their data in it was erased

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22

Erasing an enrollment keeps its row (state "erased", key destroyed, photos and recordings deleted) because the
erasure ledger and its proof point at it. A contributor who later signs the campaign's consent again starts a
new enrollment, with a new data key and an empty set. So the unique constraint on (campaign_id, user_id) becomes
a unique index over the live enrollments only (state != 'erased'), and each erasure ledger row names the
enrollment it erased (NULL on rows written before this revision: they are matched as before, by person and
campaign, among enrollments joined before the erasure).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

_LIVE = sa.text("state != 'erased'")


def upgrade() -> None:
    with op.batch_alter_table('enrollments', schema=None) as batch_op:
        batch_op.drop_constraint('uq_enrollments_campaign_id', type_='unique')
        batch_op.create_index('uq_enrollments_live', ['campaign_id', 'user_id'], unique=True,
                              sqlite_where=_LIVE, postgresql_where=_LIVE)
    with op.batch_alter_table('erasure_ledger', schema=None) as batch_op:
        batch_op.add_column(sa.Column('enrollment_id', sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f('ix_erasure_ledger_enrollment_id'), ['enrollment_id'], unique=False)


def downgrade() -> None:
    bind = op.get_bind()
    again = bind.execute(sa.text(
        "SELECT campaign_id, user_id FROM enrollments GROUP BY campaign_id, user_id HAVING COUNT(*) > 1"
    )).first()
    if again is not None:
        raise RuntimeError("cannot downgrade below 0010: a person joined a campaign again after an erasure "
                           "(two enrollments for one person and campaign), which 0009 cannot hold")
    with op.batch_alter_table('erasure_ledger', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_erasure_ledger_enrollment_id'))
        batch_op.drop_column('enrollment_id')
    with op.batch_alter_table('enrollments', schema=None) as batch_op:
        batch_op.drop_index('uq_enrollments_live', sqlite_where=_LIVE, postgresql_where=_LIVE)
        batch_op.create_unique_constraint('uq_enrollments_campaign_id', ['campaign_id', 'user_id'])
