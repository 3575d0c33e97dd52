"""planner: commitments.next_slot_at and escalated_for, units' no-focal-point notice state, planner_state

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("commitments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_slot_at", storage.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("escalated_for", sa.Date(), nullable=True))
        batch_op.create_index(batch_op.f("ix_commitments_next_slot_at"), ["next_slot_at"], unique=False)

    with op.batch_alter_table("units", schema=None) as batch_op:
        batch_op.add_column(sa.Column("no_focal_notified_at", storage.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("no_focal_notices", sa.Integer(), server_default="0", nullable=False))

    op.create_table(
        "planner_state",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_planner_state")),
    )


def downgrade() -> None:
    op.drop_table("planner_state")
    with op.batch_alter_table("units", schema=None) as batch_op:
        batch_op.drop_column("no_focal_notices")
        batch_op.drop_column("no_focal_notified_at")
    with op.batch_alter_table("commitments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_commitments_next_slot_at"))
        batch_op.drop_column("escalated_for")
        batch_op.drop_column("next_slot_at")
