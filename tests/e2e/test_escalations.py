"""No floods for the committee, through the running bot: twelve overdue tasks of one unit make ONE escalation
to the secretary and ONE to the unit's head, and a restart sends nothing more."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from storage.db import Database
from storage.models import Commitment, Kind, Membership, Person, Role
from tests.e2e.conftest import add_unit
from tests.e2e.harness import ADMIN, SECRETARY, Clock, Harness, make_harness

HEAD = 300
FOCAL = 301


@pytest.fixture
async def live(sqlite_db: Database, tmp_path: Path) -> AsyncIterator[Harness]:
    # Tuesday 24/11/2026 10:00 in Hanoi; the planner looks every second
    clock = Clock(datetime(2026, 11, 24, 3, 0, tzinfo=UTC))
    harness = await make_harness(sqlite_db, tmp_path, clock=clock, jobs=True, plan_interval_seconds=1)
    try:
        yield harness
    finally:
        await harness.stop()
        await harness.emulator.stop()


def _started(bot: Harness, user_id: int, name: str) -> None:
    bot.emulator.add_user(user_id, name)
    bot.emulator.world.user(user_id).started = True


async def _person(bot: Harness, telegram_id: int, name: str, role: Role, unit_id: int) -> None:
    async with bot.db.session() as session:
        person = Person(
            telegram_id=telegram_id, full_name=name, reachable=True, has_started=True, created_at=bot.clock()
        )
        session.add(person)
        await session.flush()
        session.add(Membership(person_id=person.id, unit_id=unit_id, role=role, created_at=bot.clock()))


def _alerts(bot: Harness, chat_id: int) -> list[str]:
    return [
        str(m.get("text", ""))
        for m in bot.emulator.bot_messages(chat_id)
        if "quá hạn" in m.get("text", "") and "Cảnh báo nhiệm vụ quá hạn" in m.get("text", "")
    ]


async def test_twelve_overdue_tasks_make_one_escalation_each_and_a_restart_sends_nothing_more(live: Harness) -> None:
    bot = live
    for user_id, name in ((SECRETARY, "Thư ký"), (ADMIN, "Admin"), (HEAD, "Lãnh đạo"), (FOCAL, "Lan")):
        _started(bot, user_id, name)
    unit = await add_unit(bot.db, bot.clock, "VPB", "Văn phòng Bộ")
    await _person(bot, HEAD, "Trần Lãnh Đạo", Role.HEAD, unit)
    await _person(bot, FOCAL, "Lê Lan", Role.FOCAL, unit)
    # due 10/11: 14 days overdue, past ESCALATE_AFTER_DAYS (7); registered at once (one import), as the planner
    # ticks every second meanwhile
    async with bot.db.session() as session:
        rows = [
            Commitment(
                unit_id=unit,
                title=f"Nhiệm vụ số {n}",
                kind=Kind.INTERNAL,
                due_date=date(2026, 11, 10),
                created_at=bot.clock(),
                updated_at=bot.clock(),
            )
            for n in range(12)
        ]
        session.add_all(rows)
        await session.flush()
        ids = [row.id for row in rows]

    header = "Cảnh báo nhiệm vụ quá hạn: 12 nhiệm vụ"
    secretary = await bot.emulator.wait_for_bot_message(SECRETARY, lambda m: header in m.get("text", ""), timeout=15)
    head = await bot.emulator.wait_for_bot_message(HEAD, lambda m: header in m.get("text", ""), timeout=15)
    for cid in ids:
        assert f"#{cid} /task_{cid} · Nhiệm vụ số" in secretary["text"] and f"#{cid} /task_{cid} · " in head["text"]
    assert "VPB" in secretary["text"] and "Văn phòng Bộ (VPB)" in head["text"]
    # the focal point keeps one reminder per task, with its buttons
    for cid in ids:
        await bot.emulator.wait_for_bot_message(
            FOCAL,
            lambda m, cid=cid: f"#{cid} · " in m.get("text", "") and "reply_markup" in m,  # type: ignore[misc]
            timeout=15,
        )

    await asyncio.sleep(3)  # three more planner ticks
    assert (len(_alerts(bot, SECRETARY)), len(_alerts(bot, ADMIN)), len(_alerts(bot, HEAD))) == (1, 1, 1)

    # a restart: a new bot on the same database plans again and sends nothing more
    await bot.stop()
    await bot.start()
    bot.clock.advance(hours=1)
    await asyncio.sleep(3)
    assert (len(_alerts(bot, SECRETARY)), len(_alerts(bot, ADMIN)), len(_alerts(bot, HEAD))) == (1, 1, 1)
    assert len([m for m in bot.emulator.bot_messages(FOCAL) if "reply_markup" in m]) == 12
