"""The outbox drain over the Telegram channel, and the shared rate limiter, against the Bot API emulator.

The drain tests use the real python-telegram-bot Bot built by bot.app (with its rate limiter) over HTTP to
the emulator, through bot.telegram_channel, on SQLite and PostgreSQL. The rate limiter's pacing is checked on
a virtual clock.
"""

from __future__ import annotations

import asyncio
import itertools
import struct
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from telegram import ForceReply, InlineKeyboardMarkup, ReplyKeyboardMarkup, ReplyKeyboardRemove
from telegram.error import RetryAfter
from telegram.ext import Application

from bot.app import build_application
from bot.jobs import add_leader_job, jobs_of, notify_outbox
from bot.ratelimit import OUTBOX, REPLY, SendArgs, TelegramRateLimiter
from bot.telegram_channel import TelegramChannel, reply_markup
from core.settings import load_settings
from sandbox.emulator.server import Emulator
from scheduler.calendar import WorkCalendar
from scheduler.drain import CLOSED_ERROR, STALE_ERROR, Drain, DrainOptions, RetryPolicy
from scheduler.planner import plan_tick
from scheduler.policy import ESCALATION_OFFSET, ReminderPolicy
from storage.db import Database
from storage.members import UNREACHABLE_ERROR, touch_person
from storage.models import Commitment, Kind, Membership, OutboxMessage, OutboxStatus, Person, Role, Status, Unit
from storage.outbox import Outgoing, enqueue
from tests.e2e.harness import SECRETARY, Clock, make_harness

TOKEN = "123456:TEST-TOKEN"


@dataclass
class Tuning:
    """What the tests turn: the drain's retry policy and poll interval, the channel's request timeout."""

    max_attempts: int = 5
    backoff_base: float = 0.05
    backoff_max: float = 0.2
    poll_interval: float = 0.05
    request_timeout: float | None = 1.0

    def drain_options(self) -> DrainOptions:
        retry = RetryPolicy(max_attempts=self.max_attempts, base=self.backoff_base, max=self.backoff_max)
        return DrainOptions(retry=retry, poll_interval=self.poll_interval)


# -- helpers shared with test_faults.py and test_instances.py ------------------------------------------------


def start_user(emulator: Emulator, user_id: int, name: str) -> None:
    """A Telegram user who has started the bot (so the bot may write to them), without a /start update."""
    emulator.add_user(user_id, name)
    emulator.world.user(user_id).started = True


async def add_person(
    db: Database, telegram_id: int, name: str, *, now: datetime, unit_id: int | None = None, role: Role = Role.FOCAL
) -> int:
    async with db.session() as session:
        person = Person(telegram_id=telegram_id, full_name=name, reachable=True, has_started=True, created_at=now)
        session.add(person)
        await session.flush()
        if unit_id is not None or role in (Role.SECRETARY, Role.ADMIN):
            session.add(Membership(person_id=person.id, unit_id=unit_id, role=role, created_at=now))
        return person.id


async def add_unit(db: Database, code: str, *, now: datetime) -> int:
    async with db.session() as session:
        unit = Unit(code=code, code_key=code.upper(), name=f"Unit {code}", created_at=now)
        session.add(unit)
        await session.flush()
        return unit.id


async def queue(db: Database, messages: list[Outgoing], *, now: datetime) -> int:
    async with db.session() as session:
        return await enqueue(session, messages, now=now)


async def outbox_rows(db: Database) -> dict[str, OutboxMessage]:
    async with db.session() as session:
        return {row.key: row for row in await session.scalars(select(OutboxMessage))}


def texts_in(emulator: Emulator, chat_id: int) -> list[str]:
    return [str(m.get("text") or m.get("caption") or "") for m in emulator.bot_messages(chat_id)]


