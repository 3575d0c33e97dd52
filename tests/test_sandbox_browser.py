"""The sandbox's web chat in a real browser: invite and link a focal point, get a reminder after a clock jump,
press Done, and see the secretary's /tasks change; answer a reminder with a file, import a register file and
tap a `/task_<id>` link, all through the page.

Headless Debian Chromium (/usr/bin/chromium) driven by Playwright's Python package; `.ci/run` installs both.
Without them the test is skipped locally and fails under CI. Screenshots of the secretary's and the focal
point's chats go to artifacts/.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import struct
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from bot.runtime import sandbox_runner
from core.i18n import t_text
from core.settings import load_settings
from sandbox.demo.webchat import WebChat, start_webchat
from sandbox.demo.world import SECRETARY_ID, World, start_world

CHROMIUM = Path(os.environ.get("QMSBOT_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
TIMEOUT_MS = 15_000
# Each "+1 ngày" gives the planner a few ticks (2 s apart) to send what became due; weekends send nothing.
MAX_DAY_JUMPS = 7
WAIT_AFTER_JUMP_MS = 6_000

# The newest bot message dated at or after args[0] (Unix time) that has a button labelled args[1]: its id.
FIND_REMINDER = """([since, label]) => {
  const found = [...document.querySelectorAll('.msg.in')].filter((m) => Number(m.dataset.date) >= since
    && [...m.querySelectorAll('.keyboard button')].some((b) => b.textContent.includes(label)));
  return found.length ? found[found.length - 1].dataset.messageId : null;
}"""

try:
    from playwright.async_api import Browser, FilePayload, Locator, Page, async_playwright, expect
    from playwright.async_api import TimeoutError as PlaywrightTimeout
except ImportError:  # pragma: no cover - the dev extras install it
    async_playwright = None  # type: ignore[assignment]


def _require_browser() -> None:
    missing = []
    if async_playwright is None:
        missing.append("the playwright package (pip install -e '.[dev]')")
    if not CHROMIUM.exists() and shutil.which(str(CHROMIUM)) is None:
        missing.append(f"Chromium at {CHROMIUM} (apt-get install chromium chromium-driver)")
    if missing:
        reason = "browser test needs " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[tuple[World, WebChat]]:
    world = await start_world(load_settings(_env_file=None), db_path=tmp_path / "sandbox.db", runner=sandbox_runner())
    chat = await start_webchat(world, port=0)
    try:
        yield world, chat
    finally:
        await chat.stop()
        await world.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    _require_browser()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


async def send(page: Page, text: str) -> None:
    await page.locator("#text").fill(text)
    await page.locator("#send").click()
    await expect(page.locator(".msg.out").filter(has_text=text).last).to_be_visible()


async def open_persona(page: Page, key: str) -> None:
    await page.locator(f'.persona[data-key="{key}"]').click()
    await expect(page.locator(f'.persona[data-key="{key}"]')).to_have_class(re.compile(r"\bactive\b"))


async def tasks_reply(page: Page, unit: str, header: str, seen: int) -> Locator:
    """Send `/tasks UNIT` as the current persona; the bot's new answer (the `seen`+1-th one with `header`)."""
    answers = page.locator(".msg.in").filter(has_text=header)
    await expect(answers).to_have_count(seen)
    await send(page, f"/tasks {unit}")
    await expect(answers).to_have_count(seen + 1)
    return answers.nth(seen)


async def settled_count(page: Page, locator: Locator, quiet_ms: int = 3_000, limit_ms: int = TIMEOUT_MS) -> int:
    """How many elements match once none has been added for `quiet_ms` (the sender paces a chat's messages)."""
    count, quiet, waited = await locator.count(), 0, 0
    while quiet < quiet_ms:
        if waited >= limit_ms:
            pytest.fail(f"messages kept arriving for {limit_ms} ms")
        await page.wait_for_timeout(250)
        waited += 250
        now = await locator.count()
        quiet = 0 if now != count else quiet + 250
        count = now
    return count


def open_count(text: str, header: str) -> int:
    match = re.search(re.escape(header) + r"\s*(\d+)", text)
    assert match, f"no count after {header!r} in {text!r}"
    return int(match.group(1))


