"""Workflows a secretary can trust, end to end through the emulator: no accidental done, Undo, honest history
of extension requests, /edit, /close and /reopen, /approve and /reject with a reason, /find, /task_<id>,
/tasks all, /snooze and "Remind me later"."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from storage.db import Database
from storage.models import Evidence, ExtensionRequest, ExtensionStatus, OutboxMessage, Status
from tests.e2e.conftest import add_commitment, add_unit
from tests.e2e.harness import ADMIN, SECRETARY, Harness, make_harness
from tests.e2e.test_status_updates import (
    COLLEAGUE,
    FOCAL,
    INVITE_LINK,
    OTHER_FOCAL,
    buttons,
    commitment,
    count_events,
    press,
)


async def setup_units(bot: Harness) -> dict[str, int]:
    """Two units, their focal points, and commitments none of which is due for a reminder today (20/11/2026), so
    that with the planner running every message a test waits for is the one it asked for."""
    vpb = await add_unit(bot.db, bot.clock, "VPB", "Văn phòng Bộ")
    ttb = await add_unit(bot.db, bot.clock, "TTB", "Thanh tra Bộ")
    bot.user(SECRETARY, "Thư ký")
    for user_id, name, unit in ((FOCAL, "Lan", "VPB"), (COLLEAGUE, "Minh", "VPB"), (OTHER_FOCAL, "Hùng", "TTB")):
        reply = await bot.ask(SECRETARY, f"/invite {unit}")
        code = INVITE_LINK.search(reply)
        assert code, reply
        bot.user(user_id, name)
        await bot.ask(user_id, f"/start {code.group(1)}")
    return {
        "internal": await add_commitment(bot.db, bot.clock, vpb, "Gửi quy trình sửa đổi", date(2026, 12, 15)),
        "legal": await add_commitment(
            bot.db,
            bot.clock,
            vpb,
            "Phê duyệt kế hoạch triển khai",
            date(2026, 12, 31),
            kind="legal",
            legal_basis="118/2009/QĐ-TTg",
        ),
        "foreign": await add_commitment(bot.db, bot.clock, ttb, "Báo cáo thanh tra", date(2026, 12, 1)),
    }


@pytest.fixture
async def live(sqlite_db: Database, tmp_path: Path) -> AsyncIterator[Harness]:
    """The bot with its planner and sender running."""
    harness = await make_harness(sqlite_db, tmp_path, jobs=True)
    try:
        yield harness
    finally:
        await harness.stop()
        await harness.emulator.stop()


async def _answer(bot: Harness, query_id: str) -> str:
    for _ in range(100):
        if answers := bot.emulator.callback_answers(query_id):
            return str(answers[0].get("text") or "")
        await asyncio.sleep(0.05)
    raise AssertionError("not answered")


async def _forge(bot: Harness, user: int, message_id: int, data: str) -> str:
    return await _answer(bot, await bot.emulator.forge_callback(user, message_id, data))


async def test_a_file_sent_as_a_reply_is_kept_and_asks_before_marking_done(bot: Harness) -> None:
    ids = await setup_units(bot)
    cid = ids["internal"]
    await bot.ask(FOCAL, f"/task {cid}")
    card = bot.last_bot_message(FOCAL)
    await bot.emulator.send_document(FOCAL, "du-thao.docx", b"draft", reply_to_message_id=card["message_id"])
    question = await bot.emulator.wait_for_bot_message(FOCAL, lambda m: "đã hoàn thành chưa" in m["text"])
    assert set(buttons(question)) == {"✅ Đã hoàn thành, kèm minh chứng này", "📎 Chỉ lưu minh chứng"}
    assert (await commitment(bot, cid)).status == Status.OPEN  # a draft is not a done
    assert "minh chứng" in await press(bot, FOCAL, question, "Chỉ lưu minh chứng")
    assert (await commitment(bot, cid)).status == Status.OPEN
    # the second file is the final one: the focal point says so
    await bot.emulator.send_document(FOCAL, "ban-cuoi.pdf", b"%PDF final", reply_to_message_id=card["message_id"])
    question = await bot.emulator.wait_for_bot_message(FOCAL, lambda m: "đã hoàn thành chưa" in m["text"])
    assert "hoàn thành" in await press(bot, FOCAL, question, "Đã hoàn thành")
    assert (await commitment(bot, cid)).status == Status.DONE
    # the pressed message now shows the done, with Undo under it (a button's done can be taken back too)
    shown = await bot.emulator.wait_for_bot_message(
        FOCAL, lambda m: m["message_id"] == question["message_id"] and "↩️ Hoàn tác" in buttons(m)
    )
    assert "đã hoàn thành" in shown["text"]
    async with bot.db.session() as session:
        names = list(await session.scalars(select(Evidence.file_name).order_by(Evidence.id)))
    assert names == ["du-thao.docx", "ban-cuoi.pdf"]
    assert await count_events(bot, cid, "done") == 1


async def test_done_carries_undo_for_the_same_person_or_a_secretary(bot: Harness) -> None:
    ids = await setup_units(bot)
    cid = ids["internal"]
    reply = await bot.ask(FOCAL, f"/done {cid}")
    assert "hoàn thành" in reply
    done_message = bot.last_bot_message(FOCAL)
    assert "↩️ Hoàn tác" in buttons(done_message)
    undo_data = buttons(done_message)["↩️ Hoàn tác"]
    # a colleague of the same unit forging the same press is refused; nothing changes
    await bot.ask(COLLEAGUE, f"/task {cid}")
    theirs = bot.last_bot_message(COLLEAGUE)
    assert "Chỉ người đã báo cáo hoàn thành" in await _forge(bot, COLLEAGUE, theirs["message_id"], undo_data)
    assert (await commitment(bot, cid)).status == Status.DONE
    answer = await press(bot, FOCAL, done_message, "Hoàn tác")
    assert "Đã hoàn tác" in answer and "chưa thực hiện" in answer
    assert (await commitment(bot, cid)).status == Status.OPEN
    history = await bot.ask(SECRETARY, f"/task {cid}")
    assert "đã đánh dấu hoàn thành" in history and "hoàn tác việc báo hoàn thành" in history
    # too late: after UNDO_MINUTES the focal point's Undo is refused, a secretary can /reopen
    await bot.ask(FOCAL, f"/done {cid}")
    late_message = bot.last_bot_message(FOCAL)
    bot.clock.advance(minutes=11)
    assert "Đã quá thời gian hoàn tác" in await press(bot, FOCAL, late_message, "Hoàn tác")
    assert (await commitment(bot, cid)).status == Status.DONE


async def test_a_secretary_may_undo_a_focal_points_done(bot: Harness) -> None:
    ids = await setup_units(bot)
    cid = ids["internal"]
    await bot.ask(FOCAL, f"/done {cid}")
    version = (await commitment(bot, cid)).version
    await bot.ask(SECRETARY, f"/task {cid}")
    card = bot.last_bot_message(SECRETARY)
    assert "Đã hoàn tác" in await _forge(bot, SECRETARY, card["message_id"], f"c:{cid}:undo:{version}")
    assert (await commitment(bot, cid)).status == Status.OPEN


async def test_legal_commitments_offer_no_extension(bot: Harness) -> None:
    ids = await setup_units(bot)
    await bot.ask(FOCAL, f"/task {ids['legal']}")
    legal = buttons(bot.last_bot_message(FOCAL))
    await bot.ask(FOCAL, f"/task {ids['internal']}")
    internal = buttons(bot.last_bot_message(FOCAL))
    assert not any("gia hạn" in label for label in legal) and any("Nhắc lại sau" in label for label in legal)
    assert any("gia hạn" in label for label in internal)


async def _extension_requested(bot: Harness, cid: int) -> dict:  # type: ignore[type-arg]
    sent = await bot.ask(FOCAL, f"/extend {cid} 30/12/2026 chờ ý kiến góp ý")
    assert "đã được gửi" in sent
    return await bot.emulator.wait_for_bot_message(
        SECRETARY, lambda m: "Đề nghị gia hạn" in m.get("text", ""), timeout=10
    )


async def test_request_notice_shows_who_why_and_how_many_days(live: Harness) -> None:
    bot = live
    ids = await setup_units(bot)
    request = await _extension_requested(bot, ids["internal"])
    text = request["text"]
    assert "15/12/2026 → 30/12/2026 (thêm 15 ngày)" in text
    assert "Người đề nghị: Lan" in text and "Lý do: chờ ý kiến góp ý" in text


async def test_done_closes_the_pending_request_tells_the_requester_and_never_says_rejected(live: Harness) -> None:
    bot = live
    ids = await setup_units(bot)
    cid = ids["internal"]
    request = await _extension_requested(bot, cid)
    await bot.ask(COLLEAGUE, f"/done {cid}")
    told = await bot.emulator.wait_for_bot_message(FOCAL, lambda m: "đã được đóng" in m.get("text", ""), timeout=10)
    assert f"#{cid} đã được báo cáo hoàn thành" in told["text"]
    answer = await press(bot, SECRETARY, request, "Phê duyệt")
    assert "Đã quyết định" in answer or "Đã đóng" in answer
    history = await bot.ask(SECRETARY, f"/task {cid}")
    assert "đóng đề nghị gia hạn" in history and "từ chối" not in history
    assert "(thời hạn: 15/12/2026 → 30/12/2026) — nhiệm vụ đã được đánh dấu hoàn thành" in history
    assert "— done" not in history
    assert (await commitment(bot, cid)).due_date == date(2026, 12, 15)


async def test_reject_asks_for_a_reason_that_reaches_the_requester(live: Harness) -> None:
    bot = live
    ids = await setup_units(bot)
    cid = ids["internal"]
    request = await _extension_requested(bot, cid)
    await press(bot, SECRETARY, request, "Từ chối")
    prompt = await bot.emulator.wait_for_bot_message(SECRETARY, lambda m: "Lý do từ chối" in m.get("text", ""))
    async with bot.db.session() as session:
        still = await session.scalar(select(ExtensionRequest.status))
    assert still == ExtensionStatus.PENDING  # nothing decided before the reason
    await bot.emulator.send_message(
        SECRETARY, "Chưa đủ căn cứ, đề nghị hoàn thành đúng hạn", reply_to_message_id=prompt["message_id"]
    )
    await bot.emulator.wait_for_bot_message(SECRETARY, lambda m: "thông báo cho người đề nghị" in m.get("text", ""))
    decision = await bot.emulator.wait_for_bot_message(
        FOCAL, lambda m: "không được chấp thuận" in m.get("text", ""), timeout=10
    )
    assert "Lý do: Chưa đủ căn cứ, đề nghị hoàn thành đúng hạn" in decision["text"]
    history = await bot.ask(SECRETARY, f"/task {cid}")
    assert "từ chối gia hạn" in history and "Chưa đủ căn cứ" in history


async def test_approve_and_reject_commands(live: Harness) -> None:
    bot = live
    ids = await setup_units(bot)
    cid = ids["internal"]
    assert "không có đề nghị gia hạn nào" in await bot.ask(SECRETARY, f"/approve {cid}")
    await _extension_requested(bot, cid)
    assert "Cú pháp: /reject" in await bot.ask(SECRETARY, f"/reject {cid}")
    assert "DD/MM/YYYY" in await bot.ask(SECRETARY, f"/approve {cid} mai")
    assert "sau thời hạn hiện tại" in await bot.ask(SECRETARY, f"/approve {cid} 10/12/2026")
    assert "Chỉ Thư ký BCĐ" in await bot.ask(FOCAL, f"/approve {cid}")
    reply = await bot.ask(SECRETARY, f"/approve {cid} 22/12/2026")
    assert "22/12/2026" in reply and "thông báo cho người đề nghị" in reply
    decision = await bot.emulator.wait_for_bot_message(FOCAL, lambda m: "phê duyệt" in m.get("text", ""), timeout=10)
    assert "15/12/2026 → 22/12/2026 (thêm 7 ngày)" in decision["text"]
    assert (await commitment(bot, cid)).due_date == date(2026, 12, 22)
    assert "không có đề nghị gia hạn nào" in await bot.ask(SECRETARY, f"/reject {cid} muộn")


async def test_a_secretarys_own_extend_applies_at_once(bot: Harness) -> None:
    ids = await setup_units(bot)
    cid = ids["internal"]
    reply = await bot.ask(SECRETARY, f"/extend {cid} 05/01/2027 theo chỉ đạo của Lãnh đạo Bộ")
    assert "05/01/2027" in reply
    assert (await commitment(bot, cid)).due_date == date(2027, 1, 5)
    assert await count_events(bot, cid, "extension_approved") == 1
    assert "118/2009/QĐ-TTg" in await bot.ask(SECRETARY, f"/extend {ids['legal']} 05/01/2027 x")


async def test_edit_fixes_the_register_tells_the_unit_and_refuses_bad_input(live: Harness) -> None:
    bot = live
    ids = await setup_units(bot)
    cid = ids["internal"]
    reply = await bot.ask(SECRETARY, f"/edit {cid} due 18/12/2026")
    assert "15/12/2026 → 18/12/2026" in reply
    told = await bot.emulator.wait_for_bot_message(
        FOCAL, lambda m: "đã được điều chỉnh" in m.get("text", ""), timeout=10
    )
    assert "15/12/2026 → 18/12/2026 (thêm 3 ngày)" in told["text"] and f"/task_{cid}" in told["text"]
    assert "Đã sửa" in await bot.ask(SECRETARY, f"/edit {cid} title Gửi quy trình sửa đổi lần 2")
    assert (await commitment(bot, cid)).title == "Gửi quy trình sửa đổi lần 2"
    before = await count_events(bot, cid)
    for text, expected in (
        (f"/edit {cid} colour red", "Không có trường colour"),
        (f"/edit {cid} due 31/02/2027", "Ngày 31/02/2027 không tồn tại"),
        (f"/edit {cid} due 15/12/3026", "phải trong khoảng 2000 đến 2100"),
        (f"/edit {cid} due next friday", "DD/MM/YYYY"),
        (f"/edit {cid} kind urgent", "hoặc internal"),
        (f"/edit {cid} title", "Cú pháp: /edit"),
        (f"/edit {cid} recurrence FREQ=SOMETIMES", "quy tắc lặp lại"),
        ("/edit 987654 title X", "Không tìm thấy nhiệm vụ #987654"),
        ("/edit abc title X", "Số nhiệm vụ phải là số nguyên"),
    ):
        assert expected in await bot.ask(SECRETARY, text), text
    assert "Chỉ Thư ký BCĐ" in await bot.ask(FOCAL, f"/edit {cid} title X")
    assert await count_events(bot, cid) == before
    history = await bot.ask(SECRETARY, f"/task {cid}")
    assert "sửa thông tin (thời hạn: 15/12/2026 → 18/12/2026)" in history


async def test_close_cancels_and_reopen_undoes_it(bot: Harness) -> None:
    ids = await setup_units(bot)
    cid = ids["internal"]
    assert "Cú pháp: /close" in await bot.ask(SECRETARY, f"/close {cid}")
    assert "Đã hủy" in await bot.ask(SECRETARY, f"/close {cid} Trùng với nhiệm vụ khác")
    assert (await commitment(bot, cid)).status == Status.CANCELLED
    assert f"#{cid} " not in await bot.ask(FOCAL, "/tasks")
    everything = await bot.ask(FOCAL, "/tasks VPB all")
    assert f"#{cid} /task_{cid}" in everything and "đã hủy" in everything
    assert "đã bị hủy" in await bot.ask(FOCAL, f"/done {cid}")
    assert "Đã mở lại" in await bot.ask(SECRETARY, f"/reopen {cid}")
    assert (await commitment(bot, cid)).status == Status.OPEN
    history = await bot.ask(SECRETARY, f"/task {cid}")
    assert "đã hủy" in history and "Trùng với nhiệm vụ khác" in history and "mở lại" in history


async def test_find_ignores_case_and_diacritics_and_shows_only_own_units(bot: Harness) -> None:
    ids = await setup_units(bot)
    found = await bot.ask(FOCAL, "/find ke hoach")
    assert f"/task_{ids['legal']}" in found and "Phê duyệt kế hoạch triển khai" in found
    assert f"/task_{ids['foreign']}" not in await bot.ask(FOCAL, "/find bao cao thanh tra")
    assert f"/task_{ids['foreign']}" in await bot.ask(SECRETARY, "/find BÁO CÁO thanh tra")
    assert "Không tìm thấy" in await bot.ask(FOCAL, "/find zzz")
    assert "Cú pháp: /find" in await bot.ask(FOCAL, "/find")


async def test_task_links_are_tappable_in_lists_and_work(bot: Harness) -> None:
    ids = await setup_units(bot)
    listed = await bot.ask(FOCAL, "/tasks")
    assert f"#{ids['internal']} /task_{ids['internal']}" in listed
    card = await bot.ask(FOCAL, f"/task_{ids['internal']}")
    assert "Gửi quy trình sửa đổi" in card
    assert "Không tìm thấy nhiệm vụ" in await bot.ask(FOCAL, f"/task_{ids['foreign']}")


async def test_snooze_and_remind_me_later(live: Harness) -> None:
    bot = live
    ids = await setup_units(bot)
    cid = ids["internal"]
    # Friday 20/11/2026: one working day later is Monday 23/11 at REMINDER_TIME
    assert "23/11/2026 08:30" in await bot.ask(FOCAL, f"/snooze {cid}")
    # two working days: Tuesday 24/11 is Vietnam Culture Day (a public holiday since 2026), so Wednesday 25/11
    assert "25/11/2026 08:30" in await bot.ask(FOCAL, f"/snooze {cid} 2")
    assert "từ 1 đến 30" in await bot.ask(FOCAL, f"/snooze {cid} 0")
    assert "Không tìm thấy nhiệm vụ" in await bot.ask(FOCAL, f"/snooze {ids['foreign']}")
    await bot.ask(COLLEAGUE, f"/task {cid}")
    card = bot.last_bot_message(COLLEAGUE)
    await press(bot, COLLEAGUE, card, "Nhắc lại sau")
    await bot.emulator.wait_for_bot_message(COLLEAGUE, lambda m: "23/11/2026 08:30" in m.get("text", ""))
    async with bot.db.session() as session:
        rows = (
            await session.execute(
                select(OutboxMessage.chat_id, OutboxMessage.key).where(OutboxMessage.key.like("%snooze%"))
            )
        ).all()
    assert sorted(chat for chat, _ in rows) == [FOCAL, FOCAL, COLLEAGUE]
    # Monday 23/11 08:31: the later reminder reaches the focal point, with its buttons
    bot.clock.advance(days=3, hours=6, minutes=31)
    reminder = await bot.emulator.wait_for_bot_message(
        FOCAL, lambda m: "Nhắc việc" in m.get("text", "") and f"#{cid}" in m.get("text", ""), timeout=15
    )
    assert any("Hoàn thành" in label for label in buttons(reminder))


async def test_snooze_never_goes_past_the_deadline(bot: Harness) -> None:
    ids = await setup_units(bot)
    bot.clock.advance(days=25)  # Tuesday 15/12/2026: the internal one is due today
    assert "không thể lùi lời nhắc quá thời hạn" in await bot.ask(FOCAL, f"/snooze {ids['internal']}")
    bot.clock.advance(days=-1)  # Monday 14/12: three days later would be past the deadline: the due day
    assert "15/12/2026 08:30" in await bot.ask(FOCAL, f"/snooze {ids['internal']} 3")
    assert ADMIN != OTHER_FOCAL  # the other unit's focal point is only in the setup


async def test_a_unit_is_told_once_of_what_is_new_for_it(live: Harness) -> None:
    bot = live
    await setup_units(bot)
    reply = await bot.ask(SECRETARY, "/add VPB 21/12/2026 internal Rà soát danh mục tài liệu")
    assert "Đã thêm" in reply or "#" in reply
    told = await bot.emulator.wait_for_bot_message(FOCAL, lambda m: "Nhiệm vụ mới" in m.get("text", ""), timeout=10)
    assert "Văn phòng Bộ (VPB): 1" in told["text"] and "Rà soát danh mục tài liệu" in told["text"]
    assert "/task_" in told["text"]
    # an import: one message per unit, listing everything new for it
    rows = "\n".join(
        [
            "unit_code,title,kind,due",
            "VPB,Báo cáo quý IV,internal,28/12/2026",
            "VPB,Đánh giá nội bộ,internal,30/12/2026",
            "TTB,Kế hoạch thanh tra 2027,internal,29/12/2026",
        ]
    )
    await bot.emulator.send_document(SECRETARY, "giao-viec.csv", rows.encode(), mime_type="text/csv")
    await bot.emulator.wait_for_bot_message(SECRETARY, lambda m: "giao-viec.csv" in m.get("text", ""), timeout=15)
    vpb = await bot.emulator.wait_for_bot_message(FOCAL, lambda m: "(VPB): 2" in m.get("text", ""), timeout=10)
    assert (
        "Văn phòng Bộ (VPB): 2" in vpb["text"] and "Báo cáo quý IV" in vpb["text"] and "Đánh giá nội bộ" in vpb["text"]
    )
    ttb = await bot.emulator.wait_for_bot_message(
        OTHER_FOCAL, lambda m: "Nhiệm vụ mới" in m.get("text", ""), timeout=10
    )
    assert "Kế hoạch thanh tra 2027" in ttb["text"] and "Báo cáo quý IV" not in ttb["text"]
    await asyncio.sleep(2)  # more planner ticks: nothing is told twice
    news = [m for m in bot.emulator.bot_messages(FOCAL) if "Nhiệm vụ mới" in m.get("text", "")]
    assert len(news) == 2
    assert len([m for m in bot.emulator.bot_messages(COLLEAGUE) if "Nhiệm vụ mới" in m.get("text", "")]) == 2


async def test_forged_presses_on_the_new_buttons_change_nothing(bot: Harness) -> None:
    ids = await setup_units(bot)
    foreign, cid = ids["foreign"], ids["internal"]
    await bot.ask(FOCAL, f"/task {cid}")
    card = bot.last_bot_message(FOCAL)
    for data in (f"c:{foreign}:snz:1", f"c:{foreign}:undo:1", f"c:{foreign}:keep:1", "c:999999:undo:1"):
        assert "Không tìm thấy nhiệm vụ" in await _forge(bot, FOCAL, card["message_id"], data), data
    assert "hoàn thành" in await _forge(bot, FOCAL, card["message_id"], f"c:{cid}:undo:1")  # not done: nothing to undo
    assert "Chỉ Thư ký BCĐ" in await _forge(bot, FOCAL, card["message_id"], "x:424242:ok")  # deciding: not theirs
    await bot.ask(SECRETARY, f"/task {cid}")
    secretary_card = bot.last_bot_message(SECRETARY)
    assert "Đề nghị này không còn tồn tại" in await _forge(bot, SECRETARY, secretary_card["message_id"], "x:424242:no")
    async with bot.db.session() as session:
        queued = (await session.execute(select(OutboxMessage.key).where(OutboxMessage.key.like("%snooze%")))).all()
    assert queued == []
    assert (await commitment(bot, foreign)).status == Status.OPEN and (await commitment(bot, cid)).status == Status.OPEN


REFUSALS = ("Chỉ Thư ký BCĐ", "Chỉ quản trị viên", "chưa được liên kết")


async def test_help_lists_only_what_each_may_run(bot: Harness) -> None:
    """Every command /help lists, run as listed by that person, is not refused (SPEC: exactly what they may run)."""
    await setup_units(bot)
    bot.user(ADMIN, "Quản trị")
    for user in (FOCAL, SECRETARY, ADMIN):
        listed = re.findall(r"^/([a-z_]+)", await bot.ask(user, "/help"), flags=re.M)
        assert listed, user
        for name in listed:
            await bot.emulator.send_message(user, f"/{name}")
            answer = await bot.emulator.wait_for_bot_message(user, timeout=15)
            reply = str(answer.get("text") or answer.get("caption") or "")
            assert not any(refusal in reply for refusal in REFUSALS), (user, name, reply)
            if name == "add":
                await bot.ask(user, "/cancel")
