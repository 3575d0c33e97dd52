"""The typed context of every callback: `context.bot_data.services`, checked by mypy, instead of string keys."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from telegram.ext import Application, CallbackContext, ContextTypes, ExtBot

from handlers.commands import CommandSpec
from handlers.services import Services


class BotData:
    """The Application's `bot_data`. python-telegram-bot makes it without arguments; `bot.app` sets the services
    and the command list (handlers.routes) before the first update, `bot.jobs` the planner and sender of an
    instance that has them."""

    def __init__(self) -> None:
        self._services: Services | None = None
        self.commands: tuple[CommandSpec, ...] = ()
        self._by_name: dict[str, CommandSpec] = {}
        self.jobs: object | None = None  # a bot.jobs.Jobs, read back (typed) by bot.jobs.jobs_of

    @property
    def services(self) -> Services:
        if self._services is None:
            raise RuntimeError("no services yet: bot.app.build_application sets them")
        return self._services

    @services.setter
    def services(self, services: Services) -> None:
        self._services = services

    def set_commands(self, commands: Sequence[CommandSpec]) -> None:
        self.commands = tuple(commands)
        self._by_name = {spec.name: spec for spec in self.commands}

    def command(self, name: str) -> CommandSpec:
        """The listed command `name` (KeyError for a name handlers.routes does not list)."""
        return self._by_name[name]


# The `context` argument of every handler, error handler and job callback.
Context = CallbackContext[ExtBot[Any], dict[Any, Any], dict[Any, Any], BotData]
# What bot.app passes to the ApplicationBuilder.
CONTEXT_TYPES = ContextTypes(bot_data=BotData)
# The Application as bot/ and the handlers see it: its bot_data is a BotData.
BotApplication = Application[Any, Any, Any, Any, BotData, Any]
