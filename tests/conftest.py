"""Shared fixtures: a fresh database on SQLite and, when configured, on a real PostgreSQL server.

Storage tests take the `db` fixture and run on both. PostgreSQL comes from QMSBOT_TEST_POSTGRES_URL
(`.ci/run` starts a server and sets it); under CI a missing server is an error, not a skip.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from storage.db import Database
from storage.models import Base

POSTGRES_URL = os.environ.get("QMSBOT_TEST_POSTGRES_URL", "")


def _backends() -> list[object]:
    pg_marks = [] if POSTGRES_URL or os.environ.get("CI") else [pytest.mark.skip("no PostgreSQL configured")]
    return ["sqlite", pytest.param("postgresql", marks=[pytest.mark.postgres, *pg_marks])]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgres: runs against the PostgreSQL test server")


async def _reset_postgres(db: Database) -> None:
    async with db.engine.begin() as connection:
        await connection.execute(text("DROP SCHEMA public CASCADE"))
        await connection.execute(text("CREATE SCHEMA public"))


async def make_database(backend: str, tmp_path: Path) -> Database:
    if backend == "sqlite":
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'qmsbot.db'}")
    else:
        if not POSTGRES_URL:
            raise RuntimeError("QMSBOT_TEST_POSTGRES_URL is not set: .ci/run starts PostgreSQL and sets it")
        db = Database(POSTGRES_URL)
        await _reset_postgres(db)
    await db.upgrade()
    return db


@pytest.fixture(params=_backends())
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    database = await make_database(request.param, tmp_path)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await make_database("sqlite", tmp_path)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
def now() -> datetime:
    """A fixed instant: Friday 20/11/2026 09:00 in Hanoi."""
    return datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


__all__ = ["Base", "make_database"]
