"""Texts of the planner's notifications: reminders, escalations, "unit has no focal point", schedule lines.

Days left are said as of the day the message goes out, so a late catch-up tells the truth.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from core.i18n import t, t_text
from storage.models import Kind
from texts.render import (
    due_phrase,
    esc,
    fmt_date,
    fmt_datetime,
    kind_label,
    overdue_days,
    person_label,
    task_link,
    weekday,
)

# Longest list in one grouped notice (units without focal point, escalated tasks, unreachable people); the
# rest are counted (a message stays far below Telegram's 4096 characters even with long names).
NO_FOCAL_LIST_LIMIT = 30
GROUP_LIST_LIMIT = 30


class NoticeCommitment(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def title(self) -> str: ...
    @property
    def kind(self) -> Kind: ...
    @property
    def due_date(self) -> date: ...
    @property
    def legal_basis(self) -> str: ...
    @property
    def source(self) -> str: ...


class NoticeUnit(Protocol):
    @property
    def code(self) -> str: ...
    @property
    def name(self) -> str: ...


class NoticePerson(Protocol):
    @property
    def telegram_id(self) -> int: ...
    @property
    def full_name(self) -> str: ...
    @property
    def username(self) -> str | None: ...
    @property
    def reachable(self) -> bool: ...


class ScheduleEntry(Protocol):
    @property
    def at(self) -> datetime: ...
    @property
    def commitment_id(self) -> int: ...
    @property
    def unit_code(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def days_before(self) -> int: ...
    @property
    def days_overdue(self) -> int: ...
    @property
    def recipient(self) -> NoticePerson | None: ...
    @property
    def has_focal(self) -> bool: ...
    @property
    def group(self) -> str | None: ...


def _unit(unit: NoticeUnit) -> str:
    return f"<b>{esc(unit.name)} ({esc(unit.code)})</b>"


def _details(lang: str, commitment: NoticeCommitment, day: date) -> list[str]:
    lines = [
        f"<b>#{commitment.id} · {esc(commitment.title)}</b>",
        f"{t(lang, 'Deadline')}: {weekday(lang, commitment.due_date)}, {fmt_date(commitment.due_date)}"
        f" — <b>{due_phrase(lang, commitment.due_date, day)}</b>",
        f"{t(lang, 'Kind')}: {kind_label(lang, commitment.kind)}",
    ]
    if commitment.legal_basis:
        lines.append(f"{t(lang, 'Legal basis')}: {esc(commitment.legal_basis)}")
    if commitment.source:
        lines.append(f"{t(lang, 'Source')}: {esc(commitment.source)}")
    return lines


def reminder_text(lang: str, commitment: NoticeCommitment, unit: NoticeUnit, *, day: date) -> str:
    """A reminder to a unit's focal point, before, on or after the deadline, as of the local date `day`."""
    days = (commitment.due_date - day).days
    phrase = due_phrase(lang, commitment.due_date, day)
    if days > 0:
        icon = "🔔"
        request = t(
            lang,
            "Unit {unit} is asked to complete the following task no later than {date}:",
            unit=_unit(unit),
            date=fmt_date(commitment.due_date),
        )
    elif days == 0:
        icon = "🟠"
        request = t(lang, "Unit {unit} is asked to complete the following task today:", unit=_unit(unit))
    else:
        icon = "🔴"
        request = t(
            lang,
            "The following task of unit {unit} is past its deadline. Please complete it and report as soon as"
            " possible:",
            unit=_unit(unit),
        )
    lines = [
        f"{icon} <b>{t(lang, 'Reminder: {phrase}', phrase=phrase)}</b>",
        request,
        "",
        *_details(lang, commitment, day),
        "",
        t(lang, "Please reply with the buttons below: done, progress, or a request to extend.")
        if commitment.kind != Kind.LEGAL
        else t(lang, "Please reply with the buttons below: done or progress (a legal deadline cannot be extended)."),
    ]
    return "\n".join(lines)


