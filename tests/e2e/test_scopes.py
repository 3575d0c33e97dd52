"""A ministry's secretary on the national deployment: everything of their subtree, nothing of another ministry's.

The register is the national committee (MOST) over two ministries; Bộ Nội vụ's secretary is invited by the
admin with `/invite secretary BNV`. Every wired command and button tried against Bộ Tài chính's unit is refused
the way an unknown one is, shows none of its data, and changes nothing.
"""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from storage.db import Database
from storage.models import Broadcast, Commitment, ExtensionRequest, ExtensionStatus, Status, Unit
from storage.register_import import import_sources
from tests.e2e.conftest import add_commitment
from tests.e2e.harness import ADMIN, SECRETARY, Harness, make_harness
from tests.e2e.test_status_updates import button, count_events

INVITE_LINK = re.compile(r"\?start=([A-Za-z0-9_-]+)")
MINISTRY, OURS, THEIRS = 500, 601, 602  # Bộ Nội vụ's secretary; focal points of BNV-VP and of BTC-VP
UNITS = """code,name,parent_code
MOST,Bộ Khoa học và Công nghệ,
BNV,Bộ Nội vụ,MOST
BNV-VP,Văn phòng Bộ Nội vụ,BNV
BNV-TT,Thanh tra Bộ Nội vụ,BNV
BTC,Bộ Tài chính,MOST
BTC-VP,Văn phòng Bộ Tài chính,BTC
"""


@pytest.fixture
async def live(sqlite_db: Database, tmp_path: Path) -> AsyncIterator[Harness]:
    harness = await make_harness(sqlite_db, tmp_path, jobs=True)
    try:
        yield harness
    finally:
        await harness.stop()
        await harness.emulator.stop()


async def _answer_with(bot: Harness, user: int, text: str, needle: str) -> str:
    """The bot's answer containing `needle` (the planner's notices may reach the chat first)."""
    await bot.emulator.send_message(user, text)
    message = await bot.emulator.wait_for_bot_message(user, lambda m: needle in m.get("text", ""), timeout=15)
    return str(message["text"])


async def _link(bot: Harness, inviter: int, command: str, user: int, name: str) -> str:
    code = INVITE_LINK.search(await _answer_with(bot, inviter, command, "?start="))
    assert code
    bot.user(user, name)
    return await _answer_with(bot, user, f"/start {code.group(1)}", "Anh/chị đã")


async def _setup(bot: Harness) -> dict[str, int]:
    assert (await import_sources(bot.db, [("units.csv", UNITS.encode())], now=bot.clock())).ok
    async with bot.db.session() as session:
        units = dict((await session.execute(select(Unit.code, Unit.id))).tuples().all())
    bot.user(ADMIN, "Quản trị")
    bot.user(SECRETARY, "Thư ký BCĐ")
    await _answer_with(bot, ADMIN, "/start", "Xin chào")
    await _answer_with(bot, SECRETARY, "/start", "Xin chào")
    linked = await _link(bot, ADMIN, "/invite secretary BNV", MINISTRY, "Thư ký Bộ Nội vụ")
    assert "Thư ký của Bộ Nội vụ (BNV) và các đơn vị trực thuộc" in linked
    await _link(bot, SECRETARY, "/invite BNV-VP", OURS, "Lan")
    await _link(bot, SECRETARY, "/invite BTC-VP", THEIRS, "Minh")
    # Overdue, but not long enough to escalate: the secretaries' chats hold only what the test asks for.
    return {
        "ours": await add_commitment(
            bot.db, bot.clock, units["BNV-VP"], "Kế hoạch ISO của Bộ Nội vụ", date(2026, 11, 16)
        ),
        "theirs": await add_commitment(
            bot.db, bot.clock, units["BTC-VP"], "Kế hoạch ISO của Bộ Tài chính", date(2026, 11, 17)
        ),
    }


async def _answer(bot: Harness, query_id: str) -> str:
    for _ in range(100):
        if answers := bot.emulator.callback_answers(query_id):
            return str(answers[0].get("text") or "")
        await asyncio.sleep(0.05)
    raise AssertionError("not answered")


async def _state(bot: Harness, cid: int) -> tuple[Status, date, int]:
    async with bot.db.session() as session:
        item = await session.get(Commitment, cid)
        assert item is not None
        return item.status, item.due_date, item.version


