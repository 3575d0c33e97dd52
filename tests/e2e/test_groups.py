"""A unit's Telegram group, end to end through the emulator: /linkgroup, the unit's reminders and new-commitment
notices in the group as well as to its focal points, the group shows that unit only, /unlinkgroup, the bot
removed from the group (my_chat_member), and every bad input answered with nothing changed."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.ratelimit import OUTBOX, SendArgs, TelegramRateLimiter
from storage.db import Database
from storage.models import Event, OutboxMessage, Status, UnitGroup
from tests.e2e.conftest import add_commitment, add_unit
from tests.e2e.harness import SECRETARY, Harness, make_harness
from tests.e2e.test_status_updates import COLLEAGUE, FOCAL, INVITE_LINK, OTHER_FOCAL, button, commitment

GROUP = -1001234567890  # a supergroup's id, as Telegram gives them
OTHER_GROUP = -4001
STRANGER = 900


async def setup_units(bot: Harness) -> dict[str, int]:
    """VPB (focal points Lan and Minh) and TTB (Hùng); VPB's group with Lan, Minh, Hùng and a stranger in it.
    Nothing is due for a reminder today (20/11/2026) but `due`: its 7-days-before reminder is today's."""
    vpb = await add_unit(bot.db, bot.clock, "VPB", "Văn phòng Bộ")
    ttb = await add_unit(bot.db, bot.clock, "TTB", "Thanh tra Bộ")
    bot.user(SECRETARY, "Thư ký")
    for user_id, name, unit in ((FOCAL, "Lan", "VPB"), (COLLEAGUE, "Minh", "VPB"), (OTHER_FOCAL, "Hùng", "TTB")):
        code = INVITE_LINK.search(await bot.ask(SECRETARY, f"/invite {unit}"))
        assert code
        bot.user(user_id, name)
        await bot.ask(user_id, f"/start {code.group(1)}")
    bot.user(STRANGER, "Khách")
    bot.emulator.add_group(GROUP, "Nhóm ISO Văn phòng Bộ", [FOCAL, COLLEAGUE, OTHER_FOCAL, STRANGER, SECRETARY])
    bot.emulator.add_group(OTHER_GROUP, "Nhóm Thanh tra", [OTHER_FOCAL, FOCAL])
    return {
        "later": await add_commitment(bot.db, bot.clock, vpb, "Gửi quy trình sửa đổi", date(2026, 12, 15)),
        "due": await add_commitment(bot.db, bot.clock, vpb, "Rà soát sổ tay chất lượng", date(2026, 11, 27)),
        "foreign": await add_commitment(bot.db, bot.clock, ttb, "Báo cáo thanh tra", date(2026, 12, 1)),
    }


async def say(bot: Harness, user: int, text: str, chat: int = GROUP) -> str:
    """`user` writes `text` in the chat; the bot's answer there."""
    await bot.emulator.send_message(user, text, chat_id=chat)
    return str((await bot.emulator.wait_for_bot_message(chat))["text"])


async def links(bot: Harness) -> list[tuple[str, int]]:
    async with bot.db.session() as session:
        rows = await session.execute(select(UnitGroup.chat_id, UnitGroup.unit_id).order_by(UnitGroup.chat_id))
        return [(str(chat), unit) for chat, unit in rows.tuples()]


async def state(bot: Harness) -> tuple[list[tuple[str, int]], int, int]:
    """What a bad input must leave as it was: the links, the events, the outbox."""
    async with bot.db.session() as session:
        events = await session.scalar(select(func.count()).select_from(Event))
        queued = await session.scalar(select(func.count()).select_from(OutboxMessage))
    return await links(bot), int(events or 0), int(queued or 0)


async def press_in_group(bot: Harness, user: int, message: dict[str, Any], label_part: str) -> str:
    query_id = await bot.emulator.press_button(user, message["message_id"], button(message, label_part), chat_id=GROUP)
    for _ in range(100):
        if answers := bot.emulator.callback_answers(query_id):
            return str(answers[0].get("text") or "")
        await asyncio.sleep(0.05)
    raise AssertionError("the press was not answered")


