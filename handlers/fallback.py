"""Whatever no other handler took: unknown commands and plain text."""

from __future__ import annotations

from telegram import Update

from handlers.base import UserError, answer_user_error, build_request, refusal
from handlers.context import Context
from handlers.corrections import prompted_rejection, reason_reply
from texts.fallback import unknown_command_text


async def unknown_command(update: Update, context: Context) -> None:
    if update.effective_user is None or update.effective_message is None:
        return
    first = (update.effective_message.text or "").split()[0]
    if "@" in first and first.split("@", 1)[1].lower() != (context.bot.username or "").lower():
        return  # /command@otherbot in a group
    req = await build_request(update, context)
    word = first.split("@")[0]
    await req.reply(unknown_command_text(req.lang, word))


async def plain_text(update: Update, context: Context) -> None:
    if update.effective_user is None or update.effective_message is None:
        return
    req = await build_request(update, context)
    if not req.actor.is_member:
        await req.reply(refusal(req, req.command("tasks")))
        return
    rejected = prompted_rejection(req)
    if rejected is not None and req.actor.is_committee:
        try:
            await reason_reply(req, rejected)
        except UserError as error:
            await answer_user_error(req, error)
        return
    await req.reply(req.tr("Send /help to see the commands you can use."))
