"""With the planner and the sender running: reminders arrive, a file sent as a reply to one is kept as
evidence, and the Monday digest goes out once per week, caught up once after downtime."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from storage.db import Database
from storage.models import Commitment, Evidence, Status
from tests.e2e.conftest import add_commitment, add_unit
from tests.e2e.harness import SECRETARY, Clock, Harness, make_harness
from tests.e2e.test_status_updates import press

INVITE_LINK = re.compile(r"\?start=([A-Za-z0-9_-]+)")
FOCAL = 200


@pytest.fixture
async def live(sqlite_db: Database, tmp_path: Path) -> AsyncIterator[Harness]:
    # Sunday 22/11/2026 10:00 in Hanoi; the planner looks every second
    clock = Clock(datetime(2026, 11, 22, 3, 0, tzinfo=UTC))
    harness = await make_harness(sqlite_db, tmp_path, clock=clock, jobs=True, plan_interval_seconds=1)
    try:
        yield harness
    finally:
        await harness.stop()
        await harness.emulator.stop()


async def _link(bot: Harness) -> int:
    unit = await add_unit(bot.db, bot.clock, "VPB", "Văn phòng Bộ")
    cid = await add_commitment(bot.db, bot.clock, unit, "Gửi báo cáo đánh giá nội bộ", date(2026, 11, 13))
    bot.user(SECRETARY, "Thư ký")
    code = INVITE_LINK.search(await bot.ask(SECRETARY, "/invite VPB"))
    assert code
    bot.user(FOCAL, "Lan")
    await bot.emulator.send_message(FOCAL, f"/start {code.group(1)}")
    return cid


def _is_reminder(message: dict, cid: int) -> bool:  # type: ignore[type-arg]
    buttons = [
        b["callback_data"] for row in (message.get("reply_markup") or {}).get("inline_keyboard", []) for b in row
    ]
    return any(data.startswith(f"c:{cid}:done") for data in buttons) and "quá hạn" in message.get("text", "")


async def test_a_file_replying_to_a_reminder_is_evidence(live: Harness) -> None:
    bot = live
    cid = await _link(bot)
    reminder = await bot.emulator.wait_for_bot_message(FOCAL, lambda m: _is_reminder(m, cid), timeout=15)
    assert "Gửi báo cáo đánh giá nội bộ" in reminder["text"] and "13/11/2026" in reminder["text"]
    await bot.emulator.send_document(FOCAL, "bao-cao.pdf", b"%PDF report", reply_to_message_id=reminder["message_id"])
    question = await bot.emulator.wait_for_bot_message(FOCAL, lambda m: "minh chứng" in m.get("text", ""), timeout=10)
    async with bot.db.session() as session:
        item = await session.get(Commitment, cid)
    assert item is not None and item.status != Status.DONE  # kept, and asked: nothing is done without the answer
    await press(bot, FOCAL, question, "Đã hoàn thành, kèm minh chứng này")
    async with bot.db.session() as session:
        item = await session.get(Commitment, cid)
        kept = list(await session.scalars(select(Evidence)))
    assert item is not None and item.status == Status.DONE
    assert [(e.commitment_id, e.file_name) for e in kept] == [(cid, "bao-cao.pdf")]
    # a file replying to a message that is about no commitment (the digest, a list) is not taken as evidence
    # (the press's own edit of the card may land after /tasks: wait for the list itself)
    await bot.emulator.send_message(FOCAL, "/tasks")
    listing = await bot.emulator.wait_for_bot_message(FOCAL, lambda m: "Không có nhiệm vụ nào" in m.get("text", ""))
    await bot.emulator.send_document(FOCAL, "khac.pdf", b"%PDF other", reply_to_message_id=listing["message_id"])
    await bot.emulator.wait_for_bot_message(FOCAL, lambda m: "chú thích /done" in m.get("text", ""), timeout=10)


async def test_the_monday_digest_goes_out_once_a_week(live: Harness) -> None:
    bot = live
    await _link(bot)

    def digests() -> list[dict]:  # type: ignore[type-arg]
        return [m for m in bot.emulator.bot_messages(SECRETARY) if "Tổng hợp tình hình" in m.get("text", "")]

    # a new installation started on Sunday: no catch-up of last Monday's digest (SPEC), the first is Monday's
    await asyncio.sleep(3)  # three planner ticks
    assert digests() == [] and not [m for m in bot.emulator.bot_messages(SECRETARY) if "photo" in m]
    bot.clock.now = datetime(2026, 11, 23, 1, 1, tzinfo=UTC)  # Monday 23/11 08:01 in Hanoi
    monday = await bot.emulator.wait_for_bot_message(
        SECRETARY,
        lambda m: "23/11/2026" in m.get("text", "") and "Tổng hợp tình hình" in m.get("text", ""),
        timeout=15,
    )
    assert "VPB" in monday["text"] and "quá hạn" in monday["text"]
    # the focal point gets the unit's own list (an overdue item)
    await bot.emulator.wait_for_bot_message(
        FOCAL,
        lambda m: (
            "Gửi báo cáo đánh giá nội bộ" in m.get("text", "")
            and "VPB" in m.get("text", "")
            and "reply_markup" not in m
        ),
        timeout=15,
    )
    bot.clock.now = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)  # later that Monday: nothing more
    await asyncio.sleep(3)  # three planner ticks
    assert len(digests()) == 1
