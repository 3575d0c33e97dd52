"""/broadcast: preview with the exact number of recipients, then "Send" (once) or "Cancel"; a report at the end."""

from __future__ import annotations

import re

from telegram import CallbackQuery, Message

from handlers.base import Request, UsageError, UserError, answer, command, edit_pressed, inline_markup, tail_text
from handlers.notify import wake_sender
from storage import broadcasts
from storage.models import Broadcast, BroadcastStatus
from storage.scopes import unit_codes_within
from texts.keyboards import BroadcastPress, broadcast_keyboard
from texts.render import broadcast_parts, broadcast_preview, with_outcome

UNITS = re.compile(r"@([A-Za-z0-9_.\-]{1,32}(?:,[A-Za-z0-9_.\-]{1,32})*)")


@command("broadcast")
async def broadcast(req: Request) -> None:
    spec = req.command("broadcast")
    text = tail_text(req.message.text or "", 0)
    unit_codes: list[str] | None = None
    if text.startswith("@"):
        first, _, rest = text.partition(" ")
        match = UNITS.fullmatch(first.strip().rstrip(","))
        if not match:
            raise UsageError(spec, "Name the units as @VPB,TTB (codes separated by commas, no spaces).")
        unit_codes = list(dict.fromkeys(match.group(1).split(",")))
        text = rest.strip()
    replied = req.message.reply_to_message
    media = file_id = file_name = None
    if replied is not None and replied.document is not None:
        media, file_id, file_name = "document", replied.document.file_id, replied.document.file_name or "file"
    elif replied is not None and replied.photo:
        media, file_id, file_name = "photo", replied.photo[-1].file_id, None
    if not text and file_id is None:
        raise UsageError(spec, "Write the text to send, or use /broadcast as a reply to a document.")
    services = req.services
    async with services.db.session() as session:
        named = unit_codes is not None
        if named or not req.actor.whole_register:  # a scoped secretary's "all" is every unit of the scope
            unit_codes, unknown = await unit_codes_within(session, req.actor.reach, unit_codes)
            if unknown:
                raise UserError("There is no unit with the code {code}.", code=", ".join(unknown))
        draft = await broadcasts.create_draft(
            session,
            created_by_id=req.actor.person_id,
            chat_id=req.chat_id,
            text=text,
            unit_codes=unit_codes,
            media=media,
            file_id=file_id,
            file_name=file_name or ("photo" if media == "photo" else None),
            now=services.now(),
        )
        if draft.recipients == 0:
            draft.status = BroadcastStatus.CANCELLED
    if draft.recipients == 0:
        raise UserError("Nobody is linked to these units yet, so there is no one to send to.")
    await req.reply(
        broadcast_preview(req.lang, text, unit_codes if named else None, draft.recipients, draft.file_name),
        reply_markup=inline_markup(broadcast_keyboard(req.lang, draft.id, draft.recipients)),
    )


async def broadcast_press(req: Request, query: CallbackQuery, press: BroadcastPress) -> None:

    services = req.services
    async with services.db.session() as session:
        mine = await session.get(Broadcast, press.broadcast_id)
    if mine is None or not (req.actor.whole_register or mine.created_by_id == req.actor.person_id):
        await answer(query, req.tr("This broadcast no longer exists."), alert=True)
        return
    async with services.db.session() as session:
        if press.send:
            changed, found = await broadcasts.send(
                session,
                broadcast_id=press.broadcast_id,
                now=services.now(),
                render=lambda b, lang: broadcast_parts(lang, b.text, with_file=b.file_id is not None),
                default_language=services.settings.default_language,
            )
        else:
            changed, found = await broadcasts.cancel(session, broadcast_id=press.broadcast_id)
    if found is None:
        await answer(query, req.tr("This broadcast no longer exists."), alert=True)
        return
    if changed and press.send:
        wake_sender(req.context)
        status = req.tr("Sending to {count} recipients; you will get a report when it is done.", count=found.recipients)
    elif changed:
        status = req.tr("Cancelled; nothing was sent.")
    elif found.status == BroadcastStatus.CANCELLED:
        status = req.tr("This broadcast was cancelled; nothing was sent.")
    else:
        status = req.tr("This broadcast was already sent; it goes out only once.")
    await answer(query, status)
    original = query.message.text_html if isinstance(query.message, Message) and query.message.text else ""
    await edit_pressed(query, with_outcome(original, status))
