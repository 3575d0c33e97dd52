"""Status updates from chat, end to end: commands, buttons, evidence, extensions, history, refusals."""

from __future__ import annotations

import asyncio
import re
from datetime import date
from typing import Any

from sqlalchemy import func, select

from storage.models import Commitment, Event, Evidence, Status
from tests.e2e.conftest import add_commitment, add_unit
from tests.e2e.harness import SECRETARY, Harness, tiny_png

INVITE_LINK = re.compile(r"\?start=([A-Za-z0-9_-]+)")
FOCAL, OTHER_FOCAL, COLLEAGUE = 200, 300, 201


async def setup(bot: Harness) -> dict[str, int]:
    vpb = await add_unit(bot.db, bot.clock, "VPB", "Văn phòng Bộ")
    ttb = await add_unit(bot.db, bot.clock, "TTB", "Thanh tra Bộ")
    ids = {
        "internal": await add_commitment(bot.db, bot.clock, vpb, "Gửi quy trình sửa đổi", date(2026, 12, 15)),
        "late": await add_commitment(bot.db, bot.clock, vpb, "Mục tiêu chất lượng", date(2026, 11, 10)),
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
    bot.user(SECRETARY, "Thư ký")
    for user_id, name, unit in ((FOCAL, "Lan", "VPB"), (COLLEAGUE, "Minh", "VPB"), (OTHER_FOCAL, "Hùng", "TTB")):
        reply = await bot.ask(SECRETARY, f"/invite {unit}")
        code = INVITE_LINK.search(reply)
        assert code, reply
        bot.user(user_id, name)
        await bot.ask(user_id, f"/start {code.group(1)}")
    return ids


async def count_events(bot: Harness, commitment_id: int, action: str | None = None) -> int:
    async with bot.db.session() as session:
        query = select(func.count()).select_from(Event).where(Event.commitment_id == commitment_id)
        if action:
            query = query.where(Event.action == action)
        return int(await session.scalar(query) or 0)


async def commitment(bot: Harness, commitment_id: int) -> Commitment:
    async with bot.db.session() as session:
        found = await session.get(Commitment, commitment_id)
        assert found is not None
        return found


def buttons(message: dict[str, Any]) -> dict[str, str]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return {b["text"]: b["callback_data"] for row in rows for b in row}


def button(message: dict[str, Any], label_part: str) -> str:
    return next(data for text, data in buttons(message).items() if label_part in text)


async def press(bot: Harness, user: int, message: dict[str, Any], label_part: str) -> str:
    query_id = await bot.emulator.press_button(user, message["message_id"], button(message, label_part))
    for _ in range(100):
        answers = bot.emulator.callback_answers(query_id)
        if answers:
            return str(answers[0].get("text") or "")
        await asyncio.sleep(0.05)
    raise AssertionError("the press was not answered")


async def test_done_with_note_and_history(bot: Harness) -> None:
    ids = await setup(bot)
    reply = await bot.ask(FOCAL, f"/done {ids['internal']} Đã gửi <b>bản cứng</b> 📄 qua văn thư")
    assert f"#{ids['internal']}" in reply and "hoàn thành" in reply
    assert (await commitment(bot, ids["internal"])).status == Status.DONE
    again = await bot.ask(COLLEAGUE, f"/done {ids['internal']}")
    assert "đã hoàn thành" in again and "/reopen" in again
    assert await count_events(bot, ids["internal"], "done") == 1
    view = await bot.ask(SECRETARY, f"/task {ids['internal']}")
    assert "Lan: đã đánh dấu hoàn thành (trạng thái: chưa thực hiện → đã hoàn thành)" in view
    assert "Đã gửi <b>bản cứng</b> 📄 qua văn thư" in view  # user's HTML shown literally, emoji kept


async def test_done_after_the_deadline_is_recorded_late(bot: Harness) -> None:
    ids = await setup(bot)
    reply = await bot.ask(FOCAL, f"/done #{ids['late']}")
    assert "quá hạn" in reply or "sau thời hạn" in reply
    assert await count_events(bot, ids["late"], "done_late") == 1
    assert "hoàn thành quá hạn" in await bot.ask(FOCAL, f"/task {ids['late']}")


async def test_refusals_change_nothing(bot: Harness) -> None:
    ids = await setup(bot)
    before = await count_events(bot, ids["foreign"])
    for text in (
        f"/done {ids['foreign']}",
        f"/progress {ids['foreign']} 50",
        f"/note {ids['foreign']} x",
        f"/extend {ids['foreign']} 20/12/2026 bận",
    ):
        reply = await bot.ask(FOCAL, text)
        assert f"Không tìm thấy nhiệm vụ #{ids['foreign']}" in reply, (text, reply)
    assert "Không tìm thấy nhiệm vụ #987654" in await bot.ask(FOCAL, "/done 987654")
    assert "Chỉ Thư ký BCĐ" in await bot.ask(FOCAL, f"/reopen {ids['internal']}")
    stranger = bot.user(999, "Khách")
    assert "chưa được liên kết" in await bot.ask(stranger, f"/done {ids['internal']}")
    assert await count_events(bot, ids["foreign"]) == before
    assert (await commitment(bot, ids["internal"])).status == Status.OPEN


async def test_progress_validation(bot: Harness) -> None:
    ids = await setup(bot)
    cid = ids["internal"]
    for bad in ("-5", "101", "abc", "5.5"):
        reply = await bot.ask(FOCAL, f"/progress {cid} {bad}")
        assert "từ 0 đến 100" in reply and "Cú pháp: /progress" in reply, (bad, reply)
    assert "Cú pháp" in await bot.ask(FOCAL, "/progress")
    assert "Số nhiệm vụ phải là số nguyên" in await bot.ask(FOCAL, "/progress abc 50")
    assert "40%" in await bot.ask(FOCAL, f"/progress {cid} 40% đang chờ ký")
    assert (await commitment(bot, cid)).progress == 40
    assert "/done" in await bot.ask(FOCAL, f"/progress {cid} 100")
    assert await count_events(bot, cid, "progress") == 2


async def test_long_note_is_stored_whole_and_shown_within_limits(bot: Harness) -> None:
    ids = await setup(bot)
    # Telegram lets a person send at most 4,096 characters; the longest note is stored whole.
    prefix = f"/note {ids['internal']} "
    note = (("Ghi chú dài <i>không đóng & ký tự đặc biệt 🚀 ") * 120)[: 4096 - len(prefix) - 40]
    assert "#" in await bot.ask(FOCAL, prefix + note)
    async with bot.db.session() as session:
        stored = await session.scalar(select(Event.note).where(Event.action == "note"))
    assert stored == note.strip()
    view = await bot.ask(FOCAL, f"/task {ids['internal']}")
    assert len(view) <= 4096 and "Ghi chú dài <i>không đóng" in view


async def test_buttons_on_task_card_edit_the_message(bot: Harness) -> None:
    ids = await setup(bot)
    cid = ids["internal"]
    await bot.ask(FOCAL, f"/task {cid}")
    old_card = bot.last_bot_message(FOCAL)
    await bot.ask(FOCAL, f"/task {cid}")
    card = bot.last_bot_message(FOCAL)
    assert {"25%", "50%", "75%"} <= {text.split()[-1] for text in buttons(card)}
    answer = await press(bot, FOCAL, card, "50%")
    assert "50%" in answer
    edited = await bot.emulator.wait_for_bot_message(FOCAL, lambda m: "đang thực hiện 50%" in m["text"])
    assert edited["message_id"] == card["message_id"]
    # the older card's buttons are stale now: pressing one of them changes nothing and shows the state
    stale = await press(bot, FOCAL, old_card, "75%")
    assert "đã thay đổi" in stale
    assert (await commitment(bot, cid)).progress == 50
    refreshed = await bot.emulator.wait_for_bot_message(
        FOCAL, lambda m: m["message_id"] == old_card["message_id"] and "đang thực hiện 50%" in m["text"]
    )
    assert "Hoàn thành" in " ".join(buttons(refreshed))
    fresh = bot.emulator.bot_messages(FOCAL)[-1]
    assert "hoàn thành" in await press(bot, FOCAL, fresh, "Hoàn thành")
    assert (await commitment(bot, cid)).status == Status.DONE
    assert await count_events(bot, cid, "done") == 1


async def test_the_in_progress_button_marks_it_in_progress(bot: Harness) -> None:
    """SPEC: every reminder and card carries Done, In progress, …; In progress keeps the percentage it has."""
    ids = await setup(bot)
    cid = ids["internal"]
    await bot.ask(FOCAL, f"/task {cid}")
    card = bot.last_bot_message(FOCAL)
    labels = buttons(card)
    assert "✅ Hoàn thành" in labels and "🕑 Đang thực hiện" in labels
    answer = await press(bot, FOCAL, card, "Đang thực hiện")
    assert answer == f"Đã ghi nhận #{cid} đang thực hiện (0%)."
    stored = await commitment(bot, cid)
    assert (stored.status, stored.progress) == (Status.IN_PROGRESS, 0)
    edited = await bot.emulator.wait_for_bot_message(FOCAL, lambda m: "đang thực hiện 0%" in m["text"])
    assert edited["message_id"] == card["message_id"]
    await press(bot, FOCAL, edited, "50%")
    again = await bot.emulator.wait_for_bot_message(FOCAL, lambda m: "đang thực hiện 50%" in m["text"])
    assert "đã ở trạng thái đang thực hiện (50%)" in await press(bot, FOCAL, again, "Đang thực hiện")
    assert (await commitment(bot, cid)).progress == 50
    assert await count_events(bot, cid, "progress") == 2


async def test_double_and_concurrent_presses_make_one_change(bot: Harness) -> None:
    ids = await setup(bot)
    cid = ids["internal"]
    await bot.ask(FOCAL, f"/task {cid}")
    mine = bot.last_bot_message(FOCAL)
    await bot.ask(COLLEAGUE, f"/task {cid}")
    theirs = bot.last_bot_message(COLLEAGUE)
    answers = await asyncio.gather(
        press(bot, FOCAL, mine, "Hoàn thành"),
        press(bot, COLLEAGUE, theirs, "Hoàn thành"),
        press(bot, FOCAL, mine, "Hoàn thành"),
    )
    assert sum("đã được đánh dấu hoàn thành" in a for a in answers) == 1, answers
    assert await count_events(bot, cid, "done") == 1


async def test_forged_and_malformed_buttons_are_refused(bot: Harness) -> None:
    ids = await setup(bot)
    await bot.ask(FOCAL, f"/task {ids['internal']}")
    card = bot.last_bot_message(FOCAL)

    async def forge(data: str) -> str:
        query_id = await bot.emulator.forge_callback(FOCAL, card["message_id"], data)
        for _ in range(100):
            if answers := bot.emulator.callback_answers(query_id):
                return str(answers[0].get("text") or "")
            await asyncio.sleep(0.05)
        raise AssertionError("not answered")

    assert f"#{ids['foreign']}" in await forge(f"c:{ids['foreign']}:done:1")
    assert "#424242" in await forge("c:424242:done:1")
    assert "không còn hiệu lực" in await forge("c:abc:done:1")
    assert "không còn hiệu lực" in await forge("x" * 60)
    assert "Chỉ Thư ký" in await forge("x:1:ok")
    assert (await commitment(bot, ids["foreign"])).status == Status.OPEN


async def test_reopen_makes_old_buttons_stale(bot: Harness) -> None:
    ids = await setup(bot)
    cid = ids["internal"]
    await bot.ask(FOCAL, f"/task {cid}")
    card = bot.last_bot_message(FOCAL)
    await bot.ask(FOCAL, f"/done {cid}")
    assert "không có gì để mở lại" in await bot.ask(SECRETARY, f"/reopen {ids['late']}")
    assert "mở lại" in await bot.ask(SECRETARY, f"/reopen {cid} nộp nhầm")
    assert (await commitment(bot, cid)).status == Status.OPEN
    stale = await press(bot, FOCAL, card, "Hoàn thành")
    assert "đã thay đổi" in stale
    assert (await commitment(bot, cid)).status == Status.OPEN
    history = await bot.ask(SECRETARY, f"/task {cid}")
    assert "mở lại" in history and "nộp nhầm" in history


async def test_evidence_by_caption_and_by_reply_and_back_to_the_secretary(bot: Harness) -> None:
    ids = await setup(bot)
    await bot.emulator.send_document(
        FOCAL,
        "bien-ban.pdf",
        b"%PDF-1.4 minutes",
        caption=f"/done {ids['internal']} biên bản họp",
        mime_type="application/pdf",
    )
    await bot.emulator.wait_for_bot_message(FOCAL, lambda m: "minh chứng" in m["text"])
    await bot.ask(FOCAL, f"/task {ids['late']}")
    card = bot.last_bot_message(FOCAL)
    await bot.emulator.send_photo(FOCAL, tiny_png(), reply_to_message_id=card["message_id"])
    await bot.emulator.wait_for_bot_message(FOCAL, lambda m: "minh chứng" in m["text"])
    async with bot.db.session() as session:
        kept = list(await session.scalars(select(Evidence).order_by(Evidence.id)))
    assert [(e.commitment_id, e.media) for e in kept] == [(ids["internal"], "document"), (ids["late"], "photo")]
    assert kept[0].file_name == "bien-ban.pdf" and kept[0].file_size == len(b"%PDF-1.4 minutes")

    view = await bot.ask(SECRETARY, f"/task {ids['internal']}")
    assert "bien-ban.pdf" in view and "Lan" in view
    assert "📎 bien-ban.pdf (16 byte) · Lan" in view  # a small file in bytes, not "1 KB"
    message = bot.last_bot_message(SECRETARY)
    await press(bot, SECRETARY, message, "bien-ban.pdf")
    sent = await bot.emulator.wait_for_bot_message(SECRETARY, lambda m: "document" in m)
    assert bot.emulator.file_bytes(sent["document"]["file_id"]) == b"%PDF-1.4 minutes"

    lost = await bot.emulator.send_document(FOCAL, "x.pdf", b"x")
    assert lost
    reply = await bot.emulator.wait_for_bot_message(FOCAL, lambda m: "/done <số>" in m["text"])
    assert "chú thích" in reply["text"]


async def test_extend_legal_is_explained_and_bad_dates_refused(bot: Harness) -> None:
    ids = await setup(bot)
    legal = await bot.ask(FOCAL, f"/extend {ids['legal']} 31/01/2027 chờ ý kiến Bộ Tài chính")
    assert "118/2009/QĐ-TTg" in legal and "/note" in legal
    cid = ids["internal"]
    assert "không tồn tại" in await bot.ask(FOCAL, f"/extend {cid} 31/02/2027 lý do")
    assert "từ 2000 đến 2100" in await bot.ask(FOCAL, f"/extend {cid} 31/12/9999 lý do")
    assert "Thời hạn mới 01/01/2020 đã qua." in await bot.ask(FOCAL, f"/extend {cid} 01/01/2020 lý do")
    assert "sau thời hạn hiện tại" in await bot.ask(FOCAL, f"/extend {cid} 01/12/2026 lý do")
    assert "DD/MM/YYYY" in await bot.ask(FOCAL, f"/extend {cid} tuần-sau lý do")
    assert "lý do" in await bot.ask(FOCAL, f"/extend {cid} 31/12/2026")
    assert await count_events(bot, cid) == 0  # nothing was recorded


async def test_add_in_one_line_and_its_bad_input(bot: Harness) -> None:
    await setup(bot)
    reply = await bot.ask(SECRETARY, "/add vpb 20/12/2026 internal Rà soát <quy trình> ISO")
    match = re.search(r"#(\d+)", reply)
    assert match and "VPB" in reply and "20/12/2026" in reply
    async with bot.db.session() as session:
        created = await session.get(Commitment, int(match.group(1)))
    assert created is not None and created.title == "Rà soát <quy trình> ISO"
    cases = {
        "/add VPB 31/02/2026 internal x": "không tồn tại",
        "/add NOPE 20/12/2026 internal x": "Không có đơn vị nào có mã NOPE",
        "/add VPB 20/12/2026 urgent x": "phải là legal",
        "/add VPB 01/01/2020 internal x": "Thời hạn 01/01/2020 đã qua.",
        "/add VPB 20/12/2026": "Cú pháp: /add",
    }
    for command, expected in cases.items():
        assert expected in await bot.ask(SECRETARY, command), command
    assert "Chỉ Thư ký BCĐ" in await bot.ask(FOCAL, "/add VPB 20/12/2026 internal x")


async def test_add_dialogue_with_buttons_and_cancel(bot: Harness) -> None:
    await setup(bot)
    assert "bước 1" in (await bot.ask(SECRETARY, "/add")).lower()
    # an unknown code: said, with the way on (type it again, or /cancel), and the Cancel button still there
    unknown = await bot.ask(SECRETARY, "<XYZ>")
    assert unknown == (
        "Không có đơn vị nào có mã <XYZ>.\nĐề nghị gửi lại mã đơn vị (ví dụ VPB), hoặc gửi /cancel để dừng."
    )
    assert "Hủy" in str(bot.last_bot_message(SECRETARY).get("reply_markup"))
    assert await bot.ask(SECRETARY, "TTB") == "Bước 2/5: đề nghị nhập tên (nội dung) nhiệm vụ"
    assert "bước 3" in (await bot.ask(SECRETARY, "Báo cáo đánh giá nội bộ")).lower()
    kinds = bot.last_bot_message(SECRETARY)
    await press(bot, SECRETARY, kinds, "nội bộ")
    await bot.emulator.wait_for_bot_message(SECRETARY, lambda m: "bước 4" in m["text"].lower())
    assert "không tồn tại" in await bot.ask(SECRETARY, "30/02/2027")
    assert "bước 5" in (await bot.ask(SECRETARY, "15/01/2027")).lower()
    done = await bot.ask(SECRETARY, "1131/TB-BKHCN")
    assert "TTB" in done and "15/01/2027" in done
    # cancel in the middle: nothing added
    async with bot.db.session() as session:
        before = await session.scalar(select(func.count()).select_from(Commitment))
    await bot.ask(SECRETARY, "/add")
    await bot.ask(SECRETARY, "VPB")
    assert "không có nhiệm vụ nào được thêm" in (await bot.ask(SECRETARY, "/cancel")).lower()
    await bot.ask(SECRETARY, "/add")
    await press(bot, SECRETARY, bot.last_bot_message(SECRETARY), "Hủy")
    await bot.emulator.wait_for_bot_message(SECRETARY, lambda m: "không có nhiệm vụ nào được thêm" in m["text"].lower())
    async with bot.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Commitment)) == before
    assert "Không có gì để hủy" in await bot.ask(SECRETARY, "/cancel")