async def test_link_remind_done_and_tasks_change(sandbox: tuple[World, WebChat], browser: Browser) -> None:
    world, chat = sandbox
    unlinked = next(p for p in world.personas if not p.linked)
    unit = unlinked.key
    header = t_text("vi", "Open commitments: {count}", count="").strip()
    done_label = t_text("vi", "Done")

    page = await browser.new_page(viewport={"width": 1280, "height": 820}, locale="vi-VN")
    page.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(chat.url)
    await expect(page.locator("body.ready")).to_be_attached()

    # The secretary's chat is open first; the unit's focal point is listed as not linked.
    await expect(page.locator(f'.persona[data-key="secretary"][data-user-id="{SECRETARY_ID}"]')).to_have_class(
        re.compile(r"\bactive\b")
    )
    focal_state = page.locator(f'.persona[data-key="{unit}"] .persona-state')
    await expect(focal_state).to_have_class(re.compile(r"\bunlinked\b"))

    # The command menu ("/") lists the bot's commands in the persona's language and inserts one.
    await page.locator("#menu-button").click()
    await page.locator('.menu-item[data-command="tasks"]').click()
    await expect(page.locator("#text")).to_have_value("/tasks ")

    # What the secretary sees of the unit before anything happens.
    before = await tasks_reply(page, unit, header, 0)
    open_before = open_count(await before.inner_text(), header)

    # The secretary invites a focal point; the reply carries a one-time t.me deep link.
    await send(page, f"/invite {unit}")
    link = page.locator(".msg.in a.deep-link").last
    await expect(link).to_be_visible()
    href = await link.get_attribute("href")
    assert href is not None
    code = parse_qs(urlparse(href).query)["start"][0]
    # Clicking the link keeps "/start CODE" for the person who opens it next.
    await link.click()
    await open_persona(page, unit)
    await expect(page.locator("#text")).to_have_value(f"/start {code}")
    await page.locator("#send").click()
    await expect(page.locator(".msg.out").filter(has_text=f"/start {code}")).to_be_visible()
    await expect(page.locator(".msg.in").filter(has_text=f"({unit})").first).to_be_visible()
    await expect(focal_state).to_have_class(re.compile(r"\blinked\b"))

    # The newly linked focal point gets the unit's overdue reminders at the planner's next tick ...
    done_buttons = page.locator(".msg.in .keyboard").get_by_role("button", name=done_label)
    await expect(done_buttons.first).to_be_visible()
    await settled_count(page, done_buttons)

    # ... and more after the clock moves: a day at a time until one dated after the jump arrives.
    clock = page.locator("#clock-now")
    reminder_id = None
    for _ in range(MAX_DAY_JUMPS):
        shown = await clock.get_attribute("data-epoch")
        await page.get_by_role("button", name="+1 ngày").click()
        await expect(clock).not_to_have_attribute("data-epoch", shown or "")
        jumped_at = int(await clock.get_attribute("data-epoch") or 0) - 5
        try:
            handle = await page.wait_for_function(
                FIND_REMINDER, arg=[jumped_at, done_label], timeout=WAIT_AFTER_JUMP_MS
            )
        except PlaywrightTimeout:
            continue
        reminder_id = await handle.json_value()
        break
    if reminder_id is None:
        pytest.fail(f"no reminder reached {unit}'s focal point after {MAX_DAY_JUMPS} jumps of a day")
    reminder = page.locator(f'.msg[data-message-id="{reminder_id}"]')
    match = re.search(r"#(\d+)\s*·", await reminder.inner_text())
    assert match, "a reminder names its commitment as #id"
    commitment = match.group(1)

    # Done: the bot answers the press and edits the reminder in place (no Done button any more).
    await reminder.get_by_role("button", name=done_label).click()
    await expect(reminder.locator(".edited")).to_be_visible()
    await expect(reminder.get_by_role("button", name=done_label)).to_have_count(0)
    await expect(page.locator(".toast").filter(has_text=f"#{commitment}").first).to_be_attached()
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "sandbox-focal-point.png"))

    # The secretary's /tasks for the unit no longer lists it.
    await open_persona(page, "secretary")
    assert re.search(rf"#{commitment}\b", await before.inner_text())
    after = await tasks_reply(page, unit, header, 1)
    await expect(after).not_to_contain_text(re.compile(rf"#{commitment}\b"))
    assert open_count(await after.inner_text(), header) == open_before - 1
    await page.screenshot(path=str(ARTIFACTS / "sandbox-secretary.png"))

    assert errors == [], errors


