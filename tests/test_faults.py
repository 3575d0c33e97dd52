"""Sending when Telegram misbehaves: 429 bursts and flood limits, random 5xx and timeouts, a user who blocked
the bot, and the bot process killed with SIGKILL in the middle of 1,000 sends.

Everything is counted from the emulator's side: what Telegram would have shown the users.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from sandbox.emulator.server import Emulator, FloodLimits
from storage.db import Database
from storage.models import OutboxMessage, OutboxStatus, Person
from tests.e2e.harness import SECRETARY, make_harness
from tests.test_sender import (
    TOKEN,
    Rig,
    add_person,
    add_unit,
    make_rig,
    message,
    outbox_rows,
    queue,
    start_user,
    texts_in,
)

ROOT = Path(__file__).resolve().parents[1]


def delivered_keys(emulator: Emulator, chats: Iterable[int]) -> Counter[str]:
    """How many times each text reached its chat."""
    return Counter(text for chat in chats for text in texts_in(emulator, chat))


@pytest.fixture
async def sqlite_rig(sqlite_db: Database) -> AsyncIterator[Rig]:
    rig = await make_rig(sqlite_db)
    try:
        yield rig
    finally:
        await rig.close()


async def fill(rig: Rig, users: range, per_user: int) -> list[str]:
    for user in users:
        start_user(rig.emulator, user, f"U{user}")
    messages = [message(f"k{user}-{i}", user) for i in range(per_user) for user in users]
    await queue(rig.db, messages, now=rig.clock())
    return [m.key for m in messages]


# -- 429 -----------------------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_429_burst_is_waited_out_and_nothing_is_lost_or_doubled(sqlite_rig: Rig) -> None:
    rig = sqlite_rig
    keys = await fill(rig, range(1, 21), 3)
    rig.emulator.fail_next("sendMessage", 429, count=2, retry_after=1)
    started = time.monotonic()
    await rig.drain()
    assert time.monotonic() - started >= 1.0  # retry_after was respected
    assert delivered_keys(rig.emulator, range(1, 21)) == Counter(keys)
    assert rig.limiter.retries_after_429 >= 1
    rows = await outbox_rows(rig.db)
    assert {row.status for row in rows.values()} == {OutboxStatus.SENT}
    assert max(row.attempts for row in rows.values()) == 1  # a 429 is not a failed attempt


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_flood_limits_are_kept_and_survived(sqlite_db: Database) -> None:
    rig = await make_rig(sqlite_db, overall_per_second=25, flood_limits=FloodLimits(global_per_second=30))
    try:
        keys = await fill(rig, range(1, 51), 1)
        started = time.monotonic()
        await rig.drain()
        elapsed = time.monotonic() - started
        assert rig.emulator.flood.rejected == 0  # at 25/s Telegram never says 429
        assert delivered_keys(rig.emulator, range(1, 51)) == Counter(keys)
        assert elapsed >= 49 / 25 * 0.95

        # Configured above Telegram's limit: 429s come, are waited out, and nothing is lost or doubled.
        rig.limiter.overall_per_second = 60
        keys += await fill(rig, range(51, 111), 1)
        await rig.drain()
        assert rig.emulator.flood.rejected > 0 and rig.limiter.retries_after_429 > 0
        assert delivered_keys(rig.emulator, range(1, 111)) == Counter(keys)
    finally:
        await rig.close()


# -- 5xx and timeouts ----------------------------------------------------------------------------------------


async def test_random_server_errors_and_timeouts(sqlite_rig: Rig) -> None:
    rig = sqlite_rig
    rig.options.request_timeout = 0.3
    rig.options.max_attempts = 8
    # Timed-out requests that Telegram never carried out: every message exactly once.
    keys = await fill(rig, range(1, 51), 4)
    rig.emulator.set_random_faults(error_rate=0.05, delay_rate=0.05, delay_seconds=0.6, process_delayed=False, seed=7)
    await rig.drain(timeout=60)
    assert rig.emulator.faults_injected("sendMessage") >= 10
    assert delivered_keys(rig.emulator, range(1, 51)) == Counter(keys)
    assert {row.status for row in (await outbox_rows(rig.db)).values()} == {OutboxStatus.SENT}

    # Timed-out requests that Telegram did carry out: the client cannot know, so those (and only those) are
    # delivered again — at most once more per timeout.
    more = await fill(rig, range(51, 101), 2)
    rig.emulator.set_random_faults(error_rate=0.05, delay_rate=0.05, delay_seconds=0.6, process_delayed=True, seed=8)
    await rig.drain(timeout=60)
    counts = delivered_keys(rig.emulator, range(51, 101))
    assert set(counts) == set(more)
    sends = rig.emulator.requests_for("sendMessage")
    processed_timeouts = sum(1 for r in sends if r.fault and r.status == 200 and int(r.params["chat_id"]) > 50)
    assert sum(counts.values()) - len(more) <= processed_timeouts


# -- a user who blocked the bot ------------------------------------------------------------------------------


async def test_blocked_and_never_started_users_in_the_running_bot(sqlite_db: Database, tmp_path: Path) -> None:
    # the secretaries hear at the next planning tick: it runs every second here
    harness = await make_harness(sqlite_db, tmp_path, jobs=True, plan_interval_seconds=1)
    try:
        emulator = harness.emulator
        now = harness.clock()
        unit_id = await add_unit(sqlite_db, "VPC", now=now)
        lan = await add_person(sqlite_db, 60, "Lê Lan", now=now, unit_id=unit_id)
        emulator.add_user(60, "Lan")  # linked by the secretary but never opened the bot
        harness.user(SECRETARY, "Thư ký")
        await harness.ask(SECRETARY, "/start")
        cursor = emulator.cursor()
        await queue(sqlite_db, [message(f"lan{i}", 60, person_id=lan) for i in range(5)], now=now)

        notice = await emulator.wait_for_bot_message(SECRETARY, lambda m: "Lê Lan" in m["text"], after=cursor)
        assert "(VPC)" in notice["text"]
        for _ in range(50):
            rows = await outbox_rows(sqlite_db)
            if all(rows[f"lan{i}"].status == OutboxStatus.BLOCKED for i in range(5)):
                break
            await asyncio.sleep(0.05)
        assert all(rows[f"lan{i}"].status == OutboxStatus.BLOCKED for i in range(5))
        assert len([r for r in emulator.requests_for("sendMessage") if str(r.params["chat_id"]) == "60"]) == 1
        async with sqlite_db.session() as session:
            assert await session.scalar(select(Person.reachable).where(Person.id == lan)) is False
        await asyncio.sleep(0.3)
        assert len([m for m in texts_in(emulator, SECRETARY) if "Lê Lan" in m]) == 1  # told once
    finally:
        await harness.stop()
        await harness.emulator.stop()


# -- SIGKILL in the middle of 1,000 sends ---------------------------------------------------------------------


# `qmsbot run` with the overall rate raised above Telegram's 30/s (SEND_RATE_PER_SECOND cannot go higher), so
# that 1,000 sends take seconds against the emulator (no flood limits there); everything else is as shipped.
FAST_LAUNCHER = """
import sys
import bot.app
from bot.ratelimit import TelegramRateLimiter

