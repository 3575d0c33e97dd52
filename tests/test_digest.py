"""The weekly digest on SQLite and PostgreSQL: what the committee and each unit get, once per week, and the chart."""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, select

from core.settings import DigestSchedule, Settings, load_settings
from scheduler.digest import LONG_AGO, STATE_SINCE, build_digest_for, latest_slot, plan_digests
from storage import planning
from storage.db import Database
from storage.digest_data import MOOT_ERRORS
from storage.members import resolve_actor
from storage.models import (
    Commitment,
    ExtensionRequest,
    ExtensionStatus,
    Kind,
    Membership,
    OutboxMessage,
    OutboxStatus,
    Person,
    PlannerState,
    Role,
    Status,
    Unit,
)
from texts.chart import MAX_BARS, chart_rows, render_chart
from texts.render import TELEGRAM_TEXT_LIMIT

HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
CREATED = datetime(2026, 11, 1, tzinfo=UTC)
# Monday 07/12/2026: the digest slot (DIGEST_CRON "mon 08:00"); the planner runs a few minutes later.
SLOT = datetime(2026, 12, 7, 8, 0, tzinfo=HANOI)
NOW = SLOT + timedelta(minutes=3)
TODAY = SLOT.date()
GROUP_CHAT = -100_123
PNG = b"\x89PNG\r\n\x1a\n"


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=HANOI)


def settings(**overrides: object) -> Settings:
    values: dict[str, object] = {"_env_file": None, "digest_cron": "mon 08:00", "digest_chat_id": str(GROUP_CHAT)}
    values.update(overrides)
    return load_settings(**values)


@dataclass
class World:
    units: dict[str, int]
    people: dict[str, int]
    tg: dict[str, int]
    items: dict[str, int]


async def add_unit(db: Database, code: str, name: str) -> int:
    async with db.session() as session:
        unit = Unit(code=code, code_key=code.upper(), name=name, created_at=CREATED)
        session.add(unit)
        await session.flush()
        return unit.id


async def add_person(
    db: Database,
    telegram_id: int,
    name: str,
    *,
    role: Role,
    unit_id: int | None = None,
    reachable: bool = True,
    language: str | None = None,
) -> int:
    async with db.session() as session:
        person = Person(
            telegram_id=telegram_id,
            full_name=name,
            language=language,
            reachable=reachable,
            has_started=True,
            created_at=CREATED,
        )
        session.add(person)
        await session.flush()
        session.add(Membership(person_id=person.id, unit_id=unit_id, role=role, origin="invite", created_at=CREATED))
        return person.id


async def add_commitment(
    db: Database,
    unit_id: int,
    title: str,
    due: date,
    *,
    status: Status = Status.OPEN,
    done_at: datetime | None = None,
    progress: int = 0,
) -> int:
    async with db.session() as session:
        commitment = Commitment(
            unit_id=unit_id,
            title=title,
            kind=Kind.INTERNAL,
            due_date=due,
            status=status,
            progress=progress,
            done_at=done_at,
            created_at=CREATED,
            updated_at=CREATED,
        )
        session.add(commitment)
        await session.flush()
        return commitment.id


