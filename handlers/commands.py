"""Every chat command, who may run it and how it is described: one list for /help, the menu and routing."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from telegram import BotCommand

from core.i18n import N_, t_text
from storage.members import Actor


class Audience(enum.IntEnum):
    EVERYONE = 0
    MEMBER = 1  # focal points and heads (their units), secretaries and admins (all units)
    COMMITTEE = 2  # secretaries and admins
    ADMIN = 3


@dataclass(frozen=True)
class CommandSpec:
    name: str
    audience: Audience
    description: str  # msgid, shown in /help and in Telegram's command menu
    usage: str  # msgid: the correct form, shown when the command is malformed


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "start", Audience.EVERYONE, N_("Welcome; with an invite code, link to your unit"), N_("/start [invite code]")
    ),
    CommandSpec("help", Audience.EVERYONE, N_("The commands you can use"), N_("/help")),
    CommandSpec("lang", Audience.EVERYONE, N_("Language: vi or en"), N_("/lang vi|en")),
    CommandSpec("tasks", Audience.MEMBER, N_("Open commitments, overdue first"), N_("/tasks [unit code]")),
    CommandSpec("task", Audience.MEMBER, N_("Details and history of one commitment"), N_("/task <number>")),
    CommandSpec(
        "done",
        Audience.MEMBER,
        N_("Mark a commitment done (a file with this caption is kept as evidence)"),
        N_("/done <number> [note]"),
    ),
    CommandSpec("progress", Audience.MEMBER, N_("Report progress in percent"), N_("/progress <number> <0-100> [note]")),
    CommandSpec("note", Audience.MEMBER, N_("Add a note to a commitment"), N_("/note <number> <text>")),
    CommandSpec(
        "extend",
        Audience.MEMBER,
        N_("Ask for more time (internal deadlines only)"),
        N_("/extend <number> <new date DD/MM/YYYY> <reason>"),
    ),
    CommandSpec("units", Audience.COMMITTEE, N_("Units, focal points, open and overdue counts"), N_("/units")),
    CommandSpec(
        "invite",
        Audience.COMMITTEE,
        N_("One-time invite link for a unit or a secretary"),
        N_("/invite <unit code> [focal|head] or /invite secretary"),
    ),
    CommandSpec(
        "add",
        Audience.COMMITTEE,
        N_("Add a commitment (without arguments: step by step)"),
        N_("/add <unit code> <due date> <legal|internal> <title>"),
    ),
    CommandSpec("reopen", Audience.COMMITTEE, N_("Undo a done"), N_("/reopen <number> [reason]")),
    CommandSpec("overdue", Audience.COMMITTEE, N_("Every overdue commitment, by unit"), N_("/overdue")),
    CommandSpec(
        "broadcast",
        Audience.COMMITTEE,
        N_("Message every focal point and head (of all or some units)"),
        N_("/broadcast [@UNIT1,UNIT2] <text> (or as a reply to a document)"),
    ),
    CommandSpec("digest", Audience.COMMITTEE, N_("The weekly digest, now"), N_("/digest")),
    CommandSpec("export", Audience.COMMITTEE, N_("The register with statuses and history as .xlsx"), N_("/export")),
)

BY_NAME = {spec.name: spec for spec in COMMANDS}


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


def commands_for(actor: Actor) -> list[CommandSpec]:
    return [spec for spec in COMMANDS if allowed(actor, spec)]


def commands_for_audience(audience: Audience) -> list[CommandSpec]:
    return [spec for spec in COMMANDS if spec.audience <= audience]


def menu(audience: Audience, lang: str) -> list[BotCommand]:
    """Telegram's command menu for an audience, described in `lang` (plain text)."""
    return [BotCommand(spec.name, t_text(lang, spec.description)) for spec in commands_for_audience(audience)]
