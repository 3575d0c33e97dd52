"""unreachable people told to the secretaries by the planning tick

Revision ID: 0007
Revises: 0006

`people.unreachable_notice_event`: the "unreachable" event not yet told to the secretaries. The planning tick
gathers every such person into one notice per secretary (SPEC "No floods for the committee") and clears it.
Existing people start with nothing pending: they were told at once, before this revision.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("people") as batch:
        batch.add_column(sa.Column("unreachable_notice_event", sa.Integer(), nullable=True))
        # every planning tick asks "anyone pending?": an index, not a scan of every person
        batch.create_index("ix_people_unreachable_notice_event", ["unreachable_notice_event"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("people") as batch:
        batch.drop_index("ix_people_unreachable_notice_event")
        batch.drop_column("unreachable_notice_event")
