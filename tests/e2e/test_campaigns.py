"""Campaigns end to end through the emulator: `/add @…` previews, Confirm creates one commitment per unit and tells
each unit once, /campaign shows each unit's standing (on time, late, in progress, open, overdue, evidence) and
its .xlsx; every bad input is answered and writes nothing."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import func, select

from storage.db import Database
from storage.models import Campaign, CampaignStatus, Commitment, Evidence, OutboxMessage, Unit
from storage.outbox import OutboxKind
from tests.e2e.harness import ADMIN, SECRETARY, Clock, Harness, make_harness
from tests.e2e.test_status_updates import COLLEAGUE, FOCAL, INVITE_LINK, OTHER_FOCAL, buttons

TITLE = "Gửi kế hoạch triển khai TCVN ISO 9001:2015"
STRANGER = 999


async def add_tree(db: Database, clock: Clock) -> dict[str, int]:
    """The national root, two ministries, and the Ministry of Health's departments (parent_code as imported)."""
    tree = (
        ("BKHCN", "Bộ Khoa học và Công nghệ", None),
        ("BYT", "Bộ Y tế", "BKHCN"),
        ("BTC", "Bộ Tài chính", "BKHCN"),
        ("BYT.VP", "Văn phòng Bộ Y tế", "BYT"),
        ("BYT.PC", "Vụ Pháp chế", "BYT"),
    )
    ids: dict[str, int] = {}
    async with db.session() as session:
        for code, name, parent in tree:
            unit = Unit(code=code, code_key=code, name=name, parent_id=ids.get(parent or ""), created_at=clock())
            session.add(unit)
            await session.flush()
            ids[code] = unit.id
    return ids


async def link(bot: Harness, user_id: int, name: str, unit: str) -> None:
    reply = await bot.ask(SECRETARY, f"/invite {unit}")
    code = INVITE_LINK.search(reply)
    assert code, reply
    bot.user(user_id, name)
    await bot.ask(user_id, f"/start {code.group(1)}")


async def counts(bot: Harness) -> tuple[int, int, int]:
    """Commitments, outbox rows and created campaigns: what "nothing written" looks at."""
    async with bot.db.session() as session:
        commitments = await session.scalar(select(func.count()).select_from(Commitment))
        outbox = await session.scalar(select(func.count()).select_from(OutboxMessage))
        created = await session.scalar(
            select(func.count()).select_from(Campaign).where(Campaign.status == CampaignStatus.CREATED)
        )
    return int(commitments or 0), int(outbox or 0), int(created or 0)


async def answer_of(bot: Harness, query_id: str) -> dict[str, Any]:
    for _ in range(200):
        if answers := bot.emulator.callback_answers(query_id):
            return answers[0]
        await asyncio.sleep(0.05)
    raise AssertionError("not answered")


async def press(bot: Harness, user: int, message: dict[str, Any], label_part: str) -> str:
    data = next(data for text, data in buttons(message).items() if label_part in text)
    return str((await answer_of(bot, await bot.emulator.press_button(user, message["message_id"], data))).get("text"))


async def forge(bot: Harness, user: int, message_id: int, data: str) -> str:
    return str((await answer_of(bot, await bot.emulator.forge_callback(user, message_id, data))).get("text") or "")


async def preview(bot: Harness, text: str) -> dict[str, Any]:
    await bot.emulator.send_message(SECRETARY, text)
    return await bot.emulator.wait_for_bot_message(SECRETARY, lambda m: "Đợt giao nhiệm vụ mới" in m.get("text", ""))


@pytest.fixture
async def live(sqlite_db: Database, tmp_path: Path) -> AsyncIterator[Harness]:
    harness = await make_harness(sqlite_db, tmp_path, jobs=True)
    try:
        yield harness
    finally:
        await harness.stop()
        await harness.emulator.stop()


def told(bot: Harness, user_id: int) -> int:
    return sum(1 for m in bot.emulator.bot_messages(user_id) if TITLE in (m.get("text") or ""))


