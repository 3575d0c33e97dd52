"""campaigns: the same commitment for many units at once

Revision ID: 0009
Revises: 0007

`campaigns`: a `/add @…` request (a draft until "Confirm", then `number` is its `C<n>`), and
`commitments.campaign_id`: the campaign a commitment is one unit's part of (NULL for every existing one).
"""

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=True),
        sa.Column(
            "status",
            sa.Enum("draft", "created", "cancelled", name="campaign_status", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("kind", sa.Enum("legal", "internal", name="kind", native_enum=False, length=16), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("selector", sa.String(length=500), nullable=False),
        sa.Column("unit_ids", sa.JSON(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["people.id"], name=op.f("fk_campaigns_created_by_id_people"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
        sa.UniqueConstraint("number", name=op.f("uq_campaigns_number")),
    )
    # Campaigns are never deleted, so the reference needs no ON DELETE (SQLite would not reflect one back).
    # A plain ADD COLUMN with its REFERENCES clause on SQLite: batch mode would copy and drop the commitments
    # table there, and dropping it would cascade to their events, evidence and extension requests.
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "ALTER TABLE commitments ADD COLUMN campaign_id INTEGER CONSTRAINT fk_commitments_campaign_id_campaigns "
            "REFERENCES campaigns (id)"
        )
    else:
        op.add_column("commitments", sa.Column("campaign_id", sa.Integer(), nullable=True))
        op.create_foreign_key(
            op.f("fk_commitments_campaign_id_campaigns"),
            "commitments",
            "campaigns",
            ["campaign_id"],
            ["id"],
        )
    # /campaign reads a campaign's commitments: an index, not a scan of the register
    op.create_index("ix_commitments_campaign_id", "commitments", ["campaign_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_commitments_campaign_id", table_name="commitments")
    if op.get_bind().dialect.name == "sqlite":
        # SQLite drops a column with its REFERENCES clause (3.35+) without copying the table.
        op.execute("ALTER TABLE commitments DROP COLUMN campaign_id")
    else:
        op.drop_constraint("fk_commitments_campaign_id_campaigns", "commitments", type_="foreignkey")
        op.drop_column("commitments", "campaign_id")
    op.drop_table("campaigns")
