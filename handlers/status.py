"""Status updates from chat: /done, /progress, /note, /reopen, /extend, and evidence files."""

from __future__ import annotations

import re
from datetime import date

from telegram import Message, Update

from core.dates import MAX_YEAR, MIN_YEAR, DateOutOfRange, parse_date
from core.i18n import N_, t
from handlers.base import (
    Request,
    UsageError,
    UserError,
    command,
    inline_markup,
    managed_commitment,
    parse_commitment_id,
    tail_text,
    visible_commitment,
)
from handlers.commands import CommandSpec
from handlers.context import Context
from handlers.notify import closed_request_notice, outgoing_to_committee, wake_sender
from handlers.register_files import import_document, is_register_file
from storage.models import Commitment
from storage.outbox import OutboxKind, sent_about
from storage.register import get_commitment
from storage.status import (
    Change,
    EvidenceFile,
    Outcome,
    add_note,
    extend_now,
    keep_evidence,
    mark_done,
    reopen,
    request_extension,
    set_progress,
)
from texts.corrections import deadline_moved, done_text
from texts.extensions import request_text
from texts.keyboards import (
    CommitmentPress,
    decision_keyboard,
    evidence_question_keyboard,
    parse_callback,
    undo_keyboard,
)
from texts.render import fmt_date, legal_deadline_refusal

NOTE_LIMIT = 20_000  # stored whole; only the display is shortened

OUTCOME_TEXTS = {
    Outcome.ALREADY_DONE: N_("#{id} is already done. A secretary can reopen it with /reopen {id}."),
    Outcome.CLOSED: N_("#{id} is cancelled; it cannot be updated."),
    Outcome.STALE: N_("#{id} changed in the meantime; here is its current state."),
    Outcome.UNCHANGED: N_("#{id} already shows that; nothing changed."),
    Outcome.NOT_DONE: N_("#{id} is neither done nor cancelled; there is nothing to reopen."),
}


def outcome_text(lang: str, change: Change, commitment_id: int) -> str:
    msgid = OUTCOME_TEXTS[change.outcome]
    return t(lang, msgid, id=commitment_id)


def _text_of(req: Request) -> str:
    return req.message.text or req.message.caption or ""


def _note(req: Request, skip: int) -> str:
    note = tail_text(_text_of(req), skip)
    if len(note) > NOTE_LIMIT:
        raise UserError(
            "The note is too long ({length} characters; at most {limit}).", length=len(note), limit=NOTE_LIMIT
        )
    return note


def _parse_id(req: Request, spec: CommandSpec) -> int:
    if not req.args:
        raise UsageError(spec, "Something is missing.")
    return parse_commitment_id(spec, req.args[0])


@command("done")
async def done(req: Request) -> None:
    """`/done <id> [note]`; with a document or photo (caption, or a reply to a reminder) it is kept as evidence."""
    spec = req.command("done")
    commitment_id = _parse_id(req, spec)
    note = _note(req, 1)
    await complete(req, commitment_id, note, req.message)


async def complete(req: Request, commitment_id: int, note: str, message: Message | None) -> None:
    services = req.services
    async with services.db.session() as session:
        commitment, _unit = await visible_commitment(session, req, commitment_id)
        change = await mark_done(
            session,
            commitment=commitment,
            actor_id=req.actor.person_id,
            now=services.now(),
            tz=services.settings.tz,
            note=note,
            evidence=evidence_file(message),
            closed_notice=closed_request_notice(services.settings.default_language),
        )
    kept = change.evidence is not None
    if not change.changed:
        text = outcome_text(req.lang, change, commitment_id)
        await req.reply(text + ("\n" + req.tr("The file is kept as evidence.") if kept else ""))
        return
    text = done_text(
        req.lang,
        commitment,
        late=change.done_late,
        kept=kept,
        following=change.next_occurrence,
        closed_request=change.request is not None,
    )
    wake_sender(req.context)
    await req.reply(text, reply_markup=inline_markup(undo_keyboard(req.lang, commitment)))


async def keep_and_ask(req: Request, commitment_id: int, note: str, message: Message) -> None:
    """A file sent as a reply about a commitment, without /done: kept as evidence; is the work also done?"""
    evidence = evidence_file(message)
    assert evidence is not None
    services = req.services
    async with services.db.session() as session:
        commitment, _unit = await visible_commitment(session, req, commitment_id)
        await keep_evidence(
            session, commitment=commitment, actor_id=req.actor.person_id, now=services.now(), file=evidence, note=note
        )
    if not commitment.is_open:
        await req.reply(req.tr("The file is kept as evidence of #{id}.", id=commitment_id))
        return
    await req.reply(
        req.tr("The file is kept as evidence of #{id}. Is the task also done?", id=commitment_id),
        reply_markup=inline_markup(evidence_question_keyboard(req.lang, commitment)),
    )