async def test_a_campaign_previews_creates_one_per_unit_tells_each_once_and_reports(live: Harness) -> None:
    bot = live
    units = await add_tree(bot.db, bot.clock)
    bot.user(SECRETARY, "Thư ký")
    await link(bot, FOCAL, "Lan", "BYT")
    await link(bot, COLLEAGUE, "Minh", "BYT.VP")
    await link(bot, OTHER_FOCAL, "Hùng", "BTC")

    # The preview: how many units, the first named, and nothing written yet.
    shown = await preview(bot, f"/add @BYT/*,BTC,byt 15/12/2026 internal {TITLE}")
    assert "4 đơn vị" in shown["text"] and "BYT (Bộ Y tế)" in shown["text"] and "BYT.PC" in shown["text"]
    assert set(buttons(shown)) == {"✅ Tạo cho 4 đơn vị", "✖ Hủy"}
    assert await counts(bot) == (0, 0, 0)

    # Confirm: one commitment per unit (each its own number), the campaign C1, each focal point told once.
    await press(bot, SECRETARY, shown, "Tạo cho")
    edited = await bot.emulator.wait_for_bot_message(
        SECRETARY, lambda m: "Đã tạo đợt giao nhiệm vụ C1" in m.get("text", ""), timeout=10
    )
    assert "4 nhiệm vụ" in edited["text"] and not buttons(edited)
    async with bot.db.session() as session:
        rows = (await session.execute(select(Commitment.id, Commitment.unit_id, Commitment.campaign_id))).all()
    assert len(rows) == 4 and len({r.id for r in rows}) == 4 and len({r.campaign_id for r in rows}) == 1
    assert {r.unit_id for r in rows} == {units[c] for c in ("BYT", "BYT.VP", "BYT.PC", "BTC")}
    by_unit = {r.unit_id: r.id for r in rows}
    for user_id in (FOCAL, COLLEAGUE, OTHER_FOCAL):
        await bot.emulator.wait_for_bot_message(user_id, lambda m: TITLE in (m.get("text") or ""), timeout=10)

    # A second press (or a forged one) creates nothing more.
    assert "đã được tạo trước đó" in await forge(
        bot, SECRETARY, shown["message_id"], buttons(shown)["✅ Tạo cho 4 đơn vị"]
    )
    assert (await counts(bot))[0] == 4

    # Some work: done with evidence, in progress.
    byt, vp, btc = by_unit[units["BYT"]], by_unit[units["BYT.VP"]], by_unit[units["BTC"]]
    await bot.emulator.send_document(FOCAL, "ke-hoach-byt.pdf", b"%PDF plan", caption=f"/done {byt}")
    await bot.emulator.wait_for_bot_message(
        FOCAL, lambda m: f"#{byt}" in (m.get("text") or "") and "hoàn thành" in m["text"]
    )
    assert "50%" in await bot.ask(OTHER_FOCAL, f"/progress {btc} 50 đang dự thảo")

    report = await bot.ask(SECRETARY, "/campaign C1")
    assert "Đợt giao nhiệm vụ C1" in report and "4 đơn vị" in report
    assert "hoàn thành đúng hạn: 1" in report and "đang thực hiện: 1" in report and "chưa thực hiện: 2" in report
    assert "quá hạn: 0" in report and "tệp minh chứng: 1" in report

    # After the deadline: one done late, the others overdue.
    bot.clock.advance(days=30)
    assert "hoàn thành" in await bot.ask(COLLEAGUE, f"/done {vp}")
    report = await bot.ask(SECRETARY, "/campaign 1")
    assert "hoàn thành đúng hạn: 1" in report and "hoàn thành quá hạn: 1" in report
    assert "đang thực hiện: 0" in report and "chưa thực hiện: 0" in report and "quá hạn: 2" in report
    lines = report.split("\n")
    first_unit = next(i for i, line in enumerate(lines) if "BYT.PC" in line or "BTC" in line)
    assert "quá hạn" in lines[first_unit]  # what needs chasing comes first

    # The .xlsx of it, with the evidence file names.
    message = bot.last_bot_message(SECRETARY)
    await press(bot, SECRETARY, message, "Excel")
    sent = await bot.emulator.wait_for_bot_message(SECRETARY, lambda m: "document" in m, timeout=20)
    assert sent["document"]["file_name"].startswith("campaign-C1-")
    workbook = openpyxl.load_workbook(io.BytesIO(bot.emulator.file_bytes(sent["document"]["file_id"])))
    assert workbook.sheetnames == ["Tổng hợp", "Các đơn vị"]
    summary = {row[0]: row[1] for row in workbook["Tổng hợp"].iter_rows(values_only=True)}
    assert summary["Đợt giao nhiệm vụ"] == "C1" and summary["Thời hạn"] == datetime(2026, 12, 15)
    assert (summary["hoàn thành đúng hạn"], summary["hoàn thành quá hạn"], summary["quá hạn"]) == (1, 1, 2)
    sheet = workbook["Các đơn vị"]
    header = [cell.value for cell in sheet[1]]
    rows_by_code = {row[0]: dict(zip(header, row, strict=True)) for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert set(rows_by_code) == {"BYT", "BYT.VP", "BYT.PC", "BTC"}
    assert rows_by_code["BYT"]["Tên tệp minh chứng"] == "ke-hoach-byt.pdf" and rows_by_code["BYT"]["Số minh chứng"] == 1
    assert rows_by_code["BYT"]["Trạng thái"] == "hoàn thành đúng hạn" and rows_by_code["BYT"]["Số"] == byt
    assert (
        rows_by_code["BYT.VP"]["Trạng thái"] == "hoàn thành quá hạn" and rows_by_code["BYT.VP"]["Số ngày trễ hạn"] == 5
    )
    assert rows_by_code["BTC"]["Trạng thái"] == "quá hạn" and rows_by_code["BTC"]["Tiến độ (%)"] == 50
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == "A1:J5"

    # Each focal point was told of the new commitment once, whatever the planner did meanwhile.
    async with bot.db.session() as session:
        notices = await session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.kind == OutboxKind.NEW_COMMITMENT)
        )
    assert notices == 3
    assert told(bot, STRANGER) == 0


