"""/tasks and /task: what a unit owes, and one commitment in full."""

from __future__ import annotations

import re

from core.folding import words
from handlers.base import (
    Request,
    UsageError,
    UserError,
    command,
    expect_args,
    inline_markup,
    parse_commitment_id,
    tail_text,
    visible_commitment,
)
from storage.events import history
from storage.models import Commitment, Event, Evidence, Unit
from storage.register import count_open, find_commitments, find_unit, open_commitments
from storage.status import evidence_of
from texts.keyboards import commitment_keyboard, with_evidence
from texts.lists import found_list, tasks_list
from texts.render import task_view

LIST_LIMIT = 50


@command("tasks")
async def tasks(req: Request) -> None:
    """Open commitments of the sender's units (secretaries: all units), overdue first, then by due date;
    `all` adds the done and cancelled ones."""
    spec = req.command("tasks")
    args = expect_args(req, spec, 0, 2)
    closed_too = bool(args) and args[-1].lower() in ("all", "tatca", "tất cả")
    if closed_too:
        args = args[:-1]
    if len(args) > 1:
        raise UsageError(spec, "Too many words after /{command}.", command="tasks")
    services, actor = req.services, req.actor
    async with services.db.session() as session:
        if args:
            unit = await find_unit(session, code=args[0])
            if unit is None:
                raise UserError("There is no unit with the code {code}.", code=args[0])
            if not actor.can_see(unit):
                if actor.is_committee:  # a scope shows nothing beyond it: as an unknown unit
                    raise UserError("There is no unit with the code {code}.", code=args[0])
                raise UserError("You can only see the commitments of your own units.")
            unit_ids: list[int] | None = [unit.id]
        else:
            unit_ids = None if actor.is_committee else sorted(actor.unit_ids)
        rows = await open_commitments(
            session, unit_ids=unit_ids, limit=LIST_LIMIT, closed_too=closed_too, within=actor.reach
        )
        total = (
            len(rows)
            if len(rows) < LIST_LIMIT
            else await count_open(session, unit_ids=unit_ids, closed_too=closed_too, within=actor.reach)
        )
    show_unit = unit_ids is None or len(unit_ids) > 1
    await req.reply(tasks_list(req.lang, rows, total, services.today(), show_unit=show_unit, closed_too=closed_too))


TASK_LINK = re.compile(r"^/task_(\d{1,12})(?:@\w+)?\s*$")


@command("task")
async def task(req: Request) -> None:
    """One commitment with its evidence and full history (who did what, when), and its buttons; also
    `/task_<id>`, the tappable form every list shows."""
    spec = req.command("task")
    link = TASK_LINK.match((req.message.text or "").strip())
    if link is not None:
        commitment_id = parse_commitment_id(spec, link.group(1))
    else:
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


FIND_LIMIT = 30


@command("find")
async def find(req: Request) -> None:
    """`/find <words>`: the visible commitments matching every word, ignoring case and diacritics."""
    spec = req.command("find")
    query = tail_text(req.message.text or "", 0)
    wanted = words(query)
    if not wanted:
        raise UsageError(spec, "Something is missing.")
    if len(query) > 200:
        raise UsageError(spec, "Too many words after /{command}.", command="find")
    services, actor = req.services, req.actor
    async with services.db.session() as session:
        rows, total = await find_commitments(session, within=actor.reach, words=wanted, limit=FIND_LIMIT)
    await req.reply(found_list(req.lang, query, rows, total, services.today()))
