"""Lists of commitments a person asks for: /tasks (open, or all) and /find."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from core.i18n import t
from storage.models import Commitment, Unit
from texts.render import commitment_line, esc


def tasks_list(
    lang: str,
    rows: Sequence[tuple[Commitment, Unit]],
    total: int,
    today: date,
    *,
    show_unit: bool,
    closed_too: bool,
) -> str:
    if not rows:
        return t(lang, "No commitments yet.") if closed_too else t(lang, "No open commitments. 🎉")
    heading = (
        t(lang, "Commitments, open and closed: {count}", count=total)
        if closed_too
        else t(lang, "Open commitments: {count}", count=total)
    )
    lines = [f"<b>{heading}</b>", ""]
    lines += [commitment_line(lang, c, u, today, show_unit=show_unit) for c, u in rows]
    if total > len(rows):
        lines += ["", t(lang, "… and {more} more. Add a unit code to see one unit: /tasks VPB", more=total - len(rows))]
    lines += ["", t(lang, "Details and history: tap /task_<number>")]
    return "\n".join(lines)


def found_list(lang: str, query: str, rows: Sequence[tuple[Commitment, Unit]], total: int, today: date) -> str:
    if not rows:
        return t(lang, "Nothing matches “{query}”.", query=esc(query))
    lines = [f"<b>{t(lang, 'Found: {count}', count=total)}</b>", ""]
    lines += [commitment_line(lang, c, u, today, show_unit=True) for c, u in rows]
    if total > len(rows):
        lines += ["", t(lang, "… and {more} more. Add a word to narrow it down.", more=total - len(rows))]
    return "\n".join(lines)
