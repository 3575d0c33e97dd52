"""What `qmsbot` prints for the operator: plain text, no HTML."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from core.i18n import t_text
from texts.notices import ScheduleEntry, schedule_empty, schedule_recipient, schedule_what
from texts.render import fmt_datetime

COLUMN_GAP = "  "


def schedule_table(
    lang: str, entries: Sequence[ScheduleEntry], *, tz: ZoneInfo, days: int, start: datetime
) -> list[str]:
    """`qmsbot schedule`: a header, one line per planned delivery (local time, #id, unit, what, recipient), and
    a total; columns aligned so that the output reads as a table and still splits on runs of spaces."""
    if not entries:
        return [schedule_empty(lang, days)]
    header = [t_text(lang, "When"), t_text(lang, "No."), t_text(lang, "Unit"), t_text(lang, "What"), t_text(lang, "To")]
    rows = [
        [
            fmt_datetime(entry.at, tz),
            f"#{entry.commitment_id}",
            entry.unit_code,
            schedule_what(lang, entry.kind, days_before=entry.days_before, days_overdue=entry.days_overdue),
            schedule_recipient(lang, entry.recipient, has_focal=entry.has_focal, kind=entry.kind, group=entry.group),
        ]
        for entry in entries
    ]
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header) - 1)]

    def line(cells: list[str]) -> str:
        return COLUMN_GAP.join([*(cell.ljust(width) for cell, width in zip(cells, widths, strict=False)), cells[-1]])

    total = t_text(
        lang,
        "Total: {reminders} reminder(s) of {commitments} commitment(s) in {units} unit(s), from {start} to {end}.",
        reminders=len(entries),
        commitments=len({entry.commitment_id for entry in entries}),
        units=len({entry.unit_code for entry in entries}),
        start=fmt_datetime(start, tz),
        end=fmt_datetime(start + timedelta(days=days), tz),
    )
    return [line(header), *(line(row) for row in rows), total]