async def world(db: Database, *, overdue: bool = True) -> World:
    """A small register. VP: one overdue, one due in 3 days, one far away, two done last week (one late, by half an
    hour past midnight local time). KHCN: one due in 11 days, with a pending extension. PC: no focal point, one
    overdue. TTB: its only focal point blocked the bot. KT: only a task due in two months."""
    units = {
        "VP": await add_unit(db, "VP", "Văn phòng Bộ"),
        "KHCN": await add_unit(db, "KHCN", "Vụ Khoa học và Công nghệ"),
        "PC": await add_unit(db, "PC", "Vụ Pháp chế & <Thanh tra>"),
        "TTB": await add_unit(db, "TTB", "Thanh tra Bộ"),
        "KT": await add_unit(db, "KT", "Vụ Kế hoạch - Tài chính"),
    }
    tg = {"thu": 101, "nam": 102, "hung": 103, "lan": 201, "minh": 202, "hoa": 203, "kt": 204, "head": 205}
    people = {
        "thu": await add_person(db, tg["thu"], "Nguyễn Thị Thu", role=Role.SECRETARY),
        "nam": await add_person(db, tg["nam"], "Trần Văn Nam", role=Role.ADMIN, language="en"),
        "hung": await add_person(db, tg["hung"], "Lê Hùng", role=Role.SECRETARY, reachable=False),
        "lan": await add_person(db, tg["lan"], "Phạm Lan", role=Role.FOCAL, unit_id=units["VP"]),
        "minh": await add_person(db, tg["minh"], "Đỗ Minh", role=Role.FOCAL, unit_id=units["KHCN"], language="en"),
        "hoa": await add_person(db, tg["hoa"], "Vũ Hoa", role=Role.FOCAL, unit_id=units["TTB"], reachable=False),
        "kt": await add_person(db, tg["kt"], "Bùi Kế", role=Role.FOCAL, unit_id=units["KT"]),
        "head": await add_person(db, tg["head"], "Hoàng Trưởng", role=Role.HEAD, unit_id=units["VP"]),
    }
    items = {
        "vp_soon": await add_commitment(db, units["VP"], "Gửi dự thảo quy trình", TODAY + timedelta(days=3)),
        "vp_far": await add_commitment(db, units["VP"], "Đánh giá nội bộ năm 2027", TODAY + timedelta(days=60)),
        "vp_on_time": await add_commitment(
            db,
            units["VP"],
            "Ban hành chính sách chất lượng",
            date(2026, 12, 3),
            status=Status.DONE,
            done_at=local(date(2026, 12, 3), 23, 30),
        ),
        "vp_late": await add_commitment(
            db,
            units["VP"],
            "Ban hành mục tiêu chất lượng",
            date(2026, 12, 3),
            status=Status.DONE,
            done_at=local(date(2026, 12, 4), 0, 30),
        ),
        "khcn_soon": await add_commitment(
            db,
            units["KHCN"],
            "Báo cáo tiến độ <ISO>",
            TODAY + timedelta(days=11),
            status=Status.IN_PROGRESS,
            progress=40,
        ),
        "kt_far": await add_commitment(db, units["KT"], "Dự toán kinh phí", TODAY + timedelta(days=60)),
        "old_done": await add_commitment(
            db,
            units["KHCN"],
            "Kế hoạch triển khai",
            date(2026, 10, 1),
            status=Status.DONE,
            done_at=local(date(2026, 9, 30), 10),
        ),
    }
    if overdue:
        items["vp_overdue"] = await add_commitment(
            db, units["VP"], "Phê duyệt kế hoạch triển khai", TODAY - timedelta(days=7)
        )
        items["pc_overdue"] = await add_commitment(db, units["PC"], "Rà soát văn bản", TODAY - timedelta(days=2))
    async with db.session() as session:
        session.add(
            ExtensionRequest(
                commitment_id=items["khcn_soon"],
                requested_by_id=people["minh"],
                requested_at=NOW - timedelta(days=1),
                old_due=TODAY + timedelta(days=11),
                new_due=TODAY + timedelta(days=30),
                reason="cần thêm <thời gian> để lấy ý kiến",
                status=ExtensionStatus.PENDING,
            )
        )
        for key, error, person in (
            ("reminder:x:1", "Bad Request: chat not found", "lan"),
            ("reminder:x:2", MOOT_ERRORS[0], "kt"),
        ):
            session.add(
                OutboxMessage(
                    key=key,
                    kind="reminder",
                    chat_id=tg[person],
                    person_id=people[person],
                    text="…",
                    status=OutboxStatus.FAILED,
                    not_before=NOW - timedelta(days=2),
                    created_at=NOW - timedelta(days=2),
                    last_error=error,
                )
            )
    await installed_long_ago(db)
    return World(units, people, tg, items)


async def installed_long_ago(db: Database) -> None:
    """These registers are a year old: this week's digest is due (a new installation waits for the next slot)."""
    async with db.session() as session:
        await planning.set_state(session, STATE_SINCE, LONG_AGO)


