"""Asking for more time: the committee gets Approve / Reject through the outbox; the first decision wins."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest

from storage.db import Database
from storage.models import Commitment
from tests.e2e.conftest import add_commitment, add_unit
from tests.e2e.harness import ADMIN, SECRETARY, Harness, make_harness
from tests.e2e.test_status_updates import FOCAL, button, count_events

INVITE_LINK = re.compile(r"\?start=([A-Za-z0-9_-]+)")


@pytest.fixture
async def live(sqlite_db: Database, tmp_path: Path) -> AsyncIterator[Harness]:
    """The bot with its planner and sender running."""
    harness = await make_harness(sqlite_db, tmp_path, jobs=True)
    try:
        yield harness
    finally:
        await harness.stop()
        await harness.emulator.stop()


async def _setup(bot: Harness) -> int:
    unit = await add_unit(bot.db, bot.clock, "VPB", "Văn phòng Bộ")
    cid = await add_commitment(bot.db, bot.clock, unit, "Gửi quy trình sửa đổi", date(2027, 3, 15))
    bot.user(SECRETARY, "Thư ký")
    bot.user(ADMIN, "Quản trị")
    await bot.ask(ADMIN, "/start")
    reply = await bot.ask(SECRETARY, "/invite VPB")
    code = INVITE_LINK.search(reply)
    assert code
    bot.user(FOCAL, "Lan")
    await bot.ask(FOCAL, f"/start {code.group(1)}")
    return cid


async def _request_for(bot: Harness, user: int) -> dict:  # type: ignore[type-arg]
    return await bot.emulator.wait_for_bot_message(user, lambda m: "Đề nghị gia hạn" in m.get("text", ""), timeout=10)


async def _answer(bot: Harness, query_id: str) -> str:
    for _ in range(100):
        if answers := bot.emulator.callback_answers(query_id):
            return str(answers[0].get("text") or "")
        await asyncio.sleep(0.05)
    raise AssertionError("not answered")


async def test_approved_extension_moves_the_deadline_and_tells_the_requester(live: Harness) -> None:
    bot = live
    cid = await _setup(bot)
    sent = await bot.ask(FOCAL, f"/extend {cid} 30/04/2027 chờ ý kiến góp ý của các Vụ")
    assert "đã được gửi Thư ký BCĐ" in sent
    request = await _request_for(bot, SECRETARY)
    lines = request["text"].splitlines()
    # the move with how much time is asked, then who asks and why, each on its own line
    assert "Thời hạn: 15/03/2027 → 30/04/2027 (thêm 46 ngày)" in lines
    assert "Người đề nghị: Lan" in lines and "Lý do: chờ ý kiến góp ý của các Vụ" in lines
    await _request_for(bot, ADMIN)  # every secretary and admin is asked
    query = await bot.emulator.press_button(SECRETARY, request["message_id"], button(request, "Phê duyệt"))
    assert "Đã ghi nhận" in await _answer(bot, query)
    decision = await bot.emulator.wait_for_bot_message(
        FOCAL, lambda m: "được phê duyệt" in m.get("text", ""), timeout=10
    )
    assert "15/03/2027" in decision["text"] and "30/04/2027" in decision["text"]
    async with bot.db.session() as session:
        item = await session.get(Commitment, cid)
    assert item is not None and item.due_date == date(2027, 4, 30)
    history = await bot.ask(FOCAL, f"/task {cid}")
    assert "đề nghị gia hạn" in history and "phê duyệt gia hạn" in history and "30/04/2027" in history
    # a second request while none is pending is fine; a legal one is explained (covered elsewhere)


async def test_first_decision_wins_when_two_press_at_once(live: Harness) -> None:
    bot = live
    cid = await _setup(bot)
    await bot.ask(FOCAL, f"/extend {cid} 30/04/2027 thiếu nhân lực")
    mine, theirs = await _request_for(bot, SECRETARY), await _request_for(bot, ADMIN)
    first, second = await asyncio.gather(
        bot.emulator.press_button(SECRETARY, mine["message_id"], button(mine, "Phê duyệt")),
        bot.emulator.press_button(ADMIN, theirs["message_id"], button(theirs, "Phê duyệt")),
    )
    answers = [await _answer(bot, first), await _answer(bot, second)]
    assert sum("Đã ghi nhận" in a for a in answers) == 1 and sum("trước đó" in a for a in answers) == 1
    assert await count_events(bot, cid, "extension_approved") + await count_events(bot, cid, "extension_rejected") == 1
    decision = await bot.emulator.wait_for_bot_message(
        FOCAL,
        lambda m: "được phê duyệt" in m.get("text", "") or "không được chấp thuận" in m.get("text", ""),
        timeout=10,
    )
    async with bot.db.session() as session:
        item = await session.get(Commitment, cid)
    assert item is not None
    assert (item.due_date == date(2027, 4, 30)) == ("được phê duyệt" in decision["text"])


async def test_a_rejected_extension_keeps_the_deadline(live: Harness) -> None:
    bot = live
    cid = await _setup(bot)
    await bot.ask(FOCAL, f"/extend {cid} 30/04/2027 chưa đủ nhân lực")
    request = await _request_for(bot, SECRETARY)
    await bot.emulator.press_button(SECRETARY, request["message_id"], button(request, "Từ chối"))
    prompt = await bot.emulator.wait_for_bot_message(SECRETARY, lambda m: "Lý do từ chối" in m.get("text", ""))
    await bot.emulator.send_message(SECRETARY, "Chưa đủ căn cứ", reply_to_message_id=prompt["message_id"])
    assert (
        "Đã ghi nhận"
        in (await bot.emulator.wait_for_bot_message(SECRETARY, lambda m: "Đã ghi nhận" in m["text"]))["text"]
    )
    decision = await bot.emulator.wait_for_bot_message(
        FOCAL, lambda m: "không được chấp thuận" in m.get("text", ""), timeout=10
    )
    assert "15/03/2027" in decision["text"]
    async with bot.db.session() as session:
        item = await session.get(Commitment, cid)
    assert item is not None and item.due_date == date(2027, 3, 15)
    edited = await bot.emulator.wait_for_bot_message(
        SECRETARY, lambda m: m["message_id"] == request["message_id"] and "đã từ chối" in m.get("text", "")
    )
    assert not edited.get("reply_markup") and "Chưa đủ căn cứ" in edited["text"]
    # the admin's copy of the request shows the decision too, without buttons; a late press (an old client, or
    # a forged one) is told it was decided, and changes nothing
    other = await bot.emulator.wait_for_bot_message(ADMIN, lambda m: "đã từ chối" in m.get("text", ""))
    assert not other.get("reply_markup") and "Chưa đủ căn cứ" in other["text"]
    late = await bot.emulator.forge_callback(ADMIN, other["message_id"], button(request, "Phê duyệt"))
    assert "trước đó" in await _answer(bot, late)
    assert await count_events(bot, cid, "extension_approved") == 0