def escalation_text(
    lang: str,
    commitment: NoticeCommitment,
    unit: NoticeUnit,
    focal: Sequence[NoticePerson],
    *,
    day: date,
    to_heads: bool = False,
) -> str:
    """The one escalation of a tick: overdue N days, with the focal points' names.

    The committee's text asks its secretaries to chase the unit; the heads' (`to_heads`) asks them to direct it,
    naming the unit as its leadership is addressed ("Lãnh đạo Bộ Y tế", "Lãnh đạo Vụ Pháp chế").
    """
    overdue = max((day - commitment.due_date).days, 0)
    names = ", ".join(
        esc(person_label(p)) + ("" if p.reachable else f" ({t(lang, 'unreachable')})") for p in focal
    ) or t(lang, "no focal point")
    lines = [
        f"⚠️ <b>{t(lang, 'Overdue task alert: {phrase}', phrase=due_phrase(lang, commitment.due_date, day))}</b>",
        t(
            lang,
            "To the heads of {unit}: the following task of the unit is {days} days overdue and not yet done.",
            unit=_unit(unit),
            days=overdue,
        )
        if to_heads
        else t(
            lang,
            "To the ISO steering committee secretariat: the following task of {unit} is {days} days overdue and"
            " not yet done.",
            unit=_unit(unit),
            days=overdue,
        ),
        "",
        *_details(lang, commitment, day),
        f"{t(lang, 'Focal points')}: {names}",
        "",
        t(lang, "Please direct the unit to complete it, or update it with the buttons below.")
        if to_heads
        else t(lang, "Please ask the unit to complete it, or update it with the buttons below."),
    ]
    return "\n".join(lines)


class EscalatedItem(Protocol):
    """One escalated task of a grouped escalation: the commitment and its unit."""

    @property
    def commitment(self) -> NoticeCommitment: ...
    @property
    def unit(self) -> NoticeUnit: ...


def escalation_group_text(
    lang: str,
    items: Sequence[EscalatedItem],
    *,
    day: date,
    unit: NoticeUnit | None = None,
    limit: int = GROUP_LIST_LIMIT,
) -> str:
    """Several escalations in one message: to the committee (every unit), or to one unit's heads (`unit`).

    At most `limit` tasks are listed, most overdue first (the order of `items`), then "… and N more — /overdue".
    """
    if unit is None:
        request = t(
            lang, "To the ISO steering committee secretariat: the following tasks are overdue and not yet done:"
        )
    else:
        request = t(
            lang,
            "To the heads of {unit}: the following tasks of the unit are overdue and not yet done:",
            unit=_unit(unit),
        )
    lines = [f"⚠️ <b>{t(lang, 'Overdue task alert: {count} tasks', count=len(items))}</b>", request, ""]
    for item in items[:limit]:
        c = item.commitment
        where = "" if unit is not None else f" — <b>{esc(item.unit.code)}</b>"
        when = f"{fmt_date(c.due_date)}, {due_phrase(lang, c.due_date, day)}"
        lines.append(f"• {task_link(c.id)} · {esc(c.title)}{where} — {when}")
    # /overdue is the committee's; a head sees the unit's tasks with /tasks <code>.
    more = len(items) - limit
    if more > 0:
        lines.append(
            t(lang, "… and {count} more — /overdue", count=more)
            if unit is None
            else t(lang, "… and {count} more — /tasks {code}", count=more, code=esc(unit.code))
        )
    lines.append("")
    if unit is None:
        lines.append(t(lang, "Please ask the units to complete them; /overdue lists every overdue task."))
    else:
        lines.append(
            t(lang, "Please direct the unit to complete them; /tasks {code} lists its tasks.", code=esc(unit.code))
        )
    return "\n".join(lines)


def unreachable_text(lang: str, people: Sequence[tuple[str, Sequence[str]]], *, limit: int = GROUP_LIST_LIMIT) -> str:
    """To the secretaries: these people can no longer be reached. Each entry: (name, codes of their units)."""
    whos = [esc(name) + (f" ({esc(', '.join(codes))})" if codes else "") for name, codes in people]
    if len(people) == 1:
        return t(
            lang,
            "⚠️ {who} can no longer be reached in Telegram: they blocked the bot or never started it. "
            "Messages to them are recorded as not delivered; new ones will reach them once they write to the bot"
            " again.",
            who=whos[0],
        )
    lines = [
        f"⚠️ <b>{t(lang, 'People who can no longer be reached: {count}', count=len(people))}</b>",
        t(
            lang,
            "They blocked the bot or never started it. Messages to them are recorded as not delivered; new ones will"
            " reach them once they write to the bot again.",
        ),
        "",
    ]
    lines.extend(f"• {who}" for who in whos[:limit])
    if len(people) > limit:
        lines.append(t(lang, "… and {count} more — /units", count=len(people) - limit))
    return "\n".join(lines)


