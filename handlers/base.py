"""What every chat handler does the same way: who is asking, in which language, may they, and replying.

A handler is `async def handler(req: Request) -> None` wrapped by `@command("name")` (the name listed in
handlers.routes): the wrapper resolves the sender's memberships (authorisation lives here and in
handlers.commands), refuses what the sender may not run, and turns a `UserError` into a short localised answer.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import CallbackQuery, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest

from core.i18n import normalise_language, t
from handlers.commands import Audience, CommandSpec, allowed, audience_of
from handlers.context import Context
from handlers.services import Services
from storage.groups import acting_in_group, linked_unit
from storage.members import Actor, resolve_actor, touch_person
from storage.models import Commitment, Unit
from storage.register import get_commitment
from storage.scopes import request_unit
from texts.groups import members_only_text, not_linked_text, private_only_text
from texts.render import shorten, split_message, user_error_text

log = logging.getLogger(__name__)


class UserError(Exception):
    """Something the user can fix: shown to them, translated, and nothing is changed.

    `params` are plain text (what the user typed, a code, a date): texts.render.user_error_text escapes them.
    """

    def __init__(self, msgid: str, **params: object) -> None:
        super().__init__(msgid)
        self.msgid = msgid
        self.params = params


class UsageError(UserError):
    def __init__(self, spec: CommandSpec, msgid: str = "", **params: object) -> None:
        super().__init__(msgid, **params)
        self.spec = spec


@dataclass
class Request:
    update: Update
    context: Context
    services: Services
    actor: Actor
    lang: str
    args: list[str]
    # In a group chat `actor` is the sender as that group sees them (storage.groups.acting_in_group); `sender`
    # keeps their roles everywhere (what /linkgroup looks at); `group_unit` is the unit the group serves.
    sender: Actor | None = None
    group_unit: Unit | None = None

    @property
    def message(self) -> Message:
        assert self.update.effective_message is not None
        return self.update.effective_message

    @property
    def chat_id(self) -> int:
        assert self.update.effective_chat is not None
        return self.update.effective_chat.id

    @property
    def is_private(self) -> bool:
        return self.update.effective_chat is not None and self.update.effective_chat.type == "private"

    @property
    def in_group(self) -> bool:
        chat = self.update.effective_chat
        return chat is not None and chat.type in (chat.GROUP, chat.SUPERGROUP)

    @property
    def roles(self) -> Actor:
        """The sender's roles everywhere, wherever they write from."""
        return self.sender or self.actor

    def command(self, name: str) -> CommandSpec:
        """The listed command `name` (its usage, its audience)."""
        return self.context.bot_data.command(name)

    def tr(self, msgid: str, /, **params: object) -> str:
        return t(self.lang, msgid, **params)

    async def reply(self, text: str, *, reply_markup: InlineKeyboardMarkup | None = None) -> Message:
        """Send `text` (already rendered HTML), split at line boundaries; the markup goes on the last part."""
        parts = split_message(text)
        sent: Message | None = None
        for index, part in enumerate(parts):
            sent = await self.context.bot.send_message(
                chat_id=self.chat_id,
                text=part,
                reply_markup=reply_markup if index == len(parts) - 1 else None,
            )
        assert sent is not None
        return sent


async def build_request(update: Update, context: Context) -> Request:
    services = context.bot_data.services
    user = update.effective_user
    assert user is not None
    settings = services.settings
    async with services.db.session() as session:
        await touch_person(
            session,
            telegram_id=user.id,
            full_name=user.full_name,
            username=user.username,
            language_code=user.language_code,
            now=services.now(),
        )
        actor = await resolve_actor(
            session,
            telegram_id=user.id,
            fallback_name=user.full_name,
            fallback_language=None,
            admin_ids=settings.admin_ids,
            secretary_ids=settings.secretary_ids,
        )
        chat = update.effective_chat
        in_group = chat is not None and chat.type in (chat.GROUP, chat.SUPERGROUP)
        unit = await linked_unit(session, chat_id=chat.id) if in_group and chat is not None else None
    # The person's own choice (/lang) wins; otherwise the bot's default language, Vietnamese first.
    lang = normalise_language(actor.language, settings.default_language)
    if not in_group:
        return Request(update, context, services, actor, lang, list(context.args or []))
    # Everyone in a group reads the answers: they show the group's unit only, whatever else the sender may see.
    acting = acting_in_group(actor, unit)
    return Request(update, context, services, acting, lang, list(context.args or []), sender=actor, group_unit=unit)


async def refreshed_actor(req: Request) -> Actor:
    """The sender's roles read again, after a change of their own (linking)."""
    settings = req.services.settings
    async with req.services.db.session() as session:
        return await resolve_actor(
            session,
            telegram_id=req.actor.telegram_id,
            fallback_name=req.actor.name,
            admin_ids=settings.admin_ids,
            secretary_ids=settings.secretary_ids,
        )


Handler = Callable[[Request], Awaitable[None]]


# What may be run in a group chat before anything else is known about it: the commands that link it.
GROUP_SETUP = frozenset({"linkgroup", "unlinkgroup"})


