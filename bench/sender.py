"""`python -m bench sender [--messages N] [--chats N] [--seconds S] [--small] [--db FILE | --database-url URL]` —
the outbox sender's throughput with a national backlog, and during the first planner tick after an import.

Starts the bot as shipped — `python -m bot.cli run`, a separate process — against the project's Telegram Bot API
emulator running here with Telegram's flood limits switched on (30 messages a second per bot, one a second per
private chat, 20 a minute per group), and measures from the emulator's side, in two phases:

1. backlog: `--messages` reminder-like rows (HTML text and an inline keyboard) already pending for `--chats`
   private chats, plus five busy secretary chats with `--secretary-messages` rows each (one a second is all
   Telegram lets each of them take), most urgent first; the bot is started on it and the deliveries per
   second over `--seconds` from the first delivery are the sustained rate (target ≥ 95 % of
   SEND_RATE_PER_SECOND), with the 429 answers (target 0), the start-up to the first getUpdates (target ≤ 3 s)
   and that nothing was delivered twice;
2. first tick: a register just imported (bench.data: `--units`, `--commitments`, due dates around today, never
   planned) and an empty outbox; the bot's first planner tick plans everything and queues the catch-up
   reminders while the sender delivers them: the deliveries per second from the first delivery to the end of
   that tick (read from the bot's /metrics) are the rate during planning (target ≥ 80 % of
   SEND_RATE_PER_SECOND).

Defaults: the national size (150,000 + 5 × 2,000 rows to 30,005 chats, 60 s; 30,000 units / 300,000
commitments), about 4 minutes; `--small` is 640 rows to 155 chats, measured over 15 s and then sent to the end,
and 300 units / 3,000 commitments (CI, about 40 s). `--database-url postgresql+asyncpg://…` runs both on
PostgreSQL (emptied first).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from bench import BELOW_TARGET
from bench.data import Shape, build_register
from bench.database import Target, fresh, postgres_url
from sandbox.emulator.server import Emulator, FloodLimits
from storage.models import OutboxMessage, Person
from storage.outbox import OutboxKind, Outgoing, enqueue

TAKES_DATABASE_URL = True  # `python -m bench --small` runs it on PostgreSQL too (bench.database)
TOKEN = "123456:BENCH-TOKEN"
ROOT = Path(__file__).resolve().parents[1]
HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
SECRETARIES = 5
KEYBOARD = {
    "inline_keyboard": [
        [{"text": "✅ Đã xong", "callback_data": "d:1:1"}, {"text": "⏳ Đang làm", "callback_data": "p:1:1"}],
        [{"text": "📅 Xin gia hạn", "callback_data": "x:1:1"}, {"text": "ℹ️ Chi tiết", "callback_data": "i:1:1"}],
    ]
}
_KEY = re.compile(r"#(\d+)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench sender", description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=150_000, help="pending rows to the focal points' chats")
    parser.add_argument("--chats", type=int, default=30_000, help="distinct focal-point chats")
    parser.add_argument("--secretary-messages", type=int, default=2_000, help="pending rows to each secretary")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the backlog phase measures")
    parser.add_argument("--units", type=int, default=30_000, help="first-tick phase: units imported")
    parser.add_argument("--commitments", type=int, default=300_000, help="first-tick phase: commitments imported")
    parser.add_argument("--rate", type=float, default=25.0, help="SEND_RATE_PER_SECOND (default 25)")
    parser.add_argument("--small", action="store_true", help="640 rows to 155 chats; 300 units (CI)")
    parser.add_argument("--phase", choices=("both", "backlog", "first-tick"), default="both")
    parser.add_argument("--db", type=Path, help="SQLite file to build (default: a temporary file)")
    parser.add_argument("--database-url", help="run on this PostgreSQL database instead (emptied first)")
    parser.add_argument("--startups", type=int, default=2, help="extra start-ups to time on the backlog")
    return parser


def _text(i: int) -> str:
    return (
        f"⏰ <b>Nhắc việc #{i}</b>: còn 3 ngày đến hạn\n"
        "Đơn vị: <b>Văn phòng Bộ (VPB)</b>\n"
        "Nhiệm vụ: Phê duyệt kế hoạch triển khai áp dụng hệ thống quản lý chất lượng theo TCVN ISO 9001:2008\n"
        "Thời hạn: <b>31/03/2027</b> · Căn cứ: Quyết định 118/2009/QĐ-TTg"
    )


def bot_env(emulator: Emulator, database_url: str, rate: float) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QMSBOT_", "TELEGRAM_"))}
    env.update(
        PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE_URL=emulator.base_url,
        DATABASE_URL=database_url,
        SEND_RATE_PER_SECOND=str(rate),
        ADMIN_IDS="",
        SECRETARY_IDS="",
        LOG_LEVEL="WARNING",
    )
    return env


def _profiler() -> list[str]:
    """BENCH_PROFILE=FILE: the bot runs under cProfile, its statistics written to FILE when it stops."""
    out = os.environ.get("BENCH_PROFILE")
    return ["-m", "cProfile", "-o", out] if out else []


class BotProcess:
    """`python -m bot.cli run [args]` in its own process, its output in `cwd/bot.log`."""

    def __init__(self, env: dict[str, str], cwd: Path, args: Sequence[str] = ()) -> None:
        self.started = time.time()
        self.log = (cwd / "bot.log").open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                *(["-m", "cProfile", "-o", os.environ["BENCH_PROFILE"]] if os.environ.get("BENCH_PROFILE") else []),
                "-m",
                "bot.cli",
                "run",
                *args,
            ],
            env=env,
            cwd=cwd,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    async def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:  # in a thread: the emulator in this event loop answers the bot's last calls meanwhile
                await asyncio.to_thread(self.process.wait, 20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


async def first_poll(emulator: Emulator, bot: BotProcess, timeout: float = 30.0) -> float:
    """Seconds from starting the process to its first getUpdates (the emulator counts polls as they begin)."""
    generation = emulator.methods.poll_generation
    deadline = time.monotonic() + timeout
    while emulator.methods.poll_generation == generation:
        if bot.process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the bot did not start polling (exit status {bot.process.poll()})")
        await asyncio.sleep(0.002)
    return time.time() - bot.started


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _planner_ticks(port: int) -> float:
    """The bot's qmsbot_planner_ticks counter, from its /metrics (0 while it does not answer yet)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            body = answer.read().decode()
    except OSError:
        return 0.0
    for line in body.splitlines():
        if line.startswith("qmsbot_planner_ticks_total ") or line.startswith("qmsbot_planner_ticks "):
            return float(line.split()[1])
    return 0.0


