"""one pending extension request per commitment

Revision ID: 0006
Revises: 0005

A partial unique index: two /extend requests for the same commitment at the same moment can no longer both
be accepted. Duplicates made before it (the race it closes) are resolved first: the earliest pending request
of a commitment stays pending, the later ones become rejected (undecided: decided_at stays empty).
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

INDEX = "uq_extension_requests_pending_commitment_id"
PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    op.execute(
        "UPDATE extension_requests SET status = 'rejected' WHERE status = 'pending' AND id NOT IN "
        "(SELECT MIN(id) FROM extension_requests WHERE status = 'pending' GROUP BY commitment_id)"
    )
    op.create_index(
        INDEX,
        "extension_requests",
        ["commitment_id"],
        unique=True,
        sqlite_where=PENDING,
        postgresql_where=PENDING,
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="extension_requests")
