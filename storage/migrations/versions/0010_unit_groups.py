"""unit group chats

Revision ID: 0010
Revises: 0009

`unit_groups`: the Telegram group chat of a unit (`/linkgroup`), one per unit and one unit per group.
"""

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "unit_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.String(length=256), nullable=False),
        sa.Column("linked_by_id", sa.Integer(), nullable=True),
        sa.Column("linked_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_unit_groups_unit_id_units"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["linked_by_id"], ["people.id"], name=op.f("fk_unit_groups_linked_by_id_people"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unit_groups")),
        sa.UniqueConstraint("unit_id", name=op.f("uq_unit_groups_unit_id")),
        sa.UniqueConstraint("chat_id", name=op.f("uq_unit_groups_chat_id")),
    )


def downgrade() -> None:
    op.drop_table("unit_groups")
