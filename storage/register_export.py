"""Exporting the register (SPEC "Register files", `qmsbot export FILE.xlsx`, `/export`).

One .xlsx in the import layout (it imports back unchanged) plus statuses and a `history` sheet, streamed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
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
from storage.models import Commitment, Event, Person, Status, Unit
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

STATUS_LABELS = {
    Status.OPEN: N_("not started"),
    Status.IN_PROGRESS: N_("in progress"),
    Status.DONE: N_("done"),
    Status.CANCELLED: N_("cancelled"),
}

DATE_FORMAT = "DD/MM/YYYY"


async def export_register(
    db: Database, path_or_buffer: str | Path | IO[bytes], *, tz: ZoneInfo, lang: str = "vi", within: Reach | None = None
) -> None:
    """Write the whole register (or what is `within` a person's reach: a scoped secretary's subtree) to an .xlsx
    file (a path, or a binary file object such as BytesIO)."""
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

        async def fill(sheet: WriteOnlyWorksheet, query: Select[Any], convert: Callable[[Any], list[Any]]) -> None:
            async for batch in rows(query):
                await asyncio.to_thread(_append, sheet, [convert(row) for row in batch])

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
