"""Campaigns: `/add @UNIT1,UNIT2|@UNIT/*|@all <due> <kind> <title>` (a preview, then Confirm or Cancel) and
`/campaign <n>` (how each unit stands, and the .xlsx of it on a button).

Nothing is written before Confirm but the preview itself (a draft campaign, no commitment, no notice). Confirm
creates one commitment per unit and tells each unit's focal points, in one transaction; a second press, a
forged one, or one on another's preview is answered and changes nothing.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from datetime import date

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import CallbackQuery, Message

from handlers.base import (
    MAX_ID,
    Request,
    UsageError,
    UserError,
    answer,
    command,
    edit_pressed,
    expect_args,
    inline_markup,
    refusal,
)
from handlers.notify import wake_sender
from scheduler.announce import announce_new
from storage import campaigns as service
from storage.campaigns import CampaignReport, Confirmed, Target, UnitLine
from storage.models import CampaignStatus, Kind, Unit
from storage.register import units_by_id
from texts import campaigns as texts
from texts.keyboards import CampaignPress, campaign_preview_keyboard, campaign_report_keyboard
from texts.render import fmt_date, with_outcome

_ITEM = re.compile(r"([A-Za-z0-9_.\-]{1,32})(/\*)?")
_NUMBER = re.compile(r"[Cc#]?(\d{1,12})")


def parse_selector(req: Request, selector: str) -> list[Target] | None:
    """`@VPB,TTB/*` → its targets (a code, and whether its subtree is meant); `@all` → None (every unit)."""
    body = selector.removeprefix("@").strip()
    if body.lower() == "all":
        return None
    items = [item for item in body.split(",") if item]
    if not all(_ITEM.fullmatch(item) for item in items):
        raise UsageError(
            req.command("add"), "Name the units as @VPB,TTB, @VPB/* (the unit and every unit below it) or @all."
        )
    if not items:
        raise UsageError(
            req.command("add"), "The campaign has no units: name at least one, e.g. @VPB,TTB, @VPB/* or @all."
        )
    return [Target(match.group(1), bool(match.group(2))) for item in items if (match := _ITEM.fullmatch(item))]


def first_out_of_reach(req: Request, units: Iterable[Unit]) -> Unit | None:
    """The first unit outside the sender's scope, or None: the one place a campaign asks the scope (a campaign
    with any unit out of reach is refused whole, naming that unit)."""
    return next((unit for unit in units if not req.actor.manages(unit)), None)


def _out_of_reach(unit: Unit) -> UserError:
    return UserError("{code} is outside the units you manage, so the campaign was not created.", code=unit.code)


async def preview(req: Request, *, selector: str, title: str, kind: Kind, due: date) -> None:
    """The campaign branch of /add: resolve the units, check them all, show how many before anything is made."""
    targets = parse_selector(req, selector)
    services = req.services
    async with services.db.session() as session:
        found = await service.resolve_targets(session, targets)
        if found.unknown:
            raise UserError("There is no unit with the code {code}.", code=", ".join(found.unknown))
        if not req.actor.whole_register:  # a scoped secretary: every unit must be inside the scope
            units = await units_by_id(session, unit_ids=[unit.id for unit in found.units])
            if targets is None:  # @all: every unit of the sender's scope
                found.units = [unit for unit in found.units if req.actor.manages(units[unit.id])]
            outside = first_out_of_reach(req, (units[unit.id] for unit in found.units))
            if outside is not None:
                raise _out_of_reach(outside)
        if not found.units:
            raise UserError("The campaign has no units ({selector}); nothing was added.", selector=selector)
        draft = await service.create_draft(
            session,
            title=title,
            kind=kind,
            due=due,
            selector=selector,
            unit_ids=[unit.id for unit in found.units],
            created_by_id=req.actor.person_id,
            chat_id=req.chat_id,
            now=services.now(),
        )
    await req.reply(
        texts.preview_text(req.lang, title=title, due=due, kind=kind, units=found.units),
        reply_markup=inline_markup(campaign_preview_keyboard(req.lang, draft.id, len(found.units))),
    )


async def campaign_press(req: Request, query: CallbackQuery, press: CampaignPress) -> None:
    """Confirm / Cancel under a preview, or the report's .xlsx: authorised again from the presser's roles."""
    if not req.actor.is_committee:
        await answer(query, refusal(req, req.command("campaign")), alert=True)
        return
    if press.action == "xlsx":
        await _send_workbook(req, query, press.campaign_id)
        return
    try:
        outcome, changed = await _decide(req, press)
        notice = texts.short_outcome(req.lang, press.action == "ok")
    except UserError as error:
        await answer(query, req.tr(error.msgid, **error.params), alert=True)
        return
    except IntegrityError:  # another campaign took the same number at the same moment (PostgreSQL): all undone
        again = req.tr("Another campaign was created at the same moment; press the button again.")
        await answer(query, again, alert=True)
        return
    if not changed:  # a repeated, late or forged press: said in an alert, the message stays as it is
        await answer(query, outcome, alert=True)
        return
    if press.action == "ok":
        wake_sender(req.context)
    await answer(query, notice)
    original = query.message.text_html if isinstance(query.message, Message) and query.message.text else ""
    await edit_pressed(query, with_outcome(original, outcome))


async def _decide(req: Request, press: CampaignPress) -> tuple[str, bool]:
    """What the press did, in words, and whether it changed anything (created the campaign, or cancelled it)."""
    services = req.services
    lang = req.lang
    async with services.db.session() as session:
        draft = await service.get_draft(session, campaign_id=press.campaign_id, created_by_id=req.actor.person_id)
        if draft is None:
            return texts.gone_text(lang), False
        if press.action == "no":
            if await service.cancel(session, campaign=draft):
                return texts.cancelled_text(lang), True
            if draft.status == CampaignStatus.CANCELLED:
                return texts.was_cancelled_text(lang), False
            return texts.already_created_text(lang, draft), False
        if draft.status == CampaignStatus.DRAFT:
            if not req.actor.whole_register:  # the scope may have changed since the preview
                outside = first_out_of_reach(req, (await units_by_id(session, unit_ids=draft.unit_ids)).values())
                if outside is not None:
                    raise _out_of_reach(outside)
            if draft.due_date < services.today():
                raise UserError("The due date {date} is in the past.", date=fmt_date(draft.due_date))
        done = await service.confirm(session, campaign=draft, actor_id=req.actor.person_id, now=services.now())
        if done.outcome == Confirmed.CANCELLED:
            return texts.was_cancelled_text(lang), False
        if done.outcome == Confirmed.ALREADY:
            return texts.already_created_text(lang, done.campaign), False
        await announce_new(
            session,
            done.commitment_ids,
            now=services.now(),
            today=services.today(),
            default_language=services.settings.default_language,
        )
        return texts.created_text(lang, done.campaign, done.commitment_ids), True


async def _visible(session: AsyncSession, req: Request, report: CampaignReport) -> CampaignReport:
    """Only the units the sender may see: a scoped secretary sees, and counts, their own part of a campaign."""
    units = await units_by_id(session, unit_ids={line.unit_id for line in report.lines})
    lines: list[UnitLine] = [
        line for line in report.lines if line.unit_id in units and req.actor.can_see(units[line.unit_id])
    ]
    return CampaignReport(report.campaign, lines)


def parse_campaign_number(req: Request, text: str) -> int:
    match = _NUMBER.fullmatch(text.strip())
    if not match:
        raise UsageError(req.command("campaign"), "Write the campaign number, like 3 or C3.")
    number = int(match.group(1))
    if number > MAX_ID:
        raise UserError("There is no campaign C{number} among your units.", number=match.group(1))
    return number


@command("campaign")
async def campaign(req: Request) -> None:
    """`/campaign <n>` or `/campaign C<n>`: totals, then each unit; the .xlsx on a button."""
    (text,) = expect_args(req, req.command("campaign"), 1, 1)
    number = parse_campaign_number(req, text)
    services = req.services
    async with services.db.session() as session:
        found = await service.find_campaign(session, number=number)
        report = None
        if found is not None:
            report = await service.campaign_report(
                session, campaign=found, today=services.today(), tz=services.settings.tz
            )
            report = await _visible(session, req, report)
    if found is None or report is None or not report.lines:
        raise UserError("There is no campaign C{number} among your units.", number=number)
    await req.reply(
        texts.report_text(req.lang, report, today=services.today()),
        reply_markup=inline_markup(campaign_report_keyboard(req.lang, found.id)),
    )


async def _send_workbook(req: Request, query: CallbackQuery, campaign_id: int) -> None:
    services = req.services
    async with services.db.session() as session:
        found = await service.get_campaign(session, campaign_id=campaign_id)
        report = None
        if found is not None:
            report = await service.campaign_report(
                session, campaign=found, today=services.today(), tz=services.settings.tz
            )
            report = await _visible(session, req, report)
    if found is None or report is None or not report.lines:
        await answer(query, req.tr("This button is not valid any more."), alert=True)
        return
    await answer(query, req.tr("Preparing the Excel file…"))
    data = await asyncio.to_thread(texts.report_workbook, req.lang, report, today=services.today())
    now, tz = services.now(), services.settings.tz
    await req.context.bot.send_document(
        req.chat_id,
        data,
        filename=texts.workbook_name(found, now, tz),
        caption=texts.workbook_caption(req.lang, found, now, tz),
    )