def no_focal_text(lang: str, units: Sequence[NoticeUnit], *, limit: int = NO_FOCAL_LIST_LIMIT) -> str:
    """To the secretaries: reminders are due for these units but no focal point can receive them."""
    lines = [
        f"⚠️ <b>{t(lang, 'Units without a focal point')}</b>",
        t(
            lang,
            "Reminders are due for the following units, but no focal point can receive them (none is linked, or"
            " they have blocked the bot):",
        ),
    ]
    lines.extend(f"• <b>{esc(unit.code)}</b> — {esc(unit.name)}" for unit in units[:limit])
    if len(units) > limit:
        lines.append(t(lang, "… and {count} more units", count=len(units) - limit))
    lines.append("")
    lines.append(t(lang, "Send each unit an invite with /invite <unit code> focal; /units lists every unit."))
    return "\n".join(lines)


def schedule_what(lang: str, kind: str, *, days_before: int, days_overdue: int) -> str:
    """Plain text: "7 days before", "due today", "overdue 3 days", "escalation (overdue 7 days)"."""
    if kind == "escalation":
        return t_text(lang, "escalation ({overdue})", overdue=overdue_days(lang, days_overdue))
    if kind == "overdue":
        return overdue_days(lang, days_overdue)
    if days_before == 0:
        return t_text(lang, "due today")
    if days_before == 1:
        return t_text(lang, "1 day before")
    return t_text(lang, "{days} days before", days=days_before)


def schedule_recipient(
    lang: str, person: NoticePerson | None, *, has_focal: bool = False, kind: str = "", group: str | None = None
) -> str:
    """Plain text: the recipient's name, the unit's group, or why there is none."""
    if group is not None:
        return t_text(lang, "group “{title}”", title=group)
    if person is None:
        if kind == "escalation":
            return t_text(lang, "no reachable head or secretary")
        return t_text(lang, "no reachable focal point") if has_focal else t_text(lang, "no focal point")
    return person_label(person)


def schedule_empty(lang: str, days: int) -> str:
    return t_text(lang, "No reminders are planned in the next {days} days.", days=days)


def schedule_lines(lang: str, entries: Sequence[ScheduleEntry], *, tz: ZoneInfo, days: int) -> list[str]:
    """`qmsbot schedule`: one plain line per delivery — local date and time, #id, unit, what, recipient."""
    if not entries:
        return [schedule_empty(lang, days)]
    ids = [f"#{e.commitment_id}" for e in entries]
    id_width = max(len(i) for i in ids)
    code_width = max(len(e.unit_code) for e in entries)
    whats = [schedule_what(lang, e.kind, days_before=e.days_before, days_overdue=e.days_overdue) for e in entries]
    what_width = max(len(w) for w in whats)
    return [
        f"{fmt_datetime(e.at, tz)}  {i:<{id_width}}  {e.unit_code:<{code_width}}  {w:<{what_width}}  "
        f"{schedule_recipient(lang, e.recipient, has_focal=e.has_focal, kind=e.kind, group=e.group)}"
        for e, i, w in zip(entries, ids, whats, strict=True)
    ]


def new_commitments_text(
    lang: str, unit: NoticeUnit, items: Sequence[NoticeCommitment], *, day: date, limit: int = GROUP_LIST_LIMIT
) -> str:
    """To a unit's focal points: what the committee has just registered for the unit (one /add or import)."""
    lines = [
        "🆕 " + t(lang, "New tasks for {unit}: {count}", unit=_unit(unit), count=len(items)),
        t(lang, "The ISO steering committee has registered the following tasks for your unit:"),
        "",
    ]
    for c in items[:limit]:
        when = f"{fmt_date(c.due_date)} ({kind_label(lang, c.kind)}), {due_phrase(lang, c.due_date, day)}"
        lines.append(f"• {task_link(c.id)} · {esc(c.title)} — {when}")
    if len(items) > limit:
        lines.append(t(lang, "… and {count} more — /tasks", count=len(items) - limit))
    lines += ["", t(lang, "You will be reminded before each deadline. Details: tap /task_<number>.")]
    return "\n".join(lines)
