"""`python -m bench process [--units N] [--commitments N] [--seconds S] [--small] [--db FILE]` — the bot process
on a national register: start-up and peak memory.

Builds a SQLite register (bench.data, as the planner benchmark: a few focal points and a head per unit, 2 % of
units without focal point, 1 % of people unreachable, five secretaries, due dates from 20 days ago to a year
ahead) around today's date and never planned, as after `qmsbot import`. Then it starts the bot as shipped —
`python -m bot.cli run`, a separate process, DATABASE_URL the register — against the project's Telegram Bot
API emulator running here (every person a Telegram user who started the bot; Telegram's flood limits on),
and lets it work for `--seconds` after its first getUpdates: its first planner tick plans every commitment
and queues the catch-up reminders, escalations and this week's digests, while the sender delivers at
SEND_RATE_PER_SECOND. Then it restarts it on the now planned register for `--restart-seconds` (the everyday
case: nothing to plan, a backlog to send). Measured:

1. start-up: from starting the process to its first getUpdates (target ≤ 3 s), on the national database;
2. the bot process's resident memory, read from /proc/<pid>/status every 0.2 s: VmRSS over time and VmHWM,
   the kernel's peak (target ≤ 250 MB), for each of the two runs;
3. what it did meanwhile: outbox rows queued, messages delivered, 429 answers;
4. `--startups` more starts, each stopped at its first getUpdates.

Defaults: the national size (30,000 units, 300,000 commitments), 120 s then 60 s; `--small` is 300 / 3,000,
8 s then 3 s (CI). Linux only (/proc).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from bench import BELOW_TARGET
from bench.data import Shape, build_register
from bench.sender import TOKEN, BotProcess, bot_env, first_poll
from sandbox.emulator.server import Emulator, FloodLimits
from storage.db import Database
from storage.models import OutboxMessage, Person

HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
TARGET_MB = 250.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench process", description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=30_000)
    parser.add_argument("--commitments", type=int, default=300_000)
    parser.add_argument("--seconds", type=float, help="how long the bot works after its first getUpdates")
    parser.add_argument("--restart-seconds", type=float, help="then how long it works after a restart (0: no restart)")
    parser.add_argument("--small", action="store_true", help="300 units, 3,000 commitments, 8 s (CI)")
    parser.add_argument("--db", type=Path, help="SQLite file to build (default: a temporary file, removed after)")
    parser.add_argument("--rate", type=float, default=25.0, help="SEND_RATE_PER_SECOND (default 25)")
    parser.add_argument(
        "--startups", type=int, help="more starts to time, on the planned database (default 3; 1 with --small)"
    )
    parser.add_argument("--seed", type=int, default=1)
    return parser


def _status_mb(pid: int) -> tuple[float, float] | None:
    """(VmRSS, VmHWM) of a process in MB, or None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    values = {}
    for line in text.splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            name, amount, _unit = line.split()
            values[name] = int(amount) / 1024
    if "VmRSS:" not in values or "VmHWM:" not in values:
        return None
    return values["VmRSS:"], values["VmHWM:"]


def _remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


async def _outbox_rows(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(OutboxMessage)) or 0)


@dataclass
class _Watched:
    to_poll: float  # seconds from starting the process to its first getUpdates
    peak_hwm: float  # MB
    peak_rss: float  # MB, the highest sample
    samples: int


async def _work(
    emulator: Emulator, db: Database, env: dict[str, str], workdir: Path, seconds: float, every: float
) -> _Watched:
    """Start the bot, let it work `seconds` after its first getUpdates while sampling its memory, stop it."""
    bot = BotProcess(env, workdir)
    pid = bot.process.pid
    samples: list[tuple[float, float, float]] = []  # (seconds since start, VmRSS, VmHWM)

    async def sample() -> None:
        while (found := _status_mb(pid)) is not None:
            samples.append((time.time() - bot.started, *found))
            await asyncio.sleep(0.2)

    sampler = asyncio.create_task(sample())
    try:
        to_poll = await first_poll(emulator, bot)
        print(f"  start-up to first getUpdates: {to_poll:.2f} s (target ≤ 3 s)")
        print(f"  {'t (s)':>6} {'VmRSS MB':>9} {'VmHWM MB':>9} {'outbox rows':>12} {'delivered':>10}")
        end = time.monotonic() + seconds
        next_line = 0.0
        while time.monotonic() < end:
            if bot.process.poll() is not None:
                raise RuntimeError(f"the bot stopped (exit status {bot.process.poll()}); see {workdir}/bot.log")
            if time.monotonic() >= next_line and samples:
                at, rss, hwm = samples[-1]
                rows = await _outbox_rows(db)
                print(f"  {at:6.1f} {rss:9.0f} {hwm:9.0f} {rows:12,} {emulator.delivered():10,}")
                next_line = time.monotonic() + every
            await asyncio.sleep(0.2)
        final = _status_mb(pid)
        if final is not None:
            samples.append((time.time() - bot.started, *final))
    finally:
        await bot.stop()
        await sampler
    return _Watched(
        to_poll=to_poll,
        peak_hwm=max((hwm for _, _, hwm in samples), default=0.0),
        peak_rss=max((rss for _, rss, _ in samples), default=0.0),
        samples=len(samples),
    )