async def test_a_ministry_secretary_is_refused_everything_outside_the_ministry(live: Harness) -> None:
    bot = live
    ids = await _setup(bot)
    ours, theirs = ids["ours"], ids["theirs"]
    before = await _state(bot, theirs), await count_events(bot, theirs)

    units = await bot.ask(MINISTRY, "/units")
    assert "BNV-VP" in units and "BNV-TT" in units and "BTC" not in units and "Minh" not in units
    tasks = await bot.ask(MINISTRY, "/tasks")
    assert f"#{ours}" in tasks and f"#{theirs}" not in tasks and "Bộ Tài chính" not in tasks
    overdue = await bot.ask(MINISTRY, "/overdue")
    assert f"#{ours}" in overdue and f"#{theirs}" not in overdue and "BTC" not in overdue
    for command in ("/tasks BTC-VP", f"/task {theirs}", f"/done {theirs}", f"/reopen {theirs}"):
        answer = await bot.ask(MINISTRY, command)
        assert "Bộ Tài chính" not in answer and f"#{theirs} " not in answer.replace(f"#{theirs} trong", ""), command
        assert "Không" in answer or "chỉ xem được" in answer, (command, answer)
    assert "Không có đơn vị nào có mã BTC-VP." in await bot.ask(MINISTRY, "/invite BTC-VP")
    assert "Không có đơn vị nào có mã BTC." in await bot.ask(MINISTRY, "/invite secretary BTC")
    assert "Chỉ quản trị viên mới được mời thư ký." in await bot.ask(MINISTRY, "/invite secretary")
    assert "?start=" in await bot.ask(MINISTRY, "/invite secretary BNV-TT")  # inside the ministry: fine
    assert "?start=" in await bot.ask(MINISTRY, "/invite BNV-TT head")
    assert "Không có đơn vị nào có mã BTC-VP." in await bot.ask(MINISTRY, "/add BTC-VP 15/01/2027 internal Báo cáo")
    async with bot.db.session() as session:
        assert len(list(await session.scalars(select(Commitment.id)))) == 2  # nothing added
    assert "BNV-TT" in await bot.ask(MINISTRY, "/add BNV-TT 15/01/2027 internal Báo cáo quý")
    assert "Không có đơn vị nào có mã BTC-VP." in await bot.ask(MINISTRY, "/broadcast @BNV-VP,BTC-VP Họp giao ban")
    await bot.ask(MINISTRY, "/broadcast Họp giao ban ISO")  # every unit of the ministry: Lan only, not Minh
    async with bot.db.session() as session:
        drafts = [(b.recipients, b.unit_codes) for b in await session.scalars(select(Broadcast))]
    assert drafts == [(1, ["BNV", "BNV-TT", "BNV-VP"])]
    rows = "unit_code,title,kind,due\nBNV-TT,Báo cáo quý II,internal,15/01/2027\nBTC-VP,Báo cáo,internal,15/01/2027\n"
    await bot.emulator.send_document(MINISTRY, "nhiem-vu.csv", rows.encode(), mime_type="text/csv")
    report = await bot.emulator.wait_for_bot_message(MINISTRY, lambda m: "nhiem-vu.csv" in m["text"], timeout=15)
    assert "Dòng 3" in report["text"] and "BTC-VP không thuộc phạm vi quản lý" in report["text"]
    async with bot.db.session() as session:
        assert len(list(await session.scalars(select(Commitment.id)))) == 3  # nothing imported
    await bot.emulator.send_message(MINISTRY, "/export")
    sent = await bot.emulator.wait_for_bot_message(MINISTRY, lambda m: "document" in m, timeout=20)
    workbook = load_workbook(io.BytesIO(bot.emulator.file_bytes(sent["document"]["file_id"])), read_only=True)
    cells = {
        name: [str(c) for row in workbook[name].iter_rows(values_only=True) for c in row]
        for name in workbook.sheetnames
    }
    assert {row[0] for row in workbook["units"].iter_rows(min_row=2, values_only=True)} == {"BNV", "BNV-VP", "BNV-TT"}
    assert "Kế hoạch ISO của Bộ Nội vụ" in cells["commitments"]
    assert not [c for sheet in cells.values() for c in sheet if "Tài chính" in c or "BTC" in c]
    await bot.ask(SECRETARY, "/broadcast Họp toàn quốc")  # the national committee's own draft
    async with bot.db.session() as session:
        national_draft = max(await session.scalars(select(Broadcast.id)))
    query = await bot.emulator.forge_callback(
        MINISTRY, bot.last_bot_message(MINISTRY)["message_id"], f"b:{national_draft}:send"
    )
    assert "Thông báo này không còn tồn tại." in await _answer(bot, query)
    async with bot.db.session() as session:
        assert (await session.get(Broadcast, national_draft)).status.value == "draft"  # type: ignore[union-attr]

    # Bộ Tài chính's request for more time goes to the national committee, not to Bộ Nội vụ's secretary.
    await _answer_with(bot, THEIRS, f"/extend {theirs} 30/01/2027 chờ ý kiến các Vụ", "đã được gửi")
    national = await bot.emulator.wait_for_bot_message(
        SECRETARY, lambda m: "Đề nghị gia hạn" in m.get("text", ""), timeout=10
    )
    request = button(national, "Phê duyệt")
    # Forged presses from Bộ Nội vụ's secretary, on a message of their own chat: the decision, Done, Details.
    own = bot.last_bot_message(MINISTRY)
    version = before[0][2]
    for data, refused in (
        (request, "Đề nghị này không còn tồn tại."),
        (f"c:{theirs}:done:{version}", f"Không tìm thấy nhiệm vụ #{theirs}"),
        (f"c:{theirs}:info:{version}", f"Không tìm thấy nhiệm vụ #{theirs}"),
    ):
        query = await bot.emulator.forge_callback(MINISTRY, own["message_id"], data)
        assert refused in await _answer(bot, query), data
    assert "/approve" not in request  # (the command forms come later; the buttons are what exists)
    await asyncio.sleep(1.5)  # the planner and the sender have had their turn
    texts = [m.get("text", "") + m.get("caption", "") for m in bot.emulator.bot_messages(MINISTRY)]
    # (their own words echoed back, "no commitment #N", "no unit BTC-VP", are all they got)
    assert not [t for t in texts if "Tài chính" in t or "chờ ý kiến các Vụ" in t or "Minh" in t]
    async with bot.db.session() as session:
        pending = list(await session.scalars(select(ExtensionRequest.status)))
    assert pending == [ExtensionStatus.PENDING]
    state, events = await _state(bot, theirs), await count_events(bot, theirs)
    assert state == before[0] and events == before[1] + 1  # only the request itself

    # Their own ministry's request reaches them, and their decision counts.
    await _answer_with(bot, OURS, f"/extend {ours} 15/01/2027 thiếu nhân lực", "đã được gửi")
    # (after the burst of answers above, their chat's next outbox message waits its turn: one a second)
    asked = await bot.emulator.wait_for_bot_message(
        MINISTRY, lambda m: "Đề nghị gia hạn" in m.get("text", ""), timeout=40
    )
    query = await bot.emulator.press_button(MINISTRY, asked["message_id"], button(asked, "Phê duyệt"))
    assert "Đã ghi nhận" in await _answer(bot, query)
    assert (await _state(bot, ours))[1] == date(2027, 1, 15)

    await bot.emulator.send_message(MINISTRY, "/digest")
    shown = await bot.emulator.wait_for_bot_message(MINISTRY, lambda m: "Phạm vi" in m.get("text", ""), timeout=30)
    digest = str(shown["text"])
    assert "Phạm vi quản lý: Bộ Nội vụ (BNV) và các đơn vị trực thuộc" in digest
    assert "BTC" not in digest and "Bộ Tài chính" not in digest