async def test_details_and_ask_to_extend_buttons(bot: Harness) -> None:
    ids = await setup(bot)
    await bot.ask(FOCAL, f"/note {ids['internal']} đã gửi dự thảo")
    await bot.ask(FOCAL, f"/task {ids['internal']}")
    card = bot.last_bot_message(FOCAL)
    await press(bot, FOCAL, card, "Chi tiết")
    details = await bot.emulator.wait_for_bot_message(
        FOCAL, lambda m: m["message_id"] != card["message_id"] and "Lịch sử" in m.get("text", "")
    )
    assert "đã gửi dự thảo" in details["text"] and "Gửi quy trình sửa đổi" in details["text"]
    await press(bot, FOCAL, details, "Xin gia hạn")
    how = await bot.emulator.wait_for_bot_message(FOCAL, lambda m: "/extend" in m.get("text", ""))
    assert f"/extend {ids['internal']} <thời hạn mới DD/MM/YYYY> <lý do>" in how["text"]
    await bot.ask(FOCAL, f"/task {ids['legal']}")
    legal_card = bot.last_bot_message(FOCAL)
    assert not any("gia hạn" in label for label in buttons(legal_card))  # internal deadlines only
    # an older client's button (or a forged one) is still explained, not refused blankly
    await bot.emulator.forge_callback(FOCAL, legal_card["message_id"], f"c:{ids['legal']}:ext:1")
    legal = await bot.emulator.wait_for_bot_message(
        FOCAL, lambda m: "118/2009/QĐ-TTg" in m.get("text", "") and "/note" in m.get("text", "")
    )
    assert "không thể gia hạn" in legal["text"]


