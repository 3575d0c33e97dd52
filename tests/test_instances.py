"""Two bot processes on one PostgreSQL database: one sender at a time (SPEC "Scale").

Both run `qmsbot run` against one emulator in this process.
The leader, chosen by a PostgreSQL advisory lock, sends; the other waits. Every outbox row reaches Telegram
exactly once — counted on the emulator's side. Then the leader is killed with SIGKILL in the middle of its
work: PostgreSQL drops its session and with it the lock, the other process takes over, and everything is
delivered; nothing twice except the messages that were in flight at the kill.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from sandbox.emulator.server import Emulator
from scheduler.locks import LeaderLock
from storage.db import Database
from storage.models import OutboxMessage, OutboxStatus
from tests.conftest import POSTGRES_URL
from tests.test_faults import (
    BotProcess,
    all_delivered,
    bot_env,
    delivered_keys,
    in_flight_keys,
    queue_for_users,
    wait_until,
)
from tests.test_sender import TOKEN

pytestmark = [pytest.mark.postgres]
if not POSTGRES_URL and not os.environ.get("CI"):
    pytestmark.append(pytest.mark.skip("no PostgreSQL configured"))

LEADS = "now plans and sends"
# pg_locks shows the whole server: only the advisory locks granted in this test's own database.
OUR_ADVISORY_LOCKS = (
    "locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


async def fresh_database() -> str:
    """A database of its own on the test server (other tests reset the shared one's schema)."""
    if not POSTGRES_URL:
        raise RuntimeError("QMSBOT_TEST_POSTGRES_URL is not set")
    url = make_url(POSTGRES_URL)
    name = f"{url.database}_instances"
    plain = url.set(drivername="postgresql")
    admin = await asyncpg.connect(plain.render_as_string(hide_password=False))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return url.set(database=name).render_as_string(hide_password=False)


@pytest.fixture
async def pg() -> AsyncIterator[Database]:
    db = Database(await fresh_database())
    await db.upgrade()
    try:
        yield db
    finally:
        await db.dispose()


def instance(emulator: Emulator, db: Database, tmp_path: Path) -> BotProcess:
    # Long polling, not --webhook: webhook mode needs python-telegram-bot[webhooks] (tornado). Two pollers
    # make Telegram answer 409 Conflict to one of them now and then; that does not touch sending.
    env = bot_env(emulator, db.url, LOG_LEVEL="INFO")
    return BotProcess(env, tmp_path, rate=120)


async def test_the_lock_is_held_by_one_connection_at_a_time(pg: Database) -> None:
    first, second = LeaderLock(pg, "leader"), LeaderLock(pg, "leader")
    other_db = Database(pg.url)
    third = LeaderLock(other_db, "leader")
    try:
        assert await first.try_acquire()
        assert not await second.try_acquire() and not await third.try_acquire()
        assert await first.still_held()
        await first.release()
        assert await third.try_acquire() and not await first.try_acquire()
        # A session that dies (here: terminated by the server) takes the lock with it.
        assert third._connection is not None
        pid = await third._connection.scalar(text("SELECT pg_backend_pid()"))
        async with pg.engine.connect() as connection:
            await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        assert not await third.still_held()
        assert await second.try_acquire()
    finally:
        for lock in (first, second, third):
            await lock.release()
        await other_db.dispose()


async def test_two_processes_send_each_message_once_and_take_over_after_sigkill(pg: Database, tmp_path: Path) -> None:
    emulator = Emulator(token=TOKEN)
    await emulator.start()
    processes: list[BotProcess] = []
    try:
        users = range(2000, 2100)
        keys = await queue_for_users(pg, emulator, users, 200)
        processes = [instance(emulator, pg, tmp_path), instance(emulator, pg, tmp_path)]
        await wait_until(lambda: all_delivered(emulator, users, keys), 60, "the first 200", processes)
        await asyncio.sleep(0.5)
        counts = delivered_keys(emulator, users)
        assert counts == Counter(keys)  # each exactly once, though two instances run
        leaders = [p for p in processes if LEADS in p.output()]
        assert len(leaders) == 1, [p.output()[-2000:] for p in processes]
        leader = leaders[0]
        follower = next(p for p in processes if p is not leader)

        more_users = range(2100, 2200)
        more = await queue_for_users(pg, emulator, more_users, 400, prefix="m")
        await wait_until(lambda: emulator.delivered() >= 300, 30, "100 of the next 400", processes)
        leader.kill()
        in_flight = await in_flight_keys(pg)
        assert emulator.delivered() < 600
        await wait_until(lambda: all_delivered(emulator, more_users, more), 60, "the other 400", [follower])
        await asyncio.sleep(0.5)
        assert LEADS in follower.output()

        counts = delivered_keys(emulator, more_users)
        doubled = {key for key, n in counts.items() if n > 1}
        assert set(counts) == set(more)
        assert doubled <= in_flight and max(counts.values()) <= 2
        async with pg.session() as session:
            statuses = Counter((await session.scalars(select(OutboxMessage.status))).all())
        assert statuses == {OutboxStatus.SENT: 600}
        print(f"\nin flight at the kill {sorted(in_flight)}; delivered twice {sorted(doubled)}")
    finally:
        for process in processes:
            await process.stop()
        await emulator.stop()


async def test_the_follower_takes_over_when_the_leaders_lock_connection_is_dropped(
    pg: Database, tmp_path: Path
) -> None:
    # The leader's process lives on, but the server ends the session that holds the advisory lock (a
    # network cut, a failover, an operator's pg_terminate_backend): within seconds one instance leads again
    # on a fresh connection, and everything queued is delivered, nothing twice but what was in flight.
    emulator = Emulator(token=TOKEN)
    await emulator.start()
    processes: list[BotProcess] = []
    try:
        users = range(3000, 3100)
        processes = [instance(emulator, pg, tmp_path), instance(emulator, pg, tmp_path)]
        await wait_until(lambda: any(LEADS in p.output() for p in processes), 60, "a leader", processes)
        keys = await queue_for_users(pg, emulator, users, 400, prefix="t")
        await wait_until(lambda: emulator.delivered() >= 100, 30, "100 of 400", processes)
        async with pg.engine.connect() as connection:
            pids = list(
                await connection.scalars(
                    text(f"SELECT pid FROM pg_locks WHERE {OUR_ADVISORY_LOCKS} AND pid IS NOT NULL")
                )
            )
            assert len(pids) == 1
            in_flight = await in_flight_keys(pg)
            await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pids[0]})
            await connection.commit()
        dropped_at = asyncio.get_running_loop().time()

        async def lock_holder() -> int | None:
            async with pg.engine.connect() as connection:
                return await connection.scalar(text(f"SELECT pid FROM pg_locks WHERE {OUR_ADVISORY_LOCKS} LIMIT 1"))

        holder = None
        while holder is None or holder == pids[0]:
            assert asyncio.get_running_loop().time() - dropped_at < 10, "nobody took the lock within 10 s"
            holder = await lock_holder()
            await asyncio.sleep(0.1)
        await wait_until(lambda: all_delivered(emulator, users, keys), 60, "all 400", processes)
        await asyncio.sleep(0.5)
        assert any("lost the leader lock" in p.output() for p in processes)
        counts = delivered_keys(emulator, users)
        doubled = {key for key, n in counts.items() if n > 1}
        assert set(counts) == set(keys) and max(counts.values()) <= 2
        assert len(doubled) <= 16  # at most the sender's messages in flight (DrainOptions.max_in_flight)
        async with pg.session() as session:
            statuses = Counter((await session.scalars(select(OutboxMessage.status))).all())
        assert statuses == {OutboxStatus.SENT: 400}
        print(f"\nin flight at the drop {len(in_flight)}; delivered twice {sorted(doubled)}")
    finally:
        for process in processes:
            await process.stop()
        await emulator.stop()
