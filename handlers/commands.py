"""What a chat command is (name, audience, description, usage, callback) and who may run it.

The list itself is handlers.routes; bot.app registers it and puts it in the context for /help.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from telegram import BotCommand, Update
from telegram.ext import BaseHandler, CallbackContext, CommandHandler, MessageHandler, filters

from core.i18n import t_text
from storage.members import Actor


class Audience(enum.IntEnum):
    EVERYONE = 0
    MEMBER = 1  # focal points and heads (their units), secretaries and admins (all units)
    COMMITTEE = 2  # secretaries and admins
    ADMIN = 3


# What python-telegram-bot calls for an update (a `@command` callback of handlers.base, or a dialogue's entry).
Callback = Callable[[Update, CallbackContext[Any, Any, Any, Any]], Coroutine[Any, Any, object]]
# A dialogue that starts with the command (e.g. /add's ConversationHandler), made around its CommandHandler.
Dialogue = Callable[[CommandHandler[Any, Any]], BaseHandler[Update, Any, Any]]


@dataclass(frozen=True)
class CommandSpec:
    name: str
    audience: Audience
    description: str  # msgid, shown in /help and in Telegram's command menu
    usage: str  # msgid: the correct form, shown when the command is malformed
    callback: Callback
    dialogue: Dialogue | None = None
    link: str | None = None  # a regex of the command's tappable form (`/task_123`), routed to the same callback
    # Where an audience may run the command in another form than `usage` (e.g. /invite secretary: only an admin
    # may leave out the unit), that form for it and the audiences above it.
    usage_from: tuple[tuple[Audience, str], ...] = ()

    def usage_for(self, audience: Audience) -> str:
        """The form `audience` may run the command in (msgid): /help and the usage answers show it."""
        usage = self.usage
        for since, form in self.usage_from:
            if audience >= since:
                usage = form
        return usage

    def handlers(self) -> list[BaseHandler[Update, Any, Any]]:
        """What bot.app registers: the command (or the dialogue it starts), and its tappable form."""
        command: CommandHandler[Any, Any] = CommandHandler(self.name, self.callback)
        found: list[BaseHandler[Update, Any, Any]] = [self.dialogue(command) if self.dialogue is not None else command]
        if self.link is not None:
            found.append(MessageHandler(filters.Regex(self.link), self.callback))
        return found


def audience_of(actor: Actor) -> Audience:
    if actor.is_admin:
        return Audience.ADMIN
    if actor.is_secretary:
        return Audience.COMMITTEE
    if actor.is_member:
        return Audience.MEMBER
    return Audience.EVERYONE


def allowed(actor: Actor, spec: CommandSpec) -> bool:
    return audience_of(actor) >= spec.audience


def commands_for(commands: Sequence[CommandSpec], actor: Actor) -> list[CommandSpec]:
    return [spec for spec in commands if allowed(actor, spec)]


def commands_for_audience(commands: Sequence[CommandSpec], audience: Audience) -> list[CommandSpec]:
    return [spec for spec in commands if spec.audience <= audience]


def menu(commands: Sequence[CommandSpec], audience: Audience, lang: str) -> list[BotCommand]:
    """Telegram's command menu for an audience, described in `lang` (plain text)."""
    return [BotCommand(spec.name, t_text(lang, spec.description)) for spec in commands_for_audience(commands, audience)]
