"""`python -m bench sender [--messages N] [--chats N] [--rate R] [--small]` — the outbox sender's throughput.

Queues N reminder-like messages (HTML text and an inline keyboard) for `--chats` private chats in a fresh
SQLite database, then starts the bot as shipped — `python -m bot.cli run`, a separate process — against the
project's Telegram Bot API emulator running here with Telegram's flood limits switched on (30 messages a
second per bot, one a second per private chat, 20 a minute per group), and measures from the emulator's side:

1. start-up: from starting the process to its first getUpdates (target ≤ 3 s), and to its first delivery;
2. throughput: deliveries per second between the first and the last delivery (target ≥ 95 % of
   SEND_RATE_PER_SECOND, i.e. ≥ 23.75/s at the default 25), and how many times Telegram answered 429
   (target 0);
3. that every message arrived exactly once.

Then it starts the process `--startups` more times on an empty outbox and reports the start-up times.
Defaults: 10,000 messages to 1,000 chats (about 7 minutes); `--small` is 300 messages (CI, about 15 s).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import delete

from bench import BELOW_TARGET
from sandbox.emulator.server import Emulator, FloodLimits
from storage.db import Database
from storage.models import OutboxMessage
from storage.outbox import OutboxKind, Outgoing, enqueue

TOKEN = "123456:BENCH-TOKEN"
ROOT = Path(__file__).resolve().parents[1]
KEYBOARD = {
    "inline_keyboard": [
        [{"text": "✅ Đã xong", "callback_data": "d:1:1"}, {"text": "⏳ Đang làm", "callback_data": "p:1:1"}],
        [{"text": "📅 Xin gia hạn", "callback_data": "x:1:1"}, {"text": "ℹ️ Chi tiết", "callback_data": "i:1:1"}],
    ]
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench sender", description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--chats", type=int, default=1_000)
    parser.add_argument("--rate", type=float, default=25.0, help="SEND_RATE_PER_SECOND (default 25)")
    parser.add_argument("--small", action="store_true", help="300 messages to 100 chats (CI)")
    parser.add_argument("--startups", type=int, default=3, help="extra start-ups to time on an empty outbox")
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


class BotProcess:
    """`python -m bot.cli run` in its own process, its output in `cwd/bot.log`."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.started = time.time()
        self.log = (cwd / "bot.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run"], env=env, cwd=cwd, stdout=self.log, stderr=subprocess.STDOUT
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


async def _run(args: argparse.Namespace) -> int:
    messages, chats = (300, 100) if args.small else (args.messages, args.chats)
    emulator = Emulator(
        token=TOKEN,
        flood_limits=FloodLimits(global_per_second=30, private_chat_per_second=1.0, group_per_minute=20),
        request_log_size=messages * 2 + 1_000,
    )
    await emulator.start()
    workdir = Path(tempfile.mkdtemp(prefix="qmsbot-bench-sender-"))
    db = Database(f"sqlite+aiosqlite:///{workdir / 'bench.db'}")
    try:
        await db.upgrade()
        users = [100_000 + n for n in range(chats)]
        for user in users:
            emulator.add_user(user, f"Đầu mối {user}")
            emulator.world.user(user).started = True
        rows = [
            Outgoing(
                key=f"bench:{i}",
                kind=OutboxKind.REMINDER,
                chat_id=users[i % chats],
                text=_text(i),
                reply_markup=KEYBOARD,
            )
            for i in range(messages)
        ]
        async with db.session() as session:
            await enqueue(session, rows, now=datetime.now(UTC))
        print(
            f"queued {messages:,} messages to {chats:,} chats; SEND_RATE_PER_SECOND={args.rate:g}; "
            "emulator flood limits 30/s per bot, 1/s per chat"
        )

        env = bot_env(emulator, db.url, args.rate)
        bot = BotProcess(env, workdir)
        try:
            to_poll = await first_poll(emulator, bot)
            while emulator.delivered() < messages:
                if bot.process.poll() is not None:
                    raise RuntimeError(f"the bot stopped (exit status {bot.process.poll()}); see {workdir}/bot.log")
                await asyncio.sleep(0.05)
            await asyncio.sleep(1.0)  # anything sent twice would show up now
        finally:
            await bot.stop()

        sends = emulator.requests_for("sendMessage")
        ok = sorted(r.time for r in sends if r.status == 200)
        too_many = sum(1 for r in sends if r.status == 429)
        per_key = Counter(
            str(m.get("text", "")).split(":", 1)[0] for user in users for m in emulator.bot_messages(user)
        )
        first, last = ok[0], ok[-1]
        rate = (len(ok) - 1) / (last - first) if last > first else float("inf")
        print(
            f"start-up to first getUpdates: {to_poll:.2f} s (target ≤ 3 s); "
            f"to first delivery: {first - bot.started:.2f} s"
        )
        print(
            f"delivered {len(ok):,} in {last - first:.1f} s: {rate:.2f} messages/s "
            f"= {rate / args.rate:.1%} of SEND_RATE_PER_SECOND (target ≥ 95 %)"
        )
        errors = sum(1 for r in sends if r.status not in (200, 429))
        doubled = sum(1 for n in per_key.values() if n > 1)
        print(f"429 answers: {too_many} (target 0); other errors: {errors}")
        print(f"distinct messages: {len(per_key):,}; delivered more than once: {doubled}")
        print(f"total wall time from process start: {last - bot.started:.1f} s")

        startups = []
        async with db.session() as session:
            await session.execute(delete(OutboxMessage))
        for _ in range(args.startups):
            bot = BotProcess(env, workdir)
            try:
                startups.append(await first_poll(emulator, bot))
            finally:
                await bot.stop()
        if startups:
            print(
                f"start-up to first getUpdates over {len(startups)} more starts: median "
                f"{statistics.median(startups):.2f} s, max {max(startups):.2f} s"
            )
        if len(per_key) != messages or doubled:
            print(f"WRONG: {messages - len(per_key):,} messages lost, {doubled:,} delivered twice")
            return 1
        good = rate >= 0.95 * args.rate and too_many == 0 and to_poll <= 3.0
        print("OK" if good else "BELOW TARGET")
        return 0 if good else BELOW_TARGET
    finally:
        await db.dispose()
        await emulator.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(list(argv) if argv is not None else None)
    return asyncio.run(_run(args))


if __name__ == "__main__":
    sys.exit(main())