async def run(args: argparse.Namespace, path: Path) -> int:
    units, commitments = (300, 3_000) if args.small else (args.units, args.commitments)
    seconds = args.seconds if args.seconds is not None else (8.0 if args.small else 120.0)
    restart_seconds = args.restart_seconds if args.restart_seconds is not None else (3.0 if args.small else 60.0)
    _remove(path)
    db = Database(f"sqlite+aiosqlite:///{path}")
    emulator = Emulator(
        token=TOKEN,
        flood_limits=FloodLimits(global_per_second=30, private_chat_per_second=1.0, group_per_minute=20),
        request_log_size=int((seconds + restart_seconds) * args.rate * 2) + 1_000,
    )
    await emulator.start()
    try:
        await db.upgrade()
        now = datetime.now(HANOI)
        started = time.perf_counter()
        shape = Shape(units=units, commitments=commitments, seed=args.seed)
        built = await build_register(db, shape, today=now.date(), now=now)
        async with db.session() as session:
            people = list((await session.execute(select(Person.telegram_id, Person.full_name))).tuples())
        for telegram_id, name in people:
            emulator.add_user(telegram_id, name)
            emulator.world.user(telegram_id).started = True
        print(
            f"register: {built.units:,} units, {built.people:,} people, {built.commitments:,} open commitments"
            f" due around {now:%d/%m/%Y}, never planned — built in {time.perf_counter() - started:.1f} s ({path})"
        )
        await db.dispose()  # the bench reads the file again below, from a fresh pool

        env = bot_env(emulator, db.url, args.rate)
        workdir = path.parent
        print("first start, on the register just imported:")
        first = await _work(emulator, db, env, workdir, seconds, every=2.0 if args.small else 10.0)
        rows = await _outbox_rows(db)
        restart = None
        if restart_seconds > 0:
            print(f"restart on the planned register ({rows:,} outbox rows; the digest of the week already queued):")
            restart = await _work(emulator, db, env, workdir, restart_seconds, every=2.0 if args.small else 10.0)
            rows = await _outbox_rows(db)
        sends = emulator.requests_for("sendMessage") + emulator.requests_for("sendPhoto")
        too_many = sum(1 for r in sends if r.status == 429)
        errors = sum(1 for r in sends if r.status not in (200, 429))
        print(
            f"in all: {rows:,} outbox rows queued, {emulator.delivered():,} delivered, 429 answers {too_many},"
            f" other errors {errors}"
        )
        print(
            f"bot process peak memory (VmHWM), target ≤ {TARGET_MB:.0f} MB: {first.peak_hwm:.0f} MB in the first"
            f" {seconds:.0f} s after the import"
            + (f", {restart.peak_hwm:.0f} MB in {restart_seconds:.0f} s after a restart" if restart else "")
        )

        startups: list[float] = []
        for _ in range(args.startups if args.startups is not None else (1 if args.small else 3)):
            bot = BotProcess(env, workdir)
            try:
                startups.append(await first_poll(emulator, bot))
            finally:
                await bot.stop()
        if startups:
            print(
                f"start-up to first getUpdates over {len(startups)} more starts (planned register,"
                f" {rows:,} outbox rows): median {statistics.median(startups):.2f} s, max {max(startups):.2f} s"
            )
        peaks = [first.peak_hwm] + ([restart.peak_hwm] if restart else [])
        starts = [first.to_poll] + ([restart.to_poll] if restart else []) + startups
        good = max(peaks) <= TARGET_MB and max(starts) <= 3.0 and too_many == 0
        print("OK" if good else "BELOW TARGET")
        return 0 if good else BELOW_TARGET
    finally:
        await db.dispose()
        await emulator.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(list(argv) if argv is not None else None)
    if not Path("/proc/self/status").exists():
        print("bench process reads /proc/<pid>/status (Linux): skipped here")
        return 0
    if args.db is not None:
        return asyncio.run(run(args, args.db))
    with tempfile.TemporaryDirectory(prefix="qmsbot-bench-process-") as folder:
        return asyncio.run(run(args, Path(folder) / "national.db"))


if __name__ == "__main__":
    sys.exit(main())
