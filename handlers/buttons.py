"""Inline button presses: Done, In progress N%, Ask to extend, Details, Approve/Reject, evidence files.

callback_data only says what was pressed; who may do it is decided here from the presser's memberships.
A press is always answered, and the pressed message is edited to show the new state.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import CallbackQuery, Message, Update

from handlers.base import Request, UserError, answer, build_request, decision_refusal, edit_pressed, refusal
from handlers.broadcast import broadcast_press
from handlers.campaigns import campaign_press
from handlers.context import Context
from handlers.corrections import ask_reason, decide, remind_later
from handlers.notify import closed_request_notice, wake_sender
from handlers.status import OUTCOME_TEXTS
from storage.corrections import undo_done
from storage.events import history
from storage.models import Commitment, Evidence, ExtensionRequest, ExtensionStatus, Kind, Unit
from storage.register import get_commitment
from storage.status import Change, Outcome, evidence_of, mark_done, set_progress
from texts import corrections as correction_texts
from texts.keyboards import (
    BroadcastPress,
    CampaignPress,
    CommitmentPress,
    DecisionPress,
    EvidencePress,
    commitment_keyboard,
    parse_callback,
    undo_keyboard,
)
from texts.render import commitment_card, evidence_caption, legal_deadline_refusal, status_label, with_outcome


async def show_state(req: Request, query: CallbackQuery, commitment: Commitment, unit: Unit) -> None:
    """Edit the pressed message to the commitment's current state, with buttons made for its current version."""
    text = commitment_card(req.lang, commitment, unit, req.services.today(), req.services.settings.tz)
    await edit_pressed(query, text, commitment_keyboard(req.lang, commitment))


async def on_button(update: Update, context: Context) -> None:
    query = update.callback_query
    if query is None or update.effective_user is None:
        return
    req = await build_request(update, context)
    press = parse_callback(query.data)
    if press is None:
        await answer(query, req.tr("This button is not valid any more."), alert=True)
        return
    if not req.actor.is_member:
        await answer(query, refusal(req, req.command("tasks")), alert=True)
        return
    if isinstance(press, CommitmentPress):
        await commitment_press(req, query, press)
    elif isinstance(press, DecisionPress):
        await decision_press(req, query, press)
    elif isinstance(press, BroadcastPress):
        if not req.actor.is_committee:
            await answer(query, refusal(req, req.command("broadcast")), alert=True)
            return
        await broadcast_press(req, query, press)
    elif isinstance(press, CampaignPress):
        await campaign_press(req, query, press)
    else:
        await evidence_press(req, query, press)


async def commitment_press(req: Request, query: CallbackQuery, press: CommitmentPress) -> None:
    services = req.services
    if press.action == "snz":
        try:
            told = await remind_later(req, press.commitment_id, services.settings.snooze_days)
        except UserError as error:
            await answer(query, req.tr(error.msgid, **error.params), alert=True)
            return
        await answer(query, told)
        return
    if press.action == "undo":
        await undo_press(req, query, press)
        return
    async with services.db.session() as session:
        found = await pressed_commitment(session, req, query, press)
        if found is None:
            return
        commitment, unit = found
        if press.action == "info":
            events = await history(session, commitment_id=commitment.id)
            evidence = await evidence_of(session, commitment_id=commitment.id)
        elif press.action in ("ext", "keep"):
            pass
        elif press.action == "done":
            change = await mark_done(
                session,
                commitment=commitment,
                actor_id=req.actor.person_id,
                now=services.now(),
                tz=services.settings.tz,
                expected_version=press.version,
                closed_notice=closed_request_notice(services.settings.default_language),
            )
        else:  # in progress: at the pressed percentage, or (wip) at the one it has
            change = await set_progress(
                session,
                commitment=commitment,
                percent=press.percent if press.percent is not None else commitment.progress,
                actor_id=req.actor.person_id,
                now=services.now(),
                expected_version=press.version,
            )
    if press.action == "info":
        await answer(query)
        from handlers.tasks import send_task_view

        await send_task_view(req, commitment, unit, events, evidence)
        return
    if press.action == "keep":
        await answer(query, req.tr("The file is kept as evidence."))
        await show_state(req, query, commitment, unit)
        return
    if press.action == "ext":
        await answer(query)
        if commitment.kind == Kind.LEGAL:
            await req.reply(legal_deadline_refusal(req.lang, commitment))
        else:
            await req.reply(
                req.tr("To ask for more time, send: /extend {id} <new date DD/MM/YYYY> <reason>", id=commitment.id)
            )
        return
    await answer(query, press_answer(req, change, commitment, in_progress=press.action == "wip"))
    if change.changed and press.action == "done":
        wake_sender(req.context)
        text = commitment_card(req.lang, commitment, unit, services.today(), services.settings.tz)
        await edit_pressed(query, text, undo_keyboard(req.lang, commitment))
        return
    await show_state(req, query, commitment, unit)


