"""`my_chat_member` updates: a user blocked the bot (unreachable, as a 403 is) or unblocked it (reachable again);
the bot was removed from a group (a unit's group is unlinked, the unit told) or added to one (a /linkgroup hint).

Unblocking lets new messages flow (the planner catches up); the blocked ones are not resent.
"""

from __future__ import annotations

import logging

from telegram import ChatMember, ChatMemberUpdated, Update
from telegram.error import TelegramError
from telegram.ext import ChatMemberHandler

from handlers.context import Context
from handlers.groups import tell_unit
from handlers.notify import wake_sender
from storage.groups import unlink_group
from storage.members import get_person, mark_unreachable, set_reachable
from texts.groups import added_to_group_text

log = logging.getLogger(__name__)

GONE = frozenset({ChatMember.BANNED, ChatMember.LEFT})  # "kicked" is BANNED in python-telegram-bot
PRESENT = frozenset({ChatMember.MEMBER, ChatMember.ADMINISTRATOR, ChatMember.OWNER})


async def my_chat_member(update: Update, context: Context) -> None:
    change = update.my_chat_member
    if change is None:
        return
    status = change.new_chat_member.status
    chat = change.chat
    if chat.type in (chat.GROUP, chat.SUPERGROUP):
        await _group_change(change, context)
        return
    if chat.type != chat.PRIVATE:
        log.info("the bot is now %s in %s %s (%s)", status, chat.type, chat.id, chat.title or "")
        return
    services = context.bot_data.services
    async with services.db.session() as session:
        person = await get_person(session, telegram_id=chat.id)
        if person is None:  # a stranger: nothing is queued for them
            return
        if status in GONE:
            told = await mark_unreachable(session, person_id=person.id, now=services.now(), reason="blocked the bot")
            log.info("%s blocked the bot (secretaries told at the next planning tick: %s)", chat.id, told)
        elif status in PRESENT:
            # The planner sends them the latest due reminder of each open commitment at its next tick.
            await set_reachable(session, person=person)
            log.info("%s unblocked the bot", chat.id)
    wake_sender(context)


async def _group_change(change: ChatMemberUpdated, context: Context) -> None:
    """Removed from a group (left, kicked): a unit's group is unlinked and the unit's focal points are told.
    Added to one: a short hint of /linkgroup."""
    chat, old, new = change.chat, change.old_chat_member.status, change.new_chat_member.status
    services = context.bot_data.services
    if new in GONE:
        async with services.db.session() as session:
            by = await get_person(session, telegram_id=change.from_user.id) if change.from_user else None
            unlinked = await unlink_group(
                session, chat_id=chat.id, person_id=by.id if by else None, now=services.now(), reason="removed"
            )
            if unlinked is not None:
                await tell_unit(
                    session,
                    unlinked,
                    removed=True,
                    default_language=services.settings.default_language,
                    now=services.now(),
                )
        if unlinked is None:
            log.info("the bot was removed from %s %s (%s), which served no unit", chat.type, chat.id, chat.title or "")
            return
        log.warning(
            "the bot was removed from %s (%s): the group of %s is unlinked",
            chat.id,
            chat.title or "",
            unlinked.unit.code,
        )
        wake_sender(context)
    elif new in PRESENT and old not in PRESENT:
        try:
            await context.bot.send_message(chat.id, added_to_group_text(services.settings.default_language))
        except TelegramError as error:  # a group that does not let the bot write: nothing else to do
            log.info("could not greet %s %s: %s", chat.type, chat.id, error)


def handler() -> ChatMemberHandler[Context, None]:
    return ChatMemberHandler(my_chat_member, ChatMemberHandler.MY_CHAT_MEMBER)