async def test_a_file_for_a_commitment_already_done_is_still_kept(bot: Harness) -> None:
    ids = await setup(bot)
    await bot.ask(FOCAL, f"/done {ids['internal']}")
    await bot.emulator.send_document(FOCAL, "bo-sung.pdf", b"%PDF more", caption=f"/done {ids['internal']} bổ sung")
    reply = await bot.emulator.wait_for_bot_message(FOCAL, lambda m: "minh chứng" in m.get("text", ""))
    assert "đã hoàn thành" in reply["text"]
    async with bot.db.session() as session:
        names = list(await session.scalars(select(Evidence.file_name)))
    assert names == ["bo-sung.pdf"]
    assert await count_events(bot, ids["internal"], "done") == 1


async def test_add_dialogue_can_be_cancelled_at_every_step(bot: Harness) -> None:
    await setup(bot)
    async with bot.db.session() as session:
        before = await session.scalar(select(func.count()).select_from(Commitment))
    answers = ["VPB", "Rà soát quy trình", None, "15/01/2027"]  # None: the kind is chosen with a button
    for step in range(5):
        await bot.ask(SECRETARY, "/add")
        for answer in answers[:step]:
            if answer is None:
                await press(bot, SECRETARY, bot.last_bot_message(SECRETARY), "nội bộ")
                await bot.emulator.wait_for_bot_message(SECRETARY, lambda m: "bước 4" in m.get("text", "").lower())
            else:
                await bot.ask(SECRETARY, answer)
        if step % 2:
            await press(bot, SECRETARY, bot.last_bot_message(SECRETARY), "Hủy")
            await bot.emulator.wait_for_bot_message(
                SECRETARY, lambda m: "không có nhiệm vụ nào được thêm" in m.get("text", "").lower()
            )
        else:
            assert "không có nhiệm vụ nào được thêm" in (await bot.ask(SECRETARY, "/cancel")).lower()
    async with bot.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Commitment)) == before
