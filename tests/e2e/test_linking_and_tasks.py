"""Invites and linking, /tasks and /task visibility, /units, /help and /lang — over HTTP, end to end."""

from __future__ import annotations

import re
from datetime import date

from tests.e2e.conftest import add_commitment, add_unit
from tests.e2e.harness import ADMIN, SECRETARY, Harness

INVITE_LINK = re.compile(r"https://t\.me/qmsbot_test_bot\?start=([A-Za-z0-9_-]+)")


async def _register(bot: Harness) -> dict[str, int]:
    ids: dict[str, int] = {}
    vpb = await add_unit(bot.db, bot.clock, "VPB", "Văn phòng Bộ")
    ttb = await add_unit(bot.db, bot.clock, "TTB", "Thanh tra Bộ <HQ>")
    ids["vpb"], ids["ttb"] = vpb, ttb
    ids["vpb_late"] = await add_commitment(
        bot.db, bot.clock, vpb, "Gửi 07 quy trình sửa đổi", date(2026, 11, 10), legal_basis="1131/TB-BKHCN"
    )
    ids["vpb_soon"] = await add_commitment(bot.db, bot.clock, vpb, "Mục tiêu chất lượng 2027", date(2026, 12, 15))
    ids["ttb_item"] = await add_commitment(bot.db, bot.clock, ttb, "Báo cáo <b>thanh tra</b> & ISO", date(2026, 12, 1))
    return ids


async def _invite(bot: Harness, args: str) -> str:
    reply = await bot.ask(SECRETARY, f"/invite {args}")
    match = INVITE_LINK.search(reply)
    assert match, reply
    return match.group(1)


async def test_stranger_sees_no_unit_data(bot: Harness) -> None:
    await _register(bot)
    stranger = bot.user(500, "Khách")
    welcome = await bot.ask(stranger, "/start")
    assert "chưa được liên kết" in welcome and "Thư ký" in welcome
    for command in ("/tasks", "/task 1", "/units", "/invite VPB", "/tasks VPB"):
        reply = await bot.ask(stranger, command)
        assert "chưa được liên kết" in reply, (command, reply)
        assert "quy trình" not in reply and "VPB" not in reply
    help_text = await bot.ask(stranger, "/help")
    assert "/start" in help_text and "/tasks" not in help_text and "/units" not in help_text


async def test_invite_links_a_focal_point_once(bot: Harness) -> None:
    ids = await _register(bot)
    bot.user(SECRETARY, "Thư ký")
    code = await _invite(bot, "vpb focal")
    focal = bot.user(200, "Lan")
    linked = await bot.ask(focal, f"/start {code}")
    assert "cán bộ đầu mối của Văn phòng Bộ (VPB)" in linked

    other = bot.user(201, "Minh")
    reused = await bot.ask(other, f"/start {code}")
    assert "đã được sử dụng" in reused
    assert "chưa được liên kết" in await bot.ask(other, "/tasks")

    tasks = await bot.ask(focal, "/tasks")
    assert f"#{ids['vpb_late']}" in tasks and f"#{ids['vpb_soon']}" in tasks
    assert f"#{ids['ttb_item']}" not in tasks and "thanh tra" not in tasks
    # overdue first, with how late it is
    assert tasks.index(f"#{ids['vpb_late']}") < tasks.index(f"#{ids['vpb_soon']}")
    assert "quá hạn 10 ngày" in tasks


