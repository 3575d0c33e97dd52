"""/overdue: every overdue commitment, grouped by unit, split across messages when long."""

from __future__ import annotations

from handlers.base import Request, command, expect_args
from storage.register import overdue_commitments
from texts.units import overdue_text

LIMIT = 500  # beyond this a chat list stops being useful: /export has everything


@command("overdue")
async def overdue(req: Request) -> None:
    expect_args(req, req.command("overdue"), 0, 0)
    services = req.services
    today = services.today()
    async with services.db.session() as session:
        rows, total = await overdue_commitments(session, today=today, limit=LIMIT, within=req.actor.reach)
    await req.reply(overdue_text(req.lang, rows, total, today))
