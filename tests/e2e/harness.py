"""The real bot over HTTP against the project's Telegram Bot API emulator, for end-to-end tests.

No python-telegram-bot internals are mocked: the Application polls the emulator with long polling and
calls it for every reply, exactly as it would call Telegram.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from telegram.ext import Application

from bot.runtime import start_bot, stop_bot
from core.settings import Settings, load_settings
from sandbox.emulator.server import Emulator
from storage.db import Database

TOKEN = "123456:TEST-TOKEN"
ADMIN = 1
SECRETARY = 10


@dataclass
class Clock:
    """A settable clock: tests move time by hand."""

    now: datetime = field(default_factory=lambda: datetime(2026, 11, 20, 2, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class Harness:
    def __init__(
        self, db: Database, settings: Settings, emulator: Emulator, clock: Clock, *, jobs: bool = False
    ) -> None:
        self.jobs = jobs
        self.db = db
        self.settings = settings
        self.emulator = emulator
        self.clock = clock
        self.application: Application | None = None  # type: ignore[type-arg]

    async def start(self) -> None:
        self.application = await start_bot(self.settings, self.db, clock=self.clock, poll_timeout=1, jobs=self.jobs)

    async def stop(self) -> None:
        if self.application is not None:
            await stop_bot(self.application)

    def user(self, user_id: int, first_name: str, language_code: str = "vi") -> int:
        self.emulator.add_user(user_id, first_name, language_code=language_code)
        return user_id

    async def ask(self, user_id: int, text: str, *, timeout: float = 10.0) -> str:
        """Send `text` as the user and return the plain text of the bot's next message to them."""
        await self.emulator.send_message(user_id, text)
        message = await self.emulator.wait_for_bot_message(user_id, timeout=timeout)
        return str(message["text"])

    def last_bot_message(self, user_id: int) -> dict[str, Any]:
        return self.emulator.bot_messages(user_id)[-1]


async def make_harness(
    db: Database, tmp_path: Path, *, clock: Clock | None = None, jobs: bool = False, **overrides: Any
) -> Harness:
    """The bot against a fresh emulator; `jobs=True` also runs the planner and the outbox sender."""
    emulator = Emulator(token=TOKEN, bot_username="qmsbot_test_bot")
    await emulator.start()
    settings = load_settings(
        _env_file=None,
        telegram_bot_token=TOKEN,
        telegram_api_base_url=emulator.base_url,
        database_url=db.url,
        admin_ids=str(ADMIN),
        secretary_ids=str(SECRETARY),
        **overrides,
    )
    harness = Harness(db, settings, emulator, clock or Clock(), jobs=jobs)
    await harness.start()
    return harness


def first_line(text: str) -> str:
    return text.split("\n", 1)[0]


Predicate = Callable[[dict[str, Any]], bool]


def tiny_png(width: int = 2, height: int = 2) -> bytes:
    """A real PNG image (grey pixels), small enough for tests."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
