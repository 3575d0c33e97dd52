"""What the operator runs: `qmsbot db backup` while the bot writes, JSON logs, the token kept out of logs."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from storage.db import Database
from storage.events import record
from storage.models import Event
from tests.test_faults import ROOT
from tests.test_sender import TOKEN


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("QMSBOT_", "TELEGRAM_", "DATABASE_", "LOG_"))}
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        env={**base, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_backup_is_consistent_while_the_bot_writes(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'live.db'}"
    db = Database(url)
    await db.upgrade()
    written = 0
    stop = asyncio.Event()
    enough = asyncio.Event()

    async def writer() -> None:  # the bot's work: one small transaction after another
        nonlocal written
        while not stop.is_set():
            async with db.session() as session:
                for _ in range(20):
                    record(session, at=datetime.now(UTC), action="note", actor_label="writer", note="x" * 200)
            written += 20
            if written >= 2000:
                enough.set()
            await asyncio.sleep(0)

    task = asyncio.create_task(writer())
    try:
        await enough.wait()
        before = written
        copy = tmp_path / "copy.db"
        done = await asyncio.to_thread(cli, "db", "backup", str(copy), DATABASE_URL=url)
        after = written
    finally:
        stop.set()
        await task
    assert done.returncode == 0, done.stderr
    assert str(copy) in done.stdout
    assert after > before  # the writer went on during the backup
    with sqlite3.connect(copy) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        copied = connection.execute("SELECT count(*) FROM events").fetchone()[0]
        assert connection.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,)
    assert before <= copied <= after and copied % 20 == 0  # whole transactions only
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Event)) == written  # nothing lost
    await db.dispose()

    again = cli("db", "backup", str(copy), DATABASE_URL=url)  # in DEFAULT_LANGUAGE (vi), as every CLI line
    assert again.returncode == 2 and f"{copy} đã tồn tại: đề nghị chọn tên tệp khác" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1


def test_backup_on_postgresql_points_to_pg_dump() -> None:
    done = cli("db", "backup", "x.dump", DATABASE_URL="postgresql+asyncpg://u@127.0.0.1:1/none")
    # The database is opened first (every command upgrades it): an unreachable one is named, a reachable one
    # gets the pg_dump line. Either way one line and exit 2.
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert "pg_dump" in done.stderr or "DATABASE_URL" in done.stderr


def test_json_logs_parse_and_never_show_the_token(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    done = cli("db", "upgrade", DATABASE_URL=url, LOG_FORMAT="json", LOG_LEVEL="DEBUG", TELEGRAM_BOT_TOKEN=TOKEN)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines, "DEBUG logging wrote nothing"
    for line in lines:
        entry = json.loads(line)
        assert {"time", "level", "logger", "message"} <= set(entry)
    assert TOKEN not in done.stderr and TOKEN not in done.stdout


def test_the_token_is_masked_in_any_log_line() -> None:
    import logging

    from bot.logs import MaskSecrets

    masked = MaskSecrets([TOKEN])
    entry = logging.LogRecord("httpx", logging.INFO, "", 0, "POST https://api.telegram.org/bot%s/getMe", (TOKEN,), None)
    masked.filter(entry)
    assert TOKEN not in entry.getMessage() and "/bot***/getMe" in entry.getMessage()


def test_settings_repr_hides_the_secrets() -> None:
    from core.settings import load_settings

    settings = load_settings(_env_file=None, telegram_bot_token=TOKEN, webhook_secret="s3cr3t-value")
    assert TOKEN not in repr(settings) and "s3cr3t-value" not in repr(settings)