async def pressed_commitment(
    session: AsyncSession, req: Request, query: CallbackQuery, press: CommitmentPress
) -> tuple[Commitment, Unit] | None:
    """The pressed commitment if the presser may see it; otherwise the press is answered (an unknown number and
    another unit's alike) and None."""
    found = await get_commitment(session, commitment_id=press.commitment_id)
    if found is None or not req.actor.can_see(found[1]):
        await answer(
            query, req.tr("There is no commitment #{id} among your units.", id=press.commitment_id), alert=True
        )
        return None
    return found


async def undo_press(req: Request, query: CallbackQuery, press: CommitmentPress) -> None:
    """Undo a done (the same person, or a secretary, within UNDO_MINUTES); the message shows the result."""
    services = req.services
    async with services.db.session() as session:
        found = await pressed_commitment(session, req, query, press)
        if found is None:
            return
        commitment, unit = found
        result = await undo_done(
            session,
            commitment=commitment,
            actor_id=req.actor.person_id,
            may_undo_others=req.actor.manages(unit),
            now=services.now(),
            minutes=services.settings.undo_minutes,
            expected_version=press.version,
        )
    if result.outcome is Outcome.CHANGED:
        label = status_label(req.lang, commitment, services.settings.tz)
        await answer(query, correction_texts.undone(req.lang, commitment.id, label))
    elif result.outcome is Outcome.NOT_DONE:
        await answer(query, req.tr(OUTCOME_TEXTS[Outcome.NOT_DONE], id=commitment.id), alert=True)
    else:
        too_late = result.outcome is Outcome.STALE
        await answer(query, correction_texts.undo_refused(req.lang, commitment.id, too_late=too_late), alert=True)
    await show_state(req, query, commitment, unit)


def press_answer(req: Request, change: Change, commitment: Commitment, *, in_progress: bool = False) -> str:
    if change.outcome is Outcome.CHANGED:
        if commitment.status.value == "done":
            return req.tr("#{id} is marked done.", id=commitment.id)
        if in_progress:
            return req.tr("#{id} is marked in progress ({percent}%).", id=commitment.id, percent=commitment.progress)
        return req.tr("Progress of #{id}: {percent}%.", id=commitment.id, percent=commitment.progress)
    if change.outcome is Outcome.UNCHANGED and in_progress:
        return req.tr("#{id} is already in progress ({percent}%).", id=commitment.id, percent=commitment.progress)
    return req.tr(OUTCOME_TEXTS[change.outcome], id=commitment.id)


async def decision_press(req: Request, query: CallbackQuery, press: DecisionPress) -> None:
    """Approve decides at once; Reject asks the secretary for the reason first (a reply, or /reject)."""
    refused = await decision_refusal(req, press.request_id)
    if refused:
        await answer(query, refused, alert=True)
        return
    async with req.services.db.session() as session:
        request = await session.get(ExtensionRequest, press.request_id)
    if request is None:
        await answer(query, req.tr("This request no longer exists."), alert=True)
        return
    if not press.approve and request.status == ExtensionStatus.PENDING:
        await answer(query)
        await ask_reason(req, request.commitment_id)
        return
    try:
        decided = await decide(req, press.request_id, approve=press.approve)
    except UserError as error:
        await answer(query, req.tr(error.msgid, **error.params), alert=True)
        return
    await answer(query, decided.answer, alert=not decided.now)
    await decided.show(req)
    if not decided.now:  # an older copy, still with its buttons: show what became of the request
        original = query.message.text_html if isinstance(query.message, Message) and query.message.text else ""
        await edit_pressed(query, with_outcome(original, decided.verdict))


async def evidence_press(req: Request, query: CallbackQuery, press: EvidencePress) -> None:
    services = req.services
    async with services.db.session() as session:
        evidence = await session.get(Evidence, press.evidence_id)
        found = await get_commitment(session, commitment_id=evidence.commitment_id) if evidence else None
    if evidence is None or found is None or not req.actor.can_see(found[1]):
        await answer(query, req.tr("This file is not available."), alert=True)
        return
    await answer(query)
    caption = evidence_caption(found[0])
    if evidence.media == "photo":
        await req.context.bot.send_photo(req.chat_id, evidence.file_id, caption=caption)
    else:
        await req.context.bot.send_document(req.chat_id, evidence.file_id, caption=caption)
