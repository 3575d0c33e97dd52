"""Fixing the register and deciding requests by command: /edit, /close, /approve, /reject (and the reply that
gives a rejection's reason), /snooze."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from telegram import ForceReply, Message
from telegram.error import TelegramError

from handlers.base import (
    Request,
    UsageError,
    UserError,
    command,
    expect_args,
    managed_commitment,
    parse_commitment_id,
    tail_text,
    visible_commitment,
)
from handlers.notify import closed_request_notice, decision_notice, wake_sender
from handlers.status import outcome_text, parse_new_date
from scheduler.calendar import WorkCalendar
from scheduler.notices import DUE_CHANGED, EXTENSION_REQUEST
from scheduler.snooze import snooze
from storage.corrections import EDITABLE, DueNotice, EditError, close_commitment, edit_commitment
from storage.members import get_person
from storage.models import Commitment, ExtensionRequest, ExtensionStatus, Person, Status, Unit
from storage.outbox import Outgoing, sent_copies
from storage.status import Change, Outcome, decide_extension
from texts import corrections as texts
from texts import extensions as extension_texts
from texts.keyboards import commitment_keyboard
from texts.render import with_outcome

log = logging.getLogger(__name__)

REASON_LIMIT = 2000


def _due_notice(unit: Unit, default_language: str) -> DueNotice:
    def build(commitment: Commitment, old_due: date, people: Sequence[Person]) -> list[Outgoing]:
        messages = []
        for person in people:
            lang = person.language or default_language
            messages.append(
                Outgoing(
                    key=DUE_CHANGED.key(commitment.id, commitment.version, person.id),
                    kind=DUE_CHANGED.kind,
                    chat_id=person.telegram_id,
                    person_id=person.id,
                    commitment_id=commitment.id,
                    text=texts.due_changed(lang, commitment, unit, old_due),
                    reply_markup=commitment_keyboard(lang, commitment),
                )
            )
        return messages

    return build


@command("edit")
async def edit(req: Request) -> None:
    """`/edit <id> <field> <value>`: a data-entry fix, in the history with its old and new value."""
    spec = req.command("edit")
    if len(req.args) < 3:
        raise UsageError(spec, "Something is missing.")
    commitment_id = parse_commitment_id(spec, req.args[0])
    field = req.args[1].lower()
    if field not in EDITABLE:
        raise UsageError(spec, texts.EDIT_ERRORS[EditError.UNKNOWN_FIELD], field=req.args[1])
    value = tail_text(req.message.text or "", 2)
    services = req.services
    async with services.db.session() as session:
        commitment, unit = await managed_commitment(session, req, commitment_id)
        result = await edit_commitment(
            session,
            commitment=commitment,
            field=field,
            raw=value,
            actor_id=req.actor.person_id,
            now=services.now(),
            due_notice=_due_notice(unit, services.settings.default_language),
            closed_notice=closed_request_notice(services.settings.default_language),
        )
    if result.error is not None:
        text = texts.edit_error(
            req.lang, result.error, commitment_id=commitment_id, field=field, value=value, detail=result.detail
        )
        if result.error in (EditError.BAD_DATE, EditError.BAD_KIND, EditError.EMPTY):
            text += "\n" + req.tr("Usage: {usage}", usage=req.tr(spec.usage))
        await req.reply(text)
        return
    wake_sender(req.context)
    await req.reply(
        texts.edited(
            req.lang,
            commitment_id,
            field,
            result.old,
            result.new,
            told=field == "due" and commitment.is_open,
            closed_request=result.closed_request is not None,
        )
    )


def _id_and_reason(req: Request, name: str, missing_reason: str) -> tuple[int, str]:
    """`/<name> <id> <reason>`: the commitment number and the reason (required, as typed)."""
    spec = req.command(name)
    if not req.args:
        raise UsageError(spec, "Something is missing.")
    commitment_id = parse_commitment_id(spec, req.args[0])
    reason = tail_text(req.message.text or "", 1)
    if not reason:
        raise UsageError(spec, missing_reason)
    if len(reason) > REASON_LIMIT:
        raise UserError(
            "The reason is too long ({length} characters; at most {limit}).", length=len(reason), limit=REASON_LIMIT
        )
    return commitment_id, reason


@command("close")
async def close(req: Request) -> None:
    """`/close <id> <reason>`: cancel (hủy); `/reopen <id>` undoes it."""
    commitment_id, reason = _id_and_reason(req, "close", "Give the reason for cancelling; it stays in the history.")
    services = req.services
    async with services.db.session() as session:
        commitment, _unit = await managed_commitment(session, req, commitment_id)
        change = await close_commitment(
            session,
            commitment=commitment,
            reason=reason,
            actor_id=req.actor.person_id,
            now=services.now(),
            notice=closed_request_notice(services.settings.default_language),
        )
    if change.outcome is Outcome.CLOSED:
        await req.reply(req.tr("#{id} is already cancelled. /reopen {id} opens it again.", id=commitment_id))
        return
    if not change.changed:
        await req.reply(outcome_text(req.lang, change, commitment_id))
        return
    wake_sender(req.context)
    await req.reply(texts.closed(req.lang, commitment_id, closed_request=change.request is not None))


async def _pending_request(req: Request, commitment_id: int) -> int:
    async with req.services.db.session() as session:
        await managed_commitment(session, req, commitment_id)
        request_id = await session.scalar(
            select(ExtensionRequest.id).where(
                ExtensionRequest.commitment_id == commitment_id, ExtensionRequest.status == ExtensionStatus.PENDING
            )
        )
    if request_id is None:
        raise UserError("#{id} has no request to extend waiting for a decision.", id=commitment_id)
    return request_id


@dataclass(frozen=True)
class Decided:
    answer: str  # what the secretary is told
    verdict: str  # the line the request's copies show
    request_id: int
    now: bool  # this was the decision (False: it was decided or closed before)
    closed: bool = False  # moot: closed now, without a decision

    async def show(self, req: Request) -> None:
        """Every secretary's copy of the request shows what became of it, without its buttons."""
        if self.now or self.closed:
            await _show_decision(req, self.request_id, self.verdict)


