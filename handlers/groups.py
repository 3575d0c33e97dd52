"""/linkgroup and /unlinkgroup: a unit's Telegram group chat, which gets the unit's messages too.

Who may link a group: a focal point or head of the unit, or a secretary whose scope holds it (their roles
everywhere, `Request.roles`). Being removed from a group unlinks it too (handlers.membership).
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update

from handlers.base import Request, UserError, command, expect_args
from handlers.context import Context
from handlers.notify import wake_sender
from scheduler.notices import GROUP_UNLINKED
from storage.groups import LinkOutcome, Unlinked, link_group, move_group, unlink_group
from storage.members import reachable_focal_points
from storage.outbox import Outgoing, enqueue
from storage.register import find_unit
from texts.groups import already_linked_text, group_unlinked_text, linked_text, unlinked_text

log = logging.getLogger(__name__)


def _group_only(req: Request) -> None:
    if not req.in_group:
        raise UserError("This command works in a group chat: add me to the unit's group and send it there.")


def _chat_title(req: Request) -> str:
    chat = req.update.effective_chat
    return (chat.title or "") if chat is not None else ""


@command("linkgroup")
async def linkgroup(req: Request) -> None:
    spec = req.command("linkgroup")
    _group_only(req)
    (code,) = expect_args(req, spec, 1, 1)
    services = req.services
    async with services.db.session() as session:
        unit = await find_unit(session, code=code)
        if unit is None:
            raise UserError("There is no unit with the code {code}.", code=code)
        if not req.roles.can_see(unit):
            raise UserError(
                "Only a focal point or head of {code}, or a secretary, can link a group to it.", code=unit.code
            )
        result = await link_group(
            session,
            unit=unit,
            chat_id=req.chat_id,
            title=_chat_title(req),
            person_id=req.roles.person_id,
            now=services.now(),
        )
        if result.outcome is LinkOutcome.OTHER_UNIT:
            raise UserError(
                "This group is already the group of {other}. To link it to {code}, send /unlinkgroup first.",
                other=result.unit.code,
                code=unit.code,
            )
    if result.outcome is LinkOutcome.ALREADY:
        await req.reply(already_linked_text(req.lang, unit))
        return
    await req.reply(linked_text(req.lang, unit, previous_title=result.previous_title))
    wake_sender(req.context)


@command("unlinkgroup")
async def unlinkgroup(req: Request) -> None:
    spec = req.command("unlinkgroup")
    _group_only(req)
    expect_args(req, spec, 0, 0)
    unit = req.group_unit
    if unit is None:
        raise UserError("This group is not linked to any unit: there is nothing to unlink.")
    if not req.roles.can_see(unit):
        raise UserError("Only a focal point or head of {code}, or a secretary, can unlink its group.", code=unit.code)
    services = req.services
    async with services.db.session() as session:
        unlinked = await unlink_group(session, chat_id=req.chat_id, person_id=req.roles.person_id, now=services.now())
        if unlinked is None:  # unlinked meanwhile by someone else
            raise UserError("This group is not linked to any unit: there is nothing to unlink.")
        await tell_unit(
            session,
            unlinked,
            removed=False,
            default_language=services.settings.default_language,
            now=services.now(),
            exclude=req.roles.person_id,
        )
    await req.reply(unlinked_text(req.lang, unlinked.unit))
    wake_sender(req.context)


async def migrated(update: Update, context: Context) -> None:
    """A group became a supergroup (a new chat id): a unit's group link follows it."""
    message = update.effective_message
    if message is None:
        return
    if message.migrate_to_chat_id is not None:
        old, new = message.chat.id, message.migrate_to_chat_id
    elif message.migrate_from_chat_id is not None:
        old, new = message.migrate_from_chat_id, message.chat.id
    else:
        return
    services = context.bot_data.services
    async with services.db.session() as session:
        unit = await move_group(session, old_chat_id=old, new_chat_id=new, now=services.now())
    if unit is not None:
        log.info("the group of %s became the supergroup %s (was %s)", unit.code, new, old)
        wake_sender(context)


async def tell_unit(
    session: AsyncSession,
    unlinked: Unlinked,
    *,
    removed: bool,
    default_language: str,
    now: datetime,
    exclude: int | None = None,
) -> int:
    """Queue, in the caller's transaction, the notice to the unit's reachable focal points that its group no
    longer gets its messages (not to `exclude`, who did it and was answered)."""
    messages = [
        Outgoing(
            key=GROUP_UNLINKED.key(unlinked.event_id, person.id),
            kind=GROUP_UNLINKED.kind,
            chat_id=person.telegram_id,
            person_id=person.id,
            text=group_unlinked_text(
                person.language or default_language, unlinked.unit, unlinked.title, removed=removed
            ),
        )
        for person in await reachable_focal_points(session, unit_id=unlinked.unit.id)
        if person.id != exclude
    ]
    return await enqueue(session, messages, now=now)
