"""each consent notice version records the campaign settings it was written for

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-22

A notice states the campaign's facts (photos per age bracket, payment, voice prompts, retention, ages). An operator
could publish it and then change those settings, so people signed a document describing another collection. Each
version now keeps the settings it was written for (`notice_versions.written_for`, JSON); a campaign whose current
version was written for other settings cannot open and takes no new signatures until a new version is published.
Versions saved before this revision have NULL: nothing to compare, they are taken as written for the campaign.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('notice_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('written_for', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('notice_versions', schema=None) as batch_op:
        batch_op.drop_column('written_for')