async def outbox(db: Database, prefix: str = "") -> list[OutboxMessage]:
    async with db.session() as session:
        rows = await session.scalars(
            select(OutboxMessage).where(OutboxMessage.key.like(f"{prefix}%")).order_by(OutboxMessage.id)
        )
        return list(rows)


def texts(rows: list[OutboxMessage], chat_id: int, kind: str = "digest") -> str:
    return "\n".join(r.text for r in rows if r.chat_id == chat_id and r.kind == kind and r.media is None)


# --- The committee digest ------------------------------------------------------------------------------------


async def test_committee_digest_goes_to_every_reachable_secretary_and_the_group(db: Database) -> None:
    w = await world(db)
    await plan_digests(db, settings=settings(), now=NOW)
    rows = await outbox(db, "digest:")
    chats = {r.chat_id for r in rows}
    assert chats == {w.tg["thu"], w.tg["nam"], GROUP_CHAT}  # Hùng is unreachable: listed, not sent to
    for chat in chats:
        mine = [r for r in rows if r.chat_id == chat]
        assert mine[0].key == f"digest:2026-12-07:{chat}"
        assert mine[-1].key == f"digest:2026-12-07:{chat}:chart"
        assert mine[-1].media == "photo" and mine[-1].file_data and mine[-1].file_data.startswith(PNG)
        assert all(r.kind == "digest" and len(r.text) <= TELEGRAM_TEXT_LIMIT for r in mine)
    assert {r.person_id for r in rows if r.chat_id == GROUP_CHAT} == {None}


async def test_committee_digest_content_in_vietnamese(db: Database) -> None:
    w = await world(db)
    await plan_digests(db, settings=settings(), now=NOW)
    text = texts(await outbox(db, "digest:"), w.tg["thu"])
    assert "Tổng hợp tình hình thực hiện nhiệm vụ tuần" in text
    assert "Thứ Hai, ngày 07/12/2026, số liệu tính đến 08:03" in text
    # totals: open = VP overdue, soon, far + KHCN + KT + PC = 6; due in 7 days: VP soon; overdue: 2; done: 2
    assert "Nhiệm vụ chưa hoàn thành: 6" in text
    assert "Đến hạn trong 7 ngày tới: 1" in text
    assert "Quá hạn: <b>2</b>" in text
    assert "Hoàn thành trong 7 ngày qua: 2" in text
    # done 23:30 on the due day is on time; 00:30 the day after is late (local time, not UTC)
    assert "Tỷ lệ đúng hạn: <b>50%</b> (1/2 nhiệm vụ hoàn thành trong 7 ngày qua)" in text
    assert "Lũy kế: 67% (2/3 nhiệm vụ đã hoàn thành)" in text
    # the per-unit rows: overdue units first, KT (nothing soon, nothing overdue) after; each count in words
    by_unit = text.split("<b>Theo đơn vị</b>\n")[1].split("\n\n")[0].splitlines()
    codes = [re.sub(r"<[^>]+>", "", line).split()[1] for line in by_unit]
    assert codes[:2] == ["VP", "PC"] and set(codes) == {"VP", "PC", "KHCN", "KT"}
    assert by_unit[0] == (
        "🔴 <b>VP</b> — <b>1</b> quá hạn · 1 đến hạn trong 7 ngày · 3 chưa hoàn thành · 2 hoàn thành trong 7 ngày qua"
    )
    assert "QH" not in text and "CHT" not in text
    # overdue items, with days overdue
    assert (
        f"#{w.items['vp_overdue']} /task_{w.items['vp_overdue']} <b>VP</b> · Phê duyệt kế hoạch triển khai"
        " — <b>quá hạn 7 ngày</b>" in text
    )
    assert "<b>quá hạn 2 ngày</b> (hạn 05/12/2026)" in text
    # units without a reachable focal point, escaped
    assert "<b>PC</b> Vụ Pháp chế &amp; &lt;Thanh tra&gt;: chưa có cán bộ đầu mối" in text
    assert "<b>TTB</b> Thanh tra Bộ: cán bộ đầu mối không liên lạc được" in text
    assert "<b>KT</b>" not in text.split("Đơn vị chưa có cán bộ đầu mối")[1].split("\n\n")[0]
    # unreachable people, with their roles
    assert "Người không liên lạc được qua Telegram (2)" in text
    assert "• Lê Hùng — thư ký" in text and "• Vũ Hoa — cán bộ đầu mối TTB" in text
    # pending extension requests
    assert "Đề nghị gia hạn chờ phê duyệt (1)" in text
    assert (
        f"#{w.items['khcn_soon']} /task_{w.items['khcn_soon']} <b>KHCN</b> · Báo cáo tiến độ &lt;ISO&gt; — "
        "18/12/2026 → 06/01/2027 (thêm 19 ngày)"
        " — Đỗ Minh: <i>cần thêm &lt;thời gian&gt; để lấy ý kiến</i>" in text
    )
    # failed deliveries, but not the reminder dropped because its task was closed
    assert "Tin nhắn không gửi được trong 7 ngày qua (1)" in text
    assert "• Phạm Lan · nhắc việc: <i>Bad Request: chat not found</i>" in text
    assert MOOT_ERRORS[0] not in text


