"""/overdue: every overdue commitment, grouped by unit, split across messages when long."""

from __future__ import annotations

from handlers.base import Request, command, expect_args
from storage.register import overdue_commitments
from texts.render import esc, fmt_date, shorten

LIMIT = 500  # beyond this a chat list stops being useful: /export has everything


@command("overdue")
async def overdue(req: Request) -> None:
    expect_args(req, req.command("overdue"), 0, 0)
    services = req.services
    today = services.today()
    async with services.db.session() as session:
        rows, total = await overdue_commitments(session, today=today, limit=LIMIT, within=req.actor.reach)
    if not rows:
        await req.reply(req.tr("Nothing is overdue. 🎉"))
        return
    units = {unit.id for _, unit in rows}
    lines = [f"<b>{req.tr('Overdue commitments: {count} in {units} unit(s)', count=total, units=len(units))}</b>"]
    current = None
    for commitment, unit in rows:
        if unit.id != current:
            current = unit.id
            lines += ["", f"🔴 <b>{esc(unit.code)}</b> — {esc(unit.name)}"]
        days = (today - commitment.due_date).days
        lines.append(
            f"  <code>#{commitment.id}</code> {esc(shorten(commitment.title, 120))} — "
            + req.tr("due {due}, overdue {days} days", due=fmt_date(commitment.due_date), days=days)
        )
    if total > len(rows):
        lines += ["", req.tr("… and {more} more: /export gives the whole register.", more=total - len(rows))]
    await req.reply("\n".join(lines))