class Fast(TelegramRateLimiter):
    def __init__(self, overall_per_second, **options):
        super().__init__(float(sys.argv[1]), **options)

bot.app.TelegramRateLimiter = Fast
from bot.cli import main
sys.exit(main(sys.argv[2:]))
"""


class BotProcess:
    """`qmsbot run` (python -m bot.cli run) as a separate OS process against the emulator in this process."""

    def __init__(self, env: dict[str, str], cwd: Path, *args: str, rate: float | None = None) -> None:
        self.log = cwd / f"bot-{time.monotonic_ns()}.log"
        if rate is None:
            command = [sys.executable, "-m", "bot.cli", "run", *args]
        else:
            command = [sys.executable, "-c", FAST_LAUNCHER, str(rate), "run", *args]
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    async def stop(self) -> None:
        """SIGTERM and wait, without blocking the event loop (the emulator answers the bot's last calls)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(self.process.wait, 15)
            except subprocess.TimeoutExpired:
                self.kill()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def bot_env(emulator: Emulator, database_url: str, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("QMSBOT_", "TELEGRAM_"))}
    env.update(
        PYTHONPATH=str(ROOT),
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE_URL=emulator.base_url,
        DATABASE_URL=database_url,
        SEND_RATE_PER_SECOND="30",
        PLAN_INTERVAL_SECONDS="3600",
        ADMIN_IDS="",
        SECRETARY_IDS="",
        LOG_LEVEL="WARNING",
    )
    env.update(extra)
    return env