async def test_committee_digest_in_english_for_an_english_reader(db: Database) -> None:
    w = await world(db)
    await plan_digests(db, settings=settings(), now=NOW)
    rows = await outbox(db, "digest:")
    text = texts(rows, w.tg["nam"])
    assert "Weekly summary of task implementation" in text
    assert "On-time rate: <b>50%</b> (1 of 2 done in the last 7 days)" in text
    assert "Overdue tasks (2)" in text
    chart = next(r for r in rows if r.chat_id == w.tg["nam"] and r.media == "photo")
    assert chart.text == "📊 Tasks by unit — 07/12/2026"


async def test_a_week_with_nothing_overdue_says_so(db: Database) -> None:
    w = await world(db, overdue=False)
    await plan_digests(db, settings=settings(), now=NOW)
    rows = await outbox(db, "digest:")
    assert "✅ <b>Không có nhiệm vụ quá hạn.</b>" in texts(rows, w.tg["thu"])
    assert "✅ <b>No overdue tasks.</b>" in texts(rows, w.tg["nam"])


async def test_an_empty_register_still_gets_a_digest_without_a_chart(db: Database) -> None:
    await add_person(db, 101, "Nguyễn Thị Thu", role=Role.SECRETARY)
    await installed_long_ago(db)
    await plan_digests(db, settings=settings(digest_chat_id=""), now=NOW)
    rows = await outbox(db, "digest:")
    assert [r.key for r in rows] == ["digest:2026-12-07:101"]
    assert "Không có nhiệm vụ quá hạn." in rows[0].text
    assert "Tỷ lệ đúng hạn: chưa có nhiệm vụ nào hoàn thành trong 7 ngày qua" in rows[0].text


async def test_a_long_digest_is_split_at_lines_with_numbered_keys(db: Database) -> None:
    await add_person(db, 101, "Nguyễn Thị Thu", role=Role.SECRETARY)
    title = "Báo cáo tình hình xây dựng, áp dụng, duy trì và cải tiến hệ thống quản lý chất lượng <TCVN ISO 9001>"
    for n in range(45):
        unit = await add_unit(db, f"DONVI-{n:03d}-DAI", f"Sở Khoa học và Công nghệ tỉnh số {n}")
        await add_commitment(db, unit, f"{title} ({n})", TODAY - timedelta(days=1 + n % 9))
    await installed_long_ago(db)
    await plan_digests(db, settings=settings(digest_chat_id=""), now=NOW)
    rows = [r for r in await outbox(db, "digest:") if r.media is None]
    assert [r.key for r in rows] == [
        "digest:2026-12-07:101",
        *(f"digest:2026-12-07:101:{n}" for n in range(2, len(rows) + 1)),
    ]
    assert len(rows) >= 2
    for row in rows:
        assert len(row.text) <= TELEGRAM_TEXT_LIMIT
        assert row.text.count("<b>") == row.text.count("</b>") and row.text.count("<code>") == row.text.count("</code>")
    text = "\n".join(r.text for r in rows)
    assert "… và 15 nhiệm vụ quá hạn khác: xem /overdue" in text
    assert "… và 15 đơn vị khác (xem biểu đồ)" in text


