"""Campaigns (`/add @…`, /campaign): the preview, what "Confirm" did, each unit's standing, and the .xlsx of it."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

from core.i18n import N_, t, t_text
from storage.campaigns import CampaignReport, Standing, UnitLine, UnitRef
from storage.models import Campaign, Kind
from texts.render import esc, fmt_date, kind_label, overdue_days, shorten, task_link

PREVIEW_NAMED = 8  # units named in a preview before "… and N more"
REPORT_LINES = 40  # units listed in the chat; the workbook has them all

STANDING_WORDS = {
    Standing.DONE_ON_TIME: N_("done on time"),
    Standing.DONE_LATE: N_("done late"),
    Standing.IN_PROGRESS: N_("in progress"),
    Standing.OPEN: N_("not started"),
    Standing.OVERDUE: N_("overdue"),
    Standing.CANCELLED: N_("cancelled"),
}
MARKS = {
    Standing.DONE_ON_TIME: "✅",
    Standing.DONE_LATE: "☑️",
    Standing.IN_PROGRESS: "🕑",
    Standing.OPEN: "▫️",
    Standing.OVERDUE: "🔴",
    Standing.CANCELLED: "✖️",
}
# The totals line, in the order a secretary reads a campaign: what is finished, then what still needs chasing.
TOTALS_ORDER = (
    Standing.DONE_ON_TIME,
    Standing.DONE_LATE,
    Standing.IN_PROGRESS,
    Standing.OPEN,
    Standing.OVERDUE,
    Standing.CANCELLED,
)


def campaign_name(number: int | None) -> str:
    return f"C{number}" if number is not None else "C?"


def _units_named(units: Sequence[UnitRef]) -> str:
    named = ", ".join(f"<b>{esc(u.code)}</b> ({esc(shorten(u.name, 60))})" for u in units[:PREVIEW_NAMED])
    return named


def preview_text(lang: str, *, title: str, due: date, kind: Kind, units: Sequence[UnitRef]) -> str:
    """Before anything is written: how many units, the first few named, what each will get."""
    lines = [
        "📋 <b>" + t(lang, "New campaign: {count} units", count=len(units)) + "</b>",
        t(
            lang,
            "{title}, due {due} ({kind}).",
            title=esc(shorten(title, 300)),
            due=fmt_date(due),
            kind=kind_label(lang, kind),
        ),
        "",
        _units_named(units)
        + (" " + t(lang, "… and {more} more.", more=len(units) - PREVIEW_NAMED) if len(units) > PREVIEW_NAMED else ""),
        "",
        t(
            lang,
            "Each unit gets its own commitment (its own number) and its focal points are told. "
            "Nothing is written before you confirm.",
        ),
    ]
    return "\n".join(lines)


def created_text(lang: str, campaign: Campaign, commitment_ids: Sequence[int]) -> str:
    name = campaign_name(campaign.number)
    numbers = f"#{commitment_ids[0]}" if len(commitment_ids) == 1 else f"#{commitment_ids[0]} … #{commitment_ids[-1]}"
    return t(
        lang,
        "Campaign {name} created: {count} commitments ({numbers}), one per unit: {title}, due {due}. "
        "Each unit's focal points are told. /campaign {number} shows how each unit stands.",
        name=f"<b>{name}</b>",
        count=len(commitment_ids),
        numbers=numbers,
        title=esc(shorten(campaign.title, 200)),
        due=fmt_date(campaign.due_date),
        number=campaign.number,
    )


def short_outcome(lang: str, created: bool) -> str:
    """The pressed button's short notice (plain); the message itself then says what came of it."""
    return t(lang, "Campaign created.") if created else cancelled_text(lang)


def already_created_text(lang: str, campaign: Campaign) -> str:
    return t(
        lang,
        "Campaign {name} was already created; it is created only once. /campaign {number} shows it.",
        name=campaign_name(campaign.number),
        number=campaign.number,
    )


def was_cancelled_text(lang: str) -> str:
    return t(lang, "This campaign preview was cancelled; nothing was added. Send /add again to start over.")


def cancelled_text(lang: str) -> str:
    return t(lang, "Cancelled; nothing was added.")


def gone_text(lang: str) -> str:
    return t(lang, "This campaign preview no longer exists.")


def _line_phrase(lang: str, line: UnitLine, today: date) -> str:
    if line.standing == Standing.OVERDUE:
        return "<b>" + overdue_days(lang, (today - line.due).days) + "</b>"
    if line.standing == Standing.IN_PROGRESS:
        return t(lang, "in progress {percent}%", percent=line.progress)
    if line.standing in (Standing.DONE_ON_TIME, Standing.DONE_LATE) and line.done_on is not None:
        return t(lang, STANDING_WORDS[line.standing]) + " " + fmt_date(line.done_on)
    return t(lang, STANDING_WORDS[line.standing])


def totals_text(lang: str, report: CampaignReport) -> str:
    parts = [
        f"{MARKS[s]} {t(lang, STANDING_WORDS[s])}: <b>{report.count(s)}</b>"
        for s in TOTALS_ORDER
        if s != Standing.CANCELLED or report.count(s)
    ]
    return " · ".join(parts)


