"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from storage.db import Database
from storage.migrate import alembic_config
from storage.models import Base, Commitment, ExtensionRequest, ExtensionStatus, Kind, Unit

AT = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
DUE = date(2026, 12, 11)


async def test_migrations_match_the_models(db: Database) -> None:
    async with db.engine.connect() as connection:
        diff = await connection.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync, opts={"compare_type": False}), Base.metadata)
        )
    assert diff == []


async def _request_setup(db: Database, *, before: str | None = None) -> int:
    async with db.session() as session:
        if before is None:
            unit = Unit(code="VPB", code_key="VPB", name="Văn phòng Bộ", created_at=AT)
            session.add(unit)
            await session.flush()
            unit_id = unit.id
        else:  # the schema of an older revision (`before`): only the columns it has
            unit_id = await session.scalar(
                text(
                    "INSERT INTO units (code, code_key, name, created_at)"
                    " VALUES ('VPB', 'VPB', 'Văn phòng Bộ', :at) RETURNING id"
                ).bindparams(bindparam("at", AT, type_=Unit.created_at.type))
            )
        # Only these columns: the test runs on an older schema, before columns added later (campaign_id).
        values = {"title": "Kế hoạch", "kind": Kind.INTERNAL, "due_date": DUE, "created_at": AT, "updated_at": AT}
        values |= {"unit_id": unit_id, "status": "open", "progress": 0, "version": 1}
        values |= {"legal_basis": "", "source": "", "recurrence": ""}
        return int(await session.scalar(insert(Commitment).values(**values).returning(Commitment.id)) or 0)


def _request(commitment_id: int, status: ExtensionStatus = ExtensionStatus.PENDING) -> ExtensionRequest:
    return ExtensionRequest(
        commitment_id=commitment_id,
        requested_at=AT,
        old_due=DUE,
        new_due=DUE + timedelta(days=14),
        status=status,
    )


async def test_one_pending_extension_request_per_commitment(db: Database) -> None:
    cid = await _request_setup(db)
    async with db.session() as session:
        session.add_all(
            [_request(cid), _request(cid, ExtensionStatus.REJECTED), _request(cid, ExtensionStatus.APPROVED)]
        )
    # Two people asking at the same moment: the second pending request is refused by the database itself.
    with pytest.raises(IntegrityError):
        async with db.session() as session:
            session.add(_request(cid))
    async with db.session() as session:
        statuses = sorted(await session.scalars(select(ExtensionRequest.status)))
        assert statuses == [ExtensionStatus.APPROVED, ExtensionStatus.PENDING, ExtensionStatus.REJECTED]
        # Decided, the next request may be pending again.
        await session.execute(update(ExtensionRequest).values(status=ExtensionStatus.REJECTED))
        session.add(_request(cid))


async def test_upgrade_keeps_the_first_of_duplicate_pending_requests(db: Database) -> None:
    async with db.engine.begin() as connection:
        await connection.run_sync(lambda sync: command.downgrade(alembic_config(sync), "0005"))
    cid = await _request_setup(db, before="0005")
    async with db.session() as session:
        session.add_all([_request(cid), _request(cid), _request(cid, ExtensionStatus.APPROVED), _request(cid)])

    await db.upgrade()

    async with db.session() as session:
        rows = (await session.execute(select(ExtensionRequest.id, ExtensionRequest.status))).tuples().all()
    statuses = [status for _, status in sorted(rows)]
    assert statuses == [
        ExtensionStatus.PENDING,
        ExtensionStatus.REJECTED,
        ExtensionStatus.APPROVED,
        ExtensionStatus.REJECTED,
    ]


async def test_upgrade_gives_existing_units_their_paths(db: Database) -> None:
    async with db.engine.begin() as connection:
        await connection.run_sync(lambda sync: command.downgrade(alembic_config(sync), "0007"))
    at = bindparam("at", AT, type_=Unit.created_at.type)
    async with db.session() as session:
        for uid, code, parent in ((1, "MOST", None), (2, "bnv", 1), (3, "VPB", 2), (4, "TTB", None)):
            await session.execute(
                text(
                    "INSERT INTO units (id, code, code_key, name, parent_id, created_at)"
                    " VALUES (:id, :code, :key, :code, :parent, :at)"
                ).bindparams(at),
                {"id": uid, "code": code, "key": code.upper(), "parent": parent},
            )

    await db.upgrade()

    async with db.session() as session:
        paths = dict((await session.execute(select(Unit.code, Unit.path))).tuples().all())
    assert paths == {"MOST": "/MOST/", "bnv": "/MOST/BNV/", "VPB": "/MOST/BNV/VPB/", "TTB": "/TTB/"}