def png_bytes() -> bytes:
    """A 1×1 PNG: a photo Telegram (and the emulator) accepts."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\0\0\0\0")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


@dataclass
class Rig:
    """The real Bot (with the project's rate limiter) against an emulator, and a Drain on it."""

    db: Database
    emulator: Emulator
    application: Application  # type: ignore[type-arg]
    clock: Clock
    options: Tuning = field(default_factory=Tuning)

    @property
    def limiter(self) -> TelegramRateLimiter:
        limiter = self.application.bot.rate_limiter
        assert isinstance(limiter, TelegramRateLimiter)
        return limiter

    def sender(self) -> Drain:
        channel = TelegramChannel(self.application.bot, request_timeout=self.options.request_timeout)
        return Drain(db=self.db, channel=channel, now=self.clock, options=self.options.drain_options())

    async def drain(self, timeout: float = 30.0) -> Drain:
        sender = self.sender()
        await sender.run_until_idle(timeout=timeout)
        return sender

    async def close(self) -> None:
        await self.application.bot.shutdown()
        await self.emulator.stop()


async def make_rig(db: Database, *, overall_per_second: float = 500.0, **emulator_args: Any) -> Rig:
    emulator = Emulator(token=TOKEN, **emulator_args)
    await emulator.start()
    settings = load_settings(
        _env_file=None, telegram_bot_token=TOKEN, telegram_api_base_url=emulator.base_url, database_url=db.url
    )
    clock = Clock()
    application = build_application(settings, db, clock=clock, jobs=False)
    await application.bot.initialize()
    rig = Rig(db, emulator, application, clock)
    rig.limiter.overall_per_second = overall_per_second  # tests go faster than Telegram allows …
    rig.limiter.private_interval = 0.02  # … also to one chat (test_one_message_per_second_… puts it back)
    return rig


@pytest.fixture
async def rig(db: Database) -> AsyncIterator[Rig]:
    rig = await make_rig(db)
    try:
        yield rig
    finally:
        await rig.close()


def message(key: str, chat_id: int, text: str | None = None, **extra: Any) -> Outgoing:
    kind = extra.pop("kind", "notice")
    return Outgoing(key=key, kind=kind, chat_id=chat_id, text=key if text is None else text, **extra)


# -- delivering ----------------------------------------------------------------------------------------------


async def test_every_row_is_sent_once_with_its_message_id(rig: Rig) -> None:
    now = rig.clock()
    users = list(range(100, 110))
    for user in users:
        start_user(rig.emulator, user, f"User {user}")
    keyboard = {"inline_keyboard": [[{"text": "Xong", "callback_data": "d:1"}]]}
    messages = [message(f"m:{user}:{i}", user, f"<b>#{i}</b> for {user}") for user in users for i in range(3)]
    messages.append(message("kb", 100, "with buttons", reply_markup=keyboard))
    await queue(rig.db, messages, now=now)

    await rig.drain()

    rows = await outbox_rows(rig.db)
    assert {row.status for row in rows.values()} == {OutboxStatus.SENT}
    for user in users:
        bot_messages = rig.emulator.bot_messages(user)
        by_id = {m["message_id"]: m for m in bot_messages}
        assert texts_in(rig.emulator, user)[:3] == [f"#{i} for {user}" for i in range(3)]  # in order, HTML parsed
        for i in range(3):
            row = rows[f"m:{user}:{i}"]
            assert row.attempts == 1 and row.sent_at == now and row.last_error == ""
            assert by_id[row.telegram_message_id]["text"] == f"#{i} for {user}"
    assert rig.emulator.delivered() == len(messages)
    assert rig.emulator.bot_messages(100)[-1]["reply_markup"] == keyboard


async def test_documents_and_photos_by_upload_and_by_file_id(rig: Rig) -> None:
    start_user(rig.emulator, 200, "Lan")
    sent_by_user = await rig.emulator.send_document(200, "kehoach.pdf", b"%PDF-1.4 plan")
    file_id = sent_by_user["document"]["file_id"]
    await queue(
        rig.db,
        [
            message("doc", 200, "Kế hoạch <i>ISO</i>", media="document", file_name="baocao.xlsx", file_data=b"PK\3\4"),
            message("photo", 200, "Biểu đồ", media="photo", file_name="chart.png", file_data=png_bytes()),
            message("again", 200, "", media="document", file_id=file_id),
        ],
        now=rig.clock(),
    )

    await rig.drain()

    sent = rig.emulator.bot_messages(200)
    assert [m.get("caption") for m in sent] == ["Kế hoạch ISO", "Biểu đồ", None]
    assert sent[0]["document"]["file_name"] == "baocao.xlsx"
    assert rig.emulator.file_bytes(sent[0]["document"]["file_id"]) == b"PK\3\4"
    assert "photo" in sent[1]
    assert sent[2]["document"]["file_id"] == file_id
    assert {row.status for row in (await outbox_rows(rig.db)).values()} == {OutboxStatus.SENT}


async def test_rows_wait_for_not_before(rig: Rig) -> None:
    start_user(rig.emulator, 300, "Minh")
    now = rig.clock()
    await queue(rig.db, [message("later", 300, not_before=now + timedelta(hours=1))], now=now)
    await rig.drain()
    assert rig.emulator.delivered() == 0 and (await outbox_rows(rig.db))["later"].status == OutboxStatus.PENDING

    rig.clock.advance(hours=1)
    await rig.drain()
    assert texts_in(rig.emulator, 300) == ["later"]


async def test_reminder_of_a_closed_commitment_is_not_sent(rig: Rig) -> None:
    now = rig.clock()
    start_user(rig.emulator, 400, "Hoa")
    unit_id = await add_unit(rig.db, "VPB", now=now)
    async with rig.db.session() as session:
        done = Commitment(
            unit_id=unit_id,
            title="Kế hoạch",
            kind=Kind.INTERNAL,
            due_date=date(2026, 12, 1),
            status=Status.DONE,
            created_at=now,
            updated_at=now,
        )
        open_ = Commitment(
            unit_id=unit_id,
            title="Báo cáo",
            kind=Kind.LEGAL,
            due_date=date(2026, 12, 1),
            created_at=now,
            updated_at=now,
        )
        session.add_all([done, open_])
        await session.flush()
        done_id, open_id = done.id, open_.id
    await queue(
        rig.db,
        [
            message("r:done", 400, kind="reminder", commitment_id=done_id),
            message("e:done", 400, kind="escalation", commitment_id=done_id),
            message("r:open", 400, kind="reminder", commitment_id=open_id),
            message("decision", 400, kind="decision", commitment_id=done_id),  # not a reminder: still goes
        ],
        now=now,
    )

    await rig.drain()

    rows = await outbox_rows(rig.db)
    assert (rows["r:done"].status, rows["r:done"].last_error) == (OutboxStatus.FAILED, CLOSED_ERROR)
    assert rows["e:done"].status == OutboxStatus.FAILED and rows["e:done"].attempts == 0
    assert texts_in(rig.emulator, 400) == ["r:open", "decision"]


async def test_reminder_for_a_deadline_that_moved_is_not_sent(rig: Rig) -> None:
    """Queued for due 01/12, then the deadline was extended to 15/12: the old occurrence's rows are dropped."""
    now = rig.clock()
    start_user(rig.emulator, 410, "Minh")
    unit_id = await add_unit(rig.db, "VPB", now=now)
    person_id = await add_person(rig.db, 410, "Minh", now=now, unit_id=unit_id)
    async with rig.db.session() as session:
        extended = Commitment(
            unit_id=unit_id,
            title="Kế hoạch",
            kind=Kind.INTERNAL,
            due_date=date(2026, 12, 15),
            created_at=now,
            updated_at=now,
        )
        session.add(extended)
        await session.flush()
        cid = extended.id

    def key(due: str, offset: int) -> str:  # scheduler.policy.delivery_key's format
        return f"reminder:{cid}:{due}:{offset}:{person_id}"

    old_reminder, old_escalation = key("2026-12-01", 3), key("2026-12-01", ESCALATION_OFFSET)
    new_reminder = key("2026-12-15", 14)
    await queue(
        rig.db,
        [
            message(old_reminder, 410, "old reminder", kind="reminder", commitment_id=cid, person_id=person_id),
            message(old_escalation, 410, "old escalation", kind="escalation", commitment_id=cid, person_id=person_id),
            message(new_reminder, 410, "new reminder", kind="reminder", commitment_id=cid, person_id=person_id),
            message(f"decision:{cid}", 410, "decision", kind="decision", commitment_id=cid),  # not a reminder
        ],
        now=now,
    )

    sender = await rig.drain()

    rows = await outbox_rows(rig.db)
    for stale in (old_reminder, old_escalation):
        assert (rows[stale].status, rows[stale].last_error, rows[stale].attempts) == (
            OutboxStatus.FAILED,
            STALE_ERROR,
            0,
        )
    assert rows[new_reminder].status == OutboxStatus.SENT
    assert texts_in(rig.emulator, 410) == ["new reminder", "decision"]
    assert sender.stats["stale"] == 2


async def test_bad_request_fails_at_once_with_telegrams_error(rig: Rig) -> None:
    start_user(rig.emulator, 500, "An")
    await queue(rig.db, [message("bad", 500, "<b>not closed"), message("good", 500, "fine")], now=rig.clock())
    await rig.drain()
    rows = await outbox_rows(rig.db)
    assert rows["bad"].status == OutboxStatus.FAILED and rows["bad"].attempts == 1
    assert "parse entities" in rows["bad"].last_error
    assert len(rig.emulator.requests_for("sendMessage")) == 2
    assert texts_in(rig.emulator, 500) == ["fine"]


async def test_server_errors_are_retried_with_backoff_then_given_up(rig: Rig) -> None:
    start_user(rig.emulator, 600, "Binh")
    rig.emulator.fail_next("sendMessage", 500, count=2)
    await queue(rig.db, [message("flaky", 600)], now=rig.clock())
    await rig.drain()
    row = (await outbox_rows(rig.db))["flaky"]
    assert (row.status, row.attempts) == (OutboxStatus.SENT, 3)
    assert texts_in(rig.emulator, 600) == ["flaky"]

    rig.emulator.fail_next("sendMessage", 502, count=100)
    await queue(rig.db, [message("down", 600)], now=rig.clock())
    await rig.drain()
    row = (await outbox_rows(rig.db))["down"]
    assert (row.status, row.attempts) == (OutboxStatus.FAILED, rig.options.max_attempts)
    assert row.last_error == "Bad Gateway"
    assert texts_in(rig.emulator, 600) == ["flaky"]


async def test_rows_left_sending_by_a_crash_are_sent_again(rig: Rig) -> None:
    start_user(rig.emulator, 700, "Cuong")
    await queue(rig.db, [message("in-flight", 700), message("next", 700)], now=rig.clock())
    async with rig.db.session() as session:
        row = await session.scalar(select(OutboxMessage).where(OutboxMessage.key == "in-flight"))
        assert row is not None
        row.status, row.attempts = OutboxStatus.SENDING, 1
    await rig.drain()
    rows = await outbox_rows(rig.db)
    assert rows["in-flight"].status == OutboxStatus.SENT and rows["in-flight"].attempts == 2
    assert texts_in(rig.emulator, 700) == ["in-flight", "next"]


async def test_one_message_per_second_to_a_private_chat(sqlite_db: Database) -> None:
    rig = await make_rig(sqlite_db)
    try:
        await _one_per_second(rig)
    finally:
        await rig.close()


async def _one_per_second(rig: Rig) -> None:
    rig.limiter.private_interval = 1.0
    start_user(rig.emulator, 800, "Dung")
    start_user(rig.emulator, 801, "Giang")
    await queue(rig.db, [message(f"d{i}", 800) for i in range(3)] + [message("g", 801)], now=rig.clock())
    await rig.drain()
    times = [r.time for r in rig.emulator.requests_for("sendMessage") if r.params["chat_id"] in (800, "800")]
    assert len(times) == 3
    assert all(later - earlier >= 0.95 for earlier, later in itertools.pairwise(times))
    # Another chat does not wait behind the first one.
    other = next(r.time for r in rig.emulator.requests_for("sendMessage") if str(r.params["chat_id"]) == "801")
    assert other - times[0] < 0.5


# -- unreachable people --------------------------------------------------------------------------------------


async def test_blocked_user_becomes_unreachable_and_secretaries_are_told_once(rig: Rig) -> None:
    now = rig.clock()
    unit_id = await add_unit(rig.db, "VKHCN", now=now)
    focal = await add_person(rig.db, 900, "Nguyễn Văn <Tâm>", now=now, unit_id=unit_id)
    await add_person(rig.db, 901, "Thư ký", now=now, role=Role.SECRETARY)
    never = await add_person(rig.db, 902, "Admin", now=now, role=Role.ADMIN)
    start_user(rig.emulator, 900, "Tâm")
    start_user(rig.emulator, 901, "Thư ký")
    rig.emulator.add_user(902, "Admin")  # never started the bot: 403 too
    rig.emulator.world.user(900).blocked = True  # blocked without an update: only the 403 tells the sender
    await queue(rig.db, [message(f"f{i}", 900, person_id=focal) for i in range(3)], now=now)

    await rig.drain()
    await tell_committee(rig)  # the planning tick tells the secretaries: the admin's 403 comes with that notice
    await rig.drain()
    await tell_committee(rig)
    await rig.drain()

    rows = await outbox_rows(rig.db)
    assert {rows[f"f{i}"].status for i in range(3)} == {OutboxStatus.BLOCKED}
    tried = [r for r in rig.emulator.requests_for("sendMessage") if str(r.params["chat_id"]) == "900"]
    assert len(tried) == 1 and tried[0].status == 403  # no attempt for the other two
    assert "blocked" in rows["f0"].last_error and rows["f1"].last_error == UNREACHABLE_ERROR
    # The notice to the admin, who never started the bot, got a 403 too: the secretary hears of both.
    async with rig.db.session() as session:
        rows_ = (await session.execute(select(Person.telegram_id, Person.reachable))).all()
        reachable = {telegram_id: flag for telegram_id, flag in rows_}
    assert reachable == {900: False, 901: True, 902: False}
    notices = texts_in(rig.emulator, 901)
    assert len(notices) == 2
    assert "Nguyễn Văn <Tâm> (VKHCN)" in notices[0] and "chặn bot" in notices[0]
    assert "Admin" in notices[1]
    assert len([key for key in rows if key.startswith("unreachable:")]) == 3
    await queue(rig.db, [message("x", 902, person_id=never)], now=now)
    await rig.drain()
    assert (await outbox_rows(rig.db))["x"].status == OutboxStatus.BLOCKED
    assert len([r for r in rig.emulator.requests_for("sendMessage") if str(r.params["chat_id"]) == "902"]) == 1

    # Queued while unreachable: not attempted. Writing to the bot again: new messages flow, old ones stay.
    await queue(rig.db, [message("while-away", 900, person_id=focal)], now=now)
    await rig.drain()
    assert len([r for r in rig.emulator.requests_for("sendMessage") if str(r.params["chat_id"]) == "900"]) == 1
    rig.emulator.world.user(900).blocked = False
    async with rig.db.session() as session:
        await touch_person(session, telegram_id=900, full_name="Tâm", username=None, language_code="vi", now=now)
    await queue(rig.db, [message("back", 900, person_id=focal)], now=now)
    await rig.drain()
    rows = await outbox_rows(rig.db)
    assert texts_in(rig.emulator, 900) == ["back"]
    assert rows["while-away"].status == OutboxStatus.BLOCKED and rows["f2"].status == OutboxStatus.BLOCKED
    await tell_committee(rig)
    await rig.drain()
    assert len(texts_in(rig.emulator, 901)) == 2  # told once


async def tell_committee(rig: Rig) -> None:
    """A planning tick: it gathers the people marked unreachable into one notice per secretary."""
    await plan_tick(rig.db, policy=ReminderPolicy(), calendar=WorkCalendar(), now=rig.clock(), default_language="vi")


async def test_blocking_and_unblocking_in_telegram_through_the_running_bot(sqlite_db: Database, tmp_path: Path) -> None:
    # the secretaries hear at the next planning tick: it runs every second here
    harness = await make_harness(sqlite_db, tmp_path, jobs=True, plan_interval_seconds=1)
    try:
        emulator = harness.emulator
        now = harness.clock()
        unit_id = await add_unit(sqlite_db, "TTB", now=now)
        await add_person(sqlite_db, 50, "Phạm Thu", now=now, unit_id=unit_id)
        start_user(emulator, 50, "Thu")
        harness.user(SECRETARY, "Thư ký")
        await harness.ask(SECRETARY, "/start")

        cursor = emulator.cursor()
        emulator.block(50)  # Telegram sends my_chat_member: member → kicked
        notice = await emulator.wait_for_bot_message(
            SECRETARY, lambda m: "Phạm Thu" in m["text"] and "(TTB)" in m["text"], after=cursor
        )
        assert "(TTB)" in notice["text"]
        async with sqlite_db.session() as session:
            assert await session.scalar(select(Person.reachable).where(Person.telegram_id == 50)) is False

        emulator.unblock(50)  # my_chat_member: kicked → member
        for _ in range(100):
            async with sqlite_db.session() as session:
                if await session.scalar(select(Person.reachable).where(Person.telegram_id == 50)):
                    break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("unblocking did not make the person reachable")

        # notify_outbox: a queued message goes out at once, not at the sender's next look.
        assert harness.application is not None
        async with sqlite_db.session() as session:
            await enqueue(session, [message("hello", 50, "xin chào")], now=now)
        notify_outbox(harness.application)
        await emulator.wait_for_bot_message(50, lambda m: m["text"] == "xin chào", timeout=2)
        assert [n for n in texts_in(emulator, SECRETARY) if "Phạm Thu" in n and "(TTB)" in n] == [notice["text"]]
    finally:
        await harness.stop()
        await harness.emulator.stop()


async def test_leader_jobs_and_the_planner_run_in_the_background(sqlite_db: Database) -> None:
    emulator = Emulator(token=TOKEN)
    await emulator.start()
    settings = load_settings(
        _env_file=None, telegram_bot_token=TOKEN, telegram_api_base_url=emulator.base_url, database_url=sqlite_db.url
    )
    application = build_application(settings, sqlite_db, clock=Clock(), jobs=True)
    runs: list[object] = []

    async def probe(app: Application) -> None:  # type: ignore[type-arg]
        runs.append(app)

    add_leader_job(application, "probe", 0.05, probe)
    await application.initialize()
    await application.start()
    try:
        for _ in range(100):
            if len(runs) >= 3:
                break
            await asyncio.sleep(0.05)
        jobs = jobs_of(application)
        assert jobs is not None and jobs.leading and jobs.plan_ticks >= 1
        assert len(runs) >= 3 and runs[0] is application
    finally:
        await application.stop()
        await application.shutdown()
        await emulator.stop()
    assert jobs is not None and not jobs.leading


# -- the rate limiter on a virtual clock ---------------------------------------------------------------------


class VirtualTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)
        await asyncio.sleep(0)


