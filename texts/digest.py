"""Texts of the weekly digest (SPEC "Weekly digest"): the committee's digest and each unit's own list.

Part of the one rendering place (see texts.render): Telegram HTML in the recipient's language, every
user-supplied string through `esc`, dates DD/MM/YYYY. Every line closes the tags it opens, so the caller may
split a long text at any line (texts.render.split_message). Long lists are capped with "… and N more".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from core.i18n import N_, t
from storage.digest_data import (
    UNIT_ITEMS_LIMIT,
    CommitteeData,
    DigestItem,
    DigestWindow,
    FailedDelivery,
    PendingExtension,
    PersonRef,
    UnitCounts,
    UnitNoFocal,
    UnreachablePerson,
)
from storage.models import Status
from texts.extensions import deadline_move
from texts.render import ROLE_LABELS, due_phrase, esc, fmt_date, person_label, shorten, task_link, weekday

TABLE_LIMIT = 30  # rows of the per-unit table
NO_FOCAL_LIMIT = 30
TITLE_LIMIT = 70

KIND_LABELS = {
    "reminder": N_("reminder"),
    "escalation": N_("overdue alert"),
    "digest": N_("weekly digest"),
    "unit_digest": N_("weekly list"),
    "broadcast": N_("broadcast"),
    "no_focal": N_("no focal point notice"),
    "unreachable": N_("unreachable notice"),
}


def num(lang: str, value: int) -> str:
    """A count with thousands separators: 30.000 in Vietnamese, 30,000 in English."""
    text = f"{value:,}"
    return text.replace(",", ".") if lang == "vi" else text


def percent(rate: float) -> str:
    return f"{rate * 100:.0f}%"


def _who(person: PersonRef | None, chat_id: int | None = None) -> str:
    if person is None:
        return f"chat {chat_id}" if chat_id is not None else "?"
    return esc(person_label(person))


def _header(lang: str, title: str, window: DigestWindow) -> list[str]:
    local = window.now.astimezone(window.tz)
    return [
        title,
        t(
            lang,
            "{weekday}, {date}, figures as of {time}",
            weekday=weekday(lang, local.date()),
            date=fmt_date(local.date()),
            time=f"{local:%H:%M}",
        ),
    ]


# --- The committee's digest --------------------------------------------------------------------------------


def _totals(lang: str, data: CommitteeData) -> list[str]:
    totals = data.totals
    lines = [
        f"<b>{t(lang, 'Overview')}</b>",
        "• " + t(lang, "Open tasks: {count}", count=num(lang, totals.open)),
        "• " + t(lang, "Due in the next 7 days: {count}", count=num(lang, totals.due_soon)),
        "• " + t(lang, "Overdue: {count}", count=f"<b>{num(lang, totals.overdue)}</b>"),
        "• " + t(lang, "Done in the last 7 days: {count}", count=num(lang, totals.done_week)),
    ]
    if totals.week_rate is not None:
        lines.append(
            "• "
            + t(
                lang,
                "On-time rate: {rate} ({on_time} of {count} done in the last 7 days)",
                rate=f"<b>{percent(totals.week_rate)}</b>",
                on_time=num(lang, totals.done_week_on_time),
                count=num(lang, totals.done_week),
            )
        )
    else:
        lines.append("• " + t(lang, "On-time rate: no task was done in the last 7 days"))
    if totals.overall_rate is not None:
        lines.append(
            "    "
            + t(
                lang,
                "Since the start: {rate} ({on_time} of {count} done)",
                rate=percent(totals.overall_rate),
                on_time=num(lang, totals.done_on_time),
                count=num(lang, totals.done_dated),
            )
        )
    return lines


def _table(lang: str, units: Sequence[UnitCounts], *, limit: int = TABLE_LIMIT) -> list[str]:
    lines = [f"<b>{t(lang, 'By unit')}</b>"]
    if not units:
        return [*lines, t(lang, "No unit has open tasks or tasks done in the last 7 days.")]
    ranked = sorted(units, key=lambda u: (-u.overdue, -u.due_soon, -u.open, -u.done_week, u.code.upper()))
    shown = ranked[:limit]
    for unit in shown:
        marker = "🔴" if unit.overdue else ("🟠" if unit.due_soon else "🟢")
        # The counts in words, each one named (no column legend to decode); a zero says nothing and is left out.
        counts = [
            t(lang, msgid, count=f"<b>{num(lang, value)}</b>" if bold else num(lang, value))
            for msgid, value, bold in (
                (N_("{count} overdue"), unit.overdue, True),
                (N_("{count} due within 7 days"), unit.due_soon, False),
                (N_("{count} not yet done"), unit.open, False),
                (N_("{count} done in the last 7 days"), unit.done_week, False),
            )
            if value
        ]
        lines.append(f"{marker} <b>{esc(unit.code)}</b> — " + " · ".join(counts))
    if len(ranked) > limit:
        lines.append(t(lang, "… and {count} more units (in the chart)", count=num(lang, len(ranked) - limit)))
    return lines


def _overdue(lang: str, data: CommitteeData) -> list[str]:
    total = data.totals.overdue
    if not total:
        return [f"✅ <b>{t(lang, 'No overdue tasks.')}</b>"]
    today = data.window.today
    lines = [f"<b>🔴 {t(lang, 'Overdue tasks ({count})', count=num(lang, total))}</b>"]
    for item in data.overdue:
        lines.append(
            f"• {task_link(item.id)} <b>{esc(item.unit_code)}</b> · {esc(shorten(item.title, TITLE_LIMIT))} — "
            f"<b>{due_phrase(lang, item.due_date, today)}</b> ({t(lang, 'due {date}', date=fmt_date(item.due_date))})"
        )
    if total > len(data.overdue):
        lines.append(t(lang, "… and {count} more overdue tasks: /overdue", count=num(lang, total - len(data.overdue))))
    return lines


def _without_focal(
    lang: str, units: Sequence[UnitNoFocal], counts: Mapping[int, UnitCounts], *, limit: int = NO_FOCAL_LIMIT
) -> list[str]:
    if not units:
        return [f"✅ {t(lang, 'Every unit has a focal point who can be reached.')}"]

    def rank(unit: UnitNoFocal) -> tuple[int, int, str]:
        c = counts.get(unit.unit_id)
        return (-(c.overdue if c else 0), -(c.open if c else 0), unit.code.upper())

    ranked = sorted(units, key=rank)
    lines = [f"<b>⚠️ {t(lang, 'Units without a reachable focal point ({count})', count=num(lang, len(units)))}</b>"]
    for unit in ranked[:limit]:
        c = counts.get(unit.unit_id)
        why = t(lang, "their focal points are unreachable") if unit.linked else t(lang, "no focal point linked")
        load = (
            " — " + t(lang, "{open} open, {overdue} overdue", open=num(lang, c.open), overdue=num(lang, c.overdue))
            if c and c.open
            else ""
        )
        lines.append(f"• <b>{esc(unit.code)}</b> {esc(shorten(unit.name, 60))}: {why}{load}")
    if len(units) > limit:
        lines.append(t(lang, "… and {count} more units without a focal point", count=num(lang, len(units) - limit)))
    lines.append(t(lang, "Invite one with /invite <unit code> focal."))
    return lines


def _roles(lang: str, roles: Sequence[tuple[str, str | None]]) -> str:
    parts = []
    for role, code in roles:
        label = t(lang, ROLE_LABELS[role]) if role in ROLE_LABELS else esc(role)
        parts.append(f"{label} {esc(code)}" if code else label)
    return ", ".join(parts)


def _unreachable(lang: str, people: Sequence[UnreachablePerson], total: int, blocked: int) -> list[str]:
    if not total:
        return []
    lines = [f"<b>⛔ {t(lang, 'People who cannot be reached ({count})', count=num(lang, total))}</b>"]
    lines.extend(f"• {_who(p.person)} — {_roles(lang, p.roles)}" for p in people)
    if total > len(people):
        lines.append(t(lang, "… and {count} more people", count=num(lang, total - len(people))))
    lines.append(t(lang, "They blocked the bot or never started it; messages reach them again once they write to it."))
    if blocked:
        lines.append(t(lang, "Messages not delivered to them in the last 7 days: {count}", count=num(lang, blocked)))
    return lines


def _pending(lang: str, requests: Sequence[PendingExtension], total: int) -> list[str]:
    if not total:
        return [t(lang, "No extension request is waiting for a decision.")]
    lines = [f"<b>⏳ {t(lang, 'Extension requests waiting for a decision ({count})', count=num(lang, total))}</b>"]
    for r in requests:
        reason = f": <i>{esc(shorten(r.reason, 120))}</i>" if r.reason else ""
        lines.append(
            f"• {task_link(r.commitment_id)} <b>{esc(r.unit_code)}</b> · {esc(shorten(r.title, 70))} — "
            f"{deadline_move(lang, r.old_due, r.new_due)} — {_who(r.requested_by)}{reason}"
        )
    if total > len(requests):
        lines.append(t(lang, "… and {count} more requests", count=num(lang, total - len(requests))))
    return lines


def _failed(lang: str, failures: Sequence[FailedDelivery], total: int) -> list[str]:
    if not total:
        return []
    title = t(lang, "Messages that could not be delivered in the last 7 days ({count})", count=num(lang, total))
    lines = [f"<b>❗ {title}</b>"]
    for f in failures:
        kind = t(lang, KIND_LABELS[f.kind]) if f.kind in KIND_LABELS else esc(f.kind)
        lines.append(f"• {_who(f.person, f.chat_id)} · {kind}: <i>{esc(shorten(f.error, 100))}</i>")
    if total > len(failures):
        lines.append(t(lang, "… and {count} more messages", count=num(lang, total - len(failures))))
    return lines


def _scope(lang: str, data: CommitteeData) -> list[str]:
    """A rolled-up digest names its scope (the whole register's, only when it has one top-level unit); each row
    of its table is a unit below it, with its subtree."""
    if data.detail is None:
        return []
    rows = t(lang, "Each row of the table counts a unit together with every unit below it.")
    if not data.scope_units:
        return [rows]
    units = ", ".join(
        f"<b>{esc(name)}</b> ({esc(code)})" if name else f"<b>{esc(code)}</b>" for code, name in data.scope_units
    )
    return [t(lang, "Scope: {units} and every unit below", units=units), rows]


def committee_digest_text(lang: str, data: CommitteeData) -> str:
    """The committee's weekly digest (one text; split it with texts.render.split_message)."""
    counts = {u.unit_id: u for u in (data.detail if data.detail is not None else data.units)}
    header = _header(lang, f"📊 <b>{t(lang, 'Weekly summary of task implementation')}</b>", data.window)
    sections = [
        header + _scope(lang, data),
        _totals(lang, data),
        _table(lang, data.active_units),
        _overdue(lang, data),
        _without_focal(lang, data.without_focal, counts),
        _pending(lang, data.pending, data.pending_total),
        _unreachable(lang, data.unreachable, data.unreachable_total, data.blocked_total),
        _failed(lang, data.failed, data.failed_total),
    ]
    return "\n\n".join("\n".join(section) for section in sections if section)


def chart_caption(lang: str, data: CommitteeData) -> str:
    return "📊 " + t(lang, "Tasks by unit — {date}", date=fmt_date(data.window.today))


# --- A unit's own weekly list -------------------------------------------------------------------------------


def _item(lang: str, item: DigestItem, window: DigestWindow) -> str:
    today = window.today
    overdue = item.due_date < today
    marker = "🔴" if overdue else ("🟠" if (item.due_date - today).days <= 3 else "▫️")
    phrase = due_phrase(lang, item.due_date, today)
    progress = ""
    if item.status == Status.IN_PROGRESS:
        progress = f" · {t(lang, 'in progress {percent}%', percent=item.progress)}"
    return (
        f"{marker} {task_link(item.id)} {esc(shorten(item.title, 120))}\n"
        f"    {t(lang, 'due')} {fmt_date(item.due_date)} — {f'<b>{phrase}</b>' if overdue else phrase}{progress}"
    )


def unit_digest_text(
    lang: str,
    *,
    code: str,
    name: str,
    items: Sequence[DigestItem],
    window: DigestWindow,
    limit: int = UNIT_ITEMS_LIMIT,
) -> str:
    """A unit's weekly list for its focal points: its overdue tasks and those due in the next 14 days."""
    today = window.today
    overdue = [i for i in items if i.due_date < today]
    soon = [i for i in items if i.due_date >= today]
    unit = f"<b>{esc(name)} ({esc(code)})</b>" if name and name != code else f"<b>{esc(code)}</b>"
    lines = _header(lang, "📋 " + t(lang, "Weekly task list of unit {unit}", unit=unit), window)
    lines.append(
        t(
            lang,
            "Overdue: {overdue} · due in the next 14 days: {soon}",
            overdue=f"<b>{num(lang, len(overdue))}</b>",
            soon=num(lang, len(soon)),
        )
    )
    left = limit
    for title, group in ((f"🔴 {t(lang, 'Overdue')}", overdue), (f"🗓 {t(lang, 'Due in the next 14 days')}", soon)):
        if not group or left <= 0:
            continue
        lines += ["", f"<b>{title}</b>"]
        lines.extend(_item(lang, item, window) for item in group[:left])
        left -= len(group[:left])
    if len(items) > limit:
        lines += ["", t(lang, "… and {count} more: /tasks {code}", count=num(lang, len(items) - limit), code=esc(code))]
    lines += [
        "",
        t(lang, "Please report with /done, /progress or /extend, or with the buttons of the reminders."),
    ]
    return "\n".join(lines)


def nothing_due_text(lang: str, window: DigestWindow) -> str:
    """/digest asked by a focal point or head whose units have nothing overdue or due in the next 14 days."""
    local = window.now.astimezone(window.tz)
    return "\n".join(
        [
            f"📋 <b>{t(lang, 'Your weekly task list')}</b> — {fmt_date(local.date())}",
            t(lang, "Your units have no task overdue or due in the next 14 days. 🎉"),
        ]
    )


__all__ = [
    "KIND_LABELS",
    "TABLE_LIMIT",
    "chart_caption",
    "committee_digest_text",
    "nothing_due_text",
    "num",
    "unit_digest_text",
]
