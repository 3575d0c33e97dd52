"""`qmsbot schedule --days N [--now ISO-DATETIME]`: what the planner will send, one line each, sending nothing."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.cli import main
from storage.db import Database
from storage.models import Commitment, Kind, Membership, OutboxMessage, Person, Role, Status, Unit, UnitGroup

CREATED = datetime(2026, 11, 1, tzinfo=UTC)


async def _fill(url: str) -> None:
    db = Database(url)
    await db.upgrade()
    async with db.session() as session:
        vpb = Unit(code="VPB", code_key="VPB", name="Văn phòng Bộ", created_at=CREATED)
        ttb = Unit(code="TTB", code_key="TTB", name="Thanh tra Bộ", created_at=CREATED)
        session.add_all([vpb, ttb])
        await session.flush()
        people = [
            (Person(telegram_id=1, full_name="Nguyễn Văn An", created_at=CREATED, reachable=True), Role.FOCAL, vpb.id),
            (Person(telegram_id=2, full_name="Blocked", created_at=CREATED, reachable=False), Role.FOCAL, vpb.id),
            (Person(telegram_id=3, full_name="Thư ký Hà", created_at=CREATED, reachable=True), Role.SECRETARY, None),
        ]
        for person, role, unit_id in people:
            session.add(person)
            await session.flush()
            session.add(Membership(person_id=person.id, role=role, unit_id=unit_id, created_at=CREATED))

        def commitment(unit: Unit, due: date, kind: Kind, status: Status = Status.OPEN) -> Commitment:
            return Commitment(
                unit_id=unit.id,
                title="x",
                kind=kind,
                due_date=due,
                status=status,
                created_at=CREATED,
                updated_at=CREATED,
            )

        session.add(commitment(vpb, date(2026, 12, 11), Kind.LEGAL))  # #1, due Friday 11/12
        await session.flush()
        session.add(commitment(ttb, date(2026, 12, 10), Kind.INTERNAL))  # #2, a unit without focal point
        await session.flush()
        session.add(commitment(vpb, date(2026, 12, 4), Kind.INTERNAL))  # #3, escalated on Friday 11/12
        await session.flush()
        session.add(commitment(vpb, date(2026, 12, 9), Kind.INTERNAL, Status.DONE))  # #4, done: nothing
    await db.dispose()


async def _written(url: str) -> tuple[int, int]:
    db = Database(url)
    async with db.session() as session:
        queued = await session.scalar(select(func.count()).select_from(OutboxMessage))
        planned = await session.scalar(select(func.count()).where(Commitment.next_slot_at.is_not(None)))
    await db.dispose()
    return int(queued or 0), int(planned or 0)


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'qmsbot.db'}"
    monkeypatch.chdir(tmp_path)  # no .env
    for name in ("DEFAULT_LANGUAGE", "TIMEZONE", "REMINDER_TIME", "WORKING_DAYS_ONLY", "EXTRA_DAYS_OFF"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", url)
    asyncio.run(_fill(url))
    return url


def _columns(text: str) -> list[list[str]]:
    return [re.split(r"\s{2,}", line.strip()) for line in text.splitlines()]


def test_schedule_lists_every_planned_reminder_in_time_order(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schedule", "--days", "7", "--now", "2026-12-07T09:00"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[-1] == "Tổng cộng: 12 nhắc việc của 3 nhiệm vụ tại 2 đơn vị, từ 07/12/2026 09:00 đến 14/12/2026 09:00."
    assert _columns("\n".join(lines[:-1])) == [
        ["Thời gian", "Số", "Đơn vị", "Nội dung", "Người nhận"],
        ["08/12/2026 08:30", "#1", "VPB", "trước hạn 3 ngày", "Nguyễn Văn An"],
        ["08/12/2026 08:30", "#3", "VPB", "quá hạn 4 ngày", "Nguyễn Văn An"],
        ["09/12/2026 08:30", "#2", "TTB", "trước hạn 1 ngày", "chưa có cán bộ đầu mối"],
        ["10/12/2026 08:30", "#1", "VPB", "trước hạn 1 ngày", "Nguyễn Văn An"],
        ["10/12/2026 08:30", "#2", "TTB", "đến hạn hôm nay", "chưa có cán bộ đầu mối"],
        ["11/12/2026 08:30", "#1", "VPB", "đến hạn hôm nay", "Nguyễn Văn An"],
        ["11/12/2026 08:30", "#2", "TTB", "quá hạn 1 ngày", "chưa có cán bộ đầu mối"],
        ["11/12/2026 08:30", "#3", "VPB", "quá hạn 7 ngày", "Nguyễn Văn An"],
        ["11/12/2026 08:30", "#3", "VPB", "cảnh báo (quá hạn 7 ngày)", "Thư ký Hà"],
        ["14/12/2026 08:30", "#1", "VPB", "quá hạn 3 ngày", "Nguyễn Văn An"],
        ["14/12/2026 08:30", "#2", "TTB", "quá hạn 4 ngày", "chưa có cán bộ đầu mối"],
        ["14/12/2026 08:30", "#3", "VPB", "quá hạn 10 ngày", "Nguyễn Văn An"],
    ]
    table = lines[:-1]  # columns line up, the header's too
    assert len({line.index("VPB" if "VPB" in line else "TTB") for line in table[1:]} | {table[0].index("Đơn vị")}) == 1
    assert len({line.rindex("  ") + 2 for line in table[1:]} | {table[0].index("Người nhận")}) == 1
    assert asyncio.run(_written(database)) == (0, 0)  # nothing queued, nothing planned


def test_now_with_an_offset_and_english(
    database: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEFAULT_LANGUAGE", "en")
    assert main(["schedule", "--days", "1", "--now", "2026-12-07T02:00:00+00:00"]) == 0  # 09:00 in Hanoi
    assert _columns(capsys.readouterr().out) == [
        ["When", "No.", "Unit", "What", "To"],
        ["08/12/2026 08:30", "#1", "VPB", "3 days before", "Nguyễn Văn An"],
        ["08/12/2026 08:30", "#3", "VPB", "overdue 4 days", "Nguyễn Văn An"],
        ["Total: 2 reminder(s) of 2 commitment(s) in 1 unit(s), from 07/12/2026 09:00 to 08/12/2026 09:00."],
    ]


async def _link_group(url: str, code: str, title: str, chat_id: int) -> None:
    db = Database(url)
    async with db.session() as session:
        unit = await session.scalar(select(Unit).where(Unit.code == code))
        assert unit is not None
        session.add(UnitGroup(unit_id=unit.id, chat_id=chat_id, title=title, linked_at=CREATED))
    await db.dispose()


def test_a_units_group_is_listed_with_its_reminders(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A linked group gets the unit's reminders (not its escalations), even when the unit has no focal point."""
    asyncio.run(_link_group(database, "TTB", "Tổ ISO Thanh tra", -100123))
    assert main(["schedule", "--days", "1", "--now", "2026-12-08T09:00"]) == 0
    assert _columns(capsys.readouterr().out)[1:-1] == [
        ["09/12/2026 08:30", "#2", "TTB", "trước hạn 1 ngày", "chưa có cán bộ đầu mối"],
        ["09/12/2026 08:30", "#2", "TTB", "trước hạn 1 ngày", "nhóm “Tổ ISO Thanh tra”"],
    ]
    asyncio.run(_link_group(database, "VPB", "VPB", -100456))
    assert main(["schedule", "--days", "4", "--now", "2026-12-08T09:00"]) == 0
    lines = [line for line in _columns(capsys.readouterr().out) if line[1:2] == ["#3"]]
    assert ["11/12/2026 08:30", "#3", "VPB", "cảnh báo (quá hạn 7 ngày)", "Thư ký Hà"] in lines
    assert [line[4] for line in lines] == ["Nguyễn Văn An", "nhóm “VPB”", "Thư ký Hà"]


def test_nothing_planned_says_so(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schedule", "--days", "1", "--now", "2026-12-08T09:00"]) == 0
    assert _columns(capsys.readouterr().out)[1:-1] == [
        ["09/12/2026 08:30", "#2", "TTB", "trước hạn 1 ngày", "chưa có cán bộ đầu mối"]
    ]
    assert main(["schedule", "--days", "1", "--now", "2026-12-12T09:00"]) == 0  # Saturday → Sunday: nothing
    assert capsys.readouterr().out.strip() == "Không có nhắc việc nào được lên lịch trong 1 ngày tới."


@pytest.mark.parametrize(
    ("args", "word"),
    [
        (["--days", "0"], "--days"),
        (["--days", "many"], "--days"),
        (["--days", "400"], "--days"),
        (["--now", "yesterday"], "--now"),
        (["--now", "2026-13-01T09:00"], "--now"),
    ],
)
def test_bad_arguments_give_one_line_and_status_2(
    database: str, capsys: pytest.CaptureFixture[str], args: list[str], word: str
) -> None:
    assert main(["schedule", *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and word in lines[0] and "không hợp lệ" in lines[0]