def limiter_on(clock: VirtualTime, **args: Any) -> TelegramRateLimiter:
    return TelegramRateLimiter(clock=clock, sleep=clock.sleep, **args)


def recorder(clock: VirtualTime, log: list[tuple[float, Any]]) -> Callable[..., Awaitable[dict[str, Any]]]:
    async def call(endpoint: str, data: dict[str, Any]) -> dict[str, Any]:
        log.append((clock(), data.get("chat_id")))
        return {"ok": True}

    return call


async def send(limiter: TelegramRateLimiter, call: Any, chat_id: int, args: SendArgs | None = None) -> Any:
    data = {"chat_id": chat_id, "text": "x"}
    return await limiter.process_request(call, ("sendMessage", data), {}, "sendMessage", data, args)


async def test_overall_rate_is_paced_evenly() -> None:
    clock = VirtualTime()
    limiter = limiter_on(clock, overall_per_second=25)
    log: list[tuple[float, Any]] = []
    call = recorder(clock, log)
    for chat in range(1, 101):
        await send(limiter, call, chat, SendArgs(OUTBOX))
    times = [at for at, _ in log]
    assert times[-1] - times[0] == pytest.approx(99 / 25)
    assert min(b - a for a, b in itertools.pairwise(times)) == pytest.approx(0.04)