def is_reminder(message: dict[str, Any], cid: int) -> bool:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return any(b["callback_data"].startswith(f"c:{cid}:done") for row in rows for b in row)


@pytest.fixture
async def live(sqlite_db: Database, tmp_path: Path) -> AsyncIterator[Harness]:
    """The bot with its planner (every second) and sender running."""
    harness = await make_harness(sqlite_db, tmp_path, jobs=True, plan_interval_seconds=1)
    try:
        yield harness
    finally:
        await harness.stop()
        await harness.emulator.stop()


async def test_a_linked_group_gets_the_units_reminders_and_new_commitments(live: Harness) -> None:
    bot = live
    ids = await setup_units(bot)
    cid = ids["due"]
    # The focal point's reminder comes first, as before any group.
    mine = await bot.emulator.wait_for_bot_message(FOCAL, lambda m: is_reminder(m, cid), timeout=15)
    reply = await say(bot, FOCAL, "/linkgroup vpb")
    assert "Nhóm này nay là nhóm Telegram của đơn vị VPB — Văn phòng Bộ" in reply
    assert "chỉ trả lời lệnh" in reply
    # The group gets that reminder too (caught up like a person linked later), with its buttons, once.
    theirs = await bot.emulator.wait_for_bot_message(GROUP, lambda m: is_reminder(m, cid), timeout=15)
    assert "Rà soát sổ tay chất lượng" in theirs["text"] and "27/11/2026" in theirs["text"]
    assert theirs["text"] == mine["text"]
    # A press in the group is the presser's own: Minh (VPB) may mark it done, the stranger may not.
    assert "chỉ cán bộ đầu mối" in await press_in_group(bot, STRANGER, theirs, "Hoàn thành")
    assert (await commitment(bot, cid)).status == Status.OPEN
    assert "hoàn thành" in await press_in_group(bot, COLLEAGUE, theirs, "Hoàn thành")
    assert (await commitment(bot, cid)).status == Status.DONE

    # A new commitment of the unit: told to its focal points and to its group, once each.
    added = await bot.ask(SECRETARY, "/add VPB 15/01/2027 internal Báo cáo xem xét của lãnh đạo")
    new_id = re.search(r"#(\d+)", added)
    assert new_id
    notice = await bot.emulator.wait_for_bot_message(GROUP, lambda m: "🆕" in m["text"], timeout=15)
    assert "Báo cáo xem xét của lãnh đạo" in notice["text"] and "15/01/2027" in notice["text"]
    await bot.emulator.wait_for_bot_message(FOCAL, lambda m: "🆕" in m["text"], timeout=15)
    # …and another unit's new commitment does not reach this group.
    await bot.ask(SECRETARY, "/add TTB 20/01/2027 internal Kế hoạch thanh tra ISO")
    await bot.emulator.wait_for_bot_message(OTHER_FOCAL, lambda m: "Kế hoạch thanh tra" in m["text"], timeout=15)
    await asyncio.sleep(1.5)
    group_texts = [m["text"] for m in bot.emulator.bot_messages(GROUP)]
    assert not any("Kế hoạch thanh tra" in text for text in group_texts)
    async with bot.db.session() as session:
        keys = list(await session.scalars(select(OutboxMessage.key).where(OutboxMessage.chat_id == GROUP)))
    assert len(keys) == len(set(keys)) == 2  # one reminder, one new-commitment notice
    assert any(key.startswith(f"reminder:{cid}:") and key.endswith(f":{GROUP}") for key in keys)


