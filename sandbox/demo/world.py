"""The sandbox's world: a fresh SQLite register from the seed documents, personas, the emulator and the bot.

Used by `qmsbot sandbox` (the web chat of sandbox.demo.webchat, or the terminal of sandbox.demo.terminal). Deadlines
are moved next to today so that reminders, an overdue item and an escalation all happen at once. The
secretary and the linked focal points have "pressed Start" already, so the bot can write to them at once;
the planner ticks every few seconds so that a jump of the clock shows its effect right away.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from telegram.ext import Application

from core.settings import Settings
from sandbox.emulator.server import Emulator
from storage.db import Database
from storage.members import add_membership, touch_person
from storage.models import Membership, Person, Role, Unit
from storage.register_import import import_sources
from storage.sample import shifted_sample

SANDBOX_TOKEN = "100000001:SANDBOX-qmsbot-emulated-token"
BOT_USERNAME = "qmsbot_sandbox_bot"
SECRETARY_ID = 1001
# The ministry's own ISO committee (the 2013 meeting's): a secretary of Bộ TT&TT and every unit below it.
MINISTRY_SECRETARY_ID = 1002
MINISTRY_CODE = "BTTTT"
FOCAL_BASE_ID = 2001
# Units whose focal point starts unlinked: the sandbox shows "no focal point" and linking by invite.
UNLINKED_UNITS = 2
# The planner's tick in the sandbox (PLAN_INTERVAL_SECONDS is a minute in production).
PLAN_INTERVAL_SECONDS = 2


@dataclass(frozen=True)
class Persona:
    key: str  # "secretary" or a unit code
    user_id: int
    name: str
    linked: bool  # at the start; World.linked_ids() says who is linked now
    unit_name: str = ""  # "" for the secretary
    language: str = "vi"  # the persona's Telegram app language


@dataclass
class SandboxClock:
    """Real time plus a jump the user controls; the bot's planner and sender read this clock."""

    offset: timedelta = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now().astimezone() + self.offset

    def jump(self, delta: timedelta) -> None:
        self.offset += delta


@dataclass(frozen=True)
class BotRunner:
    """How the demo starts and stops the real bot: given by the caller (bot.cli, the tests), so that the demo
    sits below the bot's assembly and imports nothing of it."""

    start: Callable[[Settings, Database, Callable[[], datetime]], Awaitable[Application]]  # type: ignore[type-arg]
    stop: Callable[[Application], Awaitable[None]]  # type: ignore[type-arg]


@dataclass
class World:
    settings: Settings
    db: Database
    emulator: Emulator
    clock: SandboxClock
    runner: BotRunner
    personas: list[Persona] = field(default_factory=list)
    application: Application | None = None  # type: ignore[type-arg]

    def persona(self, key: str) -> Persona | None:
        wanted = key.strip().lower()
        return next((p for p in self.personas if p.key.lower() == wanted or str(p.user_id) == wanted), None)

    async def linked_ids(self) -> set[int]:
        """Telegram ids of the personas who hold a role now (committee or unit), e.g. after /start CODE."""
        ids = [p.user_id for p in self.personas]
        async with self.db.session() as session:
            rows = await session.scalars(
                select(Person.telegram_id)
                .join(Membership, Membership.person_id == Person.id)
                .where(Person.telegram_id.in_(ids))
                .distinct()
            )
            return {int(telegram_id) for telegram_id in rows}

    async def stop(self) -> None:
        if self.application is not None:
            await self.runner.stop(self.application)
        await self.emulator.stop()
        await self.db.dispose()


def _fresh_sqlite(path: Path) -> str:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite+aiosqlite:///{path}"


async def start_world(
    settings: Settings,
    *,
    db_path: Path,
    runner: BotRunner,
    port: int = 0,
    plan_interval_seconds: int = PLAN_INTERVAL_SECONDS,
) -> World:
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
            "plan_interval_seconds": plan_interval_seconds,
        }
    )
    db = Database(sandbox_settings.database_url)
    await db.upgrade()
    now = clock().astimezone(sandbox_settings.tz)
    report = await import_sources(db, shifted_sample(now.date()), now=now, actor_label="sandbox")
    if not report.ok:
        raise RuntimeError("the sample register did not import")
    world = World(sandbox_settings, db, emulator, clock, runner)
    world.personas = await _make_personas(world, now)
    world.application = await runner.start(sandbox_settings, db, clock)
    return world


async def _make_personas(world: World, now: datetime) -> list[Persona]:
    emulator = world.emulator
    personas = [Persona("secretary", SECRETARY_ID, "Thư ký BCĐ", True)]
    emulator.add_user(SECRETARY_ID, "Thư ký BCĐ", language_code="vi")
    _has_started(emulator, SECRETARY_ID)
    async with world.db.session() as session:
        # The secretary has talked to the bot before: the bot may write first and shows the committee menu.
        await touch_person(
            session, telegram_id=SECRETARY_ID, full_name="Thư ký BCĐ", username=None, language_code="vi", now=now
        )
        all_units = list(await session.scalars(select(Unit).order_by(Unit.code_key)))
        ministry = next((unit for unit in all_units if unit.code == MINISTRY_CODE), None)
        if ministry is not None:  # committees within committees: the ministry's secretary sees its subtree only
            name = "Thư ký BCĐ ISO Bộ TT&TT"
            emulator.add_user(MINISTRY_SECRETARY_ID, "Thư ký BCĐ ISO", last_name="Bộ TT&TT", language_code="vi")
            person = await touch_person(
                session, telegram_id=MINISTRY_SECRETARY_ID, full_name=name, username=None, language_code="vi", now=now
            )
            await add_membership(session, person_id=person.id, role=Role.SECRETARY, unit_id=ministry.id, now=now)
            _has_started(emulator, MINISTRY_SECRETARY_ID)
            personas.append(Persona("ministry", MINISTRY_SECRETARY_ID, name, True, unit_name=ministry.name))
        # Focal points for the units that owe work: a unit with units below it (the national root, a ministry
        # and its block of departments) is followed by its secretaries.
        parents = {unit.parent_id for unit in all_units}
        units = [unit for unit in all_units if unit.id not in parents]
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
                _has_started(emulator, user_id)
            personas.append(Persona(unit.code, user_id, name, linked, unit_name=unit.name))
    return personas


def _has_started(emulator: Emulator, user_id: int) -> None:
    """The user pressed Start in the past (the emulator's driver has no call for that: set its state)."""
    emulator.world.user(user_id).started = True
