"""`qmsbot run --webhook URL`: updates at the URL's own path with the shared secret, /healthz and /metrics.

The bot runs as its own process against the emulator; the test plays Telegram's part of posting updates.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from bot.web import SECRET_HEADER, read_health, web_app
from core.settings import load_settings
from sandbox.emulator.server import Emulator
from storage.db import Database
from tests.test_faults import ROOT, BotProcess, bot_env, wait_until
from tests.test_sender import TOKEN

SECRET = "shared-secret_of-every-instance"
USER = 4242


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.text()


async def post(url: str, payload: object, secret: str | None) -> int:
    headers = {SECRET_HEADER: secret} if secret is not None else {}
    async with aiohttp.ClientSession() as http, http.post(url, json=payload, headers=headers) as response:
        return response.status


async def test_updates_at_the_urls_path_with_the_secret_and_health(tmp_path: Path) -> None:
    port = free_port()
    async with Emulator(token=TOKEN) as emulator:
        emulator.add_user(USER, "Nguyễn Văn A", language_code="vi")
        db_url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
        env = bot_env(emulator, db_url, WEBHOOK_SECRET=SECRET)
        bot = BotProcess(env, tmp_path, "--webhook", "https://bot.example.test/telegram/hook", "--port", str(port))
        base = f"http://127.0.0.1:{port}"
        try:
            await wait_until(lambda: emulator.requests_for("setWebhook") != [], 30, "setWebhook", [bot])
            webhook = emulator.requests_for("setWebhook")[-1].params
            assert webhook["url"] == "https://bot.example.test/telegram/hook"
            assert webhook["secret_token"] == SECRET

            status, body = 0, "{}"
            for _ in range(300):  # the port opens right after setWebhook; the leader starts at once on SQLite
                try:
                    status, body = await get(f"{base}/healthz")
                    if json.loads(body).get("role") == "leader":
                        break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
            assert status == 200
            health = json.loads(body)
            assert health["database"] == "ok" and health["role"] == "leader"
            assert health["backlog"] >= 0 and health["oldest_pending_seconds"] >= 0

            message = await emulator.send_message(USER, "/help")
            update = {"update_id": 1, "message": message}
            assert await post(f"{base}/telegram/hook", update, None) == 403
            assert await post(f"{base}/telegram/hook", update, "wrong") == 403
            assert await post(f"{base}/", update, SECRET) in (404, 405)
            assert emulator.bot_messages(USER) == []  # nothing of the refused posts was processed
            assert await post(f"{base}/telegram/hook", update, SECRET) == 200
            reply = await emulator.wait_for_bot_message(USER, timeout=15)
            assert "/start" in reply["text"]  # a stranger's help: how to get linked

            status, metrics = await get(f"{base}/metrics")
            assert status == 200
            names = ("qmsbot_messages_sent_total", "qmsbot_telegram_429_total", "qmsbot_outbox_backlog")
            for name in (*names, "qmsbot_planner_tick_seconds"):
                assert name in metrics
        finally:
            await bot.stop()
        assert bot.process.returncode == 0, bot.output()[-2000:]


def test_webhook_without_secret_stops_with_one_line(tmp_path: Path) -> None:
    env = {
        "PYTHONPATH": str(ROOT),
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "run", "--webhook", "https://bot.example.test/hook"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "Thiết lập WEBHOOK_SECRET không hợp lệ: bắt buộc khi dùng --webhook (mọi phiên bản dùng cùng một giá trị)"
    ]


@pytest.mark.parametrize("value", ["has space", "x" * 257, "ünicode"])
def test_a_bad_webhook_secret_is_a_wrong_setting(value: str) -> None:
    from core.settings import SettingsError

    with pytest.raises(SettingsError, match="WEBHOOK_SECRET"):
        load_settings(_env_file=None, webhook_secret=value)


async def test_health_answers_503_when_the_database_is_away(tmp_path: Path) -> None:
    from bot.app import build_application

    settings = load_settings(_env_file=None, telegram_bot_token=TOKEN)
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'bot.db'}")
    application = build_application(settings, db, jobs=False)
    health = await read_health(application)
    assert not health.database
    app = web_app(application)
    from aiohttp.test_utils import TestClient, TestServer

    async with TestClient(TestServer(app)) as client:
        response = await client.get("/healthz")
        assert response.status == 503
        assert (await response.json())["database"] == "unreachable"
    await db.dispose()


async def test_polling_mode_serves_health_on_its_own_port(tmp_path: Path) -> None:
    port = free_port()
    async with Emulator(token=TOKEN) as emulator:
        env = bot_env(emulator, f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
        bot = BotProcess(env, tmp_path, "--health-port", str(port))
        try:
            await wait_until(lambda: emulator.requests_for("getUpdates") != [], 30, "polling", [bot])
            status, body = 0, "{}"
            for _ in range(300):
                try:
                    status, body = await get(f"http://127.0.0.1:{port}/healthz")
                    break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.05)
            assert status == 200 and json.loads(body)["database"] == "ok"
            assert emulator.requests_for("setWebhook") == []
        finally:
            await bot.stop()
        assert bot.process.returncode == 0, bot.output()[-2000:]


async def _run_against(api_url: str, token: str, tmp_path: Path) -> tuple[int, str]:
    env = {
        "PYTHONPATH": str(ROOT),
        "TELEGRAM_BOT_TOKEN": token,
        "TELEGRAM_API_BASE_URL": api_url,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
        "PATH": "/usr/bin:/bin",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "run", env=env, cwd=tmp_path, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=90)
    return int(process.returncode or 0), stderr.decode()


async def test_a_token_the_server_rejects_stops_with_one_line_that_hides_it(tmp_path: Path) -> None:
    emulator = Emulator(token=TOKEN, bot_username="qmsbot_test_bot")
    await emulator.start()
    try:
        code, stderr = await _run_against(emulator.base_url, "999999:WRONG-token-of-another-bot", tmp_path)
    finally:
        await emulator.stop()
    assert code == 2
    assert stderr.strip().splitlines() == [
        f"TELEGRAM_BOT_TOKEN không hợp lệ: máy chủ Bot API tại {emulator.base_url} không chấp nhận"
    ]
    assert "WRONG-token" not in stderr


async def test_an_unreachable_bot_api_server_stops_with_one_line(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    code, stderr = await _run_against(url, TOKEN, tmp_path)
    assert code == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"Không kết nối được máy chủ Bot API tại {url} (TELEGRAM_API_BASE_URL):"
    )
    assert TOKEN not in stderr
