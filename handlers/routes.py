"""The one list of chat commands: name, audience, description, usage and callback (bot.app registers it)."""

from __future__ import annotations

from core.i18n import N_
from handlers import (
    add,
    broadcast,
    campaigns,
    corrections,
    digest,
    groups,
    invites,
    overdue,
    register_files,
    start,
    status,
    tasks,
    units,
)
from handlers.commands import Audience, CommandSpec

# In the order of /help and of the command menu. /help reads it through the context (BotData.commands), as
# this module imports every handler, /help's among them.
COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "start",
        Audience.EVERYONE,
        N_("Welcome; with an invite code, link to your unit"),
        N_("/start [invite code]"),
        start.start,
    ),
    CommandSpec("help", Audience.EVERYONE, N_("The commands you can use"), N_("/help"), start.help_command),
    CommandSpec("lang", Audience.EVERYONE, N_("Language: vi or en"), N_("/lang vi|en"), start.lang),
    CommandSpec(
        "tasks",
        Audience.MEMBER,
        N_("Open commitments, overdue first (all: with the done and cancelled ones)"),
        N_("/tasks [unit code] [all]"),
        tasks.tasks,
    ),
    CommandSpec(
        "task",
        Audience.MEMBER,
        N_("Details and history of one commitment"),
        N_("/task <number> (or tap /task_<number>)"),
        tasks.task,
        link=tasks.TASK_LINK.pattern,
    ),
    CommandSpec(
        "find",
        Audience.MEMBER,
        N_("Find commitments by words (case and diacritics ignored)"),
        N_("/find <words>"),
        tasks.find,
    ),
    CommandSpec(
        "done",
        Audience.MEMBER,
        N_("Mark a commitment done (a file with this caption is kept as evidence)"),
        N_("/done <number> [note]"),
        status.done,
    ),
    CommandSpec(
        "progress",
        Audience.MEMBER,
        N_("Report progress in percent"),
        N_("/progress <number> <0-100> [note]"),
        status.progress,
    ),
    CommandSpec("note", Audience.MEMBER, N_("Add a note to a commitment"), N_("/note <number> <text>"), status.note),
    CommandSpec(
        "extend",
        Audience.MEMBER,
        N_("Ask for more time (internal deadlines only)"),
        N_("/extend <number> <new date DD/MM/YYYY> <reason>"),
        status.extend,
    ),
    CommandSpec(
        "snooze",
        Audience.MEMBER,
        N_("One more reminder later (default: the next working day)"),
        N_("/snooze <number> [working days]"),
        corrections.snooze_command,
    ),
    CommandSpec(
        "linkgroup",
        Audience.MEMBER,
        N_("In a group chat: make it the unit's group (its reminders come there too)"),
        N_("/linkgroup <unit code>"),
        groups.linkgroup,
    ),
    CommandSpec(
        "unlinkgroup",
        Audience.MEMBER,
        N_("In a group chat: it is no longer the unit's group"),
        N_("/unlinkgroup"),
        groups.unlinkgroup,
    ),
    CommandSpec(
        "units", Audience.COMMITTEE, N_("Units, focal points, open and overdue counts"), N_("/units"), units.units
    ),
    CommandSpec(
        "invite",
        Audience.COMMITTEE,
        N_("One-time invite link for a unit or a secretary"),
        N_("/invite <unit code> [focal|head] or /invite secretary <unit code>"),
        invites.invite,
        usage_from=((Audience.ADMIN, N_("/invite <unit code> [focal|head] or /invite secretary [unit code]")),),
    ),
    CommandSpec(
        "add",
        Audience.COMMITTEE,
        N_("Add a commitment (without arguments: step by step)"),
        N_("/add <unit code> <due date> <legal|internal> <title> (a campaign: @UNIT1,UNIT2, @UNIT/* or @all)"),
        add.entry,
        dialogue=add.conversation,
    ),
    CommandSpec(
        "campaign",
        Audience.COMMITTEE,
        N_("How each unit stands in a campaign, and its .xlsx"),
        N_("/campaign <number> (or C<number>)"),
        campaigns.campaign,
    ),
    CommandSpec(
        "edit",
        Audience.COMMITTEE,
        N_("Correct the register (a data-entry fix, in the history)"),
        N_("/edit <number> <title|due|kind|basis|source|ref|recurrence> <value>"),
        corrections.edit,
    ),
    CommandSpec(
        "close",
        Audience.COMMITTEE,
        N_("Cancel a commitment: no more reminders"),
        N_("/close <number> <reason>"),
        corrections.close,
    ),
    CommandSpec(
        "reopen",
        Audience.COMMITTEE,
        N_("Undo a done or a close"),
        N_("/reopen <number> [reason]"),
        status.reopen_command,
    ),
    CommandSpec(
        "approve",
        Audience.COMMITTEE,
        N_("Approve a request to extend (to the date asked, or another)"),
        N_("/approve <number> [new date]"),
        corrections.approve,
    ),
    CommandSpec(
        "reject",
        Audience.COMMITTEE,
        N_("Reject a request to extend; the reason reaches the requester"),
        N_("/reject <number> <reason>"),
        corrections.reject,
    ),
    CommandSpec(
        "overdue", Audience.COMMITTEE, N_("Every overdue commitment, by unit"), N_("/overdue"), overdue.overdue
    ),
    CommandSpec(
        "broadcast",
        Audience.COMMITTEE,
        N_("Message every focal point and head (of all or some units)"),
        N_("/broadcast [@UNIT1,UNIT2] <text> (or as a reply to a document)"),
        broadcast.broadcast,
    ),
    CommandSpec("digest", Audience.COMMITTEE, N_("The weekly digest, now"), N_("/digest"), digest.digest),
    CommandSpec(
        "export",
        Audience.COMMITTEE,
        N_("The register with statuses and history as .xlsx"),
        N_("/export"),
        register_files.export,
    ),
)