async def test_expired_wrong_and_malformed_invites(bot: Harness) -> None:
    await _register(bot)
    bot.user(SECRETARY, "Thư ký")
    code = await _invite(bot, "TTB head")
    bot.clock.advance(days=7, seconds=1)
    late = bot.user(300, "Hùng")
    assert "đã hết hạn" in await bot.ask(late, f"/start {code}")
    assert "không hợp lệ" in await bot.ask(late, "/start AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
    assert "không hợp lệ" in await bot.ask(late, "/start <script>")
    assert "chưa được liên kết" in await bot.ask(late, "/tasks")


async def test_focal_point_cannot_see_another_units_commitment(bot: Harness) -> None:
    ids = await _register(bot)
    bot.user(SECRETARY, "Thư ký")
    code = await _invite(bot, "VPB")
    focal = bot.user(200, "Lan")
    await bot.ask(focal, f"/start {code}")
    own = await bot.ask(focal, f"/task {ids['vpb_late']}")
    assert "Gửi 07 quy trình sửa đổi" in own and "1131/TB-BKHCN" in own and "Lịch sử" in own
    foreign = await bot.ask(focal, f"/task {ids['ttb_item']}")
    unknown = await bot.ask(focal, "/task 99999")
    assert foreign == unknown.replace("99999", str(ids["ttb_item"]))
    assert "thanh tra" not in foreign
    assert "chỉ xem được nhiệm vụ của đơn vị mình" in await bot.ask(focal, "/tasks TTB")


async def test_secretary_sees_all_units_with_warnings(bot: Harness) -> None:
    ids = await _register(bot)
    bot.user(SECRETARY, "Thư ký")
    units = await bot.ask(SECRETARY, "/units")
    assert "VPB — Văn phòng Bộ: 2 đang mở, 1 quá hạn" in units
    assert "TTB — Thanh tra Bộ <HQ>: 1 đang mở, 0 quá hạn" in units  # user text shown literally, escaped
    assert units.count("chưa có cán bộ đầu mối") >= 2
    everything = await bot.ask(SECRETARY, "/tasks")
    assert all(f"#{ids[key]}" in everything for key in ("vpb_late", "vpb_soon", "ttb_item"))
    assert "Báo cáo <b>thanh tra</b> & ISO" in everything
    one_unit = await bot.ask(SECRETARY, "/tasks ttb")
    assert f"#{ids['ttb_item']}" in one_unit and f"#{ids['vpb_late']}" not in one_unit


async def test_help_lists_exactly_what_each_role_may_run(bot: Harness) -> None:
    await _register(bot)
    bot.user(SECRETARY, "Thư ký")
    bot.user(ADMIN, "Quản trị")
    code = await _invite(bot, "VPB")
    focal = bot.user(200, "Lan")
    await bot.ask(focal, f"/start {code}")

    def commands(text: str) -> set[str]:
        return set(re.findall(r"^(/[a-z]+)", text, flags=re.M))

    focal_help = await bot.ask(focal, "/help")
    member = {"/start", "/help", "/lang", "/tasks", "/task", "/find", "/done", "/progress", "/note", "/extend"}
    member |= {"/snooze", "/linkgroup", "/unlinkgroup"}
    assert commands(focal_help) == member
    assert "/task <số> (hoặc bấm /task_<số>) — Chi tiết và lịch sử một nhiệm vụ" in focal_help
    secretary_help = await bot.ask(SECRETARY, "/help")
    committee = {"/units", "/invite", "/add", "/edit", "/close", "/reopen", "/approve", "/reject", "/overdue"}
    committee |= {"/campaign", "/broadcast", "/digest", "/export"}
    assert commands(secretary_help) == member | committee
    # in the form each may run it: a secretary invites secretaries of a unit, only an admin of the whole register
    assert "/invite secretary <mã đơn vị>" in secretary_help
    assert "/invite secretary [mã đơn vị]" in await bot.ask(ADMIN, "/help")
    assert "Chỉ quản trị viên" in await bot.ask(SECRETARY, "/invite secretary")
    admin_invite = await bot.ask(ADMIN, "/invite secretary")
    assert INVITE_LINK.search(admin_invite)


async def test_language_switch(bot: Harness) -> None:
    await _register(bot)
    bot.user(SECRETARY, "Thư ký")
    assert "English" in await bot.ask(SECRETARY, "/lang en")
    units = await bot.ask(SECRETARY, "/units")
    assert "VPB — Văn phòng Bộ: 2 open, 1 overdue" in units and "no focal point" in units
    assert "tiếng Việt" in await bot.ask(SECRETARY, "/lang vi")
    assert "Đề nghị chọn vi (Tiếng Việt) hoặc en (English)" in await bot.ask(SECRETARY, "/lang fr")


async def test_malformed_commands_get_the_correct_form(bot: Harness) -> None:
    await _register(bot)
    bot.user(SECRETARY, "Thư ký")
    cases = {
        "/nosuchcommand": "Lệnh /nosuchcommand không có trong danh sách lệnh.",
        "/task": "Cú pháp: /task <số>",
        "/task abc": "Số nhiệm vụ phải là số nguyên",
        "/task 1 2": "quá nhiều tham số",
        "/tasks VPB TTB": "Cú pháp: /tasks [mã đơn vị]",
        "/tasks NOPE": "Không có đơn vị nào có mã NOPE",
        "/invite": "Cú pháp: /invite <mã đơn vị> [focal|head] hoặc /invite secretary",
        "/invite NOPE": "Không có đơn vị nào có mã NOPE",
        "/invite VPB boss": "Vai trò phải là focal",
        "/units all": "Cú pháp: /units",
        "/lang de": "Cú pháp: /lang vi|en",
    }
    for command, expected in cases.items():
        reply = await bot.ask(SECRETARY, command)
        assert expected in reply, (command, reply)


async def test_command_menu_is_registered_in_both_languages(bot: Harness) -> None:
    vi = {c["command"]: c["description"] for c in bot.emulator.commands(language_code="vi")}
    default = {c["command"]: c["description"] for c in bot.emulator.commands()}
    assert (
        set(vi)
        == set(default)
        == {"start", "help", "lang", "tasks", "task", "find", "done", "progress", "note", "extend", "snooze"}
    )
    assert vi["tasks"] == "Nhiệm vụ đang mở, quá hạn trước (all: kể cả đã hoàn thành, đã hủy)"
    assert default["tasks"] == "Open commitments, overdue first (all: with the done and cancelled ones)"
