"""`python -m bench broadcast [--recipients N] [--rate R] [--paid R] [--small]` — a broadcast, paced by the sender.

Builds a register (SQLite; PostgreSQL with `--database-url`, emptied first) of N linked people (two focal points
in each of N/2 units, one person in ten reading English), creates a broadcast to all units as the secretary's
"Send" does (storage.broadcasts.create_draft, then send with texts.render.broadcast_parts, default language vi),
and runs the real sender (scheduler.drain with the project's rate limiter at SEND_RATE_PER_SECOND) in this
process against the project's Telegram Bot API emulator enforcing Telegram's flood limits (30 messages a second
per bot, one a second per private chat), until every delivery has ended. Then it reads the broadcast's report
(storage.broadcasts.finished) and measures from the emulator's side:

1. queueing: create_draft and send (N outbox rows);
2. throughput: deliveries per second between the first and the last (target ≥ 95 % of SEND_RATE_PER_SECOND,
   as for reminders), and how many times Telegram answered 429 (target 0);
3. that every recipient got the broadcast exactly once, and the report counts them all as delivered.

With `--paid R` the bot runs with PAID_BROADCAST=true and PAID_SEND_RATE_PER_SECOND=R: the target is then
≥ 95 % of R with no 429 (the emulator lets messages sent with allow_paid_broadcast go up to 1,000 a second),
and the benchmark counts how many went as paid ones.

Defaults: 10,000 recipients (about 7 minutes at 25 a second, under two at `--paid 100`); `--small` is 300
(CI, about 15 s).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select
from telegram.warnings import PTBUserWarning

from bench import BELOW_TARGET
from bench.data import Shape, build_register
from bench.database import Target, fresh, postgres_url
from bot.app import build_application
from bot.telegram_channel import TelegramChannel
from core.settings import load_settings
from sandbox.emulator.server import Emulator, FloodLimits
from scheduler.drain import Drain
from storage import broadcasts
from storage.models import Broadcast, Membership, OutboxMessage, Person, Role
from texts.render import broadcast_parts

TAKES_DATABASE_URL = True  # `python -m bench --small` runs it on PostgreSQL too (bench.database)
TOKEN = "123456:BENCH-TOKEN"
TEXT = (
    "Kính gửi các đơn vị,\n"
    "Ban chỉ đạo ISO đề nghị các đơn vị rà soát danh mục thủ tục hành chính và cập nhật hệ thống quản lý chất "
    "lượng theo TCVN ISO 9001:2015 trước ngày 31/12; báo cáo kết quả qua bot (nút «Đã xong» hoặc /done).\n"
    "Trân trọng cảm ơn!"
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench broadcast", description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=10_000, help="linked people (rounded up to even)")
    parser.add_argument("--rate", type=float, default=25.0, help="SEND_RATE_PER_SECOND (default 25)")
    parser.add_argument("--paid", type=float, help="PAID_BROADCAST=true at this PAID_SEND_RATE_PER_SECOND")
    parser.add_argument("--small", action="store_true", help="300 recipients (CI)")
    parser.add_argument("--timeout", type=float, help="give up after this many seconds of sending")
    parser.add_argument("--database-url", help="run on this PostgreSQL database instead (emptied first)")
    return parser


def _now() -> datetime:
    return datetime.now(UTC)


async def _run(args: argparse.Namespace, folder: Path) -> int:
    wanted = 300 if args.small else args.recipients
    units = (wanted + 1) // 2
    url = postgres_url(args.database_url)
    target = Target(url=url) if url is not None else Target(path=folder / "broadcast.db")
    db = await fresh(target)
    emulator = Emulator(
        token=TOKEN,
        flood_limits=FloodLimits(
            global_per_second=30, private_chat_per_second=1.0, group_per_minute=20, paid_per_second=1000
        ),
        request_log_size=units * 4 + 1_000,
    )
    await emulator.start()
    application = None
    try:
        await db.upgrade()
        now = _now()
        shape = Shape(
            units=units,
            commitments=0,
            focal_per_unit=2,
            heads_per_unit=0,
            secretaries=1,
            without_focal=0.0,
            unreachable=0.0,
        )
        await build_register(db, shape, today=now.date(), now=now)
        async with db.session() as session:
            people = list((await session.execute(select(Person.telegram_id, Person.full_name))).tuples())
            secretary = (
                await session.execute(
                    select(Person.id, Person.telegram_id)
                    .join(Membership, Membership.person_id == Person.id)
                    .where(Membership.role == Role.SECRETARY)
                )
            ).one()
        for telegram_id, name in people:
            emulator.add_user(telegram_id, name)
            emulator.world.user(telegram_id).started = True

        started = time.perf_counter()
        async with db.session() as session:
            draft = await broadcasts.create_draft(
                session,
                created_by_id=secretary.id,
                chat_id=secretary.telegram_id,
                text=TEXT,
                unit_codes=None,
                media=None,
                file_id=None,
                file_name=None,
                now=now,
            )
            broadcast_id, recipients = draft.id, draft.recipients
        drafted = time.perf_counter() - started
        started = time.perf_counter()
        async with db.session() as session:
            queued, _ = await broadcasts.send(
                session,
                broadcast_id=broadcast_id,
                now=_now(),
                render=lambda b, lang: broadcast_parts(lang, b.text, with_file=bool(b.file_id)),
                default_language="vi",
            )
        sent_in = time.perf_counter() - started
        async with db.session() as session:
            rows = await session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.batch == f"broadcast:{broadcast_id}")
            )
        if not queued or rows != recipients:
            print(f"WRONG: send queued={queued}, {rows} outbox rows for {recipients} recipients")
            return 1
        print(
            f"broadcast to {recipients:,} people ({units:,} units × 2 focal points): preview {drafted * 1000:.0f} ms,"
            f' "Send" queued {rows:,} messages in {sent_in * 1000:.0f} ms ({target.label});'
            f" SEND_RATE_PER_SECOND={args.rate:g},"
            " emulator flood limits 30/s per bot, 1/s per chat"
        )

        settings = load_settings(
            _env_file=None,
            telegram_bot_token=TOKEN,
            telegram_api_base_url=emulator.base_url,
            database_url=db.url,
            send_rate_per_second=args.rate,
            paid_broadcast=args.paid is not None,
            paid_send_rate_per_second=args.paid or 100,
        )
        with warnings.catch_warnings():  # the /add dialogue's per_message note, not news here
            warnings.simplefilter("ignore", PTBUserWarning)
            application = build_application(settings, db, jobs=False)
        await application.bot.initialize()
        sender = Drain(db=db, channel=TelegramChannel(application.bot), now=_now, default_language="vi")
        target = args.paid or args.rate
        timeout = args.timeout or max(60.0, rows / target * 2 + 30)
        started = time.perf_counter()
        await sender.run_until_idle(timeout=timeout)
        duration = time.perf_counter() - started
        await asyncio.sleep(1.0)  # anything sent twice would show up now

        async with db.session() as session:
            done = await broadcasts.finished(session)
        report = next((deliveries for b, deliveries in done if b.id == broadcast_id), None)
        outcome = Counter(d.status.value for d in report) if report is not None else Counter()

        sends = emulator.requests_for("sendMessage")
        ok = sorted(r.time for r in sends if r.status == 200)
        too_many = sum(1 for r in sends if r.status == 429)
        paid = sum(1 for r in sends if r.status == 200 and r.params.get("allow_paid_broadcast") in (True, "true"))
        errors = sum(1 for r in sends if r.status not in (200, 429))
        per_chat = emulator.deliveries
        doubled = sum(1 for n in per_chat.values() if n > 1)
        reached = sum(1 for n in per_chat.values() if n >= 1)
        first, last = (ok[0], ok[-1]) if ok else (0.0, 0.0)
        rate = (len(ok) - 1) / (last - first) if last > first else 0.0
        print(
            f"delivered {len(ok):,} in {last - first:.1f} s: {rate:.2f} messages/s"
            f" = {rate / target:.1%} of {'PAID_SEND_RATE_PER_SECOND' if args.paid else 'SEND_RATE_PER_SECOND'}"
            f" {target:g} (target ≥ 95 %)"
        )
        if args.paid:
            print(f"sent as paid broadcasts (allow_paid_broadcast): {paid:,} of {len(ok):,}")
        elif paid:
            print(f"WRONG: {paid} messages sent as paid broadcasts with PAID_BROADCAST off")
            return 1
        print(f"429 answers: {too_many} (target 0); other errors: {errors}; sender counts: {dict(sender.stats.counts)}")
        print(f"recipients reached: {reached:,} of {recipients:,}; delivered more than once: {doubled}")
        print(f"sender start → outbox drained: {duration:.1f} s")
        summary = ", ".join(f"{n:,} {status}" for status, n in sorted(outcome.items())) or "not ready"
        print(f"report (storage.broadcasts.finished): {summary}")
        async with db.session() as session:
            status = await session.scalar(select(Broadcast.status).where(Broadcast.id == broadcast_id))
        if reached != recipients or doubled or report is None or outcome.get("sent", 0) != recipients:
            print(f"WRONG: broadcast {status}; {recipients - reached:,} not reached, {doubled:,} reached twice")
            return 1
        good = rate >= 0.95 * target and too_many == 0
        print("OK" if good else "BELOW TARGET")
        return 0 if good else BELOW_TARGET
    finally:
        if application is not None:
            await application.bot.shutdown()
        await db.dispose()
        await emulator.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(list(argv) if argv is not None else None)
    if args.recipients < 2 or args.rate <= 0 or (args.paid is not None and args.paid <= args.rate):
        print("--recipients must be at least 2, --rate positive and --paid above --rate", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="qmsbot-bench-broadcast-") as folder:
        return asyncio.run(_run(args, Path(folder)))


if __name__ == "__main__":
    sys.exit(main())
