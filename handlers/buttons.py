"""Inline button presses: Done, In progress N%, Ask to extend, Details, Approve/Reject, evidence files.

callback_data only says what was pressed; who may do it is decided here from the presser's memberships.
A press is always answered, and the pressed message is edited to show the new state.
"""

from __future__ import annotations

from datetime import date

from telegram import CallbackQuery, Message, Update

from core.i18n import t
from handlers.base import Request, answer, build_request, decision_refusal, edit_pressed, refusal
from handlers.broadcast import broadcast_press
from handlers.context import Context
from handlers.notify import wake_sender
from handlers.status import OUTCOME_TEXTS
from storage.events import history
from storage.models import Commitment, Evidence, ExtensionRequest, ExtensionStatus, Kind, Person, Unit
from storage.outbox import Outgoing
from storage.register import get_commitment
from storage.status import Change, Outcome, decide_extension, evidence_of, mark_done, set_progress
from texts.keyboards import (
    BroadcastPress,
    CommitmentPress,
    DecisionPress,
    EvidencePress,
    commitment_keyboard,
    parse_callback,
)
from texts.render import commitment_card, esc, fmt_date, legal_deadline_refusal, shorten, with_outcome


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
    else:
        await evidence_press(req, query, press)


async def commitment_press(req: Request, query: CallbackQuery, press: CommitmentPress) -> None:
    services = req.services
    async with services.db.session() as session:
        found = await get_commitment(session, commitment_id=press.commitment_id)
        if found is None or not req.actor.can_see(found[1]):
            await answer(
                query, req.tr("There is no commitment #{id} among your units.", id=press.commitment_id), alert=True
            )
            return
        commitment, unit = found
        if press.action == "info":
            events = await history(session, commitment_id=commitment.id)
            evidence = await evidence_of(session, commitment_id=commitment.id)
        elif press.action == "ext":
            pass
        elif press.action == "done":
            change = await mark_done(
                session,
                commitment=commitment,
                actor_id=req.actor.person_id,
                now=services.now(),
                tz=services.settings.tz,
                expected_version=press.version,
            )
        else:
            assert press.percent is not None
            change = await set_progress(
                session,
                commitment=commitment,
                percent=press.percent,
                actor_id=req.actor.person_id,
                now=services.now(),
                expected_version=press.version,
            )
    if press.action == "info":
        await answer(query)
        from handlers.tasks import send_task_view

        await send_task_view(req, commitment, unit, events, evidence)
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
    await answer(query, press_answer(req, change, commitment))
    await show_state(req, query, commitment, unit)


def press_answer(req: Request, change: Change, commitment: Commitment) -> str:
    if change.outcome is Outcome.CHANGED:
        if commitment.status.value == "done":
            return req.tr("#{id} is marked done.", id=commitment.id)
        return req.tr("Progress of #{id}: {percent}%.", id=commitment.id, percent=commitment.progress)
    return req.tr(OUTCOME_TEXTS[change.outcome], id=commitment.id)


async def decision_press(req: Request, query: CallbackQuery, press: DecisionPress) -> None:
    refused = await decision_refusal(req, press.request_id)
    if refused:
        await answer(query, refused, alert=True)
        return
    services = req.services
    async with services.db.session() as session:
        change = await decide_extension(
            session,
            request_id=press.request_id,
            approve=press.approve,
            actor_id=req.actor.person_id,
            now=services.now(),
            notice=lambda request, commitment, requester: decision_notice(
                requester.language or services.settings.default_language, request, commitment, requester
            ),
        )
    if change.outcome is Outcome.NOT_FOUND or change.request is None or change.commitment is None:
        await answer(query, req.tr("This request no longer exists."), alert=True)
        return
    request, commitment, unit, decider = change.request, change.commitment, change.unit, change.decider
    assert unit is not None
    approved = request.status.value == "approved"
    who = esc(decider.full_name) if decider else "?"
    verdict = (
        req.tr("Approved by {who}: new deadline {date}.", who=who, date=fmt_date(request.new_due))
        if approved
        else req.tr("Rejected by {who}.", who=who)
    )
    if change.outcome is Outcome.CLOSED:
        verdict = req.tr(
            "#{id} is no longer open; the request is closed without moving the deadline.", id=commitment.id
        )
        await answer(query, verdict, alert=True)
    elif change.changed:
        await answer(query, req.tr("Decision recorded; the requester is told."))
        wake_sender(req.context)
    else:
        await answer(query, req.tr("Already decided. {verdict}", verdict=verdict), alert=True)
    original = query.message.text_html if isinstance(query.message, Message) and query.message.text else ""
    await edit_pressed(query, with_outcome(original, verdict))


def decision_notice(lang: str, request: ExtensionRequest, commitment: Commitment, requester: Person) -> Outgoing:
    """The decision, to the person who asked, with the buttons of the commitment as it now stands."""
    return Outgoing(
        key=f"extension-decision:{request.id}",
        kind="decision",
        chat_id=requester.telegram_id,
        person_id=requester.id,
        commitment_id=commitment.id,
        text=decision_text(
            lang, request.status == ExtensionStatus.APPROVED, commitment, request.new_due, request.old_due
        ),
        reply_markup=commitment_keyboard(lang, commitment),
    )


def decision_text(lang: str, approved: bool, commitment: Commitment, new_due: date, old_due: date) -> str:
    title = f"<b>#{commitment.id} · {esc(shorten(commitment.title, 200))}</b>"
    if approved:
        return (
            "✅ "
            + t(
                lang,
                "Your request was approved: the deadline of #{id} moves from {old} to {new}.",
                id=commitment.id,
                old=fmt_date(old_due),
                new=fmt_date(new_due),
            )
            + "\n"
            + title
        )
    return (
        "❌ "
        + t(
            lang,
            "Your request to extend #{id} was rejected; the deadline stays {old}.",
            id=commitment.id,
            old=fmt_date(old_due),
        )
        + "\n"
        + title
    )


async def evidence_press(req: Request, query: CallbackQuery, press: EvidencePress) -> None:
    services = req.services
    async with services.db.session() as session:
        evidence = await session.get(Evidence, press.evidence_id)
        found = await get_commitment(session, commitment_id=evidence.commitment_id) if evidence else None
    if evidence is None or found is None or not req.actor.can_see(found[1]):
        await answer(query, req.tr("This file is not available."), alert=True)
        return
    await answer(query)
    caption = f"#{found[0].id} · {esc(shorten(found[0].title, 200))}"
    if evidence.media == "photo":
        await req.context.bot.send_photo(req.chat_id, evidence.file_id, caption=caption)
    else:
        await req.context.bot.send_document(req.chat_id, evidence.file_id, caption=caption)