async def test_a_late_sender_gets_its_missed_slots_but_never_beyond_telegrams_limit() -> None:
    clock = VirtualTime()
    limiter = limiter_on(clock, overall_per_second=25)
    log: list[tuple[float, Any]] = []
    call = recorder(clock, log)
    for chat in range(1, 201):
        if chat % 20 == 10:
            clock.now += 0.1  # the event loop was busy (a planner batch) for 100 ms
        await send(limiter, call, chat, SendArgs(OUTBOX))
    times = [at for at, _ in log]
    # The 100 ms stalls cost nothing on average: 200 messages in 199 slots' time, as without them ...
    assert times[-1] - times[0] == pytest.approx(199 / 25)
    # ... and no second ever holds more than 28 of Telegram's 30.
    assert max(sum(1 for t in times if start <= t < start + 1.0) for start in times) <= 28

    clock.now += 5  # idle: nothing is banked, the next messages are paced evenly again
    log.clear()
    for chat in range(1, 6):
        await send(limiter, call, chat, SendArgs(OUTBOX))
    assert [round(b - a, 2) for (a, _), (b, _) in itertools.pairwise(log)] == [0.04] * 4


async def test_private_chat_limits_outbox_strict_and_replies_with_a_burst() -> None:
    clock = VirtualTime()
    limiter = limiter_on(clock, overall_per_second=25, reply_burst=3)
    log: list[tuple[float, Any]] = []
    call = recorder(clock, log)
    for _ in range(3):
        await send(limiter, call, 7, SendArgs(OUTBOX))
    assert [round(b - a, 2) for (a, _), (b, _) in itertools.pairwise(log)] == [1.0, 1.0]

    clock.now += 10
    log.clear()
    for _ in range(5):
        await send(limiter, call, 8)  # direct replies: three at once, then one per second
    times = [at - log[0][0] for at, _ in log]
    assert [round(at, 2) for at in times] == [0.0, 0.04, 0.08, 1.0, 2.0]


