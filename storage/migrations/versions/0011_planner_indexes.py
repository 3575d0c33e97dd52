"""planner indexes

Revision ID: 0011
Revises: 0010

- `ix_memberships_role_unit_id`: the committee (secretaries and admins, with their scopes) is read at every
  planner tick and every digest; by role it is a few index probes, not a scan of every focal point's row.
- `ix_commitments_next_slot_at_id` replaces `ix_commitments_next_slot_at`: the planner claims by next slot
  then id, which the index now gives in order; PostgreSQL otherwise read and sorted every commitment needing
  planning for each batch of a first tick (its statistics, stale during the tick, hid the cost).
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_memberships_role_unit_id", "memberships", ["role", "unit_id"], unique=False)
    op.create_index("ix_commitments_next_slot_at_id", "commitments", ["next_slot_at", "id"], unique=False)
    op.drop_index("ix_commitments_next_slot_at", table_name="commitments")


def downgrade() -> None:
    op.create_index("ix_commitments_next_slot_at", "commitments", ["next_slot_at"], unique=False)
    op.drop_index("ix_commitments_next_slot_at_id", table_name="commitments")
    op.drop_index("ix_memberships_role_unit_id", table_name="memberships")
