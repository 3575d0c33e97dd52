"""`python -m bench digest [--units N] [--commitments N] [--small] [--db FILE]` — the weekly digest at scale.

Builds a SQLite register (bench.data: two focal points and a head per unit, 2 % of units without focal point,
1 % of people unreachable, due dates from 20 days ago to a year ahead), then marks 30 % of the commitments done
(done dates around their deadlines, some late, a tenth of them in the last week), adds pending extension
requests (0.5 % of the open ones) and a few hundred failed deliveries. On it, at the Monday 08:00 slot:

The units form a tree, as on a national deployment: one national root, `--scopes` ministries and provinces
below it (default 100), each with ten departments and the rest of the units below those; each ministry or
province has a secretary of its own (scope: its subtree), besides the whole register's secretaries.

1. `plan_digests`: the national digest to every whole-register secretary and DIGEST_CHAT_ID, each scoped
   secretary's digest of their scope, and every unit's own list to its reachable focal points, queued in the
   outbox (target ≤ 5 s for 30,000 units / 300,000 commitments, before scopes). It runs first, so it also pays
   for importing matplotlib (~0.5 s), as the first digest after a start does;
2. `plan_digests` again a minute later (everything queued: nothing to do);
3. the committee digests alone, 1 national + every scope's (their rows removed, the unit lists left planned):
   target ≤ 10 s on SQLite at national size;
4. the committee digest alone, as `/digest` builds it for a secretary (aggregates, text, chart), and for one
   scoped secretary;
5. the peak resident memory of the digest steps (VmHWM, reset after building the register where Linux allows)
   and of the whole process (ru_maxrss) — target ≤ 250 MB.

Defaults: the national size (30,000 units, 300,000 commitments); `--small` is 300 / 3,000 for CI.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, delete, func, insert, select, update

from bench.data import Shape, build_register
from bench.database import Target, fresh, postgres_url
from core.settings import load_settings
from scheduler.digest import (
    DIGEST_KIND,
    LONG_AGO,
    STATE_SINCE,
    STATE_UNITS,
    UNIT_DIGEST_KIND,
    build_digest_for,
    plan_digests,
)
from storage import planning
from storage.db import Database
from storage.digest_data import DigestWindow, committee_data_many
from storage.members import resolve_actor
from storage.models import (
    Commitment,
    ExtensionRequest,
    ExtensionStatus,
    Membership,
    OutboxMessage,
    OutboxStatus,
    Person,
    PlannerState,
    Role,
    Status,
    Unit,
)
from storage.outbox import OutboxKind
from storage.scopes import refresh_paths, secretaries

TAKES_DATABASE_URL = True  # `python -m bench --small` runs it on PostgreSQL too (bench.database)
HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
# Monday 01/03/2027, 08:02 in Hanoi: just after the default DIGEST_CRON slot (mon 08:00).
START = datetime(2027, 3, 1, 8, 2, tzinfo=HANOI)
GROUP_CHAT = -1_001_234_567_890


def _rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark of this process (Linux ≥ 4.0), so VmHWM measures what follows."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _hwm_mb() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench digest", description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=30_000)
    parser.add_argument("--commitments", type=int, default=300_000)
    parser.add_argument("--small", action="store_true", help="300 units, 3,000 commitments (CI)")
    parser.add_argument("--db", type=Path, help="SQLite file to build (default: a temporary file, removed after)")
    parser.add_argument(
        "--database-url", help="build on this PostgreSQL database instead (postgresql+asyncpg://…; emptied first)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--scopes", type=int, default=100, help="ministries and provinces with a secretary of their own"
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="with --db: measure on the register already in FILE (its digests removed first) instead of building it,"
        " so the process's peak memory is the digest's own",
    )
    return parser


async def _history(db: Database, shape: Shape, now: datetime) -> tuple[int, int, int]:
    """Done commitments, pending extension requests and failed deliveries, as a register a year in would have."""
    rng = random.Random(shape.seed + 1)
    today = now.astimezone(HANOI).date()
    async with db.engine.begin() as connection:
        rows = (await connection.execute(select(Commitment.id, Commitment.due_date, Commitment.unit_id))).all()
        done: list[dict[str, object]] = []
        pending: list[dict[str, object]] = []
        for cid, due, _unit in rows:
            if rng.random() < 0.3:
                if rng.random() < 0.1:  # done in the last week
                    at = now - timedelta(hours=rng.randint(1, 7 * 24 - 1))
                else:  # around the deadline: most on time, some late
                    at = datetime(due.year, due.month, due.day, 16, tzinfo=HANOI) + timedelta(days=rng.randint(-15, 4))
                    at = min(at, now - timedelta(days=7, hours=1))
                done.append({"_id": cid, "_at": at})
            elif due >= today and rng.random() < 0.005:
                pending.append(
                    {
                        "commitment_id": cid,
                        "requested_by_id": None,
                        "requested_at": now - timedelta(days=rng.randint(0, 10)),
                        "old_due": due,
                        "new_due": due + timedelta(days=30),
                        "reason": "Đề nghị gia hạn để hoàn thiện hồ sơ, lấy ý kiến các đơn vị liên quan",
                        "status": ExtensionStatus.PENDING,
                    }
                )
        statement = (
            update(Commitment)
            .where(Commitment.id == bindparam("_id"))
            .values(status=Status.DONE, progress=100, done_at=bindparam("_at", type_=Commitment.done_at.type))
        )
        await connection.execute(statement, done)
        if pending:
            await connection.execute(insert(ExtensionRequest), pending)
        people = (
            await connection.execute(
                select(Person.id, Person.telegram_id)
                .join(Membership, Membership.person_id == Person.id)
                .where(Membership.role == Role.FOCAL)
                .limit(max(shape.units // 100, 3))
            )
        ).all()
        failed = [
            {
                "key": f"reminder:bench:{n}",
                "kind": OutboxKind.REMINDER,
                "chat_id": telegram_id,
                "person_id": pid,
                "text": "…",
                "priority": 0,
                "status": OutboxStatus.FAILED,
                "attempts": 5,
                "not_before": now - timedelta(days=2),
                "created_at": now - timedelta(days=2),
                "last_error": "Timed out",
            }
            for n, (pid, telegram_id) in enumerate(people)
        ]
        if failed:
            await connection.execute(insert(OutboxMessage), failed)
    return len(done), len(pending), len(failed)


async def _tree(db: Database, shape: Shape, scopes: int, now: datetime) -> int:
    """Units 2 … scopes + 1 below unit 1; ten departments below each; every other unit below a department; one
    scoped secretary per ministry or province. Returns the number of scoped secretaries."""
    scopes = max(0, min(scopes, shape.units - 1))
    if not scopes:
        return 0
    ministries = list(range(2, scopes + 2))
    rest = list(range(scopes + 2, shape.units + 1))
    departments = {m: rest[i * 10 : i * 10 + 10] for i, m in enumerate(ministries)}
    parents: list[dict[str, object]] = [{"_id": m, "_parent": 1} for m in ministries]
    parents += [{"_id": d, "_parent": m} for m, ds in departments.items() for d in ds]
    placed = {d for ds in departments.values() for d in ds}
    below = [d for ds in departments.values() for d in ds] or ministries
    parents += [
        {"_id": uid, "_parent": below[n % len(below)]} for n, uid in enumerate(u for u in rest if u not in placed)
    ]
    async with db.session() as session:
        statement = update(Unit).where(Unit.id == bindparam("_id")).values(parent_id=bindparam("_parent"))
        await (await session.connection()).execute(statement, parents)
        await refresh_paths(session)
        first = int(await session.scalar(select(func.max(Person.id))) or 0) + 1
        people = [
            {
                "id": first + n,
                "telegram_id": 2_000_000_000 + n,
                "full_name": f"Thư ký {m}",
                "language": "en" if n % 10 == 0 else None,
                "reachable": True,
                "has_started": True,
                "created_at": now,
            }
            for n, m in enumerate(ministries)
        ]
        await session.execute(insert(Person), people)
        await session.execute(
            insert(Membership),
            [
                {"person_id": first + n, "unit_id": m, "role": Role.SECRETARY, "origin": "invite", "created_at": now}
                for n, m in enumerate(ministries)
            ],
        )
    return scopes


async def _forget_digests(db: Database) -> int:
    async with db.session() as session:
        result = await session.execute(
            delete(OutboxMessage).where(OutboxMessage.kind.in_([DIGEST_KIND, UNIT_DIGEST_KIND]))
        )
        await session.execute(delete(PlannerState).where(PlannerState.name == STATE_UNITS))
        return max(result.rowcount or 0, 0)  # type: ignore[attr-defined]


async def run(shape: Shape, target: Target, *, reuse: bool = False, scopes: int = 100) -> None:
    db = await fresh(target, keep=reuse)
    try:
        await db.upgrade()
        if reuse:
            removed = await _forget_digests(db)
            async with db.session() as session:
                commitments = await session.scalar(select(func.count()).select_from(Commitment))
            print(
                f"register: {commitments:,} commitments in {target.label}"
                f" ({removed:,} digest rows of an earlier run removed)"
            )
            reset = False
        else:
            started = time.perf_counter()
            built = await build_register(db, shape, today=START.date(), now=START)
            done, pending, failed = await _history(db, shape, START)
            scoped = await _tree(db, shape, scopes, START)
            print(
                f"register: {built.units:,} units, {built.people:,} people, {built.commitments:,} commitments"
                f" ({done:,} done, {pending:,} pending extensions, {failed:,} failed deliveries,"
                f" {scoped} scoped secretaries)"
                f" — built in {time.perf_counter() - started:.1f} s ({target.label})"
            )
            print(f"peak RSS after building: {_rss_mb():.0f} MB")
            reset = _reset_peak()

        # A register a year in: this installation has been sending digests (else the first slot is the next one).
        async with db.session() as session:
            await planning.set_state(session, STATE_SINCE, LONG_AGO)
        settings = load_settings(_env_file=None, digest_cron="mon 08:00", digest_chat_id=str(GROUP_CHAT))
        async with db.session() as session:
            secretary_tid = await session.scalar(
                select(Person.telegram_id)
                .join(Membership, Membership.person_id == Person.id)
                .where(Membership.role == Role.SECRETARY, Membership.unit_id.is_(None))
                .limit(1)
            )
            assert secretary_tid is not None
            actor = await resolve_actor(session, telegram_id=secretary_tid)
            scoped_tid = await session.scalar(
                select(Person.telegram_id)
                .join(Membership, Membership.person_id == Person.id)
                .where(Membership.role == Role.SECRETARY, Membership.unit_id.is_not(None))
                .limit(1)
            )
            scoped_actor = await resolve_actor(session, telegram_id=scoped_tid) if scoped_tid is not None else None

        started = time.perf_counter()
        queued = await plan_digests(db, settings=settings, now=START)
        seconds = time.perf_counter() - started
        async with db.session() as session:
            counted = await session.execute(
                select(OutboxMessage.kind, func.count())
                .where(OutboxMessage.kind.in_([DIGEST_KIND, UNIT_DIGEST_KIND]))
                .group_by(OutboxMessage.kind)
            )
            kinds = {kind: int(n) for kind, n in counted.tuples()}
        print(
            f"{'plan_digests at the slot':<34} {seconds * 1000:9.1f} ms   {queued:,} rows queued:"
            f" {kinds.get('digest', 0):,} committee digest rows, {kinds.get('unit_digest', 0):,} unit lists"
        )
        started = time.perf_counter()
        again = await plan_digests(db, settings=settings, now=START + timedelta(minutes=1))
        print(f"{'plan_digests a minute later':<34} {(time.perf_counter() - started) * 1000:9.1f} ms   {again} queued")
        async with db.session() as session:
            await session.execute(delete(OutboxMessage).where(OutboxMessage.kind == DIGEST_KIND))
            every_scope = [None, *(await secretaries(session)).scopes()]
        started = time.perf_counter()
        again = await plan_digests(db, settings=settings, now=START + timedelta(minutes=2))
        seconds = time.perf_counter() - started
        async with db.session() as session:
            chats = await session.scalar(
                select(func.count(func.distinct(OutboxMessage.chat_id))).where(OutboxMessage.kind == DIGEST_KIND)
            )
        print(
            f"{'committee digests of every scope':<34} {seconds * 1000:9.1f} ms   {again:,} rows to {chats:,} chats"
            f" (1 national + {len(every_scope) - 1} scoped)"
        )
        started = time.perf_counter()
        window = DigestWindow(now=START, tz=HANOI)
        async with db.session() as session:
            every = [None, *(scope for scope, _people in (await secretaries(session)).scopes())]
            await committee_data_many(session, window, every)
        seconds = time.perf_counter() - started
        print(f"{'  of which the figures':<34} {seconds * 1000:9.1f} ms   {len(every)} digests' data, no text or chart")
        for label, who in (("committee digest (/digest)", actor), ("a scope's digest (/digest)", scoped_actor)):
            if who is None:
                continue
            started = time.perf_counter()
            messages = await build_digest_for(db, actor=who, settings=settings, now=START)
            seconds = time.perf_counter() - started
            chart = next((m.file_data for m in messages if m.media == "photo"), None) or b""
            texts = [m for m in messages if m.media is None]
            print(
                f"{label:<34} {seconds * 1000:9.1f} ms   {len(texts)} text part(s),"
                f" {sum(len(m.text) for m in texts):,} characters, chart {len(chart) / 1024:.0f} KB"
            )

        hwm = _hwm_mb()
        if reset and hwm is not None:
            print(f"peak RSS of the digest steps: {hwm:.0f} MB   (whole process: {_rss_mb():.0f} MB)")
        else:
            print(f"peak RSS of the whole process: {_rss_mb():.0f} MB")
    finally:
        await db.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    units, commitments = (300, 3_000) if args.small else (args.units, args.commitments)
    if units < 1 or commitments < 1:
        print("--units and --commitments must be at least 1", file=sys.stderr)
        return 2
    shape = Shape(units=units, commitments=commitments, seed=args.seed)
    url = postgres_url(args.database_url)
    if args.reuse and url is None and (args.db is None or not args.db.exists()):
        print("--reuse needs --db FILE or --database-url of an earlier run", file=sys.stderr)
        return 2
    if url is not None or args.db is not None:
        asyncio.run(run(shape, Target(path=args.db, url=url), reuse=args.reuse, scopes=args.scopes))
        return 0
    with tempfile.TemporaryDirectory(prefix="qmsbot-bench-") as folder:
        asyncio.run(run(shape, Target(path=Path(folder) / "digest.db"), scopes=args.scopes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