async def test_group_gets_twenty_messages_per_minute() -> None:
    clock = VirtualTime()
    limiter = limiter_on(clock, overall_per_second=25)
    log: list[tuple[float, Any]] = []
    call = recorder(clock, log)
    for _ in range(22):
        await send(limiter, call, -1001234, SendArgs(OUTBOX))
    start = log[0][0]
    assert log[19][0] - start < 1.0
    assert log[20][0] - start >= 60.0 and log[21][0] - log[1][0] >= 60.0
    assert limiter.chat_wait(-1001234) > 0 and limiter.chat_wait(-999) == 0


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_429_waits_retry_after_for_the_whole_bot_and_retries() -> None:
    clock = VirtualTime()
    limiter = limiter_on(clock, overall_per_second=25, max_retries=2)
    attempts: list[float] = []

    async def flaky(endpoint: str, data: dict[str, Any]) -> bool:
        attempts.append(clock())
        if len(attempts) == 1:
            raise RetryAfter(timedelta(seconds=5))
        return True

    assert await send(limiter, flaky, 1) is True
    assert attempts[1] - attempts[0] >= 5 and limiter.retries_after_429 == 1

    async def always(endpoint: str, data: dict[str, Any]) -> bool:
        attempts.append(clock())
        raise RetryAfter(timedelta(seconds=1))

    attempts.clear()
    with pytest.raises(RetryAfter):
        await send(limiter, always, 2)
    assert len(attempts) == 3  # the first try and max_retries more

    # Calls that are not messages are not paced, only retried on 429.
    async def answer(endpoint: str, data: dict[str, Any]) -> bool:
        return True

    clock.now += 5  # past the last wait
    before = clock()
    data = {"callback_query_id": "1"}
    for _ in range(10):
        args = ("answerCallbackQuery", data)
        assert await limiter.process_request(answer, args, {}, "answerCallbackQuery", data, None)
    assert clock() == before