async def decide(
    req: Request, request_id: int, *, approve: bool, new_due: date | None = None, reason: str = ""
) -> Decided:
    """Decide a request (buttons and commands alike); every secretary's copy of it then shows the decision."""
    services = req.services
    async with services.db.session() as session:
        change = await decide_extension(
            session,
            request_id=request_id,
            approve=approve,
            actor_id=req.actor.person_id,
            now=services.now(),
            notice=decision_notice(services.settings.default_language),
            new_due=new_due,
            reason=reason,
        )
    request, commitment = change.request, change.commitment
    if change.outcome is Outcome.NOT_FOUND or request is None or commitment is None:
        raise UserError("This request no longer exists.")
    if change.outcome is Outcome.NOT_LATER:
        raise UserError("The new date must be after the current deadline {due}.", due=commitment.due_date)
    who = change.decider.full_name if change.decider else "?"
    verdict = extension_texts.verdict(req.lang, request.status.value, who, commitment.due_date, reason)
    if change.changed:
        wake_sender(req.context)
        return Decided(req.tr("Decision recorded; the requester is told.") + "\n" + verdict, verdict, request.id, True)
    if change.outcome is Outcome.CLOSED:
        return Decided(verdict, verdict, request.id, False, closed=True)
    return Decided(req.tr("Already decided. {verdict}", verdict=verdict), verdict, request.id, False)


async def _show_decision(req: Request, request_id: int, verdict: str) -> None:
    key_prefix = EXTENSION_REQUEST.key(request_id, "")
    async with req.services.db.session() as session:
        copies = await sent_copies(session, key_prefix=key_prefix)
    for chat_id, message_id, text in copies:
        try:
            await req.context.bot.edit_message_text(with_outcome(text, verdict), chat_id=chat_id, message_id=message_id)
        except TelegramError as error:  # gone, or already shows it: the decision itself stands
            log.info("request %s: copy %s/%s not edited: %s", request_id, chat_id, message_id, error)


