"""/tasks and /task: what a unit owes, and one commitment in full."""

from __future__ import annotations

from handlers.base import (
    Request,
    UserError,
    command,
    expect_args,
    inline_markup,
    parse_commitment_id,
    visible_commitment,
)
from storage.events import history
from storage.models import Commitment, Event, Evidence, Unit
from storage.register import count_open, find_unit, open_commitments
from storage.status import evidence_of
from texts.keyboards import commitment_keyboard, with_evidence
from texts.render import commitment_line, esc, task_view

LIST_LIMIT = 50


@command("tasks")
async def tasks(req: Request) -> None:
    """Open commitments of the sender's units (secretaries: all units), overdue first, then by due date."""
    spec = req.command("tasks")
    args = expect_args(req, spec, 0, 1)
    services, actor = req.services, req.actor
    async with services.db.session() as session:
        if args:
            unit = await find_unit(session, code=args[0])
            if unit is None:
                raise UserError("There is no unit with the code {code}.", code=esc(args[0]))
            if not actor.can_see(unit):
                raise UserError("You can only see the commitments of your own units.")
            unit_ids: list[int] | None = [unit.id]
        else:
            unit_ids = None if actor.is_committee else sorted(actor.unit_ids)
        rows = await open_commitments(session, unit_ids=unit_ids, limit=LIST_LIMIT, within=actor.reach)
        total = (
            len(rows) if len(rows) < LIST_LIMIT else await count_open(session, unit_ids=unit_ids, within=actor.reach)
        )
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
    """One commitment with its evidence and full history (who did what, when), and its buttons."""
    spec = req.command("task")
    (raw,) = expect_args(req, spec, 1, 1)
    commitment_id = parse_commitment_id(spec, raw)
    async with req.services.db.session() as session:
        commitment, unit = await visible_commitment(session, req, commitment_id)
        events = await history(session, commitment_id=commitment.id)
        evidence = await evidence_of(session, commitment_id=commitment.id)
    await send_task_view(req, commitment, unit, events, evidence)


async def send_task_view(
    req: Request, commitment: Commitment, unit: Unit, events: list[Event], evidence: list[Evidence]
) -> None:
    services = req.services
    text = task_view(
        req.lang, commitment, unit, services.today(), services.settings.tz, history=events, evidence=evidence
    )
    keyboard = with_evidence(commitment_keyboard(req.lang, commitment), evidence)
    await req.reply(text, reply_markup=inline_markup(keyboard))