async def test_direct_replies_go_before_waiting_outbox_messages() -> None:
    clock = VirtualTime()
    limiter = limiter_on(clock, overall_per_second=10)
    log: list[tuple[float, Any]] = []
    call = recorder(clock, log)
    await send(limiter, call, 1, SendArgs(OUTBOX))  # takes the first slot
    waiting = [asyncio.create_task(send(limiter, call, chat, SendArgs(OUTBOX))) for chat in (2, 3, 4)]
    await asyncio.sleep(0)
    reply = asyncio.create_task(send(limiter, call, 99, SendArgs(REPLY)))
    await asyncio.gather(*waiting, reply)
    assert [chat for _, chat in log] == [1, 99, 2, 3, 4]


async def test_sender_starts_with_now_from_the_clock(rig: Rig) -> None:
    """sent_at comes from the injected clock (the sandbox's time travel), not the wall clock."""
    start_user(rig.emulator, 1000, "Khoa")
    rig.clock.now = datetime(2027, 1, 4, 1, 30, tzinfo=UTC)
    await queue(rig.db, [message("clocked", 1000)], now=rig.clock())
    await rig.drain()
    assert (await outbox_rows(rig.db))["clocked"].sent_at == datetime(2027, 1, 4, 1, 30, tzinfo=UTC)


def test_stored_reply_markup_becomes_python_telegram_bots_object() -> None:
    inline = {"inline_keyboard": [[{"text": "Xong", "callback_data": "d:1"}]]}
    converted = reply_markup(inline)
    assert isinstance(converted, InlineKeyboardMarkup) and converted.to_dict() == inline
    keyboard = reply_markup({"keyboard": [[{"text": "/tasks"}]], "resize_keyboard": True})
    assert isinstance(keyboard, ReplyKeyboardMarkup) and keyboard.resize_keyboard
    assert isinstance(reply_markup({"remove_keyboard": True}), ReplyKeyboardRemove)
    force = reply_markup({"force_reply": True, "input_field_placeholder": "Lý do"})
    assert isinstance(force, ForceReply) and force.input_field_placeholder == "Lý do"
    assert reply_markup(None) is None and reply_markup({}) is None and reply_markup({"other": 1}) is None
