"""Status changes on SQLite and PostgreSQL: one state and one event per real change, even at once."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from storage.db import Database
from storage.models import Commitment, Event, ExtensionStatus, Kind, Status, Unit
from storage.status import Outcome, decide_extension, mark_done, reopen, request_extension, set_progress

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


async def _commitment(db: Database, now, *, kind: Kind = Kind.INTERNAL, recurrence: str = "") -> int:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        unit = Unit(code="VPB", code_key="VPB", name="Văn phòng Bộ", created_at=now)
        session.add(unit)
        await session.flush()
        item = Commitment(
            unit_id=unit.id,
            title="Báo cáo",
            kind=kind,
            due_date=date(2026, 12, 15),
            created_at=now,
            updated_at=now,
            recurrence=recurrence,
        )
        session.add(item)
        await session.flush()
        return item.id


async def _events(db: Database, action: str) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(Event).where(Event.action == action)) or 0)


async def test_concurrent_done_makes_one_change(db: Database, now) -> None:  # type: ignore[no-untyped-def]
    cid = await _commitment(db, now)

    async def press() -> Outcome:
        async with db.session() as session:
            item = await session.get(Commitment, cid)
            assert item is not None
            await asyncio.sleep(0.01)  # both have read version 1 before either writes
            change = await mark_done(session, commitment=item, actor_id=None, now=now, tz=TZ, expected_version=1)
            return change.outcome

    outcomes = await asyncio.gather(*(press() for _ in range(4)), return_exceptions=True)
    changed = [o for o in outcomes if o is Outcome.CHANGED]
    assert len(changed) == 1, outcomes
    assert await _events(db, "done") == 1


async def test_stale_version_changes_nothing(db: Database, now) -> None:  # type: ignore[no-untyped-def]
    cid = await _commitment(db, now)
    async with db.session() as session:
        item = await session.get(Commitment, cid)
        assert item is not None
        assert (await set_progress(session, commitment=item, percent=30, actor_id=None, now=now)).changed
    async with db.session() as session:
        item = await session.get(Commitment, cid)
        assert item is not None
        stale = await set_progress(session, commitment=item, percent=60, actor_id=None, now=now, expected_version=1)
        assert stale.outcome is Outcome.STALE and item.progress == 30


async def test_done_late_reopen_and_recurrence(db: Database, now) -> None:  # type: ignore[no-untyped-def]
    cid = await _commitment(db, now, recurrence="FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=15")
    late = now + timedelta(days=30)
    async with db.session() as session:
        item = await session.get(Commitment, cid)
        assert item is not None
        change = await mark_done(session, commitment=item, actor_id=None, now=late, tz=TZ)
    assert change.done_late and change.next_occurrence is not None
    assert change.next_occurrence.due_date == date(2027, 12, 15)
    async with db.session() as session:
        item = await session.get(Commitment, cid)
        assert item is not None
        assert (await reopen(session, commitment=item, actor_id=None, now=late)).changed
        assert item.status == Status.OPEN and item.done_at is None
    async with db.session() as session:
        item = await session.get(Commitment, cid)
        assert item is not None
        again = await mark_done(session, commitment=item, actor_id=None, now=late, tz=TZ)
        assert again.changed and again.next_occurrence is None  # the next occurrence exists already
        total = await session.scalar(select(func.count()).select_from(Commitment))
    assert total == 2
    assert await _events(db, "done_late") == 2 and await _events(db, "reopened") == 1


async def test_first_extension_decision_wins(db: Database, now) -> None:  # type: ignore[no-untyped-def]
    cid = await _commitment(db, now)
    today = now.astimezone(TZ).date()
    async with db.session() as session:
        item = await session.get(Commitment, cid)
        assert item is not None
        asked = await request_extension(
            session,
            commitment=item,
            new_due=date(2027, 1, 15),
            reason="chờ số liệu",
            actor_id=None,
            now=now,
            today=today,
        )
        assert asked.changed and asked.request is not None
        request_id = asked.request.id
        again = await request_extension(
            session, commitment=item, new_due=date(2027, 1, 20), reason="x", actor_id=None, now=now, today=today
        )
        assert again.outcome is Outcome.PENDING_EXISTS

    async def decide(approve: bool) -> Outcome:
        async with db.session() as session:
            return (
                await decide_extension(session, request_id=request_id, approve=approve, actor_id=None, now=now)
            ).outcome

    outcomes = await asyncio.gather(decide(True), decide(False), return_exceptions=True)
    assert sorted(o.value for o in outcomes if isinstance(o, Outcome)) == ["changed", "decided"], outcomes
    async with db.session() as session:
        item = await session.get(Commitment, cid)
        from storage.models import ExtensionRequest

        request = await session.get(ExtensionRequest, request_id)
    assert request is not None and item is not None
    assert (request.status == ExtensionStatus.APPROVED) == (item.due_date == date(2027, 1, 15))
    assert await _events(db, "extension_approved") + await _events(db, "extension_rejected") == 1


async def test_legal_deadlines_cannot_be_extended(db: Database, now) -> None:  # type: ignore[no-untyped-def]
    cid = await _commitment(db, now, kind=Kind.LEGAL)
    async with db.session() as session:
        item = await session.get(Commitment, cid)
        assert item is not None
        change = await request_extension(
            session,
            commitment=item,
            new_due=date(2027, 1, 15),
            reason="x",
            actor_id=None,
            now=now,
            today=now.date(),
        )
    assert change.outcome is Outcome.LEGAL
    assert await _events(db, "extension_requested") == 0
