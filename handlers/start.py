"""/start (with an invite code: linking), /help and /lang (with no argument: a button per language)."""

from __future__ import annotations

import logging
import re

from telegram import BotCommandScopeChat, Update
from telegram.error import TelegramError
from telegram.ext import CallbackQueryHandler

from core.i18n import LANGUAGES, N_, t_text
from handlers.base import (
    Request,
    UsageError,
    answer,
    build_request,
    command,
    edit_pressed,
    inline_markup,
    refreshed_actor,
)
from handlers.commands import Audience, audience_of, commands_for, menu
from handlers.context import Context
from storage.invites import Redeem, redeem_invite
from storage.members import set_language
from storage.models import Role, Unit
from storage.register import units_by_id
from texts.start import (
    LANGUAGE_CALLBACK,
    greeting,
    help_text,
    language_keyboard,
    language_question,
    parse_language_press,
    unit_label,
    welcome_units,
)

log = logging.getLogger(__name__)

INVITE_CODE = re.compile(r"[A-Za-z0-9_-]{1,64}")

ROLE_LINKED = {
    Role.FOCAL: N_("You are now a focal point of {unit}."),
    Role.HEAD: N_("You are now registered as a head of {unit}."),
    Role.SECRETARY: N_("You are now a secretary of the ISO committee."),
    Role.ADMIN: N_("You are now an administrator of the ISO committee."),
}
SCOPED_SECRETARY = N_("You are now a secretary of {unit} and of every unit below it.")


def role_phrase(req: Request) -> str:
    actor = req.actor
    if actor.is_admin:
        return req.tr("You are an administrator of the ISO committee.")
    if actor.is_secretary:
        return req.tr("You are a secretary of the ISO committee.")
    if actor.is_member:
        return req.tr("You follow the commitments of {count} unit(s).", count=len(actor.unit_roles))
    return req.tr(
        "You are not linked to any unit yet. Ask the ISO committee secretary for an invite link, then open it to start."
    )


async def show_committee_menu(req: Request) -> None:
    """Secretaries and admins see their longer command menu in their own chat (set when they start or link)."""
    actor = req.actor
    if not actor.is_committee or not req.is_private:
        return
    audience = Audience.ADMIN if actor.is_admin else Audience.COMMITTEE
    try:
        await req.context.bot.set_my_commands(
            menu(req.context.bot_data.commands, audience, req.lang), scope=BotCommandScopeChat(req.chat_id)
        )
    except TelegramError as error:  # the menu is a convenience: the answer to /start matters more
        log.warning("could not set the committee menu for %s: %s", req.chat_id, error)


async def units_by_role(req: Request) -> dict[Role, list[Unit]]:
    """The sender's units, by the role held there (focal, head), in code order."""
    async with req.services.db.session() as session:
        units = await units_by_id(session, unit_ids=req.actor.unit_ids)
    roles: dict[Role, list[Unit]] = {}
    for unit_id, held in req.actor.unit_roles.items():
        for role in held:
            if unit_id in units:
                roles.setdefault(role, []).append(units[unit_id])
    for listed in roles.values():
        listed.sort(key=lambda unit: unit.code_key)
    return roles


@command("start")
async def start(req: Request) -> None:
    """Welcome (naming the sender's units); `/start CODE` (from an invite link) links the sender to a unit or to
    the committee."""
    if len(req.args) > 1:
        raise UsageError(req.command("start"), "Too many words after /{command}.", command="start")
    if not req.args:
        await show_committee_menu(req)
        lines = [greeting(req.lang, req.actor.name)]
        named = welcome_units(req.lang, await units_by_role(req)) if req.actor.unit_roles else []
        # A focal point or head reads which units are theirs; a secretary's role comes first when they have both.
        if req.actor.is_committee or not named:
            lines.append(role_phrase(req))
        lines += named
        lines.append(req.tr("Send /help to see what you can do."))
        await req.reply("\n".join(lines))
        return
    code = req.args[0]
    if not INVITE_CODE.fullmatch(code):
        await req.reply(req.tr("This invite code is not valid. Ask the committee secretary for a new link."))
        return
    services = req.services
    async with services.db.session() as session:
        assert req.actor.person_id is not None
        result = await redeem_invite(session, code=code, person_id=req.actor.person_id, now=services.now())
    if result.outcome is Redeem.UNKNOWN:
        text = req.tr("This invite code is not valid. Ask the committee secretary for a new link.")
    elif result.outcome is Redeem.USED:
        text = req.tr("This invite has already been used. Ask the committee secretary for a new link.")
    elif result.outcome is Redeem.EXPIRED:
        text = req.tr("This invite has expired. Ask the committee secretary for a new link.")
    else:
        assert result.role is not None
        unit = unit_label(result.unit)
        if result.outcome is Redeem.ALREADY:
            text = req.tr("You already had this role; nothing changed.")
        else:
            scoped = result.role is Role.SECRETARY and result.unit is not None
            text = req.tr(SCOPED_SECRETARY if scoped else ROLE_LINKED[result.role], unit=unit)
            if result.role in (Role.SECRETARY, Role.ADMIN):
                req.actor = await refreshed_actor(req)
                await show_committee_menu(req)
        text += "\n" + req.tr("Send /tasks to see the open commitments, /help for everything else.")
    await req.reply(text)


@command("help")
async def help_command(req: Request) -> None:
    """Lists exactly the commands this sender may run."""
    audience = audience_of(req.actor)
    listed = [
        (spec.usage_for(audience), spec.description) for spec in commands_for(req.context.bot_data.commands, req.actor)
    ]
    await req.reply(help_text(req.lang, listed, "" if req.actor.is_member else role_phrase(req)))


@command("lang")
async def lang(req: Request) -> None:
    """`/lang vi|en`; with no argument, a button per language."""
    spec = req.command("lang")
    if not req.args:
        await req.reply(language_question(req.lang), reply_markup=inline_markup(language_keyboard(req.lang)))
        return
    if len(req.args) != 1 or req.args[0].lower() not in LANGUAGES:
        raise UsageError(spec, "Choose vi (Tiếng Việt) or en (English).")
    await choose_language(req, req.args[0].lower())
    await req.reply(req.tr("From now on I will write to you in English."))


async def choose_language(req: Request, choice: str) -> None:
    async with req.services.db.session() as session:
        await set_language(session, telegram_id=req.actor.telegram_id, language=choice)
    req.lang = choice
    await show_committee_menu(req)  # the committee's own menu follows the language too


async def language_press(update: Update, context: Context) -> None:
    """A /lang button: anyone may choose their own language (strangers too); anything else in `lang:` is refused."""
    query = update.callback_query
    if query is None or update.effective_user is None:
        return
    req = await build_request(update, context)
    choice = parse_language_press(query.data)
    if choice is None:
        await answer(
            query,
            t_text(req.lang, "This button is not valid any more.")
            + " "
            + t_text(req.lang, "Choose vi (Tiếng Việt) or en (English)."),
            alert=True,
        )
        return
    await choose_language(req, choice)
    await answer(query, t_text(choice, "From now on I will write to you in English."))
    await edit_pressed(query, req.tr("From now on I will write to you in English."))


def language_handler() -> CallbackQueryHandler[Context, None]:
    """Registered before the commitment buttons' handler, which answers only members."""
    return CallbackQueryHandler(language_press, pattern=f"^{LANGUAGE_CALLBACK}")