async def test_evidence_in_the_group_by_reply_to_its_reminder_or_with_the_done_caption(live: Harness) -> None:
    bot = live
    ids = await setup_units(bot)
    cid = ids["due"]
    await say(bot, FOCAL, "/linkgroup VPB")
    reminder = await bot.emulator.wait_for_bot_message(GROUP, lambda m: is_reminder(m, cid), timeout=15)
    # A file the members share among themselves is their talk: no answer, nothing kept.
    await bot.emulator.send_document(COLLEAGUE, "anh-hop.jpg", b"\xff\xd8 photo", chat_id=GROUP)
    await asyncio.sleep(1.0)
    assert not [m for m in bot.emulator.bot_messages(GROUP) if "minh chứng" in m.get("text", "")]
    # A reply to the group's reminder with a file: kept, and the bot asks whether the task is also done.
    await bot.emulator.send_document(
        COLLEAGUE, "ban-du-thao.pdf", b"%PDF draft", reply_to_message_id=reminder["message_id"], chat_id=GROUP
    )
    question = await bot.emulator.wait_for_bot_message(GROUP, lambda m: "minh chứng" in m.get("text", ""))
    assert (await commitment(bot, cid)).status == Status.OPEN
    assert "hoàn thành" in await press_in_group(bot, COLLEAGUE, question, "Đã hoàn thành, kèm minh chứng này")
    assert (await commitment(bot, cid)).status == Status.DONE
    # The caption /done <id> works there too, for the group's unit only.
    await bot.emulator.send_document(
        FOCAL, "bien-ban.pdf", b"%PDF minutes", caption=f"/done {ids['foreign']}", chat_id=GROUP
    )
    refused = await bot.emulator.wait_for_bot_message(GROUP, lambda m: f"#{ids['foreign']}" in m.get("text", ""))
    assert "Thanh tra" not in refused["text"]
    assert (await commitment(bot, ids["foreign"])).status == Status.OPEN
    await bot.emulator.send_document(FOCAL, "quy-trinh.pdf", b"%PDF", caption=f"/done {ids['later']}", chat_id=GROUP)
    await bot.emulator.wait_for_bot_message(GROUP, lambda m: f"#{ids['later']}" in m.get("text", ""))
    assert (await commitment(bot, ids["later"])).status == Status.DONE


async def test_in_the_group_the_bot_shows_its_unit_only_and_answers_commands_only(bot: Harness) -> None:
    ids = await setup_units(bot)
    await say(bot, FOCAL, "/linkgroup VPB")
    # A secretary's /tasks in the group: VPB's commitments, not TTB's.
    tasks = await say(bot, SECRETARY, "/tasks")
    assert "Gửi quy trình sửa đổi" in tasks and "Báo cáo thanh tra" not in tasks
    assert "Báo cáo thanh tra" not in await say(bot, SECRETARY, "/tasks TTB")
    # Another unit's number is refused, as if it did not exist, even for a secretary; TTB's own focal point is
    # not a member of the group's unit.
    for user in (SECRETARY, FOCAL):
        answer = await say(bot, user, f"/task {ids['foreign']}")
        assert f"#{ids['foreign']}" in answer and "Báo cáo thanh tra" not in answer
    assert "Báo cáo thanh tra" not in await say(bot, OTHER_FOCAL, f"/task {ids['foreign']}")
    assert "Báo cáo thanh tra" not in await say(bot, SECRETARY, "/find báo cáo")
    # TTB's focal point and a stranger are not members of the group's unit.
    assert "chỉ cán bộ đầu mối" in await say(bot, OTHER_FOCAL, "/tasks")
    assert "chỉ cán bộ đầu mối" in await say(bot, STRANGER, "/tasks")
    # Committee commands are for a private chat.
    for text in ("/overdue", "/units", "/digest"):
        assert "không dùng trong nhóm" in await say(bot, SECRETARY, text)
    # Plain chatter, even a reply to the bot, gets nothing.
    before = len(bot.emulator.bot_messages(GROUP))
    last = bot.emulator.bot_messages(GROUP)[-1]
    await bot.emulator.send_message(FOCAL, "cảm ơn bot", chat_id=GROUP, reply_to_message_id=last["message_id"])
    await bot.emulator.send_message(FOCAL, "@qmsbot_test_bot chào", chat_id=GROUP)
    await asyncio.sleep(1.0)
    assert len(bot.emulator.bot_messages(GROUP)) == before
    # In a private chat the secretary sees everything as before.
    assert "Báo cáo thanh tra" in await bot.ask(SECRETARY, "/tasks TTB")


async def test_in_a_group_not_linked_only_linking_is_offered(bot: Harness) -> None:
    await setup_units(bot)
    assert "chưa được liên kết với đơn vị nào" in await say(bot, FOCAL, "/tasks")
    assert "/linkgroup" in await say(bot, SECRETARY, "/overdue")


