"""/units: every unit with its focal points, open and overdue counts, and "no focal point" warnings;
unreachable people and failed deliveries are shown too, so nothing is dropped silently."""

from __future__ import annotations

from handlers.base import Request, command, expect_args
from storage.digest_data import DigestWindow, failed_deliveries
from storage.models import Person
from storage.register import unit_summaries
from texts.render import esc, person_name, shorten

UNIT_LIMIT = 200  # a national register has 30,000 units: past this, the counts and /export say the rest
FAILED_LIMIT = 10


def _people(req: Request, people: list[Person]) -> str:
    return ", ".join(person_name(p) + ("" if p.reachable else " ⛔ " + req.tr("unreachable")) for p in people)


@command("units")
async def units(req: Request) -> None:
    expect_args(req, req.command("units"), 0, 0)
    services = req.services
    async with services.db.session() as session:
        summaries = await unit_summaries(session, today=services.today(), within=req.actor.reach)
        failed, failed_total, blocked_total = await failed_deliveries(
            session, DigestWindow(services.now(), services.settings.tz), limit=FAILED_LIMIT, within=req.actor.reach
        )
    if not summaries:
        await req.reply(req.tr("The register has no units yet. Import them with qmsbot import."))
        return
    lines = [f"<b>{req.tr('Units: {count}', count=len(summaries))}</b>"]
    without = sum(1 for s in summaries if not s.focal)
    for summary in summaries[:UNIT_LIMIT]:
        unit = summary.unit
        counts = req.tr("{open} open, {overdue} overdue", open=summary.open_count, overdue=summary.overdue_count)
        lines.append("")
        lines.append(f"<b>{esc(unit.code)}</b> — {esc(unit.name)}: {counts}")
        if summary.focal:
            lines.append(f"    {req.tr('Focal points')}: {_people(req, summary.focal)}")
        else:
            lines.append("    ⚠️ " + req.tr("no focal point"))
        if summary.heads:
            lines.append(f"    {req.tr('Heads')}: {_people(req, summary.heads)}")
    if len(summaries) > UNIT_LIMIT:
        lines += [
            "",
            req.tr("… and {more} more units: /export gives the whole register.", more=len(summaries) - UNIT_LIMIT),
        ]
    if without:
        lines += ["", "⚠️ " + req.tr("{count} unit(s) have no focal point: /invite <unit code>", count=without)]
    if failed_total or blocked_total:
        lines += [
            "",
            "⛔ "
            + req.tr(
                "In the last 7 days: {failed} message(s) failed, {blocked} not delivered "
                "because the person blocked the bot.",
                failed=failed_total,
                blocked=blocked_total,
            ),
        ]
        for delivery in failed:
            who = esc(delivery.person.full_name or str(delivery.chat_id)) if delivery.person else str(delivery.chat_id)
            lines.append(f"    • {who}: <i>{esc(shorten(delivery.error, 100))}</i>")
    await req.reply("\n".join(lines))