def evidence_file(message: Message | None) -> EvidenceFile | None:
    """The document or photo of a message, as evidence; None without one."""
    if message is None:
        return None
    if message.document is not None:
        document = message.document
        return EvidenceFile(
            media="document",
            file_id=document.file_id,
            file_unique_id=document.file_unique_id,
            file_name=document.file_name or "",
            mime_type=document.mime_type or "",
            file_size=document.file_size,
        )
    if message.photo:
        photo = message.photo[-1]  # the largest size
        return EvidenceFile(
            media="photo",
            file_id=photo.file_id,
            file_unique_id=photo.file_unique_id,
            mime_type="image/jpeg",
            file_size=photo.file_size,
        )
    return None


PERCENT = re.compile(r"(-?\d{1,6})%?")


@command("progress")
async def progress(req: Request) -> None:
    spec = req.command("progress")
    if len(req.args) < 2:
        raise UsageError(spec, "Something is missing.")
    commitment_id = parse_commitment_id(spec, req.args[0])
    match = PERCENT.fullmatch(req.args[1])
    if not match or not 0 <= int(match.group(1)) <= 100:
        raise UsageError(spec, "The progress must be a whole number from 0 to 100.")
    percent = int(match.group(1))
    note = _note(req, 2)
    services = req.services
    async with services.db.session() as session:
        commitment, _unit = await visible_commitment(session, req, commitment_id)
        change = await set_progress(
            session,
            commitment=commitment,
            percent=percent,
            actor_id=req.actor.person_id,
            now=services.now(),
            note=note,
        )
    if not change.changed:
        await req.reply(outcome_text(req.lang, change, commitment_id))
        return
    text = req.tr("Progress of #{id}: {percent}%.", id=commitment_id, percent=percent)
    if percent == 100:
        text += "\n" + req.tr("When it is finished, mark it done: /done {id}", id=commitment_id)
    await req.reply(text)


@command("note")
async def note(req: Request) -> None:
    spec = req.command("note")
    commitment_id = _parse_id(req, spec)
    text = _note(req, 1)
    if not text:
        raise UsageError(spec, "The note is empty.")
    services = req.services
    async with services.db.session() as session:
        commitment, _unit = await visible_commitment(session, req, commitment_id)
        await add_note(session, commitment=commitment, text=text, actor_id=req.actor.person_id, now=services.now())
    await req.reply(req.tr("Note added to #{id}.", id=commitment_id))


@command("reopen")
async def reopen_command(req: Request) -> None:
    spec = req.command("reopen")
    commitment_id = _parse_id(req, spec)
    reason = _note(req, 1)
    services = req.services
    async with services.db.session() as session:
        commitment, _unit = await managed_commitment(session, req, commitment_id)
        change = await reopen(
            session, commitment=commitment, actor_id=req.actor.person_id, now=services.now(), note=reason
        )
    if not change.changed:
        await req.reply(outcome_text(req.lang, change, commitment_id))
        return
    wake_sender(req.context)
    await req.reply(req.tr("#{id} is open again; its reminders are planned from now on.", id=commitment_id))


def parse_new_date(spec: CommandSpec, text: str) -> date:
    try:
        return parse_date(text)
    except DateOutOfRange:
        raise UserError(
            "The year of {date} must be between {min} and {max}.", date=text, min=MIN_YEAR, max=MAX_YEAR
        ) from None
    except ValueError:
        if re.fullmatch(r"\d{1,2}/\d{1,2}/\d{4}|\d{4}-\d{1,2}-\d{1,2}", text.strip()):
            raise UserError("The date {date} does not exist.", date=text) from None
        raise UsageError(spec, "Write the date as DD/MM/YYYY, e.g. 15/12/2026.") from None


@command("extend")
async def extend(req: Request) -> None:
    spec = req.command("extend")
    if len(req.args) < 2:
        raise UsageError(spec, "Something is missing.")
    commitment_id = parse_commitment_id(spec, req.args[0])
    new_due = parse_new_date(spec, req.args[1])
    reason = _note(req, 2)
    if not reason:
        raise UsageError(spec, "Give a reason, so the secretary can decide.")
    services = req.services
    if req.actor.is_committee and await _manages(req, commitment_id):
        await extend_at_once(req, commitment_id, new_due, reason)
        return
    async with services.db.session() as session:
        commitment, unit = await visible_commitment(session, req, commitment_id)
        change = await request_extension(
            session,
            commitment=commitment,
            new_due=new_due,
            reason=reason,
            actor_id=req.actor.person_id,
            now=services.now(),
            today=services.today(),
            notices=lambda request, people: outgoing_to_committee(
                people,
                key=f"extension:{request.id}",
                kind=OutboxKind.EXTENSION_REQUEST,
                commitment_id=commitment.id,
                render=lambda lang: request_text(lang, req.actor.name, commitment, unit, new_due, reason),
                markup=lambda lang: decision_keyboard(lang, request.id),
                default_language=services.settings.default_language,
            ),
        )
    if change.outcome is Outcome.LEGAL:
        await req.reply(legal_deadline_refusal(req.lang, commitment))
        return
    _refuse_extension(change, commitment, commitment_id, new_due)
    if not change.changed:
        await req.reply(outcome_text(req.lang, change, commitment_id))
        return
    wake_sender(req.context)
    await req.reply(
        req.tr(
            "Your request to move #{id} to {date} was sent to the committee secretary.",
            id=commitment_id,
            date=fmt_date(new_due),
        )
    )


