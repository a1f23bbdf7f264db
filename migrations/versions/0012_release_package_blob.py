"""releases record the sealed copy of their package in the blob store

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-22

At scale a package is built on a worker while approval and downloads run on web hosts, which share the database
and the bucket but not a disk. A built package is now also kept in the blob store, sealed under its own data key:
`releases.package_blob` is the prefix of its parts and `releases.package_key` its key wrapped by the master key
(both NULL for packages built before, for the embedded default that keeps only the local file, and once erased).

The downgrade refuses while any release has a stored copy: without `package_key` its parts never open again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('releases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('package_blob', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('package_key', sa.LargeBinary(length=40), nullable=True))


def downgrade() -> None:
    stored = op.get_bind().scalar(sa.text("SELECT COUNT(*) FROM releases WHERE package_blob IS NOT NULL"))
    if stored:
        raise RuntimeError(
            f"refusing to downgrade below 0012: {stored} release(s) keep their package only as a sealed copy in the "
            "blob store, and dropping releases.package_key would make those packages unreadable for good. Erase "
            "those releases' packages (or keep this revision) before downgrading."
        )
    with op.batch_alter_table('releases', schema=None) as batch_op:
        batch_op.drop_column('package_key')
        batch_op.drop_column('package_blob')
