"""audit events are append-only: triggers refuse UPDATE and DELETE (except setting position once)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND OLD.position IS NULL AND NEW.position IS NOT NULL
     AND NEW.id = OLD.id AND NEW.at = OLD.at AND NEW.actor_id IS NOT DISTINCT FROM OLD.actor_id
     AND NEW.actor_role = OLD.actor_role AND NEW.action = OLD.action AND NEW.object_type = OLD.object_type
     AND NEW.object_id IS NOT DISTINCT FROM OLD.object_id AND NEW.details::text = OLD.details::text
     AND NEW.leaf_hash = OLD.leaf_hash THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'audit_events is append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql
"""

SQLITE_UPDATE = """
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
WHEN NOT (OLD.position IS NULL AND NEW.position IS NOT NULL AND NEW.id = OLD.id AND NEW.at = OLD.at
          AND NEW.actor_id IS OLD.actor_id AND NEW.actor_role = OLD.actor_role AND NEW.action = OLD.action
          AND NEW.object_type = OLD.object_type AND NEW.object_id IS OLD.object_id AND NEW.details = OLD.details
          AND NEW.leaf_hash = OLD.leaf_hash)
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only (UPDATE refused)'); END
"""

SQLITE_DELETE = """
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only (DELETE refused)'); END
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        op.execute(
            "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
        )
    else:
        op.execute(SQLITE_UPDATE)
        op.execute(SQLITE_DELETE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_delete")
