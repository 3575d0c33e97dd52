"""Engine and sessions: SQLite (foreign keys on, WAL) by default, PostgreSQL through asyncpg."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        # sqlite3 keeps 128 prepared statements per connection by default, and every IN (…) list of another
        # length is one more: at national scale that alone held ~160 MB. A short cache costs no speed here.
        kwargs.setdefault("connect_args", {}).setdefault("cached_statements", 16)
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    try:
        return create_async_engine(url, pool_pre_ping=True, **kwargs)
    except ModuleNotFoundError as error:  # the driver is an optional extra
        raise RuntimeError(
            f"the {parsed.get_backend_name()} driver {error.name} is not installed: pip install 'qmsbot[postgres]'"
        ) from None


def dialect_of(session: AsyncSession) -> str:
    """ "sqlite" or "postgresql": the database a session speaks to (SQLite when it is not bound)."""
    return session.bind.dialect.name if session.bind is not None else "sqlite"


class Database:
    """One engine and its session factory; `session()` is a unit of work that commits on success."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **kwargs)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as session, session.begin():
            yield session

    async def upgrade(self) -> None:
        from storage.migrate import upgrade

        await upgrade(self.engine)

    async def dispose(self) -> None:
        await self.engine.dispose()
