"""`my_chat_member` updates: a user blocked the bot (unreachable, as a 403 is) or unblocked it (reachable again).

Unblocking lets new messages flow (the planner catches up); the blocked ones are not resent.
"""

from __future__ import annotations

import logging

from telegram import ChatMember, Update
from telegram.ext import ChatMemberHandler

from handlers.context import Context
from handlers.notify import wake_sender
from storage.members import get_person, mark_unreachable, set_reachable

log = logging.getLogger(__name__)

GONE = frozenset({ChatMember.BANNED, ChatMember.LEFT})  # "kicked" is BANNED in python-telegram-bot
PRESENT = frozenset({ChatMember.MEMBER, ChatMember.ADMINISTRATOR, ChatMember.OWNER})


async def my_chat_member(update: Update, context: Context) -> None:
    change = update.my_chat_member
    if change is None:
        return
    status = change.new_chat_member.status
    chat = change.chat
    if chat.type != chat.PRIVATE:
        if status in GONE:
            log.warning("the bot was removed from %s %s (%s)", chat.type, chat.id, chat.title or "")
        else:
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


def handler() -> ChatMemberHandler[Context, None]:
    return ChatMemberHandler(my_chat_member, ChatMemberHandler.MY_CHAT_MEMBER)