@command("approve")
async def approve(req: Request) -> None:
    """`/approve <id> [new date]`: the pending request of #id, to the date asked or to another one."""
    spec = req.command("approve")
    expect_args(req, spec, 1, 2)
    commitment_id = parse_commitment_id(spec, req.args[0])
    new_due = parse_new_date(spec, req.args[1]) if len(req.args) == 2 else None
    if new_due is not None and new_due < req.services.today():
        raise UserError("The new date {date} is in the past.", date=new_due)
    request_id = await _pending_request(req, commitment_id)
    decided = await decide(req, request_id, approve=True, new_due=new_due)
    await req.reply(decided.answer)
    await decided.show(req)


@command("reject")
async def reject(req: Request) -> None:
    """`/reject <id> <reason>`: the reason reaches the requester."""
    commitment_id, reason = _id_and_reason(req, "reject", "Give the reason; it reaches the requester.")
    request_id = await _pending_request(req, commitment_id)
    decided = await decide(req, request_id, approve=False, reason=reason)
    await req.reply(decided.answer)
    await decided.show(req)


async def ask_reason(req: Request, commitment_id: int) -> Message:
    """After Reject is pressed: the prompt the secretary answers with the reason (a reply to it)."""
    return await req.context.bot.send_message(
        req.chat_id, extension_texts.reason_prompt(req.lang, commitment_id), reply_markup=ForceReply(selective=True)
    )


_PROMPT = re.compile(r"/reject (\d{1,12}) ")


def prompted_rejection(req: Request) -> int | None:
    """The commitment whose rejection this text message gives the reason of: a reply to the bot's prompt."""
    replied = req.message.reply_to_message
    if replied is None or replied.from_user is None or replied.from_user.id != req.context.bot.id:
        return None
    match = _PROMPT.search(replied.text or "")
    return int(match.group(1)) if match else None


async def reason_reply(req: Request, commitment_id: int) -> None:
    """The secretary's reply to the prompt: the request is rejected with that reason."""
    if not req.actor.is_committee:
        return
    reason = (req.message.text or "").strip()
    if not reason or len(reason) > REASON_LIMIT:
        raise UserError("Give the reason; it reaches the requester.")
    request_id = await _pending_request(req, commitment_id)
    decided = await decide(req, request_id, approve=False, reason=reason)
    await req.reply(decided.answer)
    await decided.show(req)


@command("snooze")
async def snooze_command(req: Request) -> None:
    """`/snooze <id> [working days]`: one more reminder for this person later, never past the deadline."""
    spec = req.command("snooze")
    expect_args(req, spec, 1, 2)
    commitment_id = parse_commitment_id(spec, req.args[0])
    days = req.services.settings.snooze_days
    if len(req.args) == 2:
        if not req.args[1].isdigit() or not 1 <= int(req.args[1]) <= 30:
            raise UsageError(spec, "The number of days must be a whole number from 1 to 30.")
        days = int(req.args[1])
    await remind_later(req, commitment_id, days)


async def remind_later(req: Request, commitment_id: int, days: int) -> str:
    """Put off: reply with when the next reminder comes (or why it cannot), and return that line."""
    services, settings = req.services, req.services.settings
    async with services.db.session() as session:
        commitment, unit = await visible_commitment(session, req, commitment_id)
        person = await get_person(session, telegram_id=req.actor.telegram_id)
        if not commitment.is_open or person is None:
            refused = Outcome.ALREADY_DONE if commitment.status == Status.DONE else Outcome.CLOSED
            text = outcome_text(req.lang, Change(refused, commitment), commitment_id)
            await req.reply(text)
            return text
        result = await snooze(
            session,
            commitment=commitment,
            unit=unit,
            person=person,
            days=days,
            today=services.today(),
            now=services.now(),
            at_time=settings.reminder_time,
            tz=settings.tz,
            calendar=WorkCalendar(settings.extra_days_off, settings.extra_working_days),
            working_days_only=settings.working_days_only,
            language=req.lang,
        )
    if result.at is None:
        text = texts.snooze_refused(req.lang, commitment_id, commitment.due_date)
    else:
        text = texts.snoozed(req.lang, commitment_id, result.at, settings.tz)
    await req.reply(text)
    return text