# --- Each unit's own list ------------------------------------------------------------------------------------


async def test_each_unit_gets_its_own_list_and_a_unit_with_nothing_gets_nothing(db: Database) -> None:
    w = await world(db)
    await plan_digests(db, settings=settings(), now=NOW)
    rows = await outbox(db, "unitdigest:")
    assert {r.key for r in rows} == {
        f"unitdigest:2026-12-07:{w.people['lan']}:{w.units['VP']}",
        f"unitdigest:2026-12-07:{w.people['minh']}:{w.units['KHCN']}",
    }  # KT: only a task in 60 days; PC: no focal point; TTB: focal point unreachable; heads get no list
    assert all(r.kind == "unit_digest" for r in rows)
    lan = texts(rows, w.tg["lan"], "unit_digest")
    assert "Danh sách nhiệm vụ tuần của Quý đơn vị <b>Văn phòng Bộ (VP)</b>" in lan
    assert "Quá hạn: <b>1</b> · đến hạn trong 14 ngày tới: 1" in lan
    assert f"🔴 #{w.items['vp_overdue']} /task_{w.items['vp_overdue']} Phê duyệt kế hoạch triển khai" in lan
    assert "hạn 30/11/2026 — <b>quá hạn 7 ngày</b>" in lan
    assert f"#{w.items['vp_soon']} /task_{w.items['vp_soon']} Gửi dự thảo quy trình" in lan and "còn 3 ngày" in lan
    assert f"#{w.items['vp_far']}<" not in lan
    assert lan.index("Phê duyệt kế hoạch") < lan.index("Gửi dự thảo")
    minh = texts(rows, w.tg["minh"], "unit_digest")
    assert "Weekly task list of unit <b>Vụ Khoa học và Công nghệ (KHCN)</b>" in minh
    assert "Báo cáo tiến độ &lt;ISO&gt;" in minh and "11 days left · in progress 40%" in minh


async def test_a_unit_list_longer_than_the_limit_is_capped(db: Database) -> None:
    unit = await add_unit(db, "VP", "Văn phòng Bộ")
    lan = await add_person(db, 201, "Phạm Lan", role=Role.FOCAL, unit_id=unit)
    for n in range(35):
        await add_commitment(db, unit, f"Nhiệm vụ {n}", TODAY + timedelta(days=n % 15))
    await installed_long_ago(db)
    await plan_digests(db, settings=settings(), now=NOW)
    rows = await outbox(db, f"unitdigest:2026-12-07:{lan}:{unit}")
    text = "\n".join(r.text for r in rows)
    assert text.count(" /task_") == 30
    assert "… và 5 nhiệm vụ khác: /tasks VP" in text
    assert all(len(r.text) <= TELEGRAM_TEXT_LIMIT for r in rows)


# --- Planning: once per recipient per week --------------------------------------------------------------------


async def count(db: Database, prefix: str) -> int:
    return len(await outbox(db, prefix))


async def test_planned_once_per_recipient_per_week(db: Database) -> None:
    await world(db)
    s = settings()
    assert await plan_digests(db, settings=s, now=SLOT - timedelta(minutes=1)) > 0  # the slot of Monday 30/11
    before = await count(db, "")
    assert await plan_digests(db, settings=s, now=SLOT - timedelta(seconds=1)) == 0
    first = await plan_digests(db, settings=s, now=NOW)
    assert first > 0
    assert await count(db, "") == before + first
    for later in (NOW + timedelta(minutes=1), NOW + timedelta(hours=5), NOW + timedelta(days=3)):
        assert await plan_digests(db, settings=s, now=later) == 0
    assert await count(db, "") == before + first
    assert await count(db, "digest:2026-11-30:") > 0 and await count(db, "digest:2026-12-07:") > 0
    # the next Monday: a new digest
    assert await plan_digests(db, settings=s, now=NOW + timedelta(days=7)) > 0
    assert [r.key for r in await outbox(db, "digest:2026-12-14:101")] == [
        "digest:2026-12-14:101",
        "digest:2026-12-14:101:chart",
    ]