async def test_the_new_workflow_commands_and_campaigns_stay_inside_the_scope(live: Harness) -> None:
    bot = live
    ids = await _setup(bot)
    theirs, ours = ids["theirs"], ids["ours"]
    before = await _state(bot, theirs)
    for command in (
        f"/edit {theirs} title X",
        f"/close {theirs} trùng",
        f"/reopen {theirs}",
        f"/approve {theirs}",
        f"/reject {theirs} không",
        f"/extend {theirs} 20/01/2027 lý do",
        f"/task_{theirs}",
    ):
        reply = await _answer_with(bot, MINISTRY, command, "#")
        assert f"Không tìm thấy nhiệm vụ #{theirs}" in reply, (command, reply)
    assert "Tài chính" not in await _answer_with(bot, MINISTRY, "/find ke hoach", "ìm")
    assert await _state(bot, theirs) == before
    # inside the scope the same commands work
    assert "Đã sửa" in await _answer_with(bot, MINISTRY, f"/edit {ours} title Kế hoạch ISO 2027", "#")
    # a campaign: a unit outside the scope refuses it whole; @all is the scope's units
    refused = await _answer_with(bot, MINISTRY, "/add @BNV-VP,BTC-VP 20/01/2027 internal Báo cáo", "BTC-VP")
    assert "Đơn vị BTC-VP nằm ngoài phạm vi quản lý" in refused
    preview = await _answer_with(bot, MINISTRY, "/add @all 20/01/2027 internal Báo cáo quý", "Đợt giao")
    assert "3 đơn vị" in preview and "BTC" not in preview
