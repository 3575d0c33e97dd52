"""What the committee secretary sees: /overdue, /export, and register files imported through chat."""

from __future__ import annotations

import io
import re
from datetime import date

from openpyxl import load_workbook
from sqlalchemy import func, select

from storage.models import Commitment, Unit
from tests.e2e.conftest import add_commitment, add_unit
from tests.e2e.harness import SECRETARY, Harness

INVITE_LINK = re.compile(r"\?start=([A-Za-z0-9_-]+)")


async def _register(bot: Harness) -> dict[str, int]:
    vpb = await add_unit(bot.db, bot.clock, "VPB", "Văn phòng Bộ")
    ttb = await add_unit(bot.db, bot.clock, "TTB", "Thanh tra Bộ")
    await add_unit(bot.db, bot.clock, "VPC", "Vụ Pháp chế")
    bot.user(SECRETARY, "Thư ký")
    return {
        "vpb_old": await add_commitment(bot.db, bot.clock, vpb, "Quy trình <cũ>", date(2026, 10, 1)),
        "vpb_new": await add_commitment(bot.db, bot.clock, vpb, "Mục tiêu chất lượng", date(2026, 11, 19)),
        "ttb_late": await add_commitment(bot.db, bot.clock, ttb, "Báo cáo thanh tra", date(2026, 11, 1)),
        "ttb_future": await add_commitment(bot.db, bot.clock, ttb, "Đánh giá nội bộ", date(2027, 1, 1)),
    }


async def test_overdue_grouped_by_unit(bot: Harness) -> None:
    ids = await _register(bot)
    text = await bot.ask(SECRETARY, "/overdue")
    assert "Nhiệm vụ quá hạn: 3 nhiệm vụ tại 2 đơn vị" in text
    assert text.index("TTB — Thanh tra Bộ") < text.index("VPB — Văn phòng Bộ")
    n = ids["vpb_old"]  # each number with its tappable /task_<id>, as in every list
    assert f"#{n} /task_{n} Quy trình <cũ> — hạn 01/10/2026, quá hạn 50 ngày" in text
    assert f"#{ids['ttb_future']}" not in text and "VPC" not in text
    assert "Cú pháp: /overdue" in await bot.ask(SECRETARY, "/overdue now")


async def test_nothing_overdue_says_so(bot: Harness) -> None:
    bot.user(SECRETARY, "Thư ký")
    assert "Không có nhiệm vụ nào quá hạn" in await bot.ask(SECRETARY, "/overdue")


async def test_export_sends_a_workbook(bot: Harness) -> None:
    ids = await _register(bot)
    await bot.ask(SECRETARY, f"/note {ids['vpb_new']} đang trình ký")
    await bot.emulator.send_message(SECRETARY, "/export")
    sent = await bot.emulator.wait_for_bot_message(SECRETARY, lambda m: "document" in m, timeout=20)
    assert sent["document"]["file_name"].endswith(".xlsx")
    workbook = load_workbook(io.BytesIO(bot.emulator.file_bytes(sent["document"]["file_id"])), read_only=True)
    assert {"units", "commitments", "history"} <= set(workbook.sheetnames)
    titles = [row[2] for row in workbook["commitments"].iter_rows(min_row=2, values_only=True)]
    assert "Quy trình <cũ>" in titles
    notes = [str(cell) for row in workbook["history"].iter_rows(values_only=True) for cell in row]
    assert "đang trình ký" in notes
    await bot.emulator.wait_for_bot_message(SECRETARY, lambda m: "Đã xuất xong" in m.get("text", ""))


async def test_import_through_chat_is_all_or_nothing(bot: Harness) -> None:
    await _register(bot)
    bad = (
        "unit_code,title,kind,due\n"
        "VPB,Rà soát quy trình,internal,15/12/2026\n"
        "VPB,Ngày sai,internal,31/02/2026\n"
        "NOPE,Đơn vị lạ,legal,15/12/2026\n"
    ).encode()
    await bot.emulator.send_document(SECRETARY, "nhiem-vu.csv", bad, mime_type="text/csv")
    report = await bot.emulator.wait_for_bot_message(SECRETARY, lambda m: "nhiem-vu.csv" in m["text"], timeout=15)
    assert "Dòng 3" in report["text"] and "31/02/2026" in report["text"] and "Dòng 4" in report["text"]
    async with bot.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Commitment)) == 4
    good = "\ufeffcode;name;parent_code\nVKHCN;Vụ Khoa học và Công nghệ;\n".encode()
    await bot.emulator.send_document(SECRETARY, "don-vi.csv", good, mime_type="text/csv")
    await bot.emulator.wait_for_bot_message(SECRETARY, lambda m: "don-vi.csv" in m["text"], timeout=15)
    async with bot.db.session() as session:
        assert await session.scalar(select(Unit.name).where(Unit.code == "VKHCN")) == "Vụ Khoa học và Công nghệ"


async def test_import_from_a_focal_point_is_refused(bot: Harness) -> None:
    await _register(bot)
    code = INVITE_LINK.search(await bot.ask(SECRETARY, "/invite VPB"))
    assert code
    bot.user(200, "Lan")
    await bot.ask(200, f"/start {code.group(1)}")
    await bot.emulator.send_document(200, "units.csv", b"code,name\nX1,Unit X\n", mime_type="text/csv")
    refused = await bot.emulator.wait_for_bot_message(200, lambda m: "Chỉ Thư ký BCĐ" in m["text"])
    assert "nhập danh mục" in refused["text"]
    async with bot.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Unit).where(Unit.code == "X1")) == 0
