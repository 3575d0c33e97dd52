"""A unit's group chat: /linkgroup and /unlinkgroup answers, what a group may not do, and the notice to the unit
when its group no longer gets its messages."""

from __future__ import annotations

from core.i18n import t
from storage.models import Unit
from texts.render import esc


def _unit(unit: Unit) -> str:
    return f"<b>{esc(unit.code)}</b> — {esc(unit.name)}"


def linked_text(lang: str, unit: Unit, *, previous_title: str = "") -> str:
    lines = [
        t(lang, "This group is now the group of {unit}.", unit=_unit(unit)),
        t(lang, "The unit's reminders, new commitments and weekly list will come here too."),
    ]
    if previous_title:
        lines.append(t(lang, "It replaces the group «{title}», which gets nothing more.", title=esc(previous_title)))
    lines.append(t(lang, "Here I answer commands only, about this unit only. /unlinkgroup ends it."))
    return "\n".join(lines)


def already_linked_text(lang: str, unit: Unit) -> str:
    return t(lang, "This group is already the group of {unit}: nothing changed.", unit=_unit(unit))


def unlinked_text(lang: str, unit: Unit) -> str:
    return t(
        lang,
        "This group is no longer the group of {unit}: the unit's messages will not come here any more.",
        unit=_unit(unit),
    )


def group_unlinked_text(lang: str, unit: Unit, title: str, *, removed: bool) -> str:
    """To the unit's focal points: the group no longer gets the unit's message (unlinked, or the bot removed)."""
    if removed:
        first = t(
            lang,
            "The bot was removed from the group «{title}»: the group of {unit} gets no more reminders.",
            title=esc(title),
            unit=_unit(unit),
        )
    else:
        first = t(
            lang,
            "The group «{title}» is no longer the group of {unit}: it gets no more reminders.",
            title=esc(title),
            unit=_unit(unit),
        )
    hint = t(lang, "To link a group again: add the bot to it and send /linkgroup {code} there.", code=esc(unit.code))
    return first + "\n" + hint


def not_linked_text(lang: str) -> str:
    return t(
        lang,
        "This group is not linked to a unit yet. A focal point or head of the unit can link it: "
        "/linkgroup <unit code>.",
    )


def private_only_text(lang: str, command: str) -> str:
    return t(lang, "/{command} is not used in a group: write to me in a private chat.", command=esc(command))


def members_only_text(lang: str, unit: Unit, command: str) -> str:
    return t(
        lang,
        "This group is the group of {code}: only its focal points, heads and secretaries can use /{command} here.",
        code=esc(unit.code),
        command=esc(command),
    )


def added_to_group_text(lang: str) -> str:
    """The bot was added to a group: how to make it a unit's group."""
    return t(
        lang,
        "Hello! To make this the group of a unit, a focal point or head of the unit sends /linkgroup <unit code>.",
    )