def group_refusal(req: Request, spec: CommandSpec) -> str | None:
    """Why `spec` may not run in this group chat (None: it may); the sender's own roles are checked already."""
    if spec.audience == Audience.EVERYONE or spec.name in GROUP_SETUP:
        return None
    if req.group_unit is None:
        return not_linked_text(req.lang)
    if spec.audience >= Audience.COMMITTEE:
        return private_only_text(req.lang, spec.name)
    if not req.actor.is_member:
        return members_only_text(req.lang, req.group_unit, spec.name)
    return None


def refusal(req: Request, spec: CommandSpec) -> str:
    if req.in_group and (why := group_refusal(req, spec)) is not None:
        return why
    if not req.roles.is_member:
        return req.tr(
            "You are not linked to any unit yet. Ask the ISO committee secretary for an invite link, "
            "then open it to start."
        )
    if spec.audience >= Audience.ADMIN:
        return req.tr("Only an administrator can use /{command}.", command=spec.name)
    return req.tr("Only the committee secretary can use /{command}.", command=spec.name)


async def answer_user_error(req: Request, error: UserError) -> None:
    usage = error.spec.usage_for(audience_of(req.actor)) if isinstance(error, UsageError) else None
    await req.reply(user_error_text(req.lang, error.msgid, error.params, usage=usage))


TelegramCallback = Callable[[Update, Context], Coroutine[Any, Any, None]]


def command(name: str) -> Callable[[Handler], TelegramCallback]:
    """The callback of the listed command `name` (handlers.routes), its spec read from the context."""

    def wrap(handler: Handler) -> TelegramCallback:
        async def run(update: Update, context: Context) -> None:
            if update.effective_user is None or update.effective_message is None:
                return
            spec = context.bot_data.command(name)
            req = await build_request(update, context)
            if not allowed(req.roles, spec) or (req.in_group and group_refusal(req, spec) is not None):
                await req.reply(refusal(req, spec))
                return
            try:
                await handler(req)
            except UserError as error:
                await answer_user_error(req, error)

        run.__name__ = f"command_{name}"
        run.__doc__ = handler.__doc__
        return run

    return wrap


MAX_ID = 2**31 - 1  # the database's integer ids; a larger number names nothing


def parse_commitment_id(spec: CommandSpec, text: str) -> int:
    value = text.strip().removeprefix("#")
    if not value.isdigit() or len(value) > 12:
        raise UsageError(spec, "The commitment number must be a whole number, like 12 or #12.")
    if int(value) > MAX_ID:
        raise UserError("There is no commitment #{id} among your units.", id=value)
    return int(value)


def expect_args(req: Request, spec: CommandSpec, minimum: int, maximum: int) -> list[str]:
    if len(req.args) < minimum:
        raise UsageError(spec, "Something is missing.")
    if len(req.args) > maximum:
        raise UsageError(spec, "Too many words after /{command}.", command=spec.name)
    return req.args


def tail_text(text: str, skip: int) -> str:
    """What follows the command and its first `skip` words, as typed (line breaks kept)."""
    parts = text.strip().split(maxsplit=skip + 1)
    return parts[skip + 1].strip() if len(parts) > skip + 1 else ""


async def visible_commitment(session: AsyncSession, req: Request, commitment_id: int) -> tuple[Commitment, Unit]:
    """The commitment if the sender may see it; an unknown number and another unit's get the same answer."""
    found = await get_commitment(session, commitment_id=commitment_id)
    if found is None or not req.actor.can_see(found[1]):
        raise UserError("There is no commitment #{id} among your units.", id=commitment_id)
    return found


async def managed_commitment(session: AsyncSession, req: Request, commitment_id: int) -> tuple[Commitment, Unit]:
    """The commitment if the sender is a secretary whose scope holds it (or an admin); otherwise the same answer
    as for an unknown number: a scope shows nothing beyond it."""
    found = await get_commitment(session, commitment_id=commitment_id)
    if found is None or not req.actor.manages(found[1]):
        raise UserError("There is no commitment #{id} among your units.", id=commitment_id)
    return found


async def decision_refusal(req: Request, request_id: int) -> str | None:
    """None when the sender may approve or reject this extension request (a secretary whose scope holds its
    unit), else the answer: an unknown request and one outside the scope look the same."""
    if not req.actor.is_committee:
        return refusal(req, req.command("reopen"))
    async with req.services.db.session() as session:
        unit = await request_unit(session, request_id=request_id)
    if unit is None or not req.actor.manages(unit):
        return req.tr("This request no longer exists.")
    return None


ANSWER_LIMIT = 200  # Telegram's limit for a callback answer


async def answer(query: CallbackQuery, text: str = "", *, alert: bool = False) -> None:
    """Stop the pressed button's spinner, with a short notice (an alert when `alert`)."""
    await query.answer(shorten(text, ANSWER_LIMIT) if text else None, show_alert=alert)


def inline_markup(keyboard: dict[str, Any] | None) -> InlineKeyboardMarkup | None:
    """A keyboard made by texts.keyboards (Bot API JSON) as python-telegram-bot's object."""
    return InlineKeyboardMarkup.de_json(keyboard, None) if keyboard else None


async def edit_pressed(query: CallbackQuery, text: str, keyboard: dict[str, Any] | None = None) -> None:
    """Edit the pressed message; a second press that changes nothing ("message is not modified") is fine."""
    try:
        await query.edit_message_text(text, reply_markup=inline_markup(keyboard))
    except BadRequest as error:
        if "not modified" not in str(error).lower():
            raise