async def test_a_new_installation_waits_for_the_next_slot(db: Database) -> None:
    """Installed on a Wednesday: no "last week's" digest and no unit lists until Monday's slot."""
    w = await world(db)
    async with db.session() as session:
        await session.execute(delete(PlannerState).where(PlannerState.name == STATE_SINCE))  # a fresh install
    s = settings()
    wednesday = local(date(2026, 12, 9), 10)
    assert await plan_digests(db, settings=s, now=wednesday) == 0
    assert await plan_digests(db, settings=s, now=wednesday + timedelta(days=2)) == 0
    assert [r.key for r in await outbox(db, "") if r.kind in ("digest", "unit_digest")] == []
    monday = local(date(2026, 12, 14), 8)
    assert await plan_digests(db, settings=s, now=monday - timedelta(minutes=1)) == 0
    assert await plan_digests(db, settings=s, now=monday) > 0
    assert await count(db, f"digest:2026-12-14:{w.tg['thu']}") >= 2
    assert await count(db, "digest:2026-12-07:") == 0


async def test_an_installation_that_sent_digests_before_goes_on(db: Database) -> None:
    """A database from before the installation marker (it has planned unit lists) is not held back a week."""
    await world(db)
    async with db.session() as session:
        await session.execute(delete(PlannerState).where(PlannerState.name == STATE_SINCE))
        await planning.set_state(session, "digest_units", "2026-11-30")
    assert await plan_digests(db, settings=settings(), now=NOW) > 0
    assert await count(db, "digest:2026-12-07:") > 0


async def test_caught_up_once_after_downtime_only_for_the_latest_slot(db: Database) -> None:
    w = await world(db)
    s = settings(digest_cron="mon,thu 07:30")
    # down from before Monday 16/11 until Wednesday 09/12: slots 16/11, 19/11, 23/11 … 03/12 and 07/12 were missed
    wednesday = local(date(2026, 12, 9), 10)
    assert await plan_digests(db, settings=s, now=wednesday) > 0
    rows = await outbox(db, "")
    digests = [r for r in rows if r.kind == "digest" and r.chat_id == w.tg["thu"] and r.media is None]
    assert {r.key.split(":")[1] for r in digests} == {"2026-12-07"}
    assert {r.key.split(":")[1] for r in rows if r.kind == "unit_digest"} == {"2026-12-07"}
    assert len([r for r in rows if r.key == f"digest:2026-12-07:{w.tg['thu']}"]) == 1
    assert await plan_digests(db, settings=s, now=wednesday + timedelta(minutes=1)) == 0
    # Thursday 07:30 is the next slot
    assert await plan_digests(db, settings=s, now=local(date(2026, 12, 10), 7, 29)) == 0
    assert await plan_digests(db, settings=s, now=local(date(2026, 12, 10), 7, 30)) > 0
    assert await count(db, f"digest:2026-12-10:{w.tg['thu']}") >= 2  # text and chart


async def test_a_secretary_linked_later_in_the_week_gets_that_weeks_digest_once(db: Database) -> None:
    await world(db)
    s = settings()
    await plan_digests(db, settings=s, now=NOW)
    units_before = await count(db, "unitdigest:")
    await add_person(db, 104, "Mai Anh", role=Role.SECRETARY)
    assert await plan_digests(db, settings=s, now=NOW + timedelta(days=2)) > 0
    assert [r.key for r in await outbox(db, "digest:2026-12-07:104")] == [
        "digest:2026-12-07:104",
        "digest:2026-12-07:104:chart",
    ]
    assert await count(db, "unitdigest:") == units_before  # unit lists are planned once per slot
    assert await plan_digests(db, settings=s, now=NOW + timedelta(days=2, minutes=1)) == 0


