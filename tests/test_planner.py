"""The reminder planner on SQLite and PostgreSQL: due reminders become outbox rows, once, for the right people."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from scheduler.calendar import WorkCalendar
from scheduler.planner import PlanResult, plan_tick, planned_reminders, replan
from scheduler.policy import ReminderPolicy
from storage.db import Database
from storage.invites import create_invite, redeem_invite
from storage.members import touch_person
from storage.models import (
    Commitment,
    Event,
    Kind,
    Membership,
    OutboxMessage,
    Person,
    Role,
    Status,
    Unit,
    row_dict,
)
from storage.outbox import Outgoing, enqueue
from storage.outbox import enqueue as enqueue_many
from storage.planning import NEVER
from storage.status import complete_occurrence

HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
POLICY = ReminderPolicy()
CALENDAR = WorkCalendar()
CREATED = datetime(2026, 11, 1, tzinfo=UTC)
# A legal deadline on Friday 11/12/2026. Its slots: 30 → Wed 11/11, 14 → Fri 27/11, 7 → Fri 04/12, 3 → Tue 08/12,
# 1 → Thu 10/12, 0 → Fri 11/12; overdue: 1 (Sat 12/12) → Mon 14/12, 4 → Tue 15/12, 7 → Fri 18/12 …;
# escalation (7 days) on Fri 18/12.
DUE = date(2026, 12, 11)


def local(year: int, month: int, day: int, hour: int = 8, minute: int = 30) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=HANOI)


async def tick(
    db: Database,
    now: datetime,
    policy: ReminderPolicy = POLICY,
    *,
    batch_size: int = 1000,
    max_rows: int | None = None,
) -> PlanResult:
    return await plan_tick(
        db,
        policy=policy,
        calendar=CALENDAR,
        now=now,
        default_language="vi",
        batch_size=batch_size,
        max_rows=max_rows,
    )


async def add_unit(db: Database, code: str, name: str = "") -> int:
    async with db.session() as session:
        unit = Unit(code=code, code_key=code.upper(), name=name or f"Đơn vị {code}", created_at=CREATED)
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
    language: str | None = None,
    reachable: bool = True,
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
        session.add(Membership(person_id=person.id, unit_id=unit_id, role=role, created_at=CREATED))
        return person.id


async def add_commitment(
    db: Database,
    unit_id: int,
    title: str = "Phê duyệt kế hoạch triển khai",
    due: date = DUE,
    kind: Kind = Kind.LEGAL,
    **extra: object,
) -> int:
    async with db.session() as session:
        commitment = Commitment(
            unit_id=unit_id,
            title=title,
            kind=kind,
            due_date=due,
            created_at=CREATED,
            updated_at=CREATED,
            **extra,
        )
        session.add(commitment)
        await session.flush()
        return commitment.id


async def outbox(db: Database) -> list[OutboxMessage]:
    async with db.session() as session:
        return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


async def keys(db: Database) -> set[str]:
    return {m.key for m in await outbox(db)}


def reminder(cid: int, offset: int, person: int, due: date = DUE) -> str:
    return f"reminder:{cid}:{due.isoformat()}:{offset}:{person}"


async def link(db: Database, person_id: int, unit_id: int, role: Role, now: datetime) -> None:
    async with db.session() as session:
        invite = await create_invite(session, role=role, unit_id=unit_id, created_by_id=None, now=now, ttl_days=7)
    async with db.session() as session:
        await redeem_invite(session, code=invite.code, person_id=person_id, now=now)


async def set_reachable(db: Database, person_id: int, reachable: bool) -> None:
    async with db.session() as session:
        await session.execute(update(Person).where(Person.id == person_id).values(reachable=reachable))
        if reachable:
            await replan(session, person_ids=[person_id])


# --- Who gets what --------------------------------------------------------------------------------------------


async def test_a_reminder_goes_to_each_reachable_focal_point_once(db: Database) -> None:
    unit = await add_unit(db, "VPB", "Văn phòng Bộ")
    an = await add_person(db, 1, "Nguyễn Văn An", role=Role.FOCAL, unit_id=unit)
    bob = await add_person(db, 2, "Bob", role=Role.FOCAL, unit_id=unit, language="en")
    await add_person(db, 3, "Lê Văn Chặn", role=Role.FOCAL, unit_id=unit, reachable=False)
    await add_person(db, 4, "Trưởng đơn vị", role=Role.HEAD, unit_id=unit)
    await add_person(db, 5, "Thư ký", role=Role.SECRETARY)
    cid = await add_commitment(db, unit, title="Kế hoạch <b>ISO</b> & dự toán", legal_basis="118/2009/QĐ-TTg")
    await tick(db, local(2026, 11, 11))  # 30 days before
    assert await keys(db) == {reminder(cid, 30, an), reminder(cid, 30, bob)}

    result = await tick(db, local(2026, 11, 27))  # Friday 27/11, 08:30: 14 days before

    assert await keys(db) == {reminder(cid, d, p) for d in (30, 14) for p in (an, bob)}
    assert (result.reminders, result.escalations, result.notices, result.skipped_unreachable) == (2, 0, 0, 1)
    by_person = {m.person_id: m for m in await outbox(db) if m.key.split(":")[3] == "14"}
    vi, en = by_person[an], by_person[bob]
    assert vi.chat_id == 1 and vi.kind == "reminder" and vi.commitment_id == cid
    assert "Văn phòng Bộ (VPB)" in vi.text and f"#{cid}" in vi.text
    assert "Kế hoạch &lt;b&gt;ISO&lt;/b&gt; &amp; dự toán" in vi.text  # user text escaped
    assert "Thứ Sáu, 11/12/2026" in vi.text and "còn 14 ngày" in vi.text and "118/2009/QĐ-TTg" in vi.text
    assert "Đề nghị Quý đơn vị" in vi.text and "thời hạn theo văn bản pháp luật" in vi.text
    # the request names the date ("no later than"), as a committee's formal request does
    assert "hoàn thành nhiệm vụ sau chậm nhất ngày 11/12/2026:" in vi.text and "đúng thời hạn" not in vi.text
    assert "complete the following task no later than 11/12/2026:" in en.text
    assert "Friday, 11/12/2026" in en.text and "14 days left" in en.text
    buttons = [b["callback_data"] for row in vi.reply_markup["inline_keyboard"] for b in row]  # type: ignore[index]
    # a legal deadline: Done, progress, Remind me later, Details — no "Ask to extend" (the committee cannot move it)
    assert f"c:{cid}:done:1" in buttons and f"c:{cid}:snz:1" in buttons and f"c:{cid}:ext:1" not in buttons

    # Again, then after a restart (a new Database on the same database): nothing new.
    again = await tick(db, local(2026, 11, 27, 9))
    restarted = Database(db.url)
    try:
        after_restart = await tick(restarted, local(2026, 11, 27, 9, 1))
    finally:
        await restarted.dispose()
    assert again.queued == 0 and after_restart.queued == 0
    assert len(await outbox(db)) == 4


async def test_nothing_is_read_twice_when_nothing_is_due(db: Database) -> None:
    unit = await add_unit(db, "VPB")
    await add_person(db, 1, "An", role=Role.FOCAL, unit_id=unit)
    for n in range(5):
        await add_commitment(db, unit, title=f"Nhiệm vụ {n}", due=DUE + timedelta(days=n))
    first = await tick(db, local(2026, 11, 20, 9))
    second = await tick(db, local(2026, 11, 20, 9, 1))
    assert first.evaluated == 5 and second.evaluated == 0 and second.queued == 0


async def test_downtime_gives_one_catch_up_the_latest(db: Database) -> None:
    unit = await add_unit(db, "VPB")
    an = await add_person(db, 1, "An", role=Role.FOCAL, unit_id=unit)
    cid = await add_commitment(db, unit)
    await tick(db, local(2026, 11, 20, 9))  # the 30-days-before reminder (11/11) is the latest passed
    assert await keys(db) == {reminder(cid, 30, an)}

    # Down from 20/11 to 09/12 10:00: the 14, 7 and 3 days before reminders were missed; only the latest comes.
    result = await tick(db, local(2026, 12, 9, 10))
    assert result.reminders == 1
    assert await keys(db) == {reminder(cid, 30, an), reminder(cid, 3, an)}
    text = next(m.text for m in await outbox(db) if m.key == reminder(cid, 3, an))
    assert "còn 2 ngày" in text  # how near the deadline is on the day it is sent

    assert (await tick(db, local(2026, 12, 9, 11))).queued == 0


async def test_a_before_deadline_reminder_is_never_queued_after_the_deadline(db: Database) -> None:
    unit = await add_unit(db, "VPB")
    an = await add_person(db, 1, "An", role=Role.FOCAL, unit_id=unit)
    cid = await add_commitment(db, unit)
    await tick(db, local(2026, 12, 9, 9))  # the 3-days-before one
    # Down over the 1-day and due-day reminders; back on Saturday 12/12, after the deadline: nothing yet.
    assert (await tick(db, local(2026, 12, 12, 10))).queued == 0
    assert await keys(db) == {reminder(cid, 3, an)}
    # Monday 14/12: the first overdue reminder (Saturday's, moved to the next working day).
    result = await tick(db, local(2026, 12, 14))
    assert result.reminders == 1 and reminder(cid, -1, an) in await keys(db)
    text = next(m.text for m in await outbox(db) if m.key == reminder(cid, -1, an))
    assert "quá hạn 3 ngày" in text


async def test_done_and_cancelled_commitments_get_nothing(db: Database) -> None:
    unit = await add_unit(db, "VPB")
    an = await add_person(db, 1, "An", role=Role.FOCAL, unit_id=unit)
    await add_commitment(db, unit, title="done", status=Status.DONE)
    await add_commitment(db, unit, title="cancelled", status=Status.CANCELLED)
    open_id = await add_commitment(db, unit, title="open")
    await tick(db, local(2026, 12, 4))
    assert await keys(db) == {reminder(open_id, 7, an)}

    async with db.session() as session:  # done: the caller replans it
        await session.execute(update(Commitment).where(Commitment.id == open_id).values(status=Status.DONE))
        await replan(session, commitment_ids=[open_id])
    assert (await tick(db, local(2026, 12, 8))).queued == 0
    assert (await tick(db, local(2026, 12, 21))).queued == 0
    async with db.session() as session:
        planned = set(await session.scalars(select(Commitment.next_slot_at)))
    assert planned == {NEVER}

    async with db.session() as session:  # reopened: planned again, the latest passed reminder comes once
        await session.execute(update(Commitment).where(Commitment.id == open_id).values(status=Status.OPEN))
        await replan(session, commitment_ids=[open_id])
    result = await tick(db, local(2026, 12, 21, 9))
    assert result.reminders == 1 and reminder(open_id, -10, an) in await keys(db)


async def test_a_person_linked_later_gets_one_catch_up_per_open_commitment(db: Database) -> None:
    unit = await add_unit(db, "VPB")
    other = await add_unit(db, "VKHCN")
    an = await add_person(db, 1, "An", role=Role.FOCAL, unit_id=unit)
    first = await add_commitment(db, unit, title="một")  # 14 days before on 27/11
    second = await add_commitment(db, unit, title="hai", due=date(2026, 12, 1), kind=Kind.INTERNAL)
    third = await add_commitment(db, unit, title="ba", due=date(2026, 11, 20), kind=Kind.INTERNAL)
    await add_commitment(db, unit, title="xong", status=Status.DONE)
    elsewhere = await add_commitment(db, other, title="đơn vị khác")
    await tick(db, local(2026, 11, 27, 9))
    before = await keys(db)
    assert before == {
        reminder(first, 14, an),
        reminder(second, 3, an, date(2026, 12, 1)),
        reminder(third, -7, an, date(2026, 11, 20)),
    }

    async with db.session() as session:
        binh = await touch_person(
            session, telegram_id=2, full_name="Bình", username=None, language_code=None, now=CREATED
        )
    await link(db, binh.id, unit, Role.FOCAL, local(2026, 11, 27, 10))
    result = await tick(db, local(2026, 11, 27, 10, 1))
    assert result.reminders == 3
    assert await keys(db) - before == {
        reminder(first, 14, binh.id),
        reminder(second, 3, binh.id, date(2026, 12, 1)),
        reminder(third, -7, binh.id, date(2026, 11, 20)),
    }
    assert not any(k.startswith(f"reminder:{elsewhere}:") for k in await keys(db))
    assert (await tick(db, local(2026, 11, 27, 10, 2))).queued == 0


async def test_a_person_reachable_again_gets_the_latest_missed_reminder(db: Database) -> None:
    unit = await add_unit(db, "VPB")
    an = await add_person(db, 1, "An", role=Role.FOCAL, unit_id=unit)
    chi = await add_person(db, 2, "Chi", role=Role.FOCAL, unit_id=unit, reachable=False)
    cid = await add_commitment(db, unit)
    await tick(db, local(2026, 12, 4))
    assert await keys(db) == {reminder(cid, 7, an)}
    await set_reachable(db, chi, True)
    await tick(db, local(2026, 12, 5, 9))
    assert await keys(db) == {reminder(cid, 7, an), reminder(cid, 7, chi)}


# --- Units without a focal point -----------------------------------------------------------------------------


async def test_a_unit_without_a_reachable_focal_point_is_reported_once(db: Database) -> None:
    lonely = await add_unit(db, "TTB", "Thanh tra Bộ")
    empty = await add_unit(db, "VPC", "Vụ Pháp chế")
    gone = await add_person(db, 1, "Đã chặn bot", role=Role.FOCAL, unit_id=lonely, reachable=False)
    secretary = await add_person(db, 10, "Thư ký", role=Role.SECRETARY)
    admin = await add_person(db, 11, "Admin", role=Role.ADMIN, language="en")
    await add_person(db, 12, "Thư ký không liên lạc được", role=Role.SECRETARY, reachable=False)
    lonely_task = await add_commitment(db, lonely)
    await add_commitment(db, empty, title="khác")

    result = await tick(db, local(2026, 12, 4))
    messages = await outbox(db)
    assert result.reminders == 0 and result.notices == 2 and result.units_without_focal == 2
    assert {m.key for m in messages} == {f"nofocal:{lonely}:1:{secretary}", f"nofocal:{lonely}:1:{admin}"}
    text = next(m.text for m in messages if m.person_id == secretary)
    assert "TTB" in text and "Thanh tra Bộ" in text and "VPC" in text and "/invite &lt;mã đơn vị&gt; focal" in text
    assert "Units without a focal point" in next(m.text for m in messages if m.person_id == admin)

    # Not again at the next reminders.
    assert (await tick(db, local(2026, 12, 8))).notices == 0

    # A focal point links: they get the catch-up; once they are lost again, the secretaries hear again.
    async with db.session() as session:
        dung = await touch_person(
            session, telegram_id=2, full_name="Dũng", username=None, language_code=None, now=CREATED
        )
    await link(db, dung.id, lonely, Role.FOCAL, local(2026, 12, 8, 10))
    result = await tick(db, local(2026, 12, 8, 10, 1))
    assert result.reminders == 1 and reminder(lonely_task, 3, dung.id) in await keys(db)
    async with db.session() as session:
        flags = dict((await session.execute(select(Unit.id, Unit.no_focal_notified_at))).tuples().all())
    assert flags[lonely] is None and flags[empty] is not None

    await set_reachable(db, dung.id, False)
    result = await tick(db, local(2026, 12, 10))
    assert result.notices == 2
    assert f"nofocal:{lonely}:2:{secretary}" in await keys(db)
    assert gone not in {m.person_id for m in await outbox(db)}


# --- Escalation ---------------------------------------------------------------------------------------------


async def test_escalation_goes_to_heads_and_the_committee_once(db: Database) -> None:
    unit = await add_unit(db, "VPB", "Văn phòng Bộ")
    an = await add_person(db, 1, "Nguyễn Văn An", role=Role.FOCAL, unit_id=unit)
    head = await add_person(db, 2, "Trần Lãnh Đạo", role=Role.HEAD, unit_id=unit)
    await add_person(db, 3, "Head unreachable", role=Role.HEAD, unit_id=unit, reachable=False)
    secretary = await add_person(db, 4, "Thư ký", role=Role.SECRETARY)
    admin = await add_person(db, 5, "Admin", role=Role.ADMIN, language="en")
    cid = await add_commitment(db, unit)
    await tick(db, local(2026, 12, 17))

    result = await tick(db, local(2026, 12, 18))  # 7 days overdue
    assert result.escalations == 3 and result.escalated == 1
    assert reminder(cid, -7, an) in await keys(db)
    messages = {m.person_id: m for m in await outbox(db) if m.kind == "escalation"}
    assert set(messages) == {head, secretary, admin}
    assert all(m.key.startswith("escalation:") and m.commitment_id == cid for m in messages.values())
    assert messages[head].reply_markup  # one task: the detailed alert, with its buttons
    assert "quá hạn 7 ngày" in messages[head].text and "Nguyễn Văn An" in messages[head].text
    assert "Văn phòng Bộ (VPB)" in messages[secretary].text
    assert "7 days overdue" in messages[admin].text
    # one text for the committee (chase the unit), one for the heads (direct it), never both in one
    assert (
        "Kính gửi Tổ thư ký Ban chỉ đạo ISO: nhiệm vụ sau của <b>Văn phòng Bộ (VPB)</b> đã quá hạn 7 ngày"
        in messages[secretary].text
    )
    assert "Đề nghị đồng chí đôn đốc đơn vị khẩn trương hoàn thành" in messages[secretary].text
    assert "Lãnh đạo" not in messages[secretary].text
    assert (
        "Kính gửi Lãnh đạo <b>Văn phòng Bộ (VPB)</b>: nhiệm vụ sau của đơn vị đã quá hạn 7 ngày" in messages[head].text
    )
    assert "Đề nghị đồng chí chỉ đạo đơn vị khẩn trương hoàn thành" in messages[head].text
    assert "Tổ thư ký" not in messages[head].text

    # Once: not at the next ticks, not to a head linked later.
    async with db.session() as session:
        late = await touch_person(
            session, telegram_id=6, full_name="Head 2", username=None, language_code=None, now=CREATED
        )
    await link(db, late.id, unit, Role.HEAD, local(2026, 12, 18, 10))
    assert (await tick(db, local(2026, 12, 18, 10, 1))).escalations == 0
    result = await tick(db, local(2026, 12, 21))
    assert result.escalations == 0 and result.reminders == 1
    assert len([m for m in await outbox(db) if m.kind == "escalation"]) == 3


async def test_an_escalation_missed_while_down_comes_once(db: Database) -> None:
    unit = await add_unit(db, "VPB")
    an = await add_person(db, 1, "An", role=Role.FOCAL, unit_id=unit)
    head = await add_person(db, 2, "Head", role=Role.HEAD, unit_id=unit)
    cid = await add_commitment(db, unit, due=date(2026, 12, 1), kind=Kind.INTERNAL)
    result = await tick(db, local(2027, 1, 20))  # first tick 50 days after the deadline
    messages = await outbox(db)
    assert {m.key for m in messages if m.kind == "reminder"} == {reminder(cid, -49, an, date(2026, 12, 1))}
    assert [(m.person_id, m.commitment_id) for m in messages if m.kind == "escalation"] == [(head, cid)]
    assert result.escalations == 1 and result.reminders == 1
    assert (await tick(db, local(2027, 1, 20, 9))).escalations == 0


async def _overdue_tasks(db: Database, unit: int, count: int, due: date = DUE) -> list[int]:
    async with db.session() as session:
        rows = [
            Commitment(
                unit_id=unit,
                title=f"Nhiệm vụ {n}",
                kind=Kind.INTERNAL,
                due_date=due,
                created_at=CREATED,
                updated_at=CREATED,
            )
            for n in range(count)
        ]
        session.add_all(rows)
        await session.flush()
        return [row.id for row in rows]


def _listed(text: str, ids: list[int]) -> list[int]:
    return [cid for cid in ids if f"#{cid} /task_{cid} · " in text]


async def test_escalations_are_one_message_per_recipient_with_at_most_30_listed(db: Database) -> None:
    vpb = await add_unit(db, "VPB", "Văn phòng Bộ")
    ttb = await add_unit(db, "TTB", "Thanh tra Bộ")
    await add_person(db, 1, "An", role=Role.FOCAL, unit_id=vpb)
    head_vpb = await add_person(db, 2, "Lãnh đạo VPB", role=Role.HEAD, unit_id=vpb)
    head_ttb = await add_person(db, 3, "Lãnh đạo TTB", role=Role.HEAD, unit_id=ttb, language="en")
    secretary = await add_person(db, 4, "Thư ký", role=Role.SECRETARY)
    admin = await add_person(db, 5, "Admin", role=Role.ADMIN, language="en")
    many = await _overdue_tasks(db, vpb, 35)
    few = await _overdue_tasks(db, ttb, 2, due=date(2026, 12, 4))  # the most overdue: listed first

    result = await tick(db, local(2026, 12, 18), batch_size=10)  # several batches, one set of messages
    alerts = {m.person_id: m for m in await outbox(db) if m.kind == "escalation"}
    assert (result.escalated, result.escalations) == (37, 4)
    assert set(alerts) == {secretary, admin, head_vpb, head_ttb}
    assert all(m.commitment_id is None and m.reply_markup is None for m in alerts.values())

    text = alerts[secretary].text
    assert "Cảnh báo nhiệm vụ quá hạn: 37 nhiệm vụ" in text and "… và 7 nhiệm vụ khác — /overdue" in text
    assert _listed(text, few) == few and len(_listed(text, many)) == 28  # 30 listed in all
    assert text.index(f"#{few[0]} /task_{few[0]} · ") < text.index(f"#{many[0]} /task_{many[0]} · ")
    assert "… and 7 more — /overdue" in alerts[admin].text
    # each head: their own unit only
    assert len(_listed(alerts[head_vpb].text, many)) == 30 and not _listed(alerts[head_vpb].text, few)
    head_text = alerts[head_vpb].text
    # a head is addressed as the unit's leadership and pointed to /tasks (the committee's /overdue is not theirs)
    assert "Kính gửi Lãnh đạo <b>Văn phòng Bộ (VPB)</b>:" in head_text and "Tổ thư ký" not in head_text
    assert "… và 5 nhiệm vụ khác — /tasks VPB" in head_text and "/overdue" not in head_text
    assert "Kính gửi Tổ thư ký Ban chỉ đạo ISO:" in text and "Đề nghị đồng chí đôn đốc các đơn vị" in text
    assert _listed(alerts[head_ttb].text, few) == few and "Overdue task alert: 2 tasks" in alerts[head_ttb].text
    assert len(alerts[secretary].text) < 4096

    # Once: the next tick and a restart (another process on the same database) find nothing new.
    assert (await tick(db, local(2026, 12, 18, 8, 31))).escalations == 0
    again = Database(db.url)
    try:
        assert (await tick(again, local(2026, 12, 21))).escalations == 0
    finally:
        await again.dispose()
    assert len([m for m in await outbox(db) if m.kind == "escalation"]) == 4


async def test_a_head_who_is_also_a_secretary_gets_one_message(db: Database) -> None:
    unit = await add_unit(db, "VPB")
    both = await add_person(db, 1, "Thư ký và lãnh đạo", role=Role.HEAD, unit_id=unit)
    async with db.session() as session:
        session.add(Membership(person_id=both, unit_id=None, role=Role.SECRETARY, created_at=CREATED))
    await _overdue_tasks(db, unit, 3)
    await tick(db, local(2026, 12, 18))
    assert [m.person_id for m in await outbox(db) if m.kind == "escalation"] == [both]


async def test_a_tick_that_stops_before_its_escalations_leaves_them_to_the_next(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scheduler import planner

    unit = await add_unit(db, "VPB")
    await add_person(db, 1, "An", role=Role.FOCAL, unit_id=unit)
    secretary = await add_person(db, 4, "Thư ký", role=Role.SECRETARY)
    ids = await _overdue_tasks(db, unit, 3)
    original = planner._notify_escalations

    async def crash(*_args: object) -> None:
        raise RuntimeError("killed mid-tick")

    monkeypatch.setattr(planner, "_notify_escalations", crash)
    with pytest.raises(RuntimeError):
        await tick(db, local(2026, 12, 18))
    assert not [m for m in await outbox(db) if m.kind == "escalation"]  # the reminders went; the alert not yet
    assert len([m for m in await outbox(db) if m.kind == "reminder"]) == 3

    monkeypatch.setattr(planner, "_notify_escalations", original)
    result = await tick(db, local(2026, 12, 18, 8, 31))  # the next tick (after a restart)
    alerts = [m for m in await outbox(db) if m.kind == "escalation"]
    assert (result.escalated, result.reminders) == (3, 0)
    assert [m.person_id for m in alerts] == [secretary] and _listed(alerts[0].text, ids) == ids
    assert (await tick(db, local(2026, 12, 18, 8, 32))).escalations == 0
    async with db.session() as session:
        slots = set(await session.scalars(select(Commitment.next_slot_at)))
    assert all(at is not None and at > local(2026, 12, 19) for at in slots)  # back to their real next slot


async def test_no_focal_units_are_one_message_with_at_most_30_listed(db: Database) -> None:
    secretary = await add_person(db, 10, "Thư ký", role=Role.SECRETARY)
    for n in range(40):
        unit = await add_unit(db, f"U{n:02d}", f"Đơn vị {n}")
        await add_commitment(db, unit, title=f"Nhiệm vụ {n}")
    result = await tick(db, local(2026, 12, 4), batch_size=7)
    notices = [m for m in await outbox(db) if m.kind == "no_focal"]
    assert (result.units_without_focal, result.notices) == (40, 1)
    assert [m.person_id for m in notices] == [secretary]
    assert len([n for n in range(40) if f"<b>U{n:02d}</b>" in notices[0].text]) == 30
    assert "… và 10 đơn vị khác" in notices[0].text


async def test_people_marked_unreachable_are_one_notice_per_secretary_at_the_next_tick(db: Database) -> None:
    from storage.members import mark_unreachable

    vpb = await add_unit(db, "VPB")
    ttb = await add_unit(db, "TTB")
    gone = [
        await add_person(db, 100 + n, f"Người {n}", role=Role.FOCAL, unit_id=vpb if n % 2 else ttb) for n in range(33)
    ]
    back = await add_person(db, 200, "Quay lại", role=Role.FOCAL, unit_id=vpb)
    secretary = await add_person(db, 10, "Thư ký", role=Role.SECRETARY)
    admin = await add_person(db, 11, "Admin", role=Role.ADMIN, language="en")
    now = local(2026, 11, 20, 10)
    async with db.session() as session:
        for person in [*gone, back]:
            assert await mark_unreachable(session, person_id=person, now=now, reason="403")
        assert not await mark_unreachable(session, person_id=gone[0], now=now, reason="403")  # already
    assert not [m for m in await outbox(db) if m.kind == "unreachable"]  # nothing sent by marking
    async with db.session() as session:
        await touch_person(session, telegram_id=200, full_name="Quay lại", username=None, language_code=None, now=now)

    result = await tick(db, now)
    notices = {m.person_id: m for m in await outbox(db) if m.kind == "unreachable"}
    assert (result.unreachable, result.notices) == (33, 2) and set(notices) == {secretary, admin}
    text = notices[secretary].text
    assert "Không còn gửi được tin nhắn Telegram cho 33 người" in text and "… và 3 người khác — /units" in text
    assert text.count("• ") == 30 and "Quay lại" not in text and "(TTB)" in text
    assert "People who can no longer be reached: 33" in notices[admin].text

    assert (await tick(db, now + timedelta(minutes=1))).notices == 0  # told once
    async with db.session() as session:
        await touch_person(session, telegram_id=100, full_name="Người 0", username=None, language_code=None, now=now)
        await mark_unreachable(session, person_id=gone[0], now=now, reason="blocked the bot")  # again
    await tick(db, now + timedelta(minutes=2))
    latest = [m for m in await outbox(db) if m.kind == "unreachable" and m.person_id == secretary]
    assert len(latest) == 2 and "Người 0 (TTB)" in latest[1].text and "• " not in latest[1].text


# --- Calendar, settings, recurrence ------------------------------------------------------------------------


async def test_a_reminder_falling_on_saturday_is_queued_on_friday(db: Database) -> None:
    unit = await add_unit(db, "VPB")
    an = await add_person(db, 1, "An", role=Role.FOCAL, unit_id=unit)
    # Internal, due Tuesday 15/12/2026: 3 days before is Saturday 12/12, moved to Friday 11/12.
    cid = await add_commitment(db, unit, due=date(2026, 12, 15), kind=Kind.INTERNAL)
    await tick(db, local(2026, 12, 8))  # 7 days before
    assert (await tick(db, local(2026, 12, 11, 8, 29))).queued == 0
    friday = await tick(db, local(2026, 12, 11))
    assert friday.reminders == 1 and reminder(cid, 3, an, date(2026, 12, 15)) in await keys(db)
    assert (await tick(db, local(2026, 12, 12, 9))).queued == 0  # nothing on Saturday
    assert (await tick(db, local(2026, 12, 13, 9))).queued == 0  # nor Sunday


async def test_changed_settings_replan_everything(db: Database) -> None:
    unit = await add_unit(db, "VPB")
    an = await add_person(db, 1, "An", role=Role.FOCAL, unit_id=unit)
    cid = await add_commitment(db, unit)
    await tick(db, local(2026, 12, 4))
    earlier = ReminderPolicy(reminder_time=time(7, 0))
    assert (await tick(db, local(2026, 12, 8, 7, 0))).queued == 0  # 08:30 settings: not yet
    result = await tick(db, local(2026, 12, 8, 7, 0), policy=earlier)
    assert result.replanned_all and result.reminders == 1 and reminder(cid, 3, an) in await keys(db)


async def test_completing_a_recurring_occurrence_creates_the_next(db: Database) -> None:
    unit = await add_unit(db, "VPB")
    an = await add_person(db, 1, "An", role=Role.FOCAL, unit_id=unit)
    rule = "FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=15"
    cid = await add_commitment(
        db,
        unit,
        title="Báo cáo tình hình áp dụng HTQLCL",
        due=date(2026, 12, 15),
        kind=Kind.LEGAL,
        legal_basis="19/2014/QĐ-TTg",
        source="1131/TB-BKHCN",
        recurrence=rule,
        ref="BC-2026",
    )
    plain = await add_commitment(db, unit, title="một lần")
    done_at = local(2026, 12, 14, 15)
    async with db.session() as session:
        commitment = await session.get(Commitment, cid)
        assert commitment is not None
        commitment.status = Status.DONE
        following = await complete_occurrence(session, commitment, done_at, actor_id=an)
        again = await complete_occurrence(session, commitment, done_at, actor_id=an)
        single = await session.get(Commitment, plain)
        assert single is not None
        assert await complete_occurrence(session, single, done_at) is None
        await replan(session, commitment_ids=[cid])
    assert following is not None and again is not None and again.id == following.id
    async with db.session() as session:
        rows = list(await session.scalars(select(Commitment).where(Commitment.previous_id == cid)))
        created = list(
            await session.scalars(select(Event).where(Event.commitment_id == following.id, Event.action == "created"))
        )
    assert len(rows) == 1
    nxt = rows[0]
    assert (nxt.unit_id, nxt.title, nxt.kind, nxt.legal_basis, nxt.source, nxt.recurrence) == (
        unit,
        "Báo cáo tình hình áp dụng HTQLCL",
        Kind.LEGAL,
        "19/2014/QĐ-TTg",
        "1131/TB-BKHCN",
        rule,
    )
    assert nxt.due_date == date(2027, 12, 15) and nxt.status == Status.OPEN and nxt.ref is None
    assert len(created) == 1 and created[0].actor_id == an and created[0].new_value == "2027-12-15"

    # The next occurrence has its own reminders: 30 days before 15/12/2027 is Monday 15/11/2027.
    await tick(db, local(2027, 11, 15))
    assert reminder(nxt.id, 30, an, date(2027, 12, 15)) in await keys(db)


# --- Batches and concurrency -------------------------------------------------------------------------------


async def _register(db: Database, units: int, per_unit: int) -> tuple[set[str], list[int], int]:
    """Units with two focal points each (every fifth unit has none) and a secretary.

    Returns the keys of the reminders and escalations due on 11/12/2026, the units without focal point, and
    the secretary.
    """
    secretary = await add_person(db, 9000, "Thư ký", role=Role.SECRETARY)
    expected: set[str] = set()
    orphans: list[int] = []
    for u in range(units):
        unit = await add_unit(db, f"U{u:03d}")
        focal = []
        if u % 5:
            focal = [await add_person(db, 100 * u + k, f"F{u}-{k}", role=Role.FOCAL, unit_id=unit) for k in (1, 2)]
        else:
            orphans.append(unit)
        async with db.session() as session:
            session.add_all(
                Commitment(
                    unit_id=unit,
                    title=f"Nhiệm vụ {n}",
                    kind=Kind.INTERNAL,
                    due_date=date(2026, 12, 4),  # 7 days overdue on 11/12: overdue reminder and escalation
                    created_at=CREATED,
                    updated_at=CREATED,
                )
                for n in range(per_unit)
            )
            await session.flush()
            ids = list(await session.scalars(select(Commitment.id).where(Commitment.unit_id == unit)))
        for cid in ids:
            expected |= {reminder(cid, -7, p, date(2026, 12, 4)) for p in focal}
    return expected, orphans, secretary


async def _check_escalations(db: Database, results: list[PlanResult], secretary: int, count: int) -> None:
    """Every commitment escalated once, in one grouped message per tick that escalated any."""
    messages = [m for m in await outbox(db) if m.kind == "escalation"]
    assert sum(r.escalated for r in results) == count
    assert len(messages) == sum(r.escalations for r in results) == len([r for r in results if r.escalated])
    assert {m.person_id for m in messages} == {secretary}
    async with db.session() as session:
        open_ = list((await session.execute(select(Commitment.escalated_for, Commitment.due_date))).tuples())
    assert len(open_) == count and all(escalated == due for escalated, due in open_)


async def _check_no_focal(db: Database, orphans: list[int], secretary: int) -> None:
    """Each unit without focal point reported once, in one or more notices (one per tick that met it)."""
    notices = [m for m in await outbox(db) if m.kind == "no_focal"]
    assert notices and {m.person_id for m in notices} == {secretary}
    assert {int(m.key.split(":")[1]) for m in notices} <= set(orphans)
    async with db.session() as session:
        counts = dict((await session.execute(select(Unit.id, Unit.no_focal_notices))).tuples().all())
    assert {u for u, n in counts.items() if n} == set(orphans) and set(counts[u] for u in orphans) == {1}
    listed = [code for m in notices for code in (f"U{i:03d}" for i in range(100)) if f"<b>{code}</b>" in m.text]
    assert len(listed) == len(set(listed)) == len(orphans)


async def test_small_batches_and_a_row_limit_plan_everything_once(db: Database) -> None:
    expected, orphans, secretary = await _register(db, units=6, per_unit=7)
    now = local(2026, 12, 11)
    first = await tick(db, now, batch_size=5, max_rows=20)
    assert first.more and first.evaluated == 20
    rest = await tick(db, now, batch_size=5)
    assert not rest.more and first.evaluated + rest.evaluated == 42
    assert {k for k in await keys(db) if k.startswith("reminder:")} == expected
    assert first.reminders + rest.reminders == len(expected)
    await _check_no_focal(db, orphans, secretary)
    await _check_escalations(db, [first, rest], secretary, 42)
    listed = [m.text.count(" · ") for m in await outbox(db) if m.kind == "escalation"]
    assert listed == [20, 22]  # every task named, each once


async def test_concurrent_ticks_do_not_duplicate(db: Database) -> None:
    expected, orphans, secretary = await _register(db, units=10, per_unit=20)
    others = [Database(db.url) for _ in range(2)]
    try:
        results = await asyncio.gather(*(tick(d, local(2026, 12, 11), batch_size=17) for d in [db, *others]))
    finally:
        for other in others:
            await other.dispose()
    assert {k for k in await keys(db) if k.startswith("reminder:")} == expected
    assert sum(r.reminders for r in results) == len(expected)
    await _check_escalations(db, list(results), secretary, 200)
    assert sum(r.evaluated for r in results) >= 200
    async with db.session() as session:
        count = await session.scalar(select(func.count()).select_from(OutboxMessage))
    assert count == len(await outbox(db))  # no duplicates by construction; every row accounted for below
    assert sum(r.notices for r in results) == len([m for m in await outbox(db) if m.kind == "no_focal"])
    await _check_no_focal(db, orphans, secretary)


async def test_a_naive_now_is_refused(db: Database) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        await tick(db, datetime(2026, 12, 11, 8, 30))


async def test_bulk_queueing_writes_the_rows_storage_outbox_writes(db: Database) -> None:
    now = local(2026, 12, 11)
    message = Outgoing(key="a", kind="reminder", chat_id=7, text="<b>x</b>", reply_markup={"inline_keyboard": []})
    copy = Outgoing(**{**message.__dict__, "key": "b"})
    async with db.session() as session:
        assert await enqueue(session, [message], now=now) == 1
        assert await enqueue_many(session, [copy, copy, message], now=now) == 1  # "a" exists, "b" once
    rows = [row_dict(m) for m in await outbox(db)]
    for row in rows:
        del row["id"], row["key"]
    assert len(rows) == 2 and rows[0] == rows[1]


# --- A row the policy cannot plan ----------------------------------------------------------------------------


async def test_a_commitment_that_cannot_be_planned_is_set_aside_and_the_rest_go_on(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    # A due date near year 9999 (in the database from before dates were limited to 2000–2100) makes the
    # policy's date arithmetic overflow: it must not stop the reminders of every other commitment.
    unit = await add_unit(db, "VPB")
    an = await add_person(db, 1, "An", role=Role.FOCAL, unit_id=unit)
    good = [await add_commitment(db, unit, title=f"Nhiệm vụ {n}") for n in range(2)]
    bad = await add_commitment(db, unit, title="Gõ nhầm năm", due=date(9999, 12, 31))
    later = await add_commitment(db, unit, title="Nhiệm vụ sau")

    result = await tick(db, local(2026, 11, 27), batch_size=2)  # 14 days before DUE; the bad row shares a batch

    assert result.failed == 1 and result.evaluated == 4
    assert await keys(db) == {reminder(cid, 14, an) for cid in (*good, later)}
    async with db.session() as session:
        assert await session.scalar(select(Commitment.next_slot_at).where(Commitment.id == bad)) == NEVER
    assert f"commitment #{bad}" in caplog.text
    # Set aside: not read again by the next ticks, until it changes.
    assert (await tick(db, local(2026, 11, 27, 9))).evaluated == 0
    async with db.session() as session:
        await session.execute(update(Commitment).where(Commitment.id == bad).values(due_date=DUE))
        await replan(session, commitment_ids=[bad])
    fixed = await tick(db, local(2026, 11, 27, 9, 1))
    assert (fixed.failed, fixed.reminders) == (0, 1)


async def test_the_schedule_leaves_out_a_commitment_that_cannot_be_planned(db: Database) -> None:
    unit = await add_unit(db, "VPB")
    await add_person(db, 1, "An", role=Role.FOCAL, unit_id=unit)
    good = await add_commitment(db, unit)
    await add_commitment(db, unit, title="Gõ nhầm năm", due=date(9999, 12, 31))

    planned = await planned_reminders(
        db, policy=POLICY, calendar=CALENDAR, start=local(2026, 11, 26), end=local(2026, 11, 28)
    )

    assert [(p.commitment_id, p.offset) for p in planned] == [(good, 14)]
