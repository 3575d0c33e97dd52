"""/start (with an invite code: linking), /help and /lang."""

from __future__ import annotations

import logging
import re

from telegram import BotCommandScopeChat
from telegram.error import TelegramError

from core.i18n import LANGUAGES, N_
from handlers.base import Request, UsageError, command, refreshed_actor
from handlers.commands import Audience, commands_for, menu
from storage.invites import Redeem, redeem_invite
from storage.members import set_language
from storage.models import Role
from texts.render import esc

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


@command("start")
async def start(req: Request) -> None:
    """Welcome; `/start CODE` (from an invite link) links the sender to a unit or to the committee."""
    if len(req.args) > 1:
        raise UsageError(req.command("start"), "Too many words after /{command}.", command="start")
    if not req.args:
        await show_committee_menu(req)
        await req.reply(
            req.tr("Hello {name}! I am the ISO committee's reminder bot.", name=esc(req.actor.name))
            + "\n"
            + role_phrase(req)
            + "\n"
            + req.tr("Send /help to see what you can do.")
        )
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
        unit = f"<b>{esc(result.unit.name)}</b> ({esc(result.unit.code)})" if result.unit else ""
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
    lines = [f"<b>{req.tr('Commands you can use')}</b>"]
    for spec in commands_for(req.context.bot_data.commands, req.actor):
        lines.append(f"{req.tr(spec.usage)} — {req.tr(spec.description)}")
    if not req.actor.is_member:
        lines.append("")
        lines.append(role_phrase(req))
    await req.reply("\n".join(lines))


@command("lang")
async def lang(req: Request) -> None:
    spec = req.command("lang")
    if len(req.args) != 1 or req.args[0].lower() not in LANGUAGES:
        raise UsageError(spec, "Choose vi (Tiếng Việt) or en (English).")
    choice = req.args[0].lower()
    async with req.services.db.session() as session:
        await set_language(session, telegram_id=req.actor.telegram_id, language=choice)
    req.lang = choice
    await req.reply(req.tr("From now on I will write to you in English."))
