"""The bot's one web server (aiohttp): Telegram's updates at the webhook URL's own path, `/healthz`, `/metrics`.

Webhook mode follows python-telegram-bot's custom-webhook pattern: the Application runs without its Updater,
and this server puts each update that carries the shared `WEBHOOK_SECRET` on the Application's queue.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text
from telegram import Update

from bot.jobs import jobs_of
from handlers.context import BotApplication
from storage.models import OutboxMessage, OutboxStatus

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
HEALTH_TIMEOUT_SECONDS = 3.0


@dataclass(frozen=True)
class Health:
    database: bool
    role: str  # "leader" | "follower"
    backlog: int
    oldest_pending_seconds: float

    def as_json(self) -> dict[str, Any]:
        return {
            "database": "ok" if self.database else "unreachable",
            "role": self.role,
            "backlog": self.backlog,
            "oldest_pending_seconds": round(self.oldest_pending_seconds, 1),
        }


async def read_health(application: BotApplication) -> Health:
    """The database answers (within HEALTH_TIMEOUT_SECONDS), this instance's role, and the outbox backlog."""
    services = application.bot_data.services
    jobs = jobs_of(application)
    role = "leader" if jobs is not None and jobs.leading else "follower"
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT_SECONDS):
            async with services.db.session() as session:
                await session.execute(text("SELECT 1"))
                count, oldest = (
                    await session.execute(
                        select(func.count(), func.min(OutboxMessage.created_at)).where(
                            OutboxMessage.status == OutboxStatus.PENDING
                        )
                    )
                ).one()
    except Exception as error:  # unreachable, timed out, or the driver failed: the instance is not healthy
        log.warning("health check: the database does not answer: %s", error)
        return Health(database=False, role=role, backlog=0, oldest_pending_seconds=0.0)
    age = 0.0
    if oldest is not None:
        if oldest.tzinfo is None:  # SQLite gives naive UTC datetimes back
            oldest = oldest.replace(tzinfo=UTC)
        age = max(0.0, (services.now() - oldest).total_seconds())
    return Health(database=True, role=role, backlog=int(count or 0), oldest_pending_seconds=age)


class _BotCollector(Collector):
    """Read at each scrape from the leader's drain and planner, and from the last health reading."""

    def __init__(self, application: BotApplication) -> None:
        self.application = application
        self.health: Health | None = None

    def collect(self) -> Iterator[Any]:
        jobs = jobs_of(self.application)
        stats = jobs.sender.stats.counts if jobs is not None and jobs.sender is not None else {}
        for name, key, doc in (
            ("qmsbot_messages_sent", "sent", "Outbox messages Telegram accepted"),
            ("qmsbot_messages_failed", "failed", "Outbox messages that failed for good"),
            ("qmsbot_messages_blocked", "blocked", "Outbox messages to people who blocked the bot"),
            ("qmsbot_telegram_429", "rate_limited", "Answers 429 Too Many Requests from Telegram"),
        ):
            counter = CounterMetricFamily(name, doc)
            counter.add_metric([], float(stats.get(key, 0)))
            yield counter
        leader = GaugeMetricFamily("qmsbot_leader", "1 while this instance plans and sends")
        leader.add_metric([], 1.0 if jobs is not None and jobs.leading else 0.0)
        yield leader
        tick = GaugeMetricFamily("qmsbot_planner_tick_seconds", "Duration of the last planner tick")
        tick.add_metric([], float(getattr(jobs, "last_tick_seconds", 0.0)) if jobs is not None else 0.0)
        yield tick
        ticks = CounterMetricFamily("qmsbot_planner_ticks", "Planner ticks run by this instance")
        ticks.add_metric([], float(jobs.plan_ticks) if jobs is not None else 0.0)
        yield ticks
        if self.health is not None:
            backlog = GaugeMetricFamily("qmsbot_outbox_backlog", "Outbox messages waiting to be sent")
            backlog.add_metric([], float(self.health.backlog))
            yield backlog
            oldest = GaugeMetricFamily("qmsbot_outbox_oldest_pending_seconds", "Age of the oldest waiting message")
            oldest.add_metric([], self.health.oldest_pending_seconds)
            yield oldest
            database = GaugeMetricFamily("qmsbot_database_up", "1 when the database answers")
            database.add_metric([], 1.0 if self.health.database else 0.0)
            yield database


def web_app(
    application: BotApplication,
    *,
    webhook_path: str | None = None,
    secret: str | None = None,
) -> web.Application:
    """`/healthz` and `/metrics`; with `webhook_path`, Telegram's updates there (POST, with `secret`)."""
    registry = CollectorRegistry(auto_describe=True)
    collector = _BotCollector(application)
    registry.register(collector)
    app = web.Application()

    async def healthz(_request: web.Request) -> web.Response:
        health = await read_health(application)
        collector.health = health
        return web.json_response(health.as_json(), status=200 if health.database else 503)

    async def metrics(_request: web.Request) -> web.Response:
        collector.health = await read_health(application)
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    if webhook_path is not None:
        if not secret:
            raise ValueError("a webhook needs its secret")
        expected = secret.encode()

        async def update(request: web.Request) -> web.Response:
            given = request.headers.get(SECRET_HEADER, "").encode()
            if not hmac.compare_digest(given, expected):
                return web.Response(status=403, text="forbidden")
            try:
                data = await request.json()
                parsed = Update.de_json(data, application.bot)
            except (json.JSONDecodeError, ValueError, TypeError, KeyError):
                return web.Response(status=400, text="not an update")
            if parsed is None:
                return web.Response(status=400, text="not an update")
            await application.update_queue.put(parsed)
            return web.Response(status=200)

        app.router.add_post(webhook_path, update)
    return app


async def start_site(app: web.Application, *, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host=host, port=port).start()
    return runner
