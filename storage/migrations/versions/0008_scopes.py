"""scopes: each unit's materialised path

Revision ID: 0008
Revises: 0007

`units.path`: the code keys from the root down to the unit, "/MOST/BNV/VPB/". A secretary invited for a unit
manages the units whose path starts with that unit's (storage.scopes); one index range answers "which units".
Existing units get their paths from their parents here. Binary collation on PostgreSQL, so ranges of paths are
ranges of the index.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

PATH = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")


def _paths(rows: list[tuple[int, int | None, str]]) -> dict[int, str]:
    parent = {uid: pid for uid, pid, _key in rows}
    key = {uid: code_key for uid, _pid, code_key in rows}
    found: dict[int, str] = {}
    for start in parent:
        chain: list[int] = []
        at: int | None = start
        while at is not None and at not in found and at in key and at not in chain:
            chain.append(at)
            at = parent.get(at)
        prefix = found.get(at, "/") if at is not None else "/"
        for uid in reversed(chain):
            prefix = found[uid] = f"{prefix}{key[uid]}/"
    return found


def upgrade() -> None:
    # ADD COLUMN with a default, not a rebuilt table: on SQLite a rebuild drops the old table, and its
    # ON DELETE CASCADE would take the commitments with it.
    op.add_column("units", sa.Column("path", PATH, nullable=False, server_default=""))
    connection = op.get_bind()
    rows = [(int(a), b, str(c)) for a, b, c in connection.execute(sa.text("SELECT id, parent_id, code_key FROM units"))]
    paths = _paths(rows)
    if paths:
        connection.execute(
            sa.text("UPDATE units SET path = :path WHERE id = :id"), [{"id": i, "path": p} for i, p in paths.items()]
        )
    if connection.dialect.name != "sqlite":
        op.alter_column("units", "path", server_default=None)
    op.create_index("ix_units_path", "units", ["path"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_units_path", table_name="units")
    with op.batch_alter_table("units") as batch:
        batch.drop_column("path")