def test_latest_slot() -> None:
    schedule = DigestSchedule.parse("mon,thu 07:30")
    wednesday = local(date(2026, 12, 9), 12)
    assert latest_slot(schedule, HANOI, wednesday) == local(date(2026, 12, 7), 7, 30)
    assert latest_slot(schedule, HANOI, local(date(2026, 12, 10), 7, 30)) == local(date(2026, 12, 10), 7, 30)
    assert latest_slot(schedule, HANOI, local(date(2026, 12, 10), 7, 29)) == local(date(2026, 12, 7), 7, 30)
    # given in UTC, planned in local time: Monday 00:30 UTC is Monday 07:30 in Hanoi
    assert latest_slot(DigestSchedule.parse("mon 07:30"), HANOI, datetime(2026, 12, 7, 0, 30, tzinfo=UTC)) == local(
        date(2026, 12, 7), 7, 30
    )
    with pytest.raises(ValueError):
        latest_slot(schedule, HANOI, datetime(2026, 12, 7, 8, 0))


# --- /digest -------------------------------------------------------------------------------------------------


async def test_digest_now_for_the_one_who_asks(db: Database) -> None:
    w = await world(db)
    s = settings(secretary_ids="")
    async with db.session() as session:
        secretary = await resolve_actor(session, telegram_id=w.tg["thu"])
        focal = await resolve_actor(session, telegram_id=w.tg["lan"])
        idle = await resolve_actor(session, telegram_id=w.tg["kt"])
    messages = await build_digest_for(db, actor=secretary, settings=s, now=NOW)
    assert [m.chat_id for m in messages] == [w.tg["thu"]] * len(messages)
    assert messages[-1].media == "photo" and messages[-1].file_data and messages[-1].file_data.startswith(PNG)
    assert "Tổng hợp tình hình thực hiện nhiệm vụ tuần" in messages[0].text
    assert len({m.key for m in messages}) == len(messages) and messages[0].key.startswith("digestnow:")
    (list_,) = await build_digest_for(db, actor=focal, settings=s, now=NOW)
    assert "Văn phòng Bộ (VP)" in list_.text and list_.chat_id == w.tg["lan"]
    (nothing,) = await build_digest_for(db, actor=idle, settings=s, now=NOW)
    assert "không có nhiệm vụ quá hạn hoặc đến hạn trong 14 ngày tới" in nothing.text
    assert await count(db, "digestnow:") == 0  # built, not queued


def test_moot_errors_match_the_sender() -> None:
    from scheduler.drain import CLOSED_ERROR

    assert CLOSED_ERROR in MOOT_ERRORS


# --- The chart -----------------------------------------------------------------------------------------------


@dataclass
class FakeUnit:
    code: str
    name: str
    overdue: int
    due_soon: int
    other_open: int
    done_week: int


def fake_units(n: int) -> list[FakeUnit]:
    return [
        FakeUnit(f"DV{i:05d}", f"Sở Khoa học và Công nghệ tỉnh Đắk Lắk {i}", i % 7, i % 3, 5 + i % 11, i % 4)
        for i in range(n)
    ]


def png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(PNG) and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.mark.parametrize("units", [30, 300])
def test_chart_is_a_readable_png_at_30_and_300_units(units: int) -> None:
    rows = chart_rows(fake_units(units))
    assert len(rows) == MAX_BARS
    summary = rows[-1]
    assert summary.summary and summary.units == units - (MAX_BARS - 1)
    assert not any(r.summary for r in rows[:-1])
    overdue = [r.overdue for r in rows[:-1]]
    assert overdue == sorted(overdue, reverse=True) and overdue[0] == 6
    assert sum(r.total for r in rows) == sum(
        u.overdue + u.due_soon + u.other_open + u.done_week for u in fake_units(units)
    )
    data = render_chart("vi", rows, day=TODAY)
    width, height = png_size(data)
    assert 900 <= width <= 1300 and 900 <= height <= 1400  # Telegram shows photos up to 1280 px a side
    assert len(data) < 1_000_000


def test_chart_with_few_units_has_no_summary_bar_and_skips_idle_units() -> None:
    units = [*fake_units(10), FakeUnit("IDLE", "Nothing", 0, 0, 0, 0)]
    rows = chart_rows(units)
    assert len(rows) == 10 and not any(r.summary for r in rows)
    assert all("IDLE" not in r.label for r in rows)
    width, height = png_size(render_chart("en", rows, day=TODAY))
    assert width > 900 and height > 300
