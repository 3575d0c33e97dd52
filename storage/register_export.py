"""Exporting the register (SPEC "Register files", `qmsbot export FILE.xlsx`, `/export`).

One .xlsx, streamed: first a sheet for people ("Tổng hợp" / "Summary", in the exporter's language: headers and
statuses in words, real dates, days overdue, unit names, an autofilter, a frozen header), then the machine
sheets in the import layout (they import back unchanged) with statuses and a `history` sheet.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from sqlalchemy import Select, or_, select
from sqlalchemy.orm import aliased

from core.i18n import N_, t_text
from storage.db import Database
from storage.models import STATUS_LABELS, Commitment, Event, Kind, Person, Status, Unit
from storage.register_files import COMMITMENT_COLUMNS, UNIT_COLUMNS
from storage.scopes import Reach, limited_to

BATCH = 2000

COMMITMENT_EXTRA_COLUMNS = ("status", "progress", "last_update", "done_at", "id")
HISTORY_COLUMNS = (
    "commitment_id",
    "ref",
    "unit_code",
    "when",
    "who",
    "action",
    "field",
    "from",
    "to",
    "note",
)

DATE_FORMAT = "DD/MM/YYYY"
DATETIME_FORMAT = "DD/MM/YYYY HH:MM"

SUMMARY_SHEET = N_("Summary")
# The people's sheet: (header, column width). Its order is that of `summary_row` below.
SUMMARY_COLUMNS = (
    (N_("No."), 7),
    (N_("Unit"), 34),
    (N_("Unit code"), 11),
    (N_("Commitment"), 60),
    (N_("Kind"), 10),
    (N_("Deadline"), 12),
    (N_("Status"), 18),
    (N_("Progress (%)"), 10),
    (N_("Days overdue"), 10),
    (N_("Legal basis"), 20),
    (N_("Source"), 20),
    (N_("Last update"), 17),
    (N_("Done on"), 17),
)
KIND_WORDS = {Kind.LEGAL: N_("Legal"), Kind.INTERNAL: N_("Internal")}
DONE_LATE = N_("done late")
OPEN_STATUSES = (Status.OPEN, Status.IN_PROGRESS)


async def export_register(
    db: Database,
    path_or_buffer: str | Path | IO[bytes],
    *,
    tz: ZoneInfo,
    lang: str = "vi",
    now: datetime | None = None,
    within: Reach | None = None,
) -> None:
    """Write the whole register (or what is `within` a person's reach: a scoped secretary's subtree) to an .xlsx
    file (a path, or a binary file object such as BytesIO).

    `now` dates the days overdue of the people's sheet (the clock when not given).
    """
    today = (now or datetime.now(tz)).astimezone(tz).date()
    workbook = Workbook(write_only=True)
    bold = Font(bold=True)

    def header(sheet: WriteOnlyWorksheet, names: Sequence[str], widths: Sequence[int]) -> None:
        # Widths and the frozen header row are written with the sheet's first row: set them before it.
        for index, width in enumerate(widths):
            sheet.column_dimensions[get_column_letter(index + 1)].width = width
        sheet.freeze_panes = "A2"
        cells = []
        for name in names:
            cell = WriteOnlyCell(sheet, value=name)
            cell.font = bold
            cells.append(cell)
        sheet.append(cells)

    def local(value: datetime | None) -> str:
        return value.astimezone(tz).strftime("%d/%m/%Y %H:%M") if value else ""

    summary_sheet = workbook.create_sheet(t_text(lang, SUMMARY_SHEET))
    header(
        summary_sheet,
        [t_text(lang, name) for name, _ in SUMMARY_COLUMNS],
        [width for _, width in SUMMARY_COLUMNS],
    )
    units_sheet = workbook.create_sheet("units")
    commitments_sheet = workbook.create_sheet("commitments")
    history_sheet = workbook.create_sheet("history")
    header(units_sheet, UNIT_COLUMNS, (14, 50, 14))
    header(
        commitments_sheet,
        (*COMMITMENT_COLUMNS, *COMMITMENT_EXTRA_COLUMNS),
        (18, 12, 60, 10, 12, 20, 20, 30, 16, 9, 17, 17, 8),
    )
    header(history_sheet, HISTORY_COLUMNS, (13, 18, 12, 17, 20, 12, 12, 30, 30, 40))

    parent = aliased(Unit)
    units_query = limited_to(
        select(Unit.code, Unit.name, parent.code).outerjoin(parent, Unit.parent_id == parent.id), within
    ).order_by(Unit.code_key)

    def unit_row(row: Any) -> list[Any]:
        code, name, parent_code = row
        return [code, name, parent_code or ""]

    commitments_query = (
        select(
            Commitment.ref,
            Unit.code,
            Commitment.title,
            Commitment.kind,
            Commitment.due_date,
            Commitment.legal_basis,
            Commitment.source,
            Commitment.recurrence,
            Commitment.status,
            Commitment.progress,
            Commitment.updated_at,
            Commitment.done_at,
            Commitment.id,
        )
        .join(Unit, Commitment.unit_id == Unit.id)
        .order_by(Unit.code_key, Commitment.due_date, Commitment.id)
    )
    commitments_query = limited_to(commitments_query, within)

    status_texts = {status: t_text(lang, msgid) for status, msgid in STATUS_LABELS.items()}
    done_late = t_text(lang, DONE_LATE)
    kind_texts = {kind: t_text(lang, msgid) for kind, msgid in KIND_WORDS.items()}

    summary_query = (
        select(
            Commitment.id,
            Unit.name,
            Unit.code,
            Commitment.title,
            Commitment.kind,
            Commitment.due_date,
            Commitment.status,
            Commitment.progress,
            Commitment.legal_basis,
            Commitment.source,
            Commitment.updated_at,
            Commitment.done_at,
        )
        .join(Unit, Commitment.unit_id == Unit.id)
        .order_by(Unit.code_key, Commitment.due_date, Commitment.id)
    )
    summary_query = limited_to(summary_query, within)

    def dated(value: date | datetime | None, number_format: str) -> Any:
        if value is None:
            return None
        if isinstance(value, datetime):  # a spreadsheet has no time zones: the local wall-clock time
            value = value.astimezone(tz).replace(tzinfo=None)
        cell = WriteOnlyCell(summary_sheet, value=value)
        cell.number_format = number_format
        return cell

    def summary_row(row: Any) -> list[Any]:
        cid, unit_name, code, title, kind, due, status, progress, basis, source, updated, done = row
        status_text = status_texts.get(status, str(status))
        if status is Status.DONE and done is not None and done.astimezone(tz).date() > due:
            status_text = done_late
        overdue = (today - due).days if status in OPEN_STATUSES and due < today else None
        return [
            cid,
            unit_name,
            code,
            title,
            kind_texts.get(kind, str(kind)),
            dated(due, DATE_FORMAT),
            status_text,
            progress,
            overdue,
            basis,
            source,
            dated(updated, DATETIME_FORMAT),
            dated(done, DATETIME_FORMAT),
        ]

    def commitment_row(row: Any) -> list[Any]:
        ref, code, title, kind, due, basis, source, rule, status, progress, updated, done, cid = row
        due_cell = WriteOnlyCell(commitments_sheet, value=due)
        due_cell.number_format = DATE_FORMAT
        status_text = status_texts.get(status, str(status))
        return [
            ref or "",
            code,
            title,
            str(kind),
            due_cell,
            basis,
            source,
            rule,
            status_text,
            progress,
            local(updated),
            local(done),
            cid,
        ]

    event_unit = aliased(Unit)
    history_query = (
        select(
            Event.commitment_id,
            Commitment.ref,
            event_unit.code,
            Event.at,
            Person.full_name,
            Person.username,
            Event.actor_label,
            Event.action,
            Event.field,
            Event.old_value,
            Event.new_value,
            Event.note,
        )
        .outerjoin(Commitment, Event.commitment_id == Commitment.id)
        .outerjoin(event_unit, Event.unit_id == event_unit.id)
        .outerjoin(Person, Event.actor_id == Person.id)
        .order_by(Event.at, Event.id)
    )
    if within is not None and not within.everything:  # the events of the scope's units and their commitments
        units_within = limited_to(select(Unit.id), within)
        of_commitments = select(Commitment.id).where(Commitment.unit_id.in_(units_within))
        history_query = history_query.where(
            or_(Event.commitment_id.in_(of_commitments), Event.unit_id.in_(units_within))
        )

    def history_row(row: Any) -> list[Any]:
        cid, ref, code, at, full_name, username, label, action, field, old, new, note = row
        who = full_name or (f"@{username}" if username else "") or label or ""
        return [cid or "", ref or "", code or "", local(at), who, action, field, old or "", new or "", note]

    async with db.session() as session:

        async def rows(query: Select[Any]) -> AsyncIterator[Sequence[Any]]:
            result = await session.stream(query.execution_options(yield_per=BATCH))
            async for partition in result.partitions(BATCH):
                yield partition

        async def fill(sheet: WriteOnlyWorksheet, query: Select[Any], convert: Callable[[Any], list[Any]]) -> int:
            count = 0
            async for batch in rows(query):
                count += len(batch)
                await asyncio.to_thread(_append, sheet, [convert(row) for row in batch])
            return count

        summarised = await fill(summary_sheet, summary_query, summary_row)
        # The filter's range is written at the sheet's end, so it can be set once the rows are known.
        summary_sheet.auto_filter.ref = f"A1:{get_column_letter(len(SUMMARY_COLUMNS))}{summarised + 1}"
        await fill(units_sheet, units_query, unit_row)
        await fill(commitments_sheet, commitments_query, commitment_row)
        await fill(history_sheet, history_query, history_row)

    target: Any = str(path_or_buffer) if isinstance(path_or_buffer, Path) else path_or_buffer
    await asyncio.to_thread(workbook.save, target)


def _append(sheet: WriteOnlyWorksheet, rows: list[list[Any]]) -> None:
    for row in rows:
        sheet.append([_text_cell(sheet, value) if isinstance(value, str) else value for value in row])


def _text_cell(sheet: WriteOnlyWorksheet, value: str) -> Any:
    """A string as a text cell, always. openpyxl would write "=…" as a live formula and "#N/A" etc. as an error
    value: a title, name or note a user typed must never run in the reader's spreadsheet (nor change)."""
    # Control characters (other than tab and line breaks) cannot be stored in a workbook at all.
    value = ILLEGAL_CHARACTERS_RE.sub("", value)
    if not value.startswith(("=", "#")):
        return value  # openpyxl writes every other string as text already
    cell = WriteOnlyCell(sheet, value=value)
    cell.data_type = "s"
    return cell
