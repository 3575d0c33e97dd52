"""/units: every unit with its focal points, open and overdue counts, and "no focal point" warnings."""

from __future__ import annotations

from bot.commands import BY_NAME
from bot.render import esc, person_name
from handlers.base import Request, command, expect_args
from storage.register import unit_summaries


@command("units")
async def units(req: Request) -> None:
    expect_args(req, BY_NAME["units"], 0, 0)
    services = req.services
    async with services.db.session() as session:
        summaries = await unit_summaries(session, today=services.today())
    if not summaries:
        await req.reply(req.tr("The register has no units yet. Import them with qmsbot import."))
        return
    lines = [f"<b>{req.tr('Units: {count}', count=len(summaries))}</b>"]
    without = 0
    for summary in summaries:
        unit = summary.unit
        counts = req.tr("{open} open, {overdue} overdue", open=summary.open_count, overdue=summary.overdue_count)
        lines.append("")
        lines.append(f"<b>{esc(unit.code)}</b> — {esc(unit.name)}: {counts}")
        if summary.focal:
            names = ", ".join(
                person_name(p) + ("" if p.reachable else " ⛔ " + req.tr("unreachable")) for p in summary.focal
            )
            lines.append(f"    {req.tr('Focal points')}: {names}")
        else:
            without += 1
            lines.append("    ⚠️ " + req.tr("no focal point"))
        if summary.heads:
            lines.append(f"    {req.tr('Heads')}: " + ", ".join(person_name(p) for p in summary.heads))
    if without:
        lines += [
            "",
            "⚠️ " + req.tr("{count} unit(s) have no focal point: /invite <unit code>", count=without),
        ]
    await req.reply("\n".join(lines))
