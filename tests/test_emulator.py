"""The Telegram Bot API emulator, driven by the real python-telegram-bot over HTTP (no mocks)."""

from __future__ import annotations

import asyncio
import json
import struct
import zlib
from collections.abc import AsyncIterator

import aiohttp
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, ChatMigrated, Forbidden, InvalidToken, NetworkError, RetryAfter, TimedOut
from telegram.ext import ApplicationBuilder, CallbackQueryHandler, CommandHandler, ContextTypes
from telegram.request import HTTPXRequest

from sandbox.emulator.server import Emulator, EmulatorError, FloodLimits

AN = 1001  # a focal point who has started the bot
BINH = 1002  # a secretary who never started it


def png(width: int = 2, height: int = 1) -> bytes:
    """A valid PNG of the given size."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\0" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    emulator = Emulator()
    await emulator.start()
    emulator.add_user(AN, "An", "Nguyễn", username="an_vpb")
    emulator.add_user(BINH, "Bình", language_code="en")
    await emulator.send_message(AN, "/start")
    yield emulator
    await emulator.stop()


@pytest.fixture
async def bot(emu: Emulator) -> AsyncIterator[Bot]:
    async with Bot(emu.token, base_url=emu.api_url, base_file_url=emu.file_url) as the_bot:
        updates = await the_bot.get_updates()  # confirm the fixture's /start
        await the_bot.get_updates(offset=updates[-1].update_id + 1)
        yield the_bot


def keyboard(*data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(d, callback_data=d) for d in data]])


async def test_get_me_and_addresses(emu: Emulator, bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (123456, "qmsbot_sandbox_bot", True)
    assert emu.base_url.startswith("http://127.0.0.1:") and emu.port > 0
    assert emu.api_url == emu.base_url + "/bot"


async def test_wrong_token_and_unknown_method(emu: Emulator) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{emu.base_url}/bot123456:WRONG/getMe") as response:
            assert response.status == 401
            assert await response.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
        async with session.post(f"{emu.api_url}{emu.token}/sendMessagee", json={}) as response:
            assert response.status == 404
            assert (await response.json())["description"] == "Not Found"
        # method names are case-insensitive; a JSON body works like a form
        async with session.post(f"{emu.api_url}{emu.token}/SENDMESSAGE", json={"chat_id": AN, "text": "x"}) as r:
            body = await r.json()
            assert body["ok"] is True and body["result"]["text"] == "x"
        async with session.get(f"{emu.api_url}{emu.token}/sendMessage", params={"chat_id": AN}) as response:
            assert response.status == 400
            assert (await response.json())["description"] == "Bad Request: message text is empty"
    with pytest.raises(InvalidToken):
        async with Bot("123456:WRONG", base_url=emu.api_url) as wrong:
            await wrong.get_me()


async def test_html_is_stored_as_plain_text_and_entities(emu: Emulator, bot: Bot) -> None:
    sent = await bot.send_message(
        AN,
        '<b>Nhiệm vụ #12</b> quá hạn 😀 <i>3 ngày</i> &lt;Vụ KH&amp;CN&gt; <a href="https://t.me/x">xem</a>',
        parse_mode="HTML",
    )
    expected_text = "Nhiệm vụ #12 quá hạn 😀 3 ngày <Vụ KH&CN> xem"
    assert sent.text == expected_text
    stored = emu.bot_messages(AN)[-1]
    assert stored["text"] == expected_text
    assert stored["entities"] == [
        {"type": "bold", "offset": 0, "length": 12},
        {"type": "italic", "offset": 24, "length": 6},  # the emoji counts as 2 UTF-16 units
        {"type": "text_link", "offset": 42, "length": 3, "url": "https://t.me/x"},
    ]
    assert "<b>" not in json.dumps(emu.messages_in(AN), ensure_ascii=False)


async def test_text_limits(emu: Emulator, bot: Bot) -> None:
    await bot.send_message(AN, "a" * 4096)
    await bot.send_message(AN, "<b>" + "a" * 4096 + "</b>", parse_mode="HTML")  # counted after parsing
    with pytest.raises(BadRequest, match=r"(?i)Message is too long"):
        await bot.send_message(AN, "a" * 4097)
    with pytest.raises(BadRequest, match=r"(?i)Message text is empty"):
        await bot.send_message(AN, " \n ")
    with pytest.raises(BadRequest, match=r"(?i)caption is too long"):
        await bot.send_document(AN, b"x", filename="a.txt", caption="c" * 1025)
    assert emu.delivered(AN) == 2


@pytest.mark.parametrize(
    ("html", "error"),
    [
        ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b>x</i>", "Unmatched end tag at byte offset 4"),
        ("<foo>x</foo>", 'Unsupported start tag "foo" at byte offset 0'),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("R&D", 'Bare "&" at byte offset 1'),
    ],
)
async def test_malformed_html_is_rejected(emu: Emulator, bot: Bot, html: str, error: str) -> None:
    with pytest.raises(BadRequest, match=r"(?i)Can't parse entities") as caught:
        await bot.send_message(AN, html, parse_mode="HTML")
    assert error.lower() in str(caught.value).lower()
    assert emu.delivered(AN) == 0


async def test_unknown_field_and_bad_types_are_rejected(emu: Emulator, bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)unknown parameter 'disable_notifications'"):
        await bot.send_message(AN, "hi", api_kwargs={"disable_notifications": True})
    with pytest.raises(BadRequest, match=r"(?i)InlineKeyboardButton has no field 'callback'"):
        await bot.send_message(
            AN, "hi", api_kwargs={"reply_markup": {"inline_keyboard": [[{"text": "a", "callback": "x"}]]}}
        )
    with pytest.raises(BadRequest, match=r"(?i)'disable_notification': expected Boolean"):
        await bot.send_message(AN, "hi", api_kwargs={"disable_notification": "maybe"})
    assert emu.delivered() == 0
    rejected = emu.requests_for("sendMessage")
    assert [r.status for r in rejected] == [400, 400, 400]


async def test_callback_data_over_64_bytes_is_rejected(emu: Emulator, bot: Bot) -> None:
    await bot.send_message(AN, "ok", reply_markup=keyboard("đ" * 32))  # 64 bytes in UTF-8
    with pytest.raises(BadRequest, match=r"(?i)Button_data_invalid"):
        await bot.send_message(AN, "too long", reply_markup=keyboard("a" * 65))
    with pytest.raises(BadRequest, match=r"(?i)Button_data_invalid"):
        await bot.send_message(AN, "too long", reply_markup=keyboard("ok", "đ" * 33))
    assert emu.delivered(AN) == 1


async def test_private_chats_need_start_and_block_is_reported(emu: Emulator, bot: Bot) -> None:
    with pytest.raises(Forbidden, match=r"(?i)bot can't initiate conversation with a user"):
        await bot.send_message(BINH, "hello")
    with pytest.raises(BadRequest, match=r"(?i)Chat not found"):
        await bot.send_message(999, "hello")

    emu.block(AN)
    with pytest.raises(Forbidden, match=r"(?i)bot was blocked by the user"):
        await bot.send_message(AN, "reminder")
    (update,) = await bot.get_updates()
    member = update.my_chat_member
    assert member is not None and member.chat.id == AN and member.from_user.id == AN
    assert (member.old_chat_member.status, member.new_chat_member.status) == ("member", "kicked")

    await emu.send_message(AN, "/start")  # writing to the bot unblocks it
    updates = await bot.get_updates(offset=update.update_id + 1)
    assert updates[0].my_chat_member is not None
    assert updates[0].my_chat_member.new_chat_member.status == "member"
    assert updates[1].message is not None and updates[1].message.text == "/start"
    await bot.send_message(AN, "welcome back")
    assert emu.delivered(AN) == 1


async def test_application_answers_start_with_deep_link_via_long_polling(emu: Emulator) -> None:
    seen_args: list[list[str]] = []

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        seen_args.append(list(context.args or []))
        await update.message.reply_html(f"Xin chào <b>{update.message.from_user.first_name}</b>")  # type: ignore[union-attr]

    app = ApplicationBuilder().token(emu.token).base_url(emu.api_url).base_file_url(emu.file_url).build()
    app.add_handler(CommandHandler("start", start))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0.0, timeout=2, drop_pending_updates=True)
        await asyncio.sleep(0.2)  # the first long poll is waiting now
        sent = await emu.send_message(BINH, "/start abc123")
        assert sent["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
        reply = await emu.wait_for_bot_message(BINH)
        await app.updater.stop()
        await app.stop()
    assert seen_args == [["abc123"]]
    assert reply["text"] == "Xin chào Bình"
    assert reply["entities"] == [{"type": "bold", "offset": 9, "length": 4}]
    assert emu.pending_updates() == []  # the update was confirmed by the next offset


async def test_button_press_and_single_answer(emu: Emulator, bot: Bot) -> None:
    sent = await bot.send_message(AN, "Nhiệm vụ #7", reply_markup=keyboard("done:7", "extend:7"))
    with pytest.raises(EmulatorError):
        await emu.press_button(AN, sent.message_id, "done:8")
    query_id = await emu.press_button(AN, sent.message_id, "done:7")
    (update,) = await bot.get_updates()
    query = update.callback_query
    assert query is not None and query.id == query_id and query.data == "done:7"
    assert query.from_user.id == AN and query.message is not None and query.message.message_id == sent.message_id

    assert await query.answer("Đã ghi nhận") is True
    with pytest.raises(BadRequest, match=r"(?i)Query is too old"):
        await query.answer("again")
    with pytest.raises(BadRequest, match=r"(?i)Query is too old"):
        await bot.answer_callback_query("12345")
    assert emu.callback_answers(query_id) == [{"text": "Đã ghi nhận"}]

    forged = await emu.forge_callback(AN, sent.message_id, "done:999")
    updates = await bot.get_updates(offset=update.update_id + 1)
    assert updates[0].callback_query is not None and updates[0].callback_query.data == "done:999"
    assert updates[0].callback_query.id == forged


async def test_application_handles_button_and_edits_message(emu: Emulator) -> None:
    async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer()
        await query.edit_message_text(f"Xong: {query.data}")

    app = ApplicationBuilder().token(emu.token).base_url(emu.api_url).base_file_url(emu.file_url).build()
    app.add_handler(CallbackQueryHandler(on_button))
    async with app:
        sent = await app.bot.send_message(AN, "Nhắc việc", reply_markup=keyboard("done:1"))
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0.0, timeout=2, drop_pending_updates=True)
        await asyncio.sleep(0.2)
        query_id = await emu.press_button(AN, sent.message_id, "done:1")
        edited = await emu.wait_for_bot_message(AN, lambda m: "edit_date" in m)
        await app.updater.stop()
        await app.stop()
    assert edited["message_id"] == sent.message_id and edited["text"] == "Xong: done:1"
    assert "reply_markup" not in edited  # an edit without reply_markup removes the keyboard, as on Telegram
    assert emu.callback_answers(query_id) == [{}]


async def test_edit_message_text(emu: Emulator, bot: Bot) -> None:
    sent = await bot.send_message(AN, "cũ", reply_markup=keyboard("a"))
    edited = await bot.edit_message_text(
        "<i>mới</i>", AN, sent.message_id, parse_mode="HTML", reply_markup=keyboard("b")
    )
    assert isinstance(edited, object)
    (stored,) = emu.bot_messages(AN)
    assert stored["text"] == "mới" and stored["entities"] == [{"type": "italic", "offset": 0, "length": 3}]
    assert stored["reply_markup"] == {"inline_keyboard": [[{"text": "b", "callback_data": "b"}]]}
    assert "edit_date" in stored
    with pytest.raises(BadRequest, match=r"(?i)Message is not modified"):
        await bot.edit_message_text("<i>mới</i>", AN, sent.message_id, parse_mode="HTML", reply_markup=keyboard("b"))
    with pytest.raises(BadRequest, match=r"(?i)Message to edit not found"):
        await bot.edit_message_text("x", AN, 9999)
    await bot.edit_message_reply_markup(AN, sent.message_id, reply_markup=None)
    assert "reply_markup" not in emu.bot_messages(AN)[0]
    assert await bot.delete_message(AN, sent.message_id) is True
    assert emu.bot_messages(AN) == []
    with pytest.raises(BadRequest, match=r"(?i)Message to delete not found"):
        await bot.delete_message(AN, sent.message_id)


async def test_document_upload_get_file_and_download(emu: Emulator, bot: Bot) -> None:
    content = "Báo cáo tiến độ ISO\n".encode() * 100
    sent = await bot.send_document(AN, content, filename="bao-cao.txt", caption="<b>Báo cáo</b>", parse_mode="HTML")
    assert sent.document is not None and sent.document.file_name == "bao-cao.txt"
    assert sent.caption == "Báo cáo" and sent.document.mime_type == "text/plain"
    file = await bot.get_file(sent.document.file_id)
    assert bytes(await file.download_as_bytearray()) == content
    assert emu.file_bytes(sent.document.file_id) == content

    again = await bot.send_document(AN, sent.document.file_id)  # resend by file_id
    assert again.document is not None and again.document.file_unique_id == sent.document.file_unique_id
    with pytest.raises(BadRequest, match=r"(?i)Wrong file identifier"):
        await bot.send_document(AN, "no-such-file-id")

    photo = await bot.send_photo(AN, png(4, 3))
    assert [(p.width, p.height) for p in photo.photo] == [(4, 3)]
    with pytest.raises(BadRequest, match=r"(?i)Image_process_failed"):
        await bot.send_photo(AN, b"not an image")
    assert emu.delivered(AN) == 3


async def test_user_document_and_photo_reach_the_bot(emu: Emulator, bot: Bot) -> None:
    content = b"PK\x03\x04 evidence bytes"
    sent = await emu.send_document(AN, "minh-chung.docx", content, caption="/done 12 đã nộp")
    (update,) = await bot.get_updates()
    message = update.message
    assert message is not None and message.document is not None and message.message_id == sent["message_id"]
    assert message.caption == "/done 12 đã nộp"
    assert message.caption_entities[0].type == "bot_command"
    assert message.document.mime_type.startswith("application/vnd.openxmlformats")  # type: ignore[union-attr]
    data = await (await bot.get_file(message.document.file_id)).download_as_bytearray()
    assert bytes(data) == content

    await emu.send_photo(AN, png(), reply_to_message_id=sent["message_id"])
    (update,) = await bot.get_updates(offset=update.update_id + 1)
    assert update.message is not None and update.message.photo[-1].width == 2
    assert update.message.reply_to_message is not None
    data = await (await bot.get_file(update.message.photo[-1].file_id)).download_as_bytearray()
    assert bytes(data) == png()


async def test_flood_limit_answers_429_with_retry_after(emu: Emulator, bot: Bot) -> None:
    clock = [1000.0]
    emu.world.monotonic = lambda: clock[0]
    emu.set_flood_limits(FloodLimits(global_per_second=3, group_per_minute=2))
    for n in range(3):
        await bot.send_message(AN, f"m{n}")
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(AN, "too fast")
    assert str(caught.value) == "Flood control exceeded. Retry in 1 seconds"
    clock[0] += 1.0
    await bot.send_message(AN, "after waiting")

    emu.add_group(-100, "Ban chỉ đạo ISO", [AN])
    await bot.send_message(-100, "g1")
    await bot.send_message(-100, "g2")
    clock[0] += 10
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(-100, "g3")
    assert str(caught.value) == "Flood control exceeded. Retry in 50 seconds"
    assert emu.delivered(AN) == 4 and emu.delivered(-100) == 2
    emu.set_flood_limits(None)
    for n in range(10):
        await bot.send_message(AN, f"free {n}")


async def test_paid_broadcasts_have_their_own_higher_limit(emu: Emulator, bot: Bot) -> None:
    clock = [1000.0]
    emu.world.monotonic = lambda: clock[0]
    emu.set_flood_limits(FloodLimits(global_per_second=3, paid_per_second=6))
    await emu.send_message(BINH, "/start")
    for n in range(3):
        await bot.send_message(AN, f"m{n}")
    with pytest.raises(RetryAfter):
        await bot.send_message(AN, "free, too fast")
    for n in range(3):  # the same second: paid messages may go on, up to their own limit
        await bot.send_message(BINH if n % 2 else AN, f"p{n}", allow_paid_broadcast=True)
    with pytest.raises(RetryAfter):
        await bot.send_message(AN, "paid, too fast", allow_paid_broadcast=True)
    assert emu.delivered() == 6
    assert emu.requests_for("sendMessage")[-1].params["allow_paid_broadcast"] in (True, "true")


async def test_scripted_faults(emu: Emulator, bot: Bot) -> None:
    emu.fail_next("sendMessage", status=429, retry_after=7)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(AN, "x")
    assert str(caught.value) == "Flood control exceeded. Retry in 7 seconds"
    emu.fail_next("sendMessage", status=502, count=2)
    for _ in range(2):
        with pytest.raises(NetworkError, match=r"(?i)Bad Gateway"):
            await bot.send_message(AN, "x")
    await bot.send_message(AN, "delivered")
    assert emu.delivered(AN) == 1
    assert emu.faults_injected("sendMessage") == 3
    assert [r.status for r in emu.requests_for("sendMessage")] == [429, 502, 502, 200]


async def test_hanging_request_processed_or_not(emu: Emulator) -> None:
    request = HTTPXRequest(read_timeout=0.3)
    async with Bot(emu.token, base_url=emu.api_url, request=request) as bot:
        emu.hang_next("sendMessage", 2.0, process=True)
        with pytest.raises(TimedOut):
            await bot.send_message(AN, "lost answer")
        assert emu.delivered(AN) == 1  # the client timed out, but Telegram did send it

        emu.hang_next("sendMessage", 2.0, process=False)
        with pytest.raises(TimedOut):
            await bot.send_message(AN, "never arrives")
        assert emu.delivered(AN) == 1


async def test_random_faults_are_counted(emu: Emulator, bot: Bot) -> None:
    emu.set_random_faults(error_rate=0.4, seed=7)
    ok = 0
    for n in range(20):
        try:
            await bot.send_message(AN, f"n{n}")
            ok += 1
        except NetworkError:
            pass
    assert 0 < ok < 20
    assert emu.delivered(AN) == ok == len(emu.bot_messages(AN))
    assert emu.faults_injected() == 20 - ok


async def test_commands_per_language_and_descriptions(emu: Emulator, bot: Bot) -> None:
    await bot.set_my_commands([("tasks", "Nhiệm vụ đang mở"), ("help", "Trợ giúp")], language_code="vi")
    await bot.set_my_commands([("tasks", "Open commitments"), ("help", "Help")])
    assert [c.description for c in await bot.get_my_commands(language_code="vi")] == ["Nhiệm vụ đang mở", "Trợ giúp"]
    assert [c.command for c in await bot.get_my_commands()] == ["tasks", "help"]
    assert emu.commands(language_code="vi")[0] == {"command": "tasks", "description": "Nhiệm vụ đang mở"}
    with pytest.raises(BadRequest, match=r"(?i)Bot_command_invalid"):
        await bot.set_my_commands([("Tasks", "x")])
    await bot.delete_my_commands(language_code="vi")
    assert await bot.get_my_commands(language_code="vi") == ()
    await bot.set_my_description("Bot nhắc việc ISO", language_code="vi")
    await bot.set_my_short_description("Nhắc việc")
    assert emu.description("vi") == "Bot nhắc việc ISO"
    assert emu.description(short=True) == "Nhắc việc"
    assert (await bot.get_my_description("vi")).description == "Bot nhắc việc ISO"


async def test_groups_and_privacy_mode(emu: Emulator, bot: Bot) -> None:
    emu.add_group(-200, "Tổ ISO", [AN, BINH])
    await emu.send_message(BINH, "chuyện phiếm", chat_id=-200)
    await emu.send_message(BINH, "/tasks@qmsbot_sandbox_bot", chat_id=-200)
    (update,) = await bot.get_updates()
    assert update.message is not None and update.message.text == "/tasks@qmsbot_sandbox_bot"
    assert update.message.chat.type == "group"
    await bot.send_message(-200, "Danh sách")
    assert [m["text"] for m in emu.messages_in(-200)] == ["chuyện phiếm", "/tasks@qmsbot_sandbox_bot", "Danh sách"]
    member = await bot.get_chat_member(-200, AN)
    assert member.status == "member"
    chat = await bot.get_chat(-200)
    assert chat.title == "Tổ ISO"


@pytest.mark.parametrize(("supergroup", "gone"), [(False, "left"), (True, "kicked")])
async def test_the_bot_removed_from_a_group_and_added_back(
    emu: Emulator, bot: Bot, supergroup: bool, gone: str
) -> None:
    emu.add_group(-300, "Nhóm VPB", [AN, BINH], supergroup=supergroup)
    emu.remove_bot(-300, BINH)
    (update,) = await bot.get_updates()
    change = update.my_chat_member
    assert change is not None and change.chat.type == ("supergroup" if supergroup else "group")
    assert change.from_user.id == BINH
    assert (change.old_chat_member.status, change.new_chat_member.status) == ("member", gone)
    assert (await bot.get_chat_member(-300, emu.bot_user["id"])).status == gone
    # Removed: it cannot write there, and sees nothing of the group, commands included.
    with pytest.raises(Forbidden, match="group chat"):
        await bot.send_message(-300, "Nhắc việc")
    await emu.send_message(AN, "/tasks", chat_id=-300)
    emu.add_bot(-300, AN)
    (update,) = await bot.get_updates(offset=update.update_id + 1)
    assert update.my_chat_member is not None
    assert (update.my_chat_member.old_chat_member.status, update.my_chat_member.new_chat_member.status) == (
        gone,
        "member",
    )
    await bot.send_message(-300, "Nhắc việc")
    assert emu.bot_messages(-300)[-1]["text"] == "Nhắc việc"


async def test_a_group_upgraded_to_a_supergroup_moves_to_its_new_id(emu: Emulator, bot: Bot) -> None:
    emu.add_group(-400, "Nhóm VPB", [AN, BINH])
    emu.upgrade_group(-400, -1000000000400, AN)
    old, new = await bot.get_updates()
    assert old.message is not None and old.message.migrate_to_chat_id == -1000000000400
    assert old.message.chat.id == -400 and old.message.from_user is not None and old.message.from_user.id == AN
    assert new.message is not None and new.message.migrate_from_chat_id == -400
    assert new.message.chat.type == "supergroup" and new.message.chat.id == -1000000000400
    with pytest.raises(ChatMigrated) as raised:
        await bot.send_message(-400, "Nhắc việc")
    assert raised.value.new_chat_id == -1000000000400
    await bot.send_message(-1000000000400, "Nhắc việc")
    assert emu.bot_messages(-1000000000400)[-1]["text"] == "Nhắc việc"
    with pytest.raises(EmulatorError):
        emu.upgrade_group(-1000000000400, -1000000000401, AN)  # a supergroup is not upgraded again


async def test_long_poll_waits_for_an_update(emu: Emulator, bot: Bot) -> None:
    async def later() -> None:
        await asyncio.sleep(0.3)
        await emu.send_message(AN, "/help")

    task = asyncio.create_task(later())
    loop = asyncio.get_running_loop()
    started = loop.time()
    updates = await bot.get_updates(timeout=5)
    assert 0.2 < loop.time() - started < 3
    assert updates[0].message is not None and updates[0].message.text == "/help"
    await task
    started = loop.time()
    assert await bot.get_updates(offset=updates[0].update_id + 1, timeout=0) == ()
    assert loop.time() - started < 1


async def test_control_endpoints_and_events(emu: Emulator, bot: Bot) -> None:
    events = emu.subscribe()
    async with aiohttp.ClientSession(base_url=emu.base_url) as http:
        async with http.post("/_emulator/users", json={"user_id": 1003, "first_name": "Châu"}) as response:
            assert (await response.json())["ok"] is True
        async with http.post("/_emulator/send_message", json={"user_id": 1003, "text": "/start"}) as response:
            assert (await response.json())["result"]["text"] == "/start"
        await bot.send_message(1003, "Chào Châu", reply_markup=keyboard("lang:vi"))
        async with http.get("/_emulator/chats/1003/messages") as response:
            messages = (await response.json())["result"]
        assert [m["text"] for m in messages] == ["/start", "Chào Châu"]
        body = {"user_id": 1003, "message_id": messages[1]["message_id"], "callback_data": "lang:vi"}
        async with http.post("/_emulator/press_button", json=body) as response:
            assert "callback_query_id" in (await response.json())["result"]
        body["callback_data"] = "nope"
        async with http.post("/_emulator/press_button", json=body) as response:
            assert response.status == 400
        async with http.get("/_emulator/requests", params={"method": "sendMessage"}) as response:
            assert [r["status"] for r in (await response.json())["result"]] == [200]
    kinds = []
    while not events.empty():
        kinds.append(events.get_nowait()["type"])
    assert kinds[:4] == ["user", "message", "message", "callback_query"]
