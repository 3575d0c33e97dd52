"""The sandbox's world: a fresh SQLite register from the seed documents, personas, the emulator and the bot.

Used by `qmsbot sandbox` (terminal now, web chat later). Deadlines are moved next to today so that
reminders, an overdue item and an escalation all happen at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from telegram.ext import Application

from bot.runtime import start_bot, stop_bot
from bot.settings import Settings
from sandbox.emulator import Emulator
from storage.db import Database
from storage.members import add_membership, touch_person
from storage.models import Role, Unit
from storage.register_import import import_sources
from storage.sample import shifted_sample

SANDBOX_TOKEN = "100000001:SANDBOX-qmsbot-emulated-token"
BOT_USERNAME = "qmsbot_sandbox_bot"
SECRETARY_ID = 1001
FOCAL_BASE_ID = 2001
# Units whose focal point starts unlinked: the sandbox shows "no focal point" and linking by invite.
UNLINKED_UNITS = 2


@dataclass(frozen=True)
class Persona:
    key: str  # "secretary" or a unit code
    user_id: int
    name: str
    linked: bool


@dataclass
class SandboxClock:
    """Real time plus a jump the user controls; the bot's planner and sender read this clock."""

    offset: timedelta = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now().astimezone() + self.offset

    def jump(self, delta: timedelta) -> None:
        self.offset += delta


@dataclass
class World:
    settings: Settings
    db: Database
    emulator: Emulator
    clock: SandboxClock
    personas: list[Persona] = field(default_factory=list)
    application: Application | None = None  # type: ignore[type-arg]

    def persona(self, key: str) -> Persona | None:
        wanted = key.strip().lower()
        return next((p for p in self.personas if p.key.lower() == wanted or str(p.user_id) == wanted), None)

    async def stop(self) -> None:
        if self.application is not None:
            await stop_bot(self.application)
        await self.emulator.stop()
        await self.db.dispose()


def _fresh_sqlite(path: Path) -> str:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite+aiosqlite:///{path}"


async def start_world(settings: Settings, *, db_path: Path, port: int = 0) -> World:
    clock = SandboxClock()
    emulator = Emulator(token=SANDBOX_TOKEN, bot_username=BOT_USERNAME, port=port, clock=clock)
    await emulator.start()
    sandbox_settings = settings.model_copy(
        update={
            "telegram_bot_token": SANDBOX_TOKEN,
            "telegram_api_base_url": emulator.base_url,
            "database_url": _fresh_sqlite(db_path),
            "secretary_ids": [SECRETARY_ID],
            "admin_ids": [],
            "digest_chat_id": None,
        }
    )
    db = Database(sandbox_settings.database_url)
    await db.upgrade()
    now = clock().astimezone(sandbox_settings.tz)
    report = await import_sources(db, shifted_sample(now.date()), now=now, actor_label="sandbox")
    if not report.ok:
        raise RuntimeError("the sample register did not import")
    world = World(sandbox_settings, db, emulator, clock)
    world.personas = await _make_personas(world, now)
    world.application = await start_bot(sandbox_settings, db, clock=clock)
    return world


async def _make_personas(world: World, now: datetime) -> list[Persona]:
    emulator = world.emulator
    personas = [Persona("secretary", SECRETARY_ID, "Thư ký BCĐ", True)]
    emulator.add_user(SECRETARY_ID, "Thư ký BCĐ", language_code="vi")
    async with world.db.session() as session:
        units = list(await session.scalars(select(Unit).order_by(Unit.code_key)))
        for index, unit in enumerate(units):
            user_id = FOCAL_BASE_ID + index
            name = f"Đầu mối {unit.code}"
            linked = index < len(units) - UNLINKED_UNITS
            emulator.add_user(user_id, "Đầu mối", last_name=unit.code, language_code="vi")
            if linked:
                person = await touch_person(
                    session, telegram_id=user_id, full_name=name, username=None, language_code="vi", now=now
                )
                await add_membership(session, person_id=person.id, role=Role.FOCAL, unit_id=unit.id, now=now)
            personas.append(Persona(unit.code, user_id, name, linked))
    return personas
