"""Starting and stopping the bot inside an already running event loop (sandbox, end-to-end tests)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from telegram.ext import Application

from bot.app import build_application
from core.settings import Settings
from sandbox.demo.world import BotRunner
from storage.db import Database

ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member"]


async def start_bot(
    settings: Settings,
    db: Database,
    *,
    clock: Callable[[], datetime] | None = None,
    poll_timeout: int = 10,
    jobs: bool = True,
) -> Application:  # type: ignore[type-arg]
    await db.upgrade()
    application = build_application(settings, db, clock=clock, jobs=jobs)
    await application.initialize()
    if application.post_init is not None:
        await application.post_init(application)
    await application.start()
    assert application.updater is not None
    await application.updater.start_polling(
        poll_interval=0.0, timeout=poll_timeout, allowed_updates=ALLOWED_UPDATES, drop_pending_updates=False
    )
    return application


async def stop_bot(application: Application) -> None:  # type: ignore[type-arg]
    if application.updater is not None and application.updater.running:
        await application.updater.stop()
    if application.running:
        await application.stop()
    await application.shutdown()


def sandbox_runner() -> BotRunner:
    """The real bot for the sandbox's demo (web chat, terminal)."""

    async def start(settings: Settings, db: Database, clock: Callable[[], datetime]) -> Application:  # type: ignore[type-arg]
        return await start_bot(settings, db, clock=clock)

    return BotRunner(start=start, stop=stop_bot)
