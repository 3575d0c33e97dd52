"""The committee's views of the register by unit: /units (people, counts, failed deliveries) and /overdue."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from core.i18n import t
from storage.digest_data import FailedDelivery
from storage.models import Commitment, Person, Unit
from storage.register import UnitSummary
from texts.render import esc, fmt_date, overdue_days, person_name, shorten, task_link


def _people(lang: str, people: Sequence[Person]) -> str:
    return ", ".join(person_name(p) + ("" if p.reachable else " ⛔ " + t(lang, "unreachable")) for p in people)


def no_units_text(lang: str) -> str:
    return t(lang, "The register has no units yet. Import them with qmsbot import.")


def units_text(
    lang: str,
    summaries: Sequence[UnitSummary],
    *,
    limit: int,
    failed: Sequence[FailedDelivery] = (),
    failed_total: int = 0,
    blocked_total: int = 0,
) -> str:
    """/units: every unit (at most `limit`, then a count) with its people and counts; what was not delivered."""
    if not summaries:
        return no_units_text(lang)
    lines = [f"<b>{t(lang, 'Units: {count}', count=len(summaries))}</b>"]
    for summary in summaries[:limit]:
        unit = summary.unit
        counts = t(lang, "{open} open, {overdue} overdue", open=summary.open_count, overdue=summary.overdue_count)
        lines.append("")
        lines.append(f"<b>{esc(unit.code)}</b> — {esc(unit.name)}: {counts}")
        if summary.focal:
            lines.append(f"    {t(lang, 'Focal points')}: {_people(lang, summary.focal)}")
        else:
            lines.append("    ⚠️ " + t(lang, "no focal point"))
        if summary.heads:
            lines.append(f"    {t(lang, 'Heads')}: {_people(lang, summary.heads)}")
    if len(summaries) > limit:
        more = len(summaries) - limit
        lines += ["", t(lang, "… and {more} more units: /export gives the whole register.", more=more)]
    without = sum(1 for s in summaries if not s.focal)
    if without:
        lines += ["", "⚠️ " + t(lang, "{count} unit(s) have no focal point: /invite <unit code>", count=without)]
    if failed_total or blocked_total:
        lines += [
            "",
            "⛔ "
            + t(
                lang,
                "In the last 7 days: {failed} message(s) failed, {blocked} not delivered "
                "because the person blocked the bot.",
                failed=failed_total,
                blocked=blocked_total,
            ),
        ]
        for delivery in failed:
            who = esc(delivery.person.full_name or delivery.chat_id) if delivery.person else str(delivery.chat_id)
            lines.append(f"    • {who}: <i>{esc(shorten(delivery.error, 100))}</i>")
    return "\n".join(lines)


def overdue_text(lang: str, rows: Sequence[tuple[Commitment, Unit]], total: int, today: date) -> str:
    """/overdue: the overdue commitments by unit (`rows`, grouped already), and how many more `total` has."""
    if not rows:
        return t(lang, "Nothing is overdue. 🎉")
    units = {unit.id for _, unit in rows}
    lines = [f"<b>{t(lang, 'Overdue commitments: {count} in {units} unit(s)', count=total, units=len(units))}</b>"]
    current = None
    for commitment, unit in rows:
        if unit.id != current:
            current = unit.id
            lines += ["", f"🔴 <b>{esc(unit.code)}</b> — {esc(unit.name)}"]
        days = (today - commitment.due_date).days
        lines.append(
            f"  {task_link(commitment.id)} {esc(shorten(commitment.title, 120))} — "
            + t(lang, "due {due}, {overdue}", due=fmt_date(commitment.due_date), overdue=overdue_days(lang, days))
        )
    if total > len(rows):
        lines += ["", t(lang, "… and {more} more: /export gives the whole register.", more=total - len(rows))]
    return "\n".join(lines)
