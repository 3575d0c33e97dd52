from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest

from storage.db import Database
from storage.models import Commitment, Kind, Unit
from tests.e2e.harness import Clock, Harness, make_harness


async def add_unit(db: Database, clock: Clock, code: str, name: str) -> int:
    async with db.session() as session:
        unit = Unit(code=code, code_key=code.upper(), name=name, created_at=clock())
        session.add(unit)
        await session.flush()
        return unit.id


async def add_commitment(db: Database, clock: Clock, unit_id: int, title: str, due: date, **extra: object) -> int:
    async with db.session() as session:
        commitment = Commitment(
            unit_id=unit_id,
            title=title,
            kind=extra.pop("kind", Kind.INTERNAL),
            due_date=due,
            created_at=clock(),
            updated_at=clock(),
            **extra,
        )
        session.add(commitment)
        await session.flush()
        return commitment.id


@pytest.fixture
async def bot(sqlite_db: Database, tmp_path: Path) -> AsyncIterator[Harness]:
    harness = await make_harness(sqlite_db, tmp_path)
    try:
        yield harness
    finally:
        await harness.stop()
        await harness.emulator.stop()
