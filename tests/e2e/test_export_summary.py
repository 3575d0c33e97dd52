"""/export in the chat: the workbook's first sheet is for people, in the secretary's language, and the file
imports back unchanged — over HTTP, end to end."""

from __future__ import annotations

import io
from datetime import date, datetime

import openpyxl

from tests.e2e.conftest import add_commitment, add_unit
from tests.e2e.harness import SECRETARY, Harness


async def exported(bot: Harness) -> bytes:
    await bot.emulator.send_message(SECRETARY, "/export")
    message = await bot.emulator.wait_for_bot_message(SECRETARY, lambda m: "document" in m, timeout=20)
    return bot.emulator.file_bytes(message["document"]["file_id"])


async def test_the_secretary_exports_a_summary_in_their_language(bot: Harness) -> None:
    vpb = await add_unit(bot.db, bot.clock, "VPB", "Văn phòng Bộ")
    late = await add_commitment(bot.db, bot.clock, vpb, "Gửi 07 quy trình sửa đổi", date(2026, 11, 10))
    bot.user(SECRETARY, "Thư ký")

    workbook = openpyxl.load_workbook(io.BytesIO(await exported(bot)))
    assert workbook.sheetnames == ["Tổng hợp", "units", "commitments", "history"]
    summary = workbook["Tổng hợp"]
    assert (summary.freeze_panes, summary.auto_filter.ref) == ("A2", "A1:M2")
    row = {header.value: cell for header, cell in zip(summary[1], summary[2], strict=True)}
    assert row["Số"].value == late and row["Đơn vị"].value == "Văn phòng Bộ"
    assert (row["Trạng thái"].value, row["Loại"].value) == ("chưa thực hiện", "Nội bộ")
    assert row["Thời hạn"].is_date and row["Thời hạn"].value == datetime(2026, 11, 10)
    assert isinstance(row["Số ngày quá hạn"].value, int) and row["Số ngày quá hạn"].value >= 10

    await bot.ask(SECRETARY, "/lang en")
    data = await exported(bot)
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    assert workbook.sheetnames[0] == "Summary"
    assert [cell.value for cell in workbook["Summary"][1]][:4] == ["No.", "Unit", "Unit code", "Commitment"]
    assert workbook["Summary"]["G2"].value == "not started"

    # Sent back to the bot, the export changes nothing: only its machine sheets are read.
    await bot.emulator.send_document(SECRETARY, "register.xlsx", data)
    report = await bot.emulator.wait_for_bot_message(SECRETARY, lambda m: "register.xlsx" in (m.get("text") or ""))
    assert "Nothing changed" in report["text"] or "0 new, 0 updated" in report["text"], report["text"]