async def _manages(req: Request, commitment_id: int) -> bool:
    """Whether a secretary's /extend of this commitment applies at once (their scope holds it); a secretary who
    is also a unit's focal point asks, like any focal point, for a commitment outside their scope."""
    async with req.services.db.session() as session:
        found = await get_commitment(session, commitment_id=commitment_id)
    return found is not None and req.actor.manages(found[1])


async def extend_at_once(req: Request, commitment_id: int, new_due: date, reason: str) -> None:
    """A secretary's own /extend: no request to themselves; the deadline moves now, in the history."""
    services = req.services
    async with services.db.session() as session:
        commitment, _unit = await managed_commitment(session, req, commitment_id)
        change = await extend_now(
            session,
            commitment=commitment,
            new_due=new_due,
            reason=reason,
            actor_id=req.actor.person_id,
            now=services.now(),
            today=services.today(),
            closed_notice=closed_request_notice(services.settings.default_language),
        )
    _refuse_extension(change, commitment, commitment_id, new_due)
    if change.outcome is Outcome.LEGAL:
        await req.reply(legal_deadline_refusal(req.lang, commitment))
        return
    if not change.changed:
        await req.reply(outcome_text(req.lang, change, commitment_id))
        return
    wake_sender(req.context)
    await req.reply(deadline_moved(req.lang, commitment_id, new_due))


def _refuse_extension(change: Change, commitment: Commitment, commitment_id: int, new_due: date) -> None:
    if change.outcome is Outcome.IN_PAST:
        raise UserError("The new date {date} is in the past.", date=new_due)
    if change.outcome is Outcome.NOT_LATER:
        raise UserError("The new date must be after the current deadline {due}.", due=commitment.due_date)
    if change.outcome is Outcome.PENDING_EXISTS:
        raise UserError("A request to extend #{id} is already waiting for the secretary's decision.", id=commitment_id)


def _done_caption(caption: str) -> bool:
    return bool(caption.split(maxsplit=1)[:1]) and caption.split()[0].split("@")[0] == "/done"


async def group_file(update: Update, context: Context) -> None:
    """A file in a group chat, taken only when it is plainly for the bot — the caption `/done <id>`, or a reply to
    one of the bot's messages (the group's reminders): a group's other files are its members' talk."""
    message = update.effective_message
    if message is None:
        return
    replied = message.reply_to_message
    to_bot = replied is not None and replied.from_user is not None and replied.from_user.id == context.bot.id
    if to_bot or _done_caption((message.caption or "").strip()):
        await evidence_message(update, context)


@command("done")
async def evidence_message(req: Request) -> None:
    """A file: evidence with the caption `/done <id> [note]` or as a reply to a reminder; otherwise, a .csv or
    .xlsx is a register file to import (secretaries only, in a private chat)."""
    message = req.message
    caption = (message.caption or "").strip()
    spec = req.command("done")
    if _done_caption(caption):
        req.args = caption.split()[1:]
        commitment_id = _parse_id(req, spec)
        await complete(req, commitment_id, _note(req, 1), message)
        return
    replied_to = await referenced_commitment(req, message.reply_to_message)
    if replied_to is None and req.in_group:
        raise UserError(
            "To keep a file as evidence, send it with the caption /done <number>, or as a reply to a reminder."
        )
    if replied_to is None and is_register_file(message.document):
        assert message.document is not None
        await import_document(req, message.document)
        return
    if replied_to is None and req.actor.is_committee:
        raise UserError("To send this file to the units, reply to it with /broadcast [@UNIT1,UNIT2] [text].")
    if replied_to is None:
        raise UserError(
            "To keep a file as evidence, send it with the caption /done <number>, or as a reply to a reminder."
        )
    await keep_and_ask(req, replied_to, caption, message)


async def referenced_commitment(req: Request, message: Message | None) -> int | None:
    """The commitment a message of this bot is about: a reminder or a card, known by its buttons or by the
    outbox row it was sent from. Anything else (a list, the digest, another bot's message) names none."""
    if message is None or message.from_user is None or message.from_user.id != req.context.bot.id:
        return None
    if message.reply_markup is not None:
        for row in message.reply_markup.inline_keyboard:
            for button in row:
                press = parse_callback(button.callback_data if isinstance(button.callback_data, str) else None)
                if isinstance(press, CommitmentPress):
                    return press.commitment_id
    async with req.services.db.session() as session:
        return await sent_about(session, chat_id=message.chat_id, message_id=message.message_id)