def _png(width: int, height: int) -> bytes:
    """A small valid PNG (a blue rectangle), as the digest chart would be."""
    raw = b"".join(b"\x00" + b"\x2f\x80\xc8" * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


async def test_formatting_photos_and_documents(sandbox: tuple[World, WebChat], browser: Browser) -> None:
    world, chat = sandbox
    assert world.application is not None
    bot = world.application.bot
    focal = next(p for p in world.personas if p.linked and p.key not in ("secretary", "ministry"))
    await bot.send_message(
        focal.user_id,
        '<b>bold</b> <i>italic</i> <code>x &lt; y</code> <a href="https://example.org/a?b=1">link</a> '
        "&lt;img src=x onerror=alert(1)&gt;",
        parse_mode="HTML",
    )
    await bot.send_photo(focal.user_id, _png(120, 60), caption="<b>Biểu đồ</b> tuần", parse_mode="HTML")
    await bot.send_document(focal.user_id, b"ma,han\nVPB,01/12\n", filename="bao-cao.csv", caption="Tệp")

    page = await browser.new_page(viewport={"width": 1280, "height": 820})
    page.set_default_timeout(TIMEOUT_MS)
    await page.goto(f"{chat.url}#{focal.user_id}")
    await expect(page.locator("body.ready")).to_be_attached()
    messages = page.locator("#messages")

    # Entities become elements; text that looks like HTML stays text.
    formatted = messages.locator(".msg.in").filter(has_text="italic")
    await expect(formatted.locator("b")).to_have_text("bold")
    await expect(formatted.locator("i")).to_have_text("italic")
    await expect(formatted.locator("code")).to_have_text("x < y")
    await expect(formatted.locator('a[href="https://example.org/a?b=1"]')).to_have_text("link")
    await expect(formatted).to_contain_text("<img src=x onerror=alert(1)>")
    await expect(messages.locator("img:not(.photo)")).to_have_count(0)

    # The photo is shown and loads; the document downloads with its name and bytes.
    photo = messages.locator("img.photo")
    await expect(photo).to_be_visible()
    assert await photo.evaluate("(img) => img.complete && img.naturalWidth") == 120
    await expect(messages.locator(".msg.in b").filter(has_text="Biểu đồ")).to_be_visible()
    link = messages.locator("a.document-link")
    await expect(link).to_contain_text("bao-cao.csv")
    async with page.expect_download() as download_info:
        await link.click()
    download = await download_info.value
    assert download.suggested_filename == "bao-cao.csv"
    saved = Path(await download.path())
    assert await asyncio.to_thread(saved.read_bytes) == b"ma,han\nVPB,01/12\n"


async def test_files_through_the_page_and_tapped_commands(sandbox: tuple[World, WebChat], browser: Browser) -> None:
    """A focal point answers a reminder with a file (evidence); the secretary sends a register file to import and
    taps a `/task_<id>` link: everything through the page, as one would in Telegram's app."""
    world, chat = sandbox
    assert world.application is not None
    focal = next(p for p in world.personas if p.linked and p.key not in ("secretary", "ministry"))
    done_label = t_text("vi", "Done")

    page = await browser.new_page(viewport={"width": 1280, "height": 820}, locale="vi-VN")
    page.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(f"{chat.url}#{focal.user_id}")
    await expect(page.locator("body.ready")).to_be_attached()

    # A linked focal point gets the unit's reminders at the planner's first ticks.
    reminder = page.locator(".msg.in").filter(has=page.get_by_role("button", name=done_label)).first
    await expect(reminder).to_be_visible()
    match = re.search(r"#(\d+)\s*·", await reminder.inner_text())
    assert match, "a reminder names its commitment as #id"
    commitment = match.group(1)
    first_line = (await reminder.locator(".text").inner_text()).split("\n", 1)[0]

    # Reply to the reminder (its ↩), then attach a file: it goes as a document answering the reminder.
    await reminder.hover()
    await reminder.get_by_role("button", name="Trả lời").click()
    await expect(page.locator("#reply-bar")).to_be_visible()
    await expect(page.locator("#reply-text")).to_have_text(first_line[:120])
    answers_before = await page.locator(".msg.in").count()
    await page.locator("#file").set_input_files(
        files=[FilePayload(name="bien-ban.pdf", mimeType="application/pdf", buffer=b"%PDF-1.4 bien ban hop\n")]
    )
    sent = page.locator(".msg.out").filter(has_text="bien-ban.pdf").last
    await expect(sent).to_be_visible()
    await expect(sent.locator(".quote")).to_have_text(first_line[:90])
    await expect(page.locator("#reply-bar")).to_be_hidden()
    # The bot answers about that commitment: the file reached it as a reply to the reminder.
    answer = page.locator(".msg.in").nth(answers_before)
    await expect(answer).to_contain_text(f"#{commitment}")
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "sandbox-evidence.png"))

    # The secretary sees the file among the commitment's evidence.
    await open_persona(page, "secretary")
    await send(page, f"/task {commitment}")
    await expect(page.locator(".msg.in").filter(has_text="bien-ban.pdf").last).to_be_visible()

    # The secretary sends a register file (no reply, no caption): the bot imports it and reports.
    register = (
        "ref,unit_code,title,kind,due,legal_basis,source,recurrence\n"
        f"WEB-1,{focal.key},Báo cáo thử từ trang web,internal,31/12/2030,,Sandbox,\n"
    ).encode()
    await page.locator("#file").set_input_files(
        files=[FilePayload(name="them-nhiem-vu.csv", mimeType="text/csv", buffer=register)]
    )
    await expect(page.locator(".msg.out").filter(has_text="them-nhiem-vu.csv")).to_be_visible()
    report = page.locator(".msg.in").filter(has_text="them-nhiem-vu.csv").last
    await expect(report).to_be_visible()
    await send(page, f"/tasks {focal.key}")
    await expect(page.locator(".msg.in").filter(has_text="Báo cáo thử từ trang web").last).to_be_visible()

    # A `/task_<id>` in a message is a link: tapping it sends that command, and the bot answers it.
    await world.application.bot.send_message(SECRETARY_ID, f"Chi tiết: /task_{commitment}")
    tappable = page.locator(".msg.in a.command").filter(has_text=f"/task_{commitment}").last
    await expect(tappable).to_be_visible()
    answers_before = await page.locator(".msg.in").count()
    await tappable.click()
    await expect(page.locator(".msg.out .text").filter(has_text=re.compile(rf"^/task_{commitment}$"))).to_be_visible()
    await expect(page.locator(".msg.in")).to_have_count(answers_before + 1)
    await page.screenshot(path=str(ARTIFACTS / "sandbox-register-file.png"))

    assert errors == [], errors


