"""memberships by role

Revision ID: 0011
Revises: 0010

`ix_memberships_role_unit_id`: the committee (secretaries and admins, with their scopes) is read at every planner
tick and every digest; by role it is a few index probes, not a scan of every focal point's and head's row.
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_memberships_role_unit_id", "memberships", ["role", "unit_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_memberships_role_unit_id", table_name="memberships")