async def test_unlinkgroup_ends_it_and_tells_the_unit(bot: Harness) -> None:
    await setup_units(bot)
    await say(bot, FOCAL, "/linkgroup VPB")
    assert "đã là nhóm của đơn vị VPB" in await say(bot, COLLEAGUE, "/linkgroup VPB")  # nothing changed
    reply = await say(bot, COLLEAGUE, "/unlinkgroup")
    assert "không còn là nhóm của đơn vị VPB" in reply
    assert await links(bot) == []
    async with bot.db.session() as session:
        told = list(
            await session.execute(
                select(OutboxMessage.chat_id, OutboxMessage.text).where(OutboxMessage.key.like("group-unlinked:%"))
            )
        )
    # Lan is told; Minh, who unlinked it, was answered in the group.
    assert [chat for chat, _ in told] == [FOCAL]
    assert "Nhóm ISO Văn phòng Bộ" in told[0][1] and "/linkgroup VPB" in told[0][1]
    assert "chưa được liên kết với đơn vị nào" in await say(bot, FOCAL, "/tasks")


async def test_a_unit_has_one_group_the_new_one_replaces_the_old(bot: Harness) -> None:
    await setup_units(bot)
    await say(bot, FOCAL, "/linkgroup VPB")
    bot.emulator.add_group(-5005, "Nhóm mới VPB", [FOCAL])
    reply = await say(bot, FOCAL, "/linkgroup VPB", chat=-5005)
    assert "Nhóm ISO Văn phòng Bộ" in reply and "không nhận tin nữa" in reply
    assert [chat for chat, _ in await links(bot)] == ["-5005"]


async def test_removed_from_the_group_it_is_unlinked_and_the_unit_told(live: Harness) -> None:
    bot = live
    await setup_units(bot)
    await say(bot, FOCAL, "/linkgroup VPB")
    bot.emulator.remove_bot(GROUP, STRANGER)
    for user in (FOCAL, COLLEAGUE):
        notice = await bot.emulator.wait_for_bot_message(user, lambda m: "bị xóa khỏi nhóm" in m["text"], timeout=15)
        assert "Nhóm ISO Văn phòng Bộ" in notice["text"] and "/linkgroup VPB" in notice["text"]
    assert await links(bot) == []
    async with bot.db.session() as session:
        event = await session.scalar(select(Event).where(Event.action == "group_unlinked"))
    assert event is not None and event.note == "removed"
    # Nobody of another unit is told, and a group that served no unit changes nothing when the bot leaves it.
    assert not any("bị xóa khỏi nhóm" in m["text"] for m in bot.emulator.bot_messages(OTHER_FOCAL))
    before = await state(bot)
    bot.emulator.remove_bot(OTHER_GROUP, OTHER_FOCAL)
    await asyncio.sleep(1.0)
    assert await state(bot) == before
    # Added back: it says how to link it again.
    bot.emulator.add_bot(GROUP, FOCAL)
    hint = await bot.emulator.wait_for_bot_message(GROUP, lambda m: "/linkgroup" in m["text"], timeout=15)
    assert "mã đơn vị" in hint["text"]


async def test_a_group_upgraded_to_a_supergroup_stays_the_units_group(live: Harness) -> None:
    bot = live
    await setup_units(bot)
    basic, supergroup = -6006, -1000000006006
    bot.emulator.add_group(basic, "Nhóm VPB", [FOCAL, COLLEAGUE])
    await say(bot, FOCAL, "/linkgroup VPB", chat=basic)
    bot.emulator.upgrade_group(basic, supergroup, FOCAL)
    for _ in range(100):
        if await links(bot) == [(str(supergroup), 1)]:
            break
        await asyncio.sleep(0.05)
    assert await links(bot) == [(str(supergroup), 1)]
    assert "Gửi quy trình sửa đổi" in await say(bot, COLLEAGUE, "/tasks", chat=supergroup)
    await bot.ask(SECRETARY, "/add VPB 15/01/2027 internal Báo cáo xem xét của lãnh đạo")
    notice = await bot.emulator.wait_for_bot_message(supergroup, lambda m: "🆕" in m["text"], timeout=15)
    assert "Báo cáo xem xét của lãnh đạo" in notice["text"]