async def wait_until(condition: Any, timeout: float, what: str, processes: Iterable[BotProcess] = ()) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            logs = "\n".join(p.output()[-3000:] for p in processes)
            raise AssertionError(f"timed out waiting for {what}\n{logs}")
        await asyncio.sleep(0.02)


async def queue_for_users(db: Database, emulator: Emulator, users: range, total: int, prefix: str = "n") -> list[str]:
    """`total` messages spread over `users` (so that one per second per chat is never the bottleneck)."""
    for user in users:
        start_user(emulator, user, f"U{user}")
    chats = list(users)
    messages = [message(f"{prefix}{i:05d}", chats[i % len(chats)]) for i in range(total)]
    await queue(db, messages, now=datetime.now(UTC))
    return [m.key for m in messages]


def all_delivered(emulator: Emulator, chats: Iterable[int], keys: list[str]) -> bool:
    # Counting deliveries is cheap; reading every message is not (the emulator shares this event loop).
    return emulator.delivered() >= len(keys) and set(delivered_keys(emulator, chats)) >= set(keys)


async def in_flight_keys(db: Database) -> set[str]:
    async with db.session() as session:
        keys = await session.scalars(select(OutboxMessage.key).where(OutboxMessage.status == OutboxStatus.SENDING))
        return set(keys)


async def test_sigkill_in_the_middle_of_1000_sends_then_restart(tmp_path: Path) -> None:
    emulator = Emulator(token=TOKEN)
    await emulator.start()
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    first: BotProcess | None = None
    second: BotProcess | None = None
    try:
        await db.upgrade()
        users = range(1000, 1200)
        keys = await queue_for_users(db, emulator, users, 1000)
        env = bot_env(emulator, db.url)

        first = BotProcess(env, tmp_path, rate=150)
        await wait_until(lambda: emulator.delivered() >= 300, 40, "300 deliveries", [first])
        first.kill()
        in_flight = await in_flight_keys(db)
        delivered_before = emulator.delivered()
        assert 300 <= delivered_before < 1000

        second = BotProcess(env, tmp_path, rate=150)
        await wait_until(lambda: all_delivered(emulator, users, keys), 60, "every key", [second])
        await asyncio.sleep(0.3)  # anything else in the pipe shows up now
        await second.stop()

        counts = delivered_keys(emulator, users)
        doubled = {key for key, n in counts.items() if n > 1}
        assert set(counts) == set(keys)
        assert doubled <= in_flight, f"delivered twice but not in flight at the kill: {doubled - in_flight}"
        assert max(counts.values()) <= 2
        async with db.session() as session:
            statuses = Counter((await session.scalars(select(OutboxMessage.status))).all())
        assert statuses == {OutboxStatus.SENT: 1000}
        print(f"\nkilled after {delivered_before} deliveries; in flight {sorted(in_flight)}; doubled {sorted(doubled)}")
    finally:
        for process in (first, second):
            if process is not None:
                await process.stop()
        await db.dispose()
        await emulator.stop()


__all__ = [
    "BotProcess",
    "all_delivered",
    "bot_env",
    "delivered_keys",
    "in_flight_keys",
    "queue_for_users",
    "wait_until",
]
