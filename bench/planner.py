"""`python -m bench planner [--units N] [--commitments N] [--tick-reminders N] [--small] [--db FILE]` — the
reminder planner at scale.

Builds a SQLite register (bench.data: a few focal points and a head per unit, 2 % of units without focal
point, 1 % of people unreachable, due dates from 20 days ago to a year ahead), then measures on it:

1. the first tick (every commitment planned once: what the first start after a national import costs);
2. ticks with nothing due (the every-minute case; target ≤ 100 ms);
3. the tick at the next reminder time, which queues that morning's reminders (target ≤ 2 s for 10,000);
4. the peak resident memory of the process (ru_maxrss).

Every tick's line also says how many messages it queued to the busiest secretary or admin ("most to one secretary":
escalations, "no focal point" and "unreachable" notices are grouped per recipient per tick; target ≤ 3 at
national size, SPEC "No floods for the committee").

With `--tick-reminders N` the register is laid out (bench.data.Tick) so that the tick of step 3 — the next
morning, Wednesday 03/03/2027 08:30 — queues exactly N focal-point reminders and nothing else: the
commitments due then are as many as it takes, the others have no slot at all that morning.
`--repeat K` runs that tick K times: after each, its outbox rows are deleted and its commitments' next slot
is set back to the tick, so each run queues the same N messages again.

Defaults: the national size (30,000 units, 300,000 commitments), the natural layout (a morning of ~9,300 due
commitments, ~22,500 messages); `--small` is 300 / 3,000 for CI.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, delete, func, select, update

from bench.data import Shape, Tick, build_register
from bench.database import Target, fresh, postgres_url
from scheduler.calendar import WorkCalendar
from scheduler.planner import DEFAULT_BATCH, PlanResult, plan_tick
from scheduler.policy import ReminderPolicy
from storage.db import Database
from storage.models import Commitment, Membership, OutboxMessage, Role

TAKES_DATABASE_URL = True  # `python -m bench --small` runs it on PostgreSQL too (bench.database)
HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
# Tuesday 02/03/2027, 09:00 in Hanoi: a plain working week, no holiday near.
START = datetime(2027, 3, 2, 9, 0, tzinfo=HANOI)
CALENDAR = WorkCalendar()


def _rss_mb() -> float:
    # ru_maxrss is in kilobytes on Linux (bytes on macOS).
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench planner", description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=30_000)
    parser.add_argument("--commitments", type=int, default=300_000)
    parser.add_argument("--small", action="store_true", help="300 units, 3,000 commitments (CI)")
    parser.add_argument("--db", type=Path, help="SQLite file to build (default: a temporary file, removed after)")
    parser.add_argument(
        "--database-url", help="build on this PostgreSQL database instead (postgresql+asyncpg://…; emptied first)"
    )
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH, help="commitments per planner transaction")
    parser.add_argument("--focal", type=int, default=2, help="focal points per unit (default 2)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--idle-runs", type=int, default=5, help="how many nothing-due ticks to time")
    parser.add_argument(
        "--tick-reminders",
        type=int,
        metavar="N",
        help="lay the register out so that the next morning's tick queues exactly N reminders and nothing else",
    )
    parser.add_argument("--repeat", type=int, default=1, metavar="K", help="run the morning's tick K times")
    return parser


def _line(label: str, seconds: float, result: PlanResult, to_secretary: int) -> str:
    return (
        f"{label:<40} {seconds * 1000:9.1f} ms   evaluated {result.evaluated:>7,}   reminders {result.reminders:>7,}"
        f"   escalations {result.escalations:>3,} ({result.escalated:>6,} tasks)   notices {result.notices:>3,}"
        f"   most to one secretary {to_secretary}"
    )


async def _most_to_one_secretary(db: Database, at: datetime) -> int:
    """The most outbox rows the tick at `at` queued to one secretary or admin."""
    committee = select(Membership.person_id).where(Membership.role.in_([Role.SECRETARY, Role.ADMIN]))
    async with db.session() as session:
        counts = await session.scalars(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.created_at == at, OutboxMessage.person_id.in_(committee))
            .group_by(OutboxMessage.person_id)
        )
        return max(counts, default=0)


async def _tick(db: Database, now: datetime, batch: int) -> tuple[float, PlanResult, int]:
    started = time.perf_counter()
    result = await plan_tick(
        db,
        policy=ReminderPolicy(),
        calendar=CALENDAR,
        now=now,
        default_language="vi",
        batch_size=batch,
    )
    seconds = time.perf_counter() - started
    return seconds, result, await _most_to_one_secretary(db, now)


def next_morning(policy: ReminderPolicy, after: datetime) -> datetime:
    """The first REMINDER_TIME of a working day after `after`."""
    day = after.astimezone(policy.tz).date()
    while True:
        at = policy.reminder_at(day)
        if at > after and CALENDAR.is_working_day(day):
            return at
        day += timedelta(days=1)


async def _due_at(db: Database, at: datetime) -> list[dict[str, object]]:
    """The commitments a tick at `at` will plan, with what the tick changes on them."""
    async with db.session() as session:
        rows = await session.execute(
            select(Commitment.id, Commitment.escalated_for).where(Commitment.next_slot_at <= at)
        )
        return [{"_id": cid, "_at": at, "_esc": escalated} for cid, escalated in rows]


async def _undo_tick(db: Database, at: datetime, due: list[dict[str, object]]) -> None:
    """Put the register back as it was before the tick at `at`: its outbox rows go, its commitments are due."""
    statement = (
        update(Commitment)
        .where(Commitment.id == bindparam("_id"))
        .values(
            next_slot_at=bindparam("_at", type_=Commitment.next_slot_at.type),
            escalated_for=bindparam("_esc", type_=Commitment.escalated_for.type),
        )
    )
    async with db.engine.begin() as connection:
        await connection.execute(delete(OutboxMessage).where(OutboxMessage.created_at == at))
        await connection.execute(statement, due)


async def run(
    shape: Shape, target: Target, batch: int, idle_runs: int, tick_reminders: int | None = None, repeat: int = 1
) -> None:
    """Build the register in `target` (replacing it) and print the measurements."""
    db = await fresh(target)
    policy = ReminderPolicy()
    morning = next_morning(policy, START)
    tick = None if tick_reminders is None else Tick(morning, tick_reminders, policy, CALENDAR)
    try:
        await db.upgrade()
        started = time.perf_counter()
        built = await build_register(db, shape, today=START.date(), now=START, tick=tick)
        print(
            f"register: {built.units:,} units, {built.people:,} people, {built.commitments:,} open commitments"
            f" — built in {time.perf_counter() - started:.1f} s ({target.label})"
        )
        if tick is not None:
            print(
                f"laid out for the tick at {morning.astimezone(HANOI):%a %d/%m %H:%M}: {built.tick_commitments:,}"
                f" commitments due then, {built.tick_reminders:,} reachable focal points; nothing else due"
            )
        print(f"peak RSS after building: {_rss_mb():.0f} MB")

        seconds, result, most = await _tick(db, START, batch)
        print(_line("first tick (plans everything)", seconds, result, most))

        idle: list[float] = []
        for n in range(idle_runs):
            seconds, result, _most = await _tick(db, START + timedelta(minutes=1 + n), batch)
            assert result.evaluated == 0, "nothing should be due a minute later"
            idle.append(seconds)
        print(
            f"{'tick with nothing due':<40} {statistics.median(idle) * 1000:9.1f} ms   (median of {idle_runs};"
            f" max {max(idle) * 1000:.1f} ms)"
        )

        async with db.session() as session:
            following = await session.scalar(select(func.min(Commitment.next_slot_at)))
            assert following is not None
            queued_before = await session.scalar(select(func.count()).select_from(OutboxMessage))
        if tick is not None and following != morning:
            raise RuntimeError(f"the layout failed: the next slot is {following}, not {morning}")
        due = await _due_at(db, following)
        local = following.astimezone(HANOI)
        times: list[float] = []
        for run_number in range(max(repeat, 1)):
            if run_number:
                await _undo_tick(db, following, due)
            seconds, result, most = await _tick(db, following, batch)
            times.append(seconds)
            label = f"tick at {local:%a %d/%m %H:%M} ({len(due):,} due)"
            print(_line(label if repeat <= 1 else f"{label} #{run_number + 1}", seconds, result, most))
            if tick is not None and (result.reminders != built.tick_reminders or result.escalations):
                raise RuntimeError(f"the tick queued {result}, not {built.tick_reminders:,} reminders alone")
        if len(times) > 1:
            print(
                f"{'':<40} {statistics.median(times) * 1000:9.1f} ms median of {len(times)}"
                f" (min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f} ms)"
            )
        per_thousand = statistics.median(times) / max(result.queued, 1) * 1000
        print(f"{'':<40} {per_thousand * 1000:9.1f} ms per 1,000 messages queued")

        seconds, result, most = await _tick(db, following + timedelta(minutes=1), batch)
        print(_line("next minute (nothing due)", seconds, result, most))
        async with db.session() as session:
            queued = await session.scalar(select(func.count()).select_from(OutboxMessage))
        print(f"outbox rows: {queued_before:,} after the first tick, {queued:,} now")
        size = f"   database file: {target.size_mb():.0f} MB" if not target.is_postgres else ""
        print(f"peak RSS: {_rss_mb():.0f} MB{size}")
    finally:
        await db.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    units, commitments = (300, 3_000) if args.small else (args.units, args.commitments)
    if units < 1 or commitments < 1 or args.focal < 0:
        print("--units and --commitments must be at least 1, --focal at least 0", file=sys.stderr)
        return 2
    shape = Shape(units=units, commitments=commitments, focal_per_unit=args.focal, seed=args.seed)
    if args.tick_reminders is not None and args.tick_reminders < 1:
        print("--tick-reminders must be at least 1", file=sys.stderr)
        return 2
    options = (args.batch, args.idle_runs, args.tick_reminders, args.repeat)
    url = postgres_url(args.database_url)
    if url is not None or args.db is not None:
        asyncio.run(run(shape, Target(path=args.db, url=url), *options))
        return 0
    with tempfile.TemporaryDirectory(prefix="qmsbot-bench-") as folder:
        asyncio.run(run(shape, Target(path=Path(folder) / "planner.db"), *options))
    return 0


if __name__ == "__main__":
    sys.exit(main())