def report_text(lang: str, report: CampaignReport, *, today: date, limit: int = REPORT_LINES) -> str:
    """/campaign: totals at the top, then each unit (what needs chasing first), at most `limit` of them."""
    campaign = report.campaign
    lines = [
        "<b>"
        + t(lang, "Campaign {name}", name=campaign_name(campaign.number))
        + "</b>: "
        + esc(shorten(campaign.title, 300)),
        t(
            lang,
            "Due {due} ({kind}) · {count} units",
            due=fmt_date(campaign.due_date),
            kind=kind_label(lang, campaign.kind),
            count=len(report.lines),
        ),
        totals_text(lang, report),
        "📎 " + t(lang, "evidence files: {count}", count=report.evidence_files),
        "",
    ]
    for line in report.lines[:limit]:
        due = "" if line.due == campaign.due_date else " · " + t(lang, "due") + " " + fmt_date(line.due)
        lines.append(
            f"{MARKS[line.standing]} <b>{esc(line.unit_code)}</b> {esc(shorten(line.unit_name, 60))} — "
            f"{task_link(line.commitment_id)} — {_line_phrase(lang, line, today)}{due} · 📎 {len(line.evidence)}"
        )
    if len(report.lines) > limit:
        lines += ["", t(lang, "… and {more} more units: the Excel file has them all.", more=len(report.lines) - limit)]
    return "\n".join(lines)


def workbook_name(campaign: Campaign, now: datetime, tz: ZoneInfo) -> str:
    return f"campaign-{campaign_name(campaign.number)}-{now.astimezone(tz):%Y%m%d-%H%M}.xlsx"


def workbook_caption(lang: str, campaign: Campaign, now: datetime, tz: ZoneInfo) -> str:
    local = now.astimezone(tz)
    return t(
        lang,
        "Campaign {name} as of {when}",
        name=campaign_name(campaign.number),
        when=f"{fmt_date(local.date())} {local:%H:%M}",
    )


UNIT_COLUMNS = (
    (N_("Unit code"), 12),
    (N_("Unit"), 40),
    (N_("No."), 8),
    (N_("Status"), 18),
    (N_("Progress (%)"), 10),
    (N_("Deadline"), 12),
    (N_("Done on"), 12),
    (N_("Days late"), 10),
    (N_("Evidence files"), 10),
    (N_("Evidence file names"), 60),
)


def report_workbook(lang: str, report: CampaignReport, *, today: date) -> bytes:
    """The report as .xlsx: a summary sheet (the campaign and its totals), then one row per unit with its
    evidence files' names; real date cells, a frozen header and an autofilter."""
    from openpyxl import Workbook  # loaded when a secretary asks for the file
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    campaign = report.campaign
    bold = Font(bold=True)
    workbook = Workbook()
    summary = workbook.active
    assert summary is not None
    summary.title = t_text(lang, "Summary")
    facts: list[tuple[str, object]] = [
        (t_text(lang, "Campaign"), campaign_name(campaign.number)),
        (t_text(lang, "Commitment"), campaign.title),
        (t_text(lang, "Deadline"), campaign.due_date),
        (t_text(lang, "Kind"), t_text(lang, "Legal" if campaign.kind == Kind.LEGAL else "Internal")),
        (t_text(lang, "Units"), len(report.lines)),
        *((t_text(lang, STANDING_WORDS[s]), report.count(s)) for s in TOTALS_ORDER),
        (t_text(lang, "Evidence files"), report.evidence_files),
    ]
    for row, (label, value) in enumerate(facts, start=1):
        summary.append([label, value])
        summary.cell(row, 1).font = bold
        if isinstance(value, date):
            summary.cell(row, 2).number_format = "DD/MM/YYYY"
    summary.column_dimensions["A"].width = 22
    summary.column_dimensions["B"].width = 60

    def clean(value: object) -> object:
        # Control characters a title may hold are not allowed in a workbook's cells.
        return ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value

    for row in summary.iter_rows(min_col=2, max_col=2):
        row[0].value = clean(row[0].value)

    units = workbook.create_sheet(t_text(lang, "Units"))
    units.append([t_text(lang, name) for name, _ in UNIT_COLUMNS])
    for index, (_, width) in enumerate(UNIT_COLUMNS, start=1):
        units.column_dimensions[get_column_letter(index)].width = width
        units.cell(1, index).font = bold
    for row, line in enumerate(report.lines, start=2):  # (a sheet's max_row scans every cell: not in a loop)
        overdue = (today - line.due).days if line.standing == Standing.OVERDUE else None
        late = (line.done_on - line.due).days if line.standing == Standing.DONE_LATE and line.done_on else None
        units.append(
            [
                clean(line.unit_code),
                clean(line.unit_name),
                line.commitment_id,
                t_text(lang, STANDING_WORDS[line.standing]),
                line.progress,
                line.due,
                line.done_on,
                overdue if overdue is not None else late,
                len(line.evidence),
                clean(", ".join(line.evidence)),
            ]
        )
        for column in (6, 7):
            units.cell(row, column).number_format = "DD/MM/YYYY"
    units.freeze_panes = "A2"
    units.auto_filter.ref = f"A1:{get_column_letter(len(UNIT_COLUMNS))}{max(len(report.lines) + 1, 2)}"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