async def test_the_files_api_refuses_what_telegram_would_not_send(sandbox: tuple[World, WebChat]) -> None:
    """No browser needed: the web chat's file endpoint answers a wrong request with its reason, sending nothing."""
    import aiohttp

    world, chat = sandbox
    focal = next(p for p in world.personas if p.linked and p.key not in ("secretary", "ministry"))
    url = f"{chat.url}api/chats/{focal.user_id}/files"
    before = len(world.emulator.messages_in(focal.user_id))
    async with aiohttp.ClientSession() as http:
        cases: list[tuple[aiohttp.FormData | dict[str, str], str]] = []
        empty = aiohttp.FormData()
        empty.add_field("file", b"", filename="empty.pdf")
        cases.append((empty, "empty"))
        no_file = aiohttp.FormData()
        no_file.add_field("caption", "/done 1")
        cases.append((no_file, "attach a file"))
        bad_reply = aiohttp.FormData()
        bad_reply.add_field("file", b"x", filename="x.pdf")
        bad_reply.add_field("reply_to_message_id", "999999")
        cases.append((bad_reply, "999999"))
        cases.append(({"text": "not multipart"}, "multipart"))
        for body, reason in cases:
            kwargs = {"json": body} if isinstance(body, dict) else {"data": body}
            async with http.post(url, **kwargs) as response:  # type: ignore[arg-type]
                payload = await response.json()
            assert response.status == 400 and reason in payload["error"], payload
    assert len(world.emulator.messages_in(focal.user_id)) == before


async def test_the_sample_shows_both_levels_with_a_ministry_secretary(sandbox: tuple[World, WebChat]) -> None:
    """No browser needed: the national root over the ministries, and Bộ TT&TT's own committee over its departments,
    whose secretary sees that subtree only."""
    world, _chat = sandbox
    ministry = world.persona("ministry")
    assert ministry is not None and ministry.linked
    emulator = world.emulator
    await emulator.send_message(ministry.user_id, "/units")
    units = str(
        (await emulator.wait_for_bot_message(ministry.user_id, lambda m: "VPB" in m.get("text", ""), timeout=20))[
            "text"
        ]
    )
    assert "VKHCN" in units and "TTB" in units and "BTC" not in units and "VPCP" not in units
    await emulator.send_message(SECRETARY_ID, "/units")
    national = str(
        (await emulator.wait_for_bot_message(SECRETARY_ID, lambda m: "VPCP" in m.get("text", ""), timeout=20))["text"]
    )
    assert "BTC" in national and "VPB" in national
