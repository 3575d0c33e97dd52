"""/add: a new commitment, in one line or as a short guided dialogue (unit → title → kind → due → basis).

Every step can be cancelled (/cancel or the Cancel button); nothing is written before the last step.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from telegram import InlineKeyboardMarkup, Update
from telegram.ext import (
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)

from handlers import campaigns
from handlers.base import (
    Request,
    UsageError,
    UserError,
    answer_user_error,
    build_request,
    command,
    inline_markup,
    refusal,
)
from handlers.context import Context
from handlers.notify import wake_sender
from handlers.status import parse_new_date
from scheduler.announce import announce_new
from storage.models import Kind
from storage.register import find_unit
from storage.status import add_commitment
from texts.add import added_text, unknown_unit_in_dialogue
from texts.keyboards import add_basis_keyboard, add_cancel_keyboard, add_kind_keyboard

UNIT, TITLE, KIND, DUE, BASIS = range(5)
TITLE_LIMIT = 500
BASIS_LIMIT = 200
KINDS = {"legal": Kind.LEGAL, "internal": Kind.INTERNAL}
# An abandoned dialogue must not swallow the secretary's later messages.
DIALOGUE_TIMEOUT_SECONDS = 15 * 60


def _cancel(lang: str) -> InlineKeyboardMarkup | None:
    return inline_markup(add_cancel_keyboard(lang))


async def _create(req: Request, *, unit_code: str, title: str, kind: Kind, due: date, legal_basis: str) -> None:
    services = req.services
    async with services.db.session() as session:
        unit = await find_unit(session, code=unit_code)
        if unit is None or not req.actor.manages(unit):  # a unit outside the scope is answered as an unknown one
            raise UserError("There is no unit with the code {code}.", code=unit_code)
        change = await add_commitment(
            session,
            unit_code=unit_code,
            title=title,
            kind=kind,
            due=due,
            legal_basis=legal_basis,
            actor_id=req.actor.person_id,
            now=services.now(),
        )
        if change.commitment is not None:
            await announce_new(
                session,
                [change.commitment.id],
                now=services.now(),
                today=services.today(),
                default_language=services.settings.default_language,
            )
    if change.commitment is None or change.unit is None:
        raise UserError("There is no unit with the code {code}.", code=unit_code)
    wake_sender(req.context)
    await req.reply(
        added_text(
            req.lang, commitment_id=change.commitment.id, unit_code=change.unit.code, title=title, due=due, kind=kind
        )
    )


def _check_due(req: Request, due: date) -> None:
    if due < req.services.today():
        raise UserError("The due date {date} is in the past.", date=due)


def _check_title(title: str) -> str:
    title = " ".join(title.split())
    if not title:
        raise UserError("The title is empty.")
    if len(title) > TITLE_LIMIT:
        raise UserError(
            "The title is too long ({length} characters; at most {limit}).", length=len(title), limit=TITLE_LIMIT
        )
    return title


@command("add")
async def add_one_line(req: Request) -> None:
    """`/add <unit_code> <due date> <legal|internal> <title>`; with `@UNIT1,UNIT2`, `@UNIT/*` or `@all` in place
    of the unit, a campaign (handlers.campaigns: a preview first)."""
    spec = req.command("add")
    if len(req.args) < 4:
        raise UsageError(spec, "Something is missing.")
    unit_code, due_text, kind_text = req.args[:3]
    due = parse_new_date(spec, due_text)
    if kind_text.lower() not in KINDS:
        raise UsageError(spec, "The kind must be legal or internal.")
    text = req.message.text or ""
    title = _check_title(text.strip().split(maxsplit=4)[4] if len(text.split()) > 4 else "")
    _check_due(req, due)
    if unit_code.startswith("@"):
        await campaigns.preview(req, selector=unit_code, title=title, kind=KINDS[kind_text.lower()], due=due)
        return
    await _create(req, unit_code=unit_code, title=title, kind=KINDS[kind_text.lower()], due=due, legal_basis="")


async def entry(update: Update, context: Context) -> int:
    """`/add` with arguments adds at once; without, the dialogue starts (secretaries only)."""
    if context.args:
        await add_one_line(update, context)
        return ConversationHandler.END
    req = await build_request(update, context)
    if not req.actor.is_committee:
        await req.reply(refusal(req, req.command("add")))
        return ConversationHandler.END
    assert context.user_data is not None
    context.user_data["add"] = {}
    await req.reply(
        req.tr("New commitment, step 1 of 5: which unit? Send its code (e.g. VPB)."),
        reply_markup=_cancel(req.lang),
    )
    return UNIT


def _draft(context: Context) -> dict[str, Any]:
    assert context.user_data is not None
    draft: dict[str, Any] = context.user_data.setdefault("add", {})
    return draft


async def _step(update: Update, context: Context, state: int) -> int:
    req = await build_request(update, context)
    if not req.actor.is_committee:  # lost the role mid-dialogue
        await req.reply(refusal(req, req.command("add")))
        return ConversationHandler.END
    text = (req.message.text or "").strip()
    draft = _draft(context)
    try:
        if state == UNIT:
            async with req.services.db.session() as session:
                unit = await find_unit(session, code=text)
            if unit is None or not req.actor.manages(unit):
                await req.reply(unknown_unit_in_dialogue(req.lang, text), reply_markup=_cancel(req.lang))
                return UNIT
            draft["unit"] = unit.code
            await req.reply(req.tr("Step 2 of 5: the title of the commitment?"), reply_markup=_cancel(req.lang))
            return TITLE
        if state == TITLE:
            draft["title"] = _check_title(text)
            await req.reply(
                req.tr("Step 3 of 5: what kind of deadline?"), reply_markup=inline_markup(add_kind_keyboard(req.lang))
            )
            return KIND
        if state == KIND:
            if text.lower() not in KINDS:
                raise UserError("The kind must be legal or internal.")
            draft["kind"] = text.lower()
            await req.reply(req.tr("Step 4 of 5: the due date (DD/MM/YYYY)?"), reply_markup=_cancel(req.lang))
            return DUE
        if state == DUE:
            due = parse_new_date(req.command("add"), text)
            _check_due(req, due)
            draft["due"] = due.isoformat()
            await req.reply(
                req.tr("Step 5 of 5: the legal basis or source document (e.g. 118/2009/QĐ-TTg)?"),
                reply_markup=inline_markup(add_basis_keyboard(req.lang)),
            )
            return BASIS
        if len(text) > BASIS_LIMIT:
            raise UserError("The legal basis is too long (at most {limit} characters).", limit=BASIS_LIMIT)
        return await _finish(req, context, text)
    except UserError as error:
        await answer_user_error(req, error)
        return state


async def _finish(req: Request, context: Context, basis: str) -> int:
    draft = _draft(context)
    try:
        await _create(
            req,
            unit_code=draft["unit"],
            title=draft["title"],
            kind=KINDS[draft["kind"]],
            due=date.fromisoformat(draft["due"]),
            legal_basis=basis,
        )
    except UserError as error:
        await answer_user_error(req, error)
    assert context.user_data is not None
    context.user_data.pop("add", None)
    return ConversationHandler.END


async def on_unit(update: Update, context: Context) -> int:
    return await _step(update, context, UNIT)


async def on_title(update: Update, context: Context) -> int:
    return await _step(update, context, TITLE)


async def on_kind_text(update: Update, context: Context) -> int:
    return await _step(update, context, KIND)


async def on_due(update: Update, context: Context) -> int:
    return await _step(update, context, DUE)


async def on_basis(update: Update, context: Context) -> int:
    return await _step(update, context, BASIS)


async def on_button(update: Update, context: Context) -> int | None:
    query = update.callback_query
    assert query is not None
    req = await build_request(update, context)
    await query.answer()
    choice = (query.data or "").removeprefix("add:")
    if choice == "cancel" or not req.actor.is_committee:
        return await cancel(update, context)
    draft = _draft(context)
    if choice in KINDS and "title" in draft and "kind" not in draft:
        draft["kind"] = choice
        await query.edit_message_reply_markup(None)
        await req.reply(req.tr("Step 4 of 5: the due date (DD/MM/YYYY)?"), reply_markup=_cancel(req.lang))
        return DUE
    if choice == "nobasis" and "due" in draft:
        await query.edit_message_reply_markup(None)
        return await _finish(req, context, "")
    return None  # a button of an earlier step: stay where we are


async def cancel(update: Update, context: Context) -> int:
    req = await build_request(update, context)
    if context.user_data is not None:
        context.user_data.pop("add", None)
    await req.reply(req.tr("Cancelled; nothing was added."))
    return ConversationHandler.END


async def nothing_to_cancel(update: Update, context: Context) -> None:
    req = await build_request(update, context)
    await req.reply(req.tr("There is nothing to cancel."))


def conversation(command: CommandHandler[Any, Any]) -> ConversationHandler:  # type: ignore[type-arg]
    """The /add dialogue, entered by `command` (/add with `entry` as its callback, from handlers.routes)."""
    text = filters.TEXT & ~filters.COMMAND
    return ConversationHandler(
        entry_points=[command],
        states={
            UNIT: [MessageHandler(text, on_unit)],
            TITLE: [MessageHandler(text, on_title)],
            KIND: [MessageHandler(text, on_kind_text), CallbackQueryHandler(on_button, pattern=r"^add:")],
            DUE: [MessageHandler(text, on_due)],
            BASIS: [MessageHandler(text, on_basis)],
        },
        fallbacks=[
            CommandHandler("cancel", cancel),
            CallbackQueryHandler(on_button, pattern=r"^add:"),
        ],
        conversation_timeout=DIALOGUE_TIMEOUT_SECONDS,
        allow_reentry=True,
    )
