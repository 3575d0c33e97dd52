"""/lang with no argument (a button per language, for anyone) and the welcome that names the user's units —
over HTTP, end to end."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from core.i18n import t_text
from tests.e2e.conftest import add_unit
from tests.e2e.harness import SECRETARY, Harness

HELP_VI, HELP_EN = t_text("vi", "Commands you can use"), t_text("en", "Commands you can use")
INVITE_LINK = re.compile(r"https://t\.me/qmsbot_test_bot\?start=([A-Za-z0-9_-]+)")


def buttons(message: dict[str, Any]) -> list[tuple[str, str]]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return [(button["text"], button["callback_data"]) for row in rows for button in row]


async def answered(bot: Harness, query_id: str) -> dict[str, Any]:
    for _ in range(100):
        if answers := bot.emulator.callback_answers(query_id):
            return answers[0]
        await asyncio.sleep(0.05)
    raise AssertionError("the press was not answered")


async def link(bot: Harness, user: int, args: str) -> str:
    invite = INVITE_LINK.search(await bot.ask(SECRETARY, f"/invite {args}"))
    assert invite, args
    return await bot.ask(user, f"/start {invite.group(1)}")


async def test_lang_without_argument_offers_both_languages(bot: Harness) -> None:
    stranger = bot.user(500, "Khách")  # not linked to anything: choosing a language is still theirs
    question = await bot.ask(stranger, "/lang")
    assert question == "Anh/chị muốn tôi nhắn tin bằng ngôn ngữ nào?"
    offered = bot.last_bot_message(stranger)
    assert buttons(offered) == [("✓ 🇻🇳 Tiếng Việt", "lang:vi"), ("🇬🇧 English", "lang:en")]

    query = await bot.emulator.press_button(stranger, offered["message_id"], "lang:en")
    assert (await answered(bot, query)).get("text") == "From now on I will write to you in English."
    edited = await bot.emulator.wait_for_bot_message(stranger, lambda m: m["message_id"] == offered["message_id"])
    assert edited["text"] == "From now on I will write to you in English." and buttons(edited) == []
    assert HELP_EN in await bot.ask(stranger, "/help")

    again = await bot.ask(stranger, "/lang")
    assert again == "Which language should I write to you in?"
    offered = bot.last_bot_message(stranger)
    assert buttons(offered)[1] == ("✓ 🇬🇧 English", "lang:en")
    query = await bot.emulator.press_button(stranger, offered["message_id"], "lang:vi")
    assert (await answered(bot, query)).get("text") == t_text("vi", "From now on I will write to you in English.")
    assert HELP_VI in await bot.ask(stranger, "/help")


async def test_a_forged_language_button_is_refused_and_changes_nothing(bot: Harness) -> None:
    user = bot.user(501, "Lan")
    await bot.ask(user, "/lang")
    offered = bot.last_bot_message(user)
    for data in ("lang:fr", "lang:", "lang:en:x", "lang:EN"):
        query = await bot.emulator.forge_callback(user, offered["message_id"], data)
        refusal = await answered(bot, query)
        assert refusal.get("show_alert") is True, data
        assert "chọn vi (Tiếng Việt) hoặc en (English)." in str(refusal.get("text")), data
    # Nothing changed: still Vietnamese, and the question still offers its buttons.
    assert HELP_VI in await bot.ask(user, "/help")
    assert buttons(bot.emulator.messages_in(user)[1])[0] == ("✓ 🇻🇳 Tiếng Việt", "lang:vi")


async def test_the_welcome_names_the_users_units(bot: Harness) -> None:
    await add_unit(bot.db, bot.clock, "VPB", "Văn phòng Bộ")
    await add_unit(bot.db, bot.clock, "TTB", "Thanh tra Bộ <HQ>")
    await add_unit(bot.db, bot.clock, "VPC", "Vụ Pháp chế")
    bot.user(SECRETARY, "Thư ký")
    focal = bot.user(200, "Lan")
    await link(bot, focal, "TTB focal")
    await link(bot, focal, "VPB focal")
    await link(bot, focal, "VPC head")

    welcome = await bot.ask(focal, "/start")
    lines = welcome.splitlines()
    assert "Lan" in lines[0] and "/help" in lines[-1]
    assert lines[1:-1] == [
        "Anh/chị là cán bộ đầu mối của Thanh tra Bộ <HQ> (TTB), Văn phòng Bộ (VPB).",
        "Anh/chị là lãnh đạo đơn vị Vụ Pháp chế (VPC).",
    ]
    # The unit names are bold, and a name that looks like HTML is shown as written.
    entities = bot.last_bot_message(focal).get("entities") or []
    bold = [welcome[e["offset"] : e["offset"] + e["length"]] for e in entities if e["type"] == "bold"]
    assert bold == ["Thanh tra Bộ <HQ>", "Văn phòng Bộ", "Vụ Pháp chế"]

    await bot.ask(focal, "/lang en")
    assert "You are a focal point of Thanh tra Bộ <HQ> (TTB), Văn phòng Bộ (VPB)." in await bot.ask(focal, "/start")

    # Someone without a unit is told how to get one; a secretary is told their role.
    assert "chưa được liên kết" in await bot.ask(bot.user(502, "Khách"), "/start")
    assert "thư ký" in (await bot.ask(SECRETARY, "/start")).lower()
