"""/units: every unit with its focal points, open and overdue counts, and "no focal point" warnings;
unreachable people and failed deliveries are shown too, so nothing is dropped silently."""

from __future__ import annotations

from handlers.base import Request, command, expect_args
from storage.digest_data import DigestWindow, failed_deliveries
from storage.register import unit_summaries
from texts.units import units_text

UNIT_LIMIT = 200  # a national register has 30,000 units: past this, the counts and /export say the rest
FAILED_LIMIT = 10


@command("units")
async def units(req: Request) -> None:
    expect_args(req, req.command("units"), 0, 0)
    services = req.services
    async with services.db.session() as session:
        summaries = await unit_summaries(session, today=services.today(), within=req.actor.reach)
        failed, failed_total, blocked_total = await failed_deliveries(
            session, DigestWindow(services.now(), services.settings.tz), limit=FAILED_LIMIT, within=req.actor.reach
        )
    await req.reply(
        units_text(
            req.lang,
            summaries,
            limit=UNIT_LIMIT,
            failed=failed,
            failed_total=failed_total,
            blocked_total=blocked_total,
        )
    )
