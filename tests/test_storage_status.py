"""Status changes on SQLite and PostgreSQL: one state and one event per real change, even at once."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database
from storage.models import (
    Commitment,
    Event,
    ExtensionRequest,
    ExtensionStatus,
    Kind,
    Membership,
    OutboxMessage,
    Person,
    Role,
    Status,
    Unit,
)
from storage.outbox import Outgoing
from storage.planning import claim_batch
from storage.status import (
    Change,
    EvidenceFile,
    Outcome,
    add_commitment,
    add_note,
    decide_extension,
    mark_done,
    reopen,
    request_extension,
    set_progress,
)

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


# --- The service layer: every change writes its event and replans, in one transaction ----------------------

LATER = datetime(2026, 12, 1, tzinfo=UTC)  # a planned slot: "nothing to do before then"


async def _planned(db: Database, cid: int) -> None:
    """As if the planner had seen the commitment: its next slot is set, so it is not up for planning."""
    async with db.session() as session:
        await session.execute(update(Commitment).where(Commitment.id == cid).values(next_slot_at=LATER))


async def _slot(db: Database, cid: int) -> datetime | None:
    async with db.session() as session:
        return await session.scalar(select(Commitment.next_slot_at).where(Commitment.id == cid))


async def _up_for_planning(db: Database, now: datetime) -> set[int]:
    async with db.session() as session:
        return {row.id for row in await claim_batch(session, pending=True, now=now, limit=100)}


async def _ask(session: AsyncSession, item: Commitment, now: datetime, **extra: object) -> Change:
    return await request_extension(
        session,
        commitment=item,
        new_due=date(2027, 1, 15),
        reason="chờ số liệu",
        actor_id=None,
        now=now,
        today=now.astimezone(TZ).date(),
        **extra,  # type: ignore[arg-type]
    )


async def _done(session: AsyncSession, item: Commitment, now: datetime) -> Change:
    return await mark_done(session, commitment=item, actor_id=None, now=now, tz=TZ)


async def _progress(session: AsyncSession, item: Commitment, now: datetime) -> Change:
    return await set_progress(session, commitment=item, percent=40, actor_id=None, now=now)


async def _note(session: AsyncSession, item: Commitment, now: datetime) -> Change:
    return await add_note(session, commitment=item, text="đang chờ ký", actor_id=None, now=now)


async def _evidence(session: AsyncSession, item: Commitment, now: datetime) -> Change:
    proof = EvidenceFile(media="document", file_id="F1", file_unique_id="U1", file_name="bao-cao.pdf")
    return await mark_done(session, commitment=item, actor_id=None, now=now, tz=TZ, evidence=proof)


SERVICES = {
    "done": (_done, "done"),
    "progress": (_progress, "progress"),
    "note": (_note, "note"),
    "evidence": (_evidence, "evidence"),
    "extension_requested": (_ask, "extension_requested"),
}


@pytest.mark.parametrize("name", sorted(SERVICES))
async def test_each_change_writes_its_event_and_replans(db: Database, now, name: str) -> None:  # type: ignore[no-untyped-def]
    service, action = SERVICES[name]
    cid = await _commitment(db, now)
    await _planned(db, cid)
    assert cid not in await _up_for_planning(db, now)
    async with db.session() as session:
        item = await session.get(Commitment, cid)
        assert item is not None
        assert (await service(session, item, now)).changed
    assert await _events(db, action) == 1
    assert await _slot(db, cid) is None
    assert cid in await _up_for_planning(db, now)  # the planner picks it up at its next tick


async def test_reopen_and_decisions_replan(db: Database, now) -> None:  # type: ignore[no-untyped-def]
    cid = await _commitment(db, now)
    async with db.session() as session:
        item = await session.get(Commitment, cid)
        assert item is not None
        await _done(session, item, now)
    await _planned(db, cid)
    async with db.session() as session:
        item = await session.get(Commitment, cid)
        assert item is not None
        assert (await reopen(session, commitment=item, actor_id=None, now=now)).changed
    assert await _events(db, "reopened") == 1 and await _slot(db, cid) is None

    for approve, new_due in ((True, date(2027, 1, 15)), (False, date(2027, 2, 15))):
        async with db.session() as session:
            item = await session.get(Commitment, cid)
            assert item is not None
            asked = await request_extension(
                session, commitment=item, new_due=new_due, reason="x", actor_id=None, now=now, today=now.date()
            )
            assert asked.request is not None
            request_id = asked.request.id
        await _planned(db, cid)
        async with db.session() as session:
            change = await decide_extension(session, request_id=request_id, approve=approve, actor_id=None, now=now)
            assert change.changed
        action = "extension_approved" if approve else "extension_rejected"
        assert await _events(db, action) == 1 and await _slot(db, cid) is None, action
    async with db.session() as session:
        item = await session.get(Commitment, cid)
    assert item is not None and item.due_date == date(2027, 1, 15)  # approved moved it, rejected did not


async def test_a_change_that_fails_leaves_neither_event_nor_replan(db: Database, now) -> None:  # type: ignore[no-untyped-def]
    cid = await _commitment(db, now)
    await _planned(db, cid)
    with pytest.raises(RuntimeError):
        async with db.session() as session:
            item = await session.get(Commitment, cid)
            assert item is not None
            assert (await _done(session, item, now)).changed
            raise RuntimeError("the reply could not be built")  # anything after the service, same transaction
    assert await _events(db, "done") == 0
    assert await _slot(db, cid) == LATER
    async with db.session() as session:
        item = await session.get(Commitment, cid)
    assert item is not None and item.status == Status.OPEN


async def test_refused_change_writes_no_event(db: Database, now) -> None:  # type: ignore[no-untyped-def]
    cid = await _commitment(db, now)
    async with db.session() as session:
        item = await session.get(Commitment, cid)
        assert item is not None
        assert (await reopen(session, commitment=item, actor_id=None, now=now)).outcome is Outcome.NOT_DONE
    assert await _events(db, "reopened") == 0


async def test_done_again_keeps_the_file_but_changes_nothing_else(db: Database, now) -> None:  # type: ignore[no-untyped-def]
    cid = await _commitment(db, now)
    async with db.session() as session:
        item = await session.get(Commitment, cid)
        assert item is not None
        await _done(session, item, now)
    async with db.session() as session:
        item = await session.get(Commitment, cid)
        assert item is not None
        change = await _evidence(session, item, now)
    assert change.outcome is Outcome.ALREADY_DONE and change.evidence is not None
    assert await _events(db, "done") == 1 and await _events(db, "evidence") == 1


async def test_add_commitment_by_code_is_up_for_planning(db: Database, now) -> None:  # type: ignore[no-untyped-def]
    await _commitment(db, now)
    async with db.session() as session:
        missing = await add_commitment(
            session,
            unit_code="XYZ",
            title="x",
            kind=Kind.INTERNAL,
            due=date(2027, 1, 1),
            legal_basis="",
            actor_id=None,
            now=now,
        )
        added = await add_commitment(
            session,
            unit_code="vpb",
            title="Kế hoạch 2027",
            kind=Kind.INTERNAL,
            due=date(2027, 1, 1),
            legal_basis="",
            actor_id=None,
            now=now,
        )
    assert missing.outcome is Outcome.NOT_FOUND
    assert added.changed and added.commitment is not None and added.unit is not None and added.unit.code == "VPB"
    assert await _events(db, "created") == 1
    assert added.commitment.id in await _up_for_planning(db, now)


async def test_extension_notices_go_in_the_same_transaction(db: Database, now) -> None:  # type: ignore[no-untyped-def]
    cid = await _commitment(db, now)
    async with db.session() as session:
        secretary = Person(telegram_id=7, full_name="Thư ký", reachable=True, has_started=True, created_at=now)
        asker = Person(telegram_id=8, full_name="Đầu mối", reachable=True, has_started=True, created_at=now)
        session.add_all([secretary, asker])
        await session.flush()
        session.add(
            Membership(person_id=secretary.id, unit_id=None, role=Role.SECRETARY, origin="config", created_at=now)
        )
        asker_id = asker.id

    def to_committee(request: ExtensionRequest, people: Sequence[Person]) -> list[Outgoing]:
        return [
            Outgoing(key=f"extension:{request.id}:{p.id}", kind="extension_request", chat_id=p.telegram_id)
            for p in people
        ]

    def to_requester(request: ExtensionRequest, commitment: Commitment, person: Person, reason: str) -> Outgoing:
        return Outgoing(key=f"extension-decision:{request.id}", kind="decision", chat_id=person.telegram_id)

    async with db.session() as session:
        item = await session.get(Commitment, cid)
        assert item is not None
        asked = await request_extension(
            session,
            commitment=item,
            new_due=date(2027, 1, 15),
            reason="chờ số liệu",
            actor_id=asker_id,
            now=now,
            today=now.astimezone(TZ).date(),
            notices=to_committee,
        )
        assert asked.request is not None
        request_id = asked.request.id
    async with db.session() as session:
        decided = await decide_extension(
            session, request_id=request_id, approve=True, actor_id=None, now=now, notice=to_requester
        )
        again = await decide_extension(
            session, request_id=request_id, approve=False, actor_id=None, now=now, notice=to_requester
        )
    assert decided.changed and decided.unit is not None and decided.unit.code == "VPB"
    assert again.outcome is Outcome.DECIDED
    async with db.session() as session:
        chats = sorted((await session.execute(select(OutboxMessage.kind, OutboxMessage.chat_id))).tuples())
    assert chats == [("decision", 8), ("extension_request", 7)]