async def test_bad_input_is_answered_and_changes_nothing(bot: Harness) -> None:
    await setup_units(bot)
    await say(bot, OTHER_FOCAL, "/linkgroup TTB", chat=OTHER_GROUP)
    before = await state(bot)
    cases: list[tuple[int, str, int | None, str]] = [
        (FOCAL, "/linkgroup VPB", None, "dùng trong nhóm Telegram"),  # a private chat
        (FOCAL, "/unlinkgroup", None, "dùng trong nhóm Telegram"),
        (STRANGER, "/linkgroup VPB", GROUP, "Anh/chị chưa được liên kết"),
        (STRANGER, "/linkgroup VPB", None, "Anh/chị chưa được liên kết"),
        (OTHER_FOCAL, "/linkgroup VPB", GROUP, "Chỉ cán bộ đầu mối, lãnh đạo đơn vị VPB"),
        (FOCAL, "/linkgroup NOPE", GROUP, "Không có đơn vị nào có mã NOPE"),
        (FOCAL, "/linkgroup", GROUP, "/linkgroup <mã đơn vị>"),
        (FOCAL, "/linkgroup VPB TTB", GROUP, "/linkgroup <mã đơn vị>"),
        (FOCAL, "/linkgroup VPB", OTHER_GROUP, "đang là nhóm của đơn vị TTB"),  # already another unit's
        (FOCAL, "/unlinkgroup", OTHER_GROUP, "Chỉ cán bộ đầu mối, lãnh đạo đơn vị TTB"),
        (FOCAL, "/unlinkgroup", GROUP, "chưa được liên kết với đơn vị nào: không có gì để hủy"),
        (STRANGER, "/unlinkgroup", GROUP, "Anh/chị chưa được liên kết"),
    ]
    for user, text, chat, expected in cases:
        if chat is None:
            answer = await bot.ask(user, text)
        else:
            answer = await say(bot, user, text, chat=chat)
        assert expected in answer, (text, chat, answer)
        assert await state(bot) == before, (text, chat)


async def test_a_group_gets_at_most_twenty_messages_a_minute() -> None:
    """The sender's limiter, on a fake clock: 45 messages for one group go out 20 a minute (any 21 in a row span
    more than a minute), as fast as that allows, while a private chat is not held up by the group."""
    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += max(seconds, 0.0)
        await asyncio.sleep(0)

    limiter = TelegramRateLimiter(25, clock=lambda: now[0], sleep=sleep)
    sent: list[float] = []

    async def call(endpoint: str, data: dict[str, Any]) -> bool:
        sent.append(now[0])
        return True

    async def send(chat: int) -> None:
        data = {"chat_id": chat, "text": "nhắc việc"}
        await limiter.process_request(call, ("sendMessage", data), {}, "sendMessage", data, SendArgs(OUTBOX))

    for _ in range(45):
        await send(GROUP)
        if len(sent) == 20:
            # The group's window is full: the group waits, a private chat does not.
            assert limiter.chat_wait(GROUP) > 55.0 and limiter.chat_wait(FOCAL) == 0
    assert len(sent) == 45
    for first in range(len(sent) - 20):
        assert sent[first + 20] - sent[first] >= 60.0
    assert sent[19] - sent[0] < 1.0  # the first twenty at once
    assert sent[-1] - sent[0] < 2 * 60.0 + 5.0  # the rest as soon as the window allows


async def test_the_group_menu_offers_linking_the_private_one_does_not(bot: Harness) -> None:
    private = {c["command"] for c in bot.emulator.commands(language_code="vi")}
    groups = {c["command"]: c["description"] for c in bot.emulator.commands({"type": "all_group_chats"}, "vi")}
    assert "linkgroup" not in private and "unlinkgroup" not in private
    assert set(groups) == private | {"linkgroup", "unlinkgroup"}
    assert groups["linkgroup"] == "Trong nhóm Telegram: đặt làm nhóm của đơn vị (nhắc việc cũng gửi vào nhóm)"
    english = {c["command"] for c in bot.emulator.commands({"type": "all_group_chats"})}
    assert english == set(groups)