async def test_every_bad_campaign_is_answered_and_writes_nothing(bot: Harness) -> None:
    bot.user(SECRETARY, "Thư ký")
    assert "không có đơn vị nào (@all)" in await bot.ask(SECRETARY, f"/add @all 15/12/2026 internal {TITLE}")
    await add_tree(bot.db, bot.clock)
    cases = {
        f"/add @BYT,XYZ,ABC 15/12/2026 internal {TITLE}": "Không có đơn vị nào có mã XYZ, ABC",
        f"/add @NOPE/* 15/12/2026 internal {TITLE}": "Không có đơn vị nào có mã NOPE",
        f"/add @ 15/12/2026 internal {TITLE}": "chưa có đơn vị nào",
        f"/add @, 15/12/2026 internal {TITLE}": "chưa có đơn vị nào",
        f"/add @BYT/x 15/12/2026 internal {TITLE}": "@VPB/*",
        f"/add @BYT 31/02/2026 internal {TITLE}": "Ngày 31/02/2026 không tồn tại",
        f"/add @BYT mai internal {TITLE}": "DD/MM/YYYY",
        f"/add @BYT 01/11/2026 internal {TITLE}": "Thời hạn 01/11/2026 đã qua",
        f"/add @BYT 15/12/2026 urgent {TITLE}": "legal",
        "/add @BYT 15/12/2026 internal": "Lệnh còn thiếu thông tin",
        "/campaign": "Cú pháp: /campaign",
        "/campaign abc": "ví dụ 3 hoặc C3",
        "/campaign C7": "Không có đợt giao nhiệm vụ C7",
        "/campaign 99999999999999": "ví dụ 3 hoặc C3",
    }
    for text, expected in cases.items():
        reply = await bot.ask(SECRETARY, text)
        assert expected in reply, (text, reply)
    assert await counts(bot) == (0, 0, 0)

    # Duplicates are counted once; a unit named again inside a subtree too.
    shown = await preview(bot, f"/add @BYT,byt,BYT 15/12/2026 internal {TITLE}")
    assert "1 đơn vị" in shown["text"]
    shown = await preview(bot, f"/add @BYT/*,BYT.VP 15/12/2026 legal {TITLE}")
    assert "3 đơn vị" in shown["text"]
    await preview(bot, f"/add @all 15/12/2026 legal {TITLE}")
    assert "5 đơn vị" in bot.last_bot_message(SECRETARY)["text"]

    # A focal point may not start one; a stranger neither.
    await link(bot, FOCAL, "Lan", "BYT")
    assert "Chỉ Thư ký BCĐ" in await bot.ask(FOCAL, f"/add @BYT 15/12/2026 internal {TITLE}")
    assert "Chỉ Thư ký BCĐ" in await bot.ask(FOCAL, "/campaign 1")
    bot.user(STRANGER, "Người lạ")
    assert "Chỉ Thư ký BCĐ" not in await bot.ask(STRANGER, f"/add @BYT 15/12/2026 internal {TITLE}")

    # Forged and foreign presses: answered, nothing created.
    data = buttons(shown)["✅ Tạo cho 3 đơn vị"]
    mid = shown["message_id"]
    assert "Nút này không còn hiệu lực" in await forge(bot, SECRETARY, mid, "k:abc:ok")
    assert "Nút này không còn hiệu lực" in await forge(bot, SECRETARY, mid, "k:1:go")
    assert "không còn nữa" in await forge(bot, SECRETARY, mid, "k:99999:ok")
    bot.user(ADMIN, "Quản trị")
    await bot.ask(ADMIN, "/help")
    theirs = bot.last_bot_message(ADMIN)["message_id"]
    assert "không còn nữa" in await forge(bot, ADMIN, theirs, data)  # another secretary's preview
    await bot.ask(FOCAL, "/help")
    assert "Chỉ Thư ký BCĐ" in await forge(bot, FOCAL, bot.last_bot_message(FOCAL)["message_id"], data)
    assert await counts(bot) == (0, 0, 0)

    # Cancel, then a late Confirm: still nothing.
    assert "Đã hủy" in await press(bot, SECRETARY, shown, "Hủy")
    assert "đã bị hủy" in await forge(bot, SECRETARY, mid, data)
    assert await counts(bot) == (0, 0, 0)
    # A report's Excel button for a campaign that does not exist.
    assert "Nút này không còn hiệu lực" in await forge(bot, SECRETARY, mid, "k:99999:xlsx")


async def test_the_one_line_add_and_the_dialogue_still_work(bot: Harness) -> None:
    await add_tree(bot.db, bot.clock)
    bot.user(SECRETARY, "Thư ký")
    reply = await bot.ask(SECRETARY, f"/add BYT 15/12/2026 legal {TITLE}")
    assert "BYT" in reply and "#" in reply
    async with bot.db.session() as session:
        lone = await session.scalar(select(Commitment))
    assert lone is not None and lone.campaign_id is None and lone.due_date == date(2026, 12, 15)
    assert "bước 1" in (await bot.ask(SECRETARY, "/add")).lower()
    async with bot.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Evidence)) == 0
