"""Who leads: one planner and one sender at a time across instances (SPEC "Scale").

PostgreSQL: a session advisory lock on a pool-less connection of its own; SQLite: always granted (one process).
"""

from __future__ import annotations

import asyncio
import logging
import zlib

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import NullPool

from storage.db import Database, make_engine

log = logging.getLogger(__name__)

PING_TIMEOUT = 10.0  # seconds without an answer from the database: the lock is presumed lost


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory lock key for a name (the same in every process and version)."""
    high = zlib.crc32(b"qmsbot")
    low = zlib.crc32(name.encode("utf-8"))
    key = (high << 32) | low
    return key - (1 << 64) if key >= 1 << 63 else key


class LeaderLock:
    """A named lock held by at most one process at a time; see the module text."""

    def __init__(self, db: Database, name: str) -> None:
        self.db = db
        self.name = name
        self.key = lock_key(name)
        self._connection: AsyncConnection | None = None
        self._engine: AsyncEngine | None = None
        self._held = False

    @property
    def held(self) -> bool:
        return self._held

    @property
    def shared(self) -> bool:
        """True when other processes may compete for the lock (PostgreSQL)."""
        return self.db.dialect == "postgresql"

    async def try_acquire(self) -> bool:
        """Take the lock if it is free; True when this process holds it (then or already)."""
        if self._held:
            return True
        if not self.shared:
            self._held = True
            return True
        connection = self._connection
        try:
            if connection is None:
                if self._engine is None:
                    self._engine = make_engine(self.db.url, poolclass=NullPool)
                connection = await self._engine.connect()
                connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
                self._connection = connection
            got = await connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key})
        except Exception as error:  # database unreachable: not the leader, try again later
            log.warning("cannot try the %s lock: %s", self.name, error)
            await self._drop_connection()
            return False
        self._held = bool(got)
        return self._held

    async def still_held(self) -> bool:
        """Check that the session holding the lock is alive; False (and released) if it is not."""
        if not self._held:
            return False
        if not self.shared:
            return True
        try:
            assert self._connection is not None
            # A session-level lock lasts as long as its session: a live connection still holds it.
            count = await asyncio.wait_for(self._connection.scalar(text("SELECT 1")), PING_TIMEOUT)
            alive = bool(count)
        except Exception as error:  # the connection is gone: so is the lock
            log.warning("lost the connection holding the %s lock: %s", self.name, error)
            alive = False
        if not alive:
            self._held = False
            await self._drop_connection()
        return alive

    async def release(self) -> None:
        if self._held and self.shared and self._connection is not None:
            try:
                await self._connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
            except Exception as error:  # closing the connection releases it anyway
                log.debug("unlock of %s failed: %s", self.name, error)
        self._held = False
        await self._drop_connection()

    async def _drop_connection(self) -> None:
        """Close the lock's connection for good: invalidated, so that a session which may still hold the lock
        (a ping that timed out) is disconnected rather than reused."""
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                await asyncio.wait_for(connection.invalidate(), PING_TIMEOUT)
            except Exception:  # already broken
                log.debug("invalidating the lock connection failed", exc_info=True)
            try:
                await asyncio.wait_for(connection.close(), PING_TIMEOUT)
            except Exception:
                log.debug("closing the lock connection failed", exc_info=True)

    async def dispose(self) -> None:
        await self.release()
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None
