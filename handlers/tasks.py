"""/tasks and /task: what a unit owes, and one commitment in full."""

from __future__ import annotations

from bot.commands import BY_NAME
from bot.render import commitment_card, commitment_line, esc, history_line
from handlers.base import Request, UserError, command, expect_args, parse_commitment_id
from storage.events import history
from storage.register import count_open, find_unit, get_commitment, open_commitments

LIST_LIMIT = 50


@command("tasks")
async def tasks(req: Request) -> None:
    """Open commitments of the sender's units (secretaries: all units), overdue first, then by due date."""
    spec = BY_NAME["tasks"]
    args = expect_args(req, spec, 0, 1)
    services, actor = req.services, req.actor
    async with services.db.session() as session:
        if args:
            unit = await find_unit(session, code=args[0])
            if unit is None:
                raise UserError("There is no unit with the code {code}.", code=esc(args[0]))
            if not actor.can_see_unit(unit.id):
                raise UserError("You can only see the commitments of your own units.")
            unit_ids: list[int] | None = [unit.id]
        else:
            unit_ids = None if actor.is_committee else sorted(actor.unit_ids)
        rows = await open_commitments(session, unit_ids=unit_ids, limit=LIST_LIMIT)
        total = len(rows) if len(rows) < LIST_LIMIT else await count_open(session, unit_ids=unit_ids)
    if not rows:
        await req.reply(req.tr("No open commitments. 🎉"))
        return
    today = services.today()
    show_unit = unit_ids is None or len(unit_ids) > 1
    lines = [f"<b>{req.tr('Open commitments: {count}', count=total)}</b>", ""]
    lines += [commitment_line(req.lang, c, u, today, show_unit=show_unit) for c, u in rows]
    if total > len(rows):
        lines += [
            "",
            req.tr("… and {more} more. Add a unit code to see one unit: /tasks VPB", more=total - len(rows)),
        ]
    lines += ["", req.tr("Details and history: /task <number>")]
    await req.reply("\n".join(lines))


@command("task")
async def task(req: Request) -> None:
    """One commitment with its full history (who did what, when)."""
    spec = BY_NAME["task"]
    (raw,) = expect_args(req, spec, 1, 1)
    commitment_id = parse_commitment_id(spec, raw)
    services = req.services
    async with services.db.session() as session:
        found = await get_commitment(session, commitment_id=commitment_id)
        # An unknown number and another unit's commitment get the same answer: nothing leaks.
        if found is None or not req.actor.can_see_unit(found[1].id):
            raise UserError("There is no commitment #{id} among your units.", id=commitment_id)
        commitment, unit = found
        events = await history(session, commitment_id=commitment.id)
    tz = services.settings.tz
    lines = [commitment_card(req.lang, commitment, unit, services.today(), tz), ""]
    lines.append(f"<b>{req.tr('History')}</b>")
    lines += [history_line(req.lang, event, tz) for event in events] or [req.tr("No changes yet.")]
    await req.reply("\n".join(lines))