def _ok_times(emulator: Emulator) -> list[float]:
    return sorted(r.time for r in emulator.requests_for("sendMessage") if r.status == 200)


def _too_many(emulator: Emulator) -> int:
    return sum(1 for r in emulator.requests_for("sendMessage") if r.status == 429)


def _emulator(log_size: int) -> Emulator:
    return Emulator(
        token=TOKEN,
        flood_limits=FloodLimits(global_per_second=30, private_chat_per_second=1.0, group_per_minute=20),
        request_log_size=log_size,
    )


@dataclass
class Backlog:
    messages: int
    chats: int
    secretary_messages: int
    seconds: float
    to_the_end: bool  # small: send everything and check each arrived once


def _backlog_rows(shape: Backlog, users: list[int], secretaries: list[int]) -> Iterator[Outgoing]:
    """The focal points' reminders and the secretaries' escalations, interleaved as a morning queues them."""
    n = 0
    every = max(1, shape.messages // max(1, shape.secretary_messages * len(secretaries)))
    per_secretary = dict.fromkeys(secretaries, 0)
    for i in range(shape.messages):
        yield Outgoing(
            key=f"bench:{n}",
            kind=OutboxKind.REMINDER,
            chat_id=users[i % len(users)],
            text=_text(n),
            reply_markup=KEYBOARD,
        )
        n += 1
        if i % every == 0:
            for chat in secretaries:
                if per_secretary[chat] < shape.secretary_messages:
                    per_secretary[chat] += 1
                    yield Outgoing(key=f"bench:{n}", kind=OutboxKind.ESCALATION, chat_id=chat, text=_text(n))
                    n += 1
    for chat in secretaries:
        for _ in range(shape.secretary_messages - per_secretary[chat]):
            yield Outgoing(key=f"bench:{n}", kind=OutboxKind.ESCALATION, chat_id=chat, text=_text(n))
            n += 1


async def backlog_phase(target: Target, shape: Backlog, rate: float, startups: int, workdir: Path) -> tuple[int, bool]:
    """Returns (the number of rows queued, whether the targets were met); raises on a wrong result."""
    total = shape.messages + SECRETARIES * shape.secretary_messages
    measured = total if shape.to_the_end else int(shape.seconds * rate * 1.5)
    emulator = _emulator(measured * 2 + 1_000)
    await emulator.start()
    db = await fresh(target)
    try:
        await db.upgrade()
        users = [100_000 + n for n in range(shape.chats)]
        secretaries = [900_000 + n for n in range(SECRETARIES)]
        for user in (*users, *secretaries):
            emulator.add_user(user, f"Cán bộ {user}")
            emulator.world.user(user).started = True
        started = time.perf_counter()
        now = datetime.now(UTC)
        batch: list[Outgoing] = []
        async with db.session() as session:
            for row in _backlog_rows(shape, users, secretaries):
                batch.append(row)
                if len(batch) >= 10_000:
                    await enqueue(session, batch, now=now)
                    batch = []
            await enqueue(session, batch, now=now)
        print(
            f"backlog: {total:,} pending rows ({shape.messages:,} to {shape.chats:,} focal-point chats,"
            f" {SECRETARIES} × {shape.secretary_messages:,} to secretaries) queued in"
            f" {time.perf_counter() - started:.1f} s ({target.label}); SEND_RATE_PER_SECOND={rate:g}"
        )
        await db.dispose()

        env = bot_env(emulator, target.database_url, rate)
        bot = BotProcess(env, workdir)
        try:
            to_poll = await first_poll(emulator, bot)
            first: float | None = None
            while True:
                if bot.process.poll() is not None:
                    raise RuntimeError(f"the bot stopped (exit status {bot.process.poll()}); see {workdir}/bot.log")
                delivered = emulator.delivered()
                if first is None and delivered:
                    first = _ok_times(emulator)[0]
                measured_enough = first is not None and time.time() > first + shape.seconds + 0.5
                if measured_enough and (not shape.to_the_end or delivered >= total):
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(1.0)  # anything sent twice would show up now
        finally:
            await bot.stop()

        ok = _ok_times(emulator)
        assert first is not None
        window = shape.seconds
        in_window = sum(1 for t in ok if first < t <= first + window)
        achieved = in_window / window if window > 0 else float("inf")
        too_many = _too_many(emulator)
        per_key: Counter[str] = Counter()
        for user in (*users, *secretaries):
            for message in emulator.bot_messages(user):
                found = _KEY.search(str(message.get("text", "")))
                per_key[found.group(1) if found else ""] += 1
        to_secretaries = sum(emulator.delivered(chat) for chat in secretaries)
        doubled = sum(1 for n in per_key.values() if n > 1)
        print(
            f"  start-up to first getUpdates: {to_poll:.2f} s (target ≤ 3 s); "
            f"to first delivery: {first - bot.started:.2f} s"
        )
        print(
            f"  sustained: {in_window:,} delivered in {window:.1f} s from the first: {achieved:.2f} messages/s"
            f" = {achieved / rate:.1%} of SEND_RATE_PER_SECOND (target ≥ 95 %)"
        )
        print(
            f"  429 answers: {too_many} (target 0); to the {SECRETARIES} secretaries: {to_secretaries:,};"
            f" distinct messages {len(per_key):,}, delivered more than once: {doubled}"
        )
        if doubled or (shape.to_the_end and len(per_key) != total):
            raise RuntimeError(f"WRONG: {total - len(per_key):,} messages lost, {doubled:,} delivered twice")

        times = []
        for _ in range(startups):
            bot = BotProcess(env, workdir)
            try:
                times.append(await first_poll(emulator, bot))
            finally:
                await bot.stop()
        if times:
            print(f"  start-up to first getUpdates, {len(times)} more starts on the backlog: max {max(times):.2f} s")
        good = achieved >= 0.95 * rate and too_many == 0 and max([to_poll, *times]) <= 3.0
        return total, good
    finally:
        await db.dispose()
        await emulator.stop()


async def first_tick_phase(target: Target, units: int, commitments: int, rate: float, workdir: Path) -> bool:
    """The bot's first start on a register just imported: the delivery rate while its first tick plans."""
    emulator = _emulator(200_000)
    await emulator.start()
    db = await fresh(target)
    try:
        await db.upgrade()
        now = datetime.now(HANOI)
        started = time.perf_counter()
        built = await build_register(db, Shape(units=units, commitments=commitments), today=now.date(), now=now)
        async with db.session() as session:
            people = list((await session.execute(select(Person.telegram_id, Person.full_name))).tuples())
        for telegram_id, name in people:
            emulator.add_user(telegram_id, name)
            emulator.world.user(telegram_id).started = True
        print(
            f"first tick: {built.units:,} units, {built.people:,} people, {built.commitments:,} open commitments"
            f" just imported, never planned — built in {time.perf_counter() - started:.1f} s ({target.label})"
        )
        await db.dispose()

        port = _free_port()
        bot = BotProcess(bot_env(emulator, target.database_url, rate), workdir, ["--health-port", str(port)])
        try:
            await first_poll(emulator, bot)
            ticks = 0.0
            while ticks < 1:
                if bot.process.poll() is not None:
                    raise RuntimeError(f"the bot stopped (exit status {bot.process.poll()}); see {workdir}/bot.log")
                await asyncio.sleep(0.5)
                ticks = await asyncio.to_thread(_planner_ticks, port)
            tick_end = time.time()
        finally:
            await bot.stop()
        async with db.session() as session:
            queued = int(await session.scalar(select(func.count()).select_from(OutboxMessage)) or 0)
        ok = [t for t in _ok_times(emulator) if t <= tick_end]
        tick = tick_end - bot.started
        first = ok[0] if ok else tick_end
        window = tick_end - first
        achieved = (len(ok) - 1) / window if len(ok) > 1 and window > 0 else 0.0
        in_30 = sum(1 for t in ok if t <= first + 30)
        print(
            f"  first tick ended {tick:.1f} s after the process start (±0.5 s); {queued:,} outbox rows queued;"
            f" {len(ok):,} delivered meanwhile ({in_30:,} in the first 30 s from the first delivery,"
            f" {first - bot.started:.1f} s after the start)"
        )
        print(
            f"  during the tick: {achieved:.2f} messages/s = {achieved / rate:.1%} of SEND_RATE_PER_SECOND"
            f" (target ≥ 80 %); 429 answers: {_too_many(emulator)}"
        )
        return achieved >= 0.8 * rate and _too_many(emulator) == 0
    finally:
        await db.dispose()
        await emulator.stop()


async def _run(args: argparse.Namespace, folder: Path) -> int:
    url = postgres_url(args.database_url)
    target = Target(url=url) if url is not None else Target(path=args.db or folder / "sender.db")
    if args.small:
        # Sent to the end (to check each arrived once); the rate is measured over the first 15 s, before the
        # last few chats, each at one message a second, make the tail.
        shape = Backlog(messages=600, chats=150, secretary_messages=8, seconds=15.0, to_the_end=True)
        units, commitments = 300, 3_000
    else:
        shape = Backlog(args.messages, args.chats, args.secretary_messages, args.seconds, to_the_end=False)
        units, commitments = args.units, args.commitments
    good = True
    if args.phase in ("both", "backlog"):
        try:
            _total, met = await backlog_phase(target, shape, args.rate, 0 if args.small else args.startups, folder)
        except RuntimeError as error:
            print(error)
            return 1
        good = good and met
    if args.phase in ("both", "first-tick"):
        good = await first_tick_phase(target, units, commitments, args.rate, folder) and good
    print("OK" if good else "BELOW TARGET")
    return 0 if good else BELOW_TARGET


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(list(argv) if argv is not None else None)
    if args.messages < 1 or args.chats < 1 or args.rate <= 0:
        print("--messages and --chats must be at least 1, --rate positive", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="qmsbot-bench-sender-") as folder:
        return asyncio.run(_run(args, Path(folder)))


if __name__ == "__main__":
    sys.exit(main())
