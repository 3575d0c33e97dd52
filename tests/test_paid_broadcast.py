"""Paid broadcasts (SPEC "Sending"): with PAID_BROADCAST=true, messages beyond the free rate go out with
allow_paid_broadcast, up to PAID_SEND_RATE_PER_SECOND; off by default, when no request ever carries it."""

from __future__ import annotations

from typing import Any

import pytest

from bot.app import build_application
from bot.ratelimit import OUTBOX, SendArgs, TelegramRateLimiter
from bot.telegram_channel import TelegramChannel
from core.settings import SettingsError, load_settings
from sandbox.emulator.server import Emulator, FloodLimits
from scheduler.drain import Drain, DrainOptions
from storage.db import Database
from tests.e2e.harness import Clock
from tests.test_sender import TOKEN, VirtualTime, message, outbox_rows, queue, start_user


async def _burst(limiter: TelegramRateLimiter, clock: VirtualTime, messages: int) -> list[tuple[float, bool]]:
    sent: list[tuple[float, bool]] = []

    async def call(endpoint: str, data: dict[str, Any]) -> dict[str, Any]:
        sent.append((clock(), bool(data.get("allow_paid_broadcast"))))
        return {"ok": True}

    for chat in range(1, messages + 1):
        data: dict[str, Any] = {"chat_id": chat, "text": "x"}
        await limiter.process_request(call, ("sendMessage", data), {}, "sendMessage", data, SendArgs(OUTBOX))
    return sent


async def test_beyond_the_free_rate_messages_go_paid_up_to_the_paid_rate() -> None:
    clock = VirtualTime()
    limiter = TelegramRateLimiter(25, paid_per_second=100, clock=clock, sleep=clock.sleep)
    sent = await _burst(limiter, clock, 200)
    assert sent[-1][0] - sent[0][0] == pytest.approx(199 / 100)  # paced at the paid rate
    first_second = [paid for at, paid in sent if at - sent[0][0] < 0.995]
    assert len(first_second) == 100
    assert first_second.count(False) == 25 and first_second.count(True) == 75  # the free rate first
    assert limiter.paid_messages == sum(paid for _, paid in sent)


async def test_without_paid_broadcasts_nothing_is_paid_and_the_free_rate_holds() -> None:
    clock = VirtualTime()
    limiter = TelegramRateLimiter(25, clock=clock, sleep=clock.sleep)
    sent = await _burst(limiter, clock, 50)
    assert not any(paid for _, paid in sent)
    assert sent[-1][0] - sent[0][0] == pytest.approx(49 / 25)


async def test_a_quiet_bot_pays_nothing() -> None:
    clock = VirtualTime()
    limiter = TelegramRateLimiter(25, paid_per_second=100, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        sent = await _burst(limiter, clock, 10)  # ten messages, then a pause of two seconds
        clock.now += 2
        assert not any(paid for _, paid in sent)


@pytest.mark.parametrize("paid", [True, False])
async def test_a_broadcast_through_the_emulator(sqlite_db: Database, paid: bool) -> None:
    """40 messages to 40 people: with paid broadcasts on, faster than the free limit and never a 429."""
    emulator = Emulator(token=TOKEN, flood_limits=FloodLimits(global_per_second=10, paid_per_second=1000))
    await emulator.start()
    settings = load_settings(
        _env_file=None,
        telegram_bot_token=TOKEN,
        telegram_api_base_url=emulator.base_url,
        database_url=sqlite_db.url,
        send_rate_per_second=8,
        paid_broadcast=paid,
        paid_send_rate_per_second=40,
    )
    clock = Clock()
    application = build_application(settings, sqlite_db, clock=clock, jobs=False)
    await application.bot.initialize()
    try:
        users = list(range(500, 540))
        for user in users:
            start_user(emulator, user, f"User {user}")
        await queue(sqlite_db, [message(f"b:{user}", user, kind="broadcast") for user in users], now=clock())
        drain = Drain(
            db=sqlite_db,
            channel=TelegramChannel(application.bot),
            now=clock,
            options=DrainOptions(poll_interval=0.05),
        )
        await drain.run_until_idle(timeout=60)
    finally:
        await application.bot.shutdown()
        await emulator.stop()

    sends = emulator.requests_for("sendMessage")
    assert sorted(emulator.deliveries) == users and set(emulator.deliveries.values()) == {1}
    assert not [r for r in sends if r.status != 200]  # no 429 in either mode
    flagged = [r for r in sends if r.params.get("allow_paid_broadcast") in (True, "true")]
    rows = await outbox_rows(sqlite_db)
    assert {row.status.value for row in rows.values()} == {"sent"}
    if paid:
        assert len(flagged) >= 20  # at 40 a second, all but the free 8 of each second
    else:
        assert flagged == []


def test_paid_rate_setting_is_checked() -> None:
    assert load_settings(_env_file=None).paid_broadcast is False
    assert load_settings(_env_file=None).paid_send_rate_per_second == 100
    with pytest.raises(SettingsError, match="PAID_SEND_RATE_PER_SECOND"):
        load_settings(_env_file=None, paid_send_rate_per_second=5000)
    with pytest.raises(SettingsError, match="PAID_BROADCAST"):
        load_settings(_env_file=None, paid_broadcast="maybe")
