"""Fixing and cancelling on SQLite and PostgreSQL: /edit, /close and /reopen, Undo of a done, extension
decisions with a reason or another date, and pending requests closed (never "rejected") when moot."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from storage.corrections import EditError, close_commitment, edit_commitment, undo_done
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
from storage.status import Outcome, decide_extension, extend_now, mark_done, reopen, request_extension

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


async def _world(db: Database, now, *, recurrence: str = "") -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    """A unit with a focal point (telegram 8) and an internal commitment due 15/12/2026; (commitment, focal, unit)."""
    async with db.session() as session:
        unit = Unit(code="VPB", code_key="VPB", name="Văn phòng Bộ", created_at=now)
        focal = Person(telegram_id=8, full_name="Lan", reachable=True, has_started=True, created_at=now)
        session.add_all([unit, focal])
        await session.flush()
        session.add(Membership(person_id=focal.id, unit_id=unit.id, role=Role.FOCAL, origin="invite", created_at=now))
        item = Commitment(
            unit_id=unit.id,
            title="Báo cáo",
            kind=Kind.INTERNAL,
            due_date=date(2026, 12, 15),
            created_at=now,
            updated_at=now,
            recurrence=recurrence,
        )
        session.add(item)
        await session.flush()
        return item.id, focal.id, unit.id


async def _ask(db: Database, now, cid: int, asker: int) -> int:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        item = await session.get(Commitment, cid)
        assert item is not None
        change = await request_extension(
            session,
            commitment=item,
            new_due=date(2027, 1, 15),
            reason="chờ số liệu",
            actor_id=asker,
            now=now,
            today=now.astimezone(TZ).date(),
        )
        assert change.request is not None
        return change.request.id


def _closed_notice(request: ExtensionRequest, commitment: Commitment, person: Person, why: str) -> Outgoing:
    return Outgoing(key=f"extension-closed:{request.id}", kind="decision", chat_id=person.telegram_id, text=why)


async def _actions(db: Database, cid: int) -> list[tuple[str, str | None, str | None, str]]:
    async with db.session() as session:
        rows = await session.execute(
            select(Event.action, Event.old_value, Event.new_value, Event.note)
            .where(Event.commitment_id == cid)
            .order_by(Event.id)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def _outbox(db: Database) -> list[tuple[str, int, str]]:
    async with db.session() as session:
        rows = await session.execute(select(OutboxMessage.key, OutboxMessage.chat_id, OutboxMessage.text))
        return sorted(tuple(row) for row in rows)  # type: ignore[misc]


async def test_done_closes_the_pending_request_and_tells_the_requester(db: Database, now) -> None:  # type: ignore[no-untyped-def]
    cid, focal, _ = await _world(db, now)
    async with db.session() as session:
        secretary = Person(telegram_id=9, full_name="Thư ký", reachable=True, has_started=True, created_at=now)
        session.add(secretary)
        await session.flush()
        secretary_id = secretary.id
    request_id = await _ask(db, now, cid, focal)
    async with db.session() as session:
        item = await session.get(Commitment, cid)
        assert item is not None
        change = await mark_done(
            session, commitment=item, actor_id=secretary_id, now=now, tz=TZ, closed_notice=_closed_notice
        )
    assert change.changed and change.request is not None and change.request.id == request_id
    async with db.session() as session:
        request = await session.get(ExtensionRequest, request_id)
    assert request is not None and request.status == ExtensionStatus.CLOSED
    actions = [a for a, *_ in await _actions(db, cid)]
    assert actions == ["extension_requested", "done", "extension_closed"]
    assert await _outbox(db) == [(f"extension-closed:{request_id}", 8, "done")]
    # the secretary's late press on Approve finds it decided, and nothing is rejected
    async with db.session() as session:
        late = await decide_extension(session, request_id=request_id, approve=True, actor_id=secretary_id, now=now)
    assert late.outcome is Outcome.DECIDED
    assert "extension_rejected" not in [a for a, *_ in await _actions(db, cid)]


async def test_a_request_on_a_commitment_closed_without_closing_it_is_closed_not_rejected(db: Database, now) -> None:  # type: ignore[no-untyped-def]
    cid, focal, _ = await _world(db, now)
    request_id = await _ask(db, now, cid, focal)
    async with db.session() as session:  # as an older version left it: done, the request still pending
        item = await session.get(Commitment, cid)
        assert item is not None
        item.status = Status.DONE
    async with db.session() as session:
        change = await decide_extension(session, request_id=request_id, approve=True, actor_id=None, now=now)
    assert change.outcome is Outcome.CLOSED
    assert change.request is not None and change.request.status == ExtensionStatus.CLOSED
    assert [a for a, *_ in await _actions(db, cid)][-1] == "extension_closed"


async def test_reject_carries_the_reason_and_approve_may_choose_another_date(db: Database, now) -> None:  # type: ignore[no-untyped-def]
    cid, focal, _ = await _world(db, now)
    told: list[tuple[str, date, str]] = []

    def notice(request: ExtensionRequest, commitment: Commitment, person: Person, reason: str) -> Outgoing:
        told.append((request.status.value, commitment.due_date, reason))
        return Outgoing(key=f"decision:{request.id}", kind="decision", chat_id=person.telegram_id)

    first = await _ask(db, now, cid, focal)
    async with db.session() as session:
        rejected = await decide_extension(
            session, request_id=first, approve=False, actor_id=None, now=now, notice=notice, reason="Thiếu căn cứ"
        )
    assert rejected.changed
    second = await _ask(db, now, cid, focal)
    async with db.session() as session:
        too_early = await decide_extension(
            session, request_id=second, approve=True, actor_id=None, now=now, new_due=date(2026, 12, 1)
        )
        assert too_early.outcome is Outcome.NOT_LATER
    async with db.session() as session:
        approved = await decide_extension(
            session, request_id=second, approve=True, actor_id=None, now=now, notice=notice, new_due=date(2027, 1, 5)
        )
    assert approved.changed
    assert told == [("rejected", date(2026, 12, 15), "Thiếu căn cứ"), ("approved", date(2027, 1, 5), "")]
    history = await _actions(db, cid)
    assert ("extension_rejected", "2026-12-15", "2027-01-15", "Thiếu căn cứ") in history
    assert ("extension_approved", "2026-12-15", "2027-01-05", "") in history


async def test_close_and_reopen_keep_both_steps(db: Database, now) -> None:  # type: ignore[no-untyped-def]
    cid, focal, _ = await _world(db, now)
    request_id = await _ask(db, now, cid, focal)
    async with db.session() as session:
        item = await session.get(Commitment, cid)
        assert item is not None
        closed = await close_commitment(
            session, commitment=item, reason="Trùng nhiệm vụ #3", actor_id=None, now=now, notice=_closed_notice
        )
        again = await close_commitment(session, commitment=item, reason="x", actor_id=None, now=now)
    assert closed.changed and again.outcome is Outcome.CLOSED
    assert await _outbox(db) == [(f"extension-closed:{request_id}", 8, "cancelled")]
    async with db.session() as session:
        item = await session.get(Commitment, cid)
        assert item is not None and item.status == Status.CANCELLED and item.next_slot_at is None
        reopened = await reopen(session, commitment=item, actor_id=None, now=now)
    assert reopened.changed
    history = await _actions(db, cid)
    assert [a for a, *_ in history] == ["extension_requested", "cancelled", "extension_closed", "reopened"]
    assert history[1] == ("cancelled", "open", "cancelled", "Trùng nhiệm vụ #3")
    assert history[3][1:3] == ("cancelled", "open")


async def test_edit_due_is_in_the_history_told_to_the_unit_and_closes_a_request(db: Database, now) -> None:  # type: ignore[no-untyped-def]
    cid, focal, _ = await _world(db, now)
    request_id = await _ask(db, now, cid, focal)
    moved: list[tuple[date, date, list[str]]] = []

    def due_notice(commitment: Commitment, old: date, people: list[Person]) -> list[Outgoing]:
        moved.append((old, commitment.due_date, [p.full_name for p in people]))
        return [Outgoing(key=f"due:{commitment.id}:{p.id}", kind="reminder", chat_id=p.telegram_id) for p in people]

    async with db.session() as session:
        item = await session.get(Commitment, cid)
        assert item is not None
        edit = await edit_commitment(
            session,
            commitment=item,
            field="due",
            raw="20/12/2026",
            actor_id=None,
            now=now,
            due_notice=due_notice,  # type: ignore[arg-type]
            closed_notice=_closed_notice,
        )
    assert edit.changed and edit.old == "2026-12-15" and edit.new == "2026-12-20"
    assert edit.closed_request is not None and edit.closed_request.id == request_id
    assert moved == [(date(2026, 12, 15), date(2026, 12, 20), ["Lan"])]
    assert [key for key, *_ in await _outbox(db)] == [f"due:{cid}:{focal}", f"extension-closed:{request_id}"]
    assert ("edited", "2026-12-15", "2026-12-20", "") in await _actions(db, cid)


async def test_bad_edits_change_nothing(db: Database, now) -> None:  # type: ignore[no-untyped-def]
    cid, _, _ = await _world(db, now)
    cases = [
        ("colour", "red", EditError.UNKNOWN_FIELD),
        ("due", "31/02/2027", EditError.NO_SUCH_DATE),
        ("due", "15/12/3026", EditError.DATE_OUT_OF_RANGE),
        ("due", "mai", EditError.BAD_DATE),
        ("kind", "urgent", EditError.BAD_KIND),
        ("title", "   ", EditError.EMPTY),
        ("title", "x" * 501, EditError.TOO_LONG),
        ("recurrence", "FREQ=SOMETIMES", EditError.BAD_RECURRENCE),
        ("title", "Báo cáo", EditError.SAME),
    ]
    for field, raw, error in cases:
        async with db.session() as session:
            item = await session.get(Commitment, cid)
            assert item is not None
            edit = await edit_commitment(session, commitment=item, field=field, raw=raw, actor_id=None, now=now)
        assert edit.error is error, (field, raw)
    async with db.session() as session:
        item = await session.get(Commitment, cid)
    assert item is not None and item.version == 1 and item.title == "Báo cáo"
    assert await _actions(db, cid) == []


async def test_undo_puts_a_done_back_for_the_same_person_within_the_window(db: Database, now) -> None:  # type: ignore[no-untyped-def]
    cid, focal, _ = await _world(db, now, recurrence="FREQ=MONTHLY;BYMONTHDAY=15")
    async with db.session() as session:
        item = await session.get(Commitment, cid)
        assert item is not None
        done = await mark_done(session, commitment=item, actor_id=focal, now=now, tz=TZ)
    assert done.next_occurrence is not None
    following_id = done.next_occurrence.id

    async def undo(actor: int | None, *, later: timedelta = timedelta(0), secretary: bool = False) -> Outcome:
        async with db.session() as session:
            item = await session.get(Commitment, cid)
            assert item is not None
            result = await undo_done(
                session,
                commitment=item,
                actor_id=actor,
                may_undo_others=secretary,
                now=now + later,
                minutes=10,
            )
            return result.outcome

    assert await undo(None) is Outcome.NOT_FOUND  # someone else, not a secretary
    assert await undo(focal, later=timedelta(minutes=11)) is Outcome.STALE  # too late
    assert await undo(focal, later=timedelta(minutes=2)) is Outcome.CHANGED
    assert await undo(focal, later=timedelta(minutes=3)) is Outcome.NOT_DONE  # nothing left to undo
    async with db.session() as session:
        item = await session.get(Commitment, cid)
        following = await session.get(Commitment, following_id)
    assert item is not None and item.status == Status.OPEN and item.done_at is None
    assert following is not None and following.status == Status.CANCELLED
    assert [a for a, *_ in await _actions(db, cid)] == ["done", "undone"]


async def test_a_secretarys_own_extension_applies_at_once(db: Database, now) -> None:  # type: ignore[no-untyped-def]
    cid, _, _ = await _world(db, now)
    today = now.astimezone(TZ).date()
    async with db.session() as session:
        item = await session.get(Commitment, cid)
        assert item is not None
        not_later = await extend_now(
            session, commitment=item, new_due=date(2026, 12, 10), reason="x", actor_id=None, now=now, today=today
        )
        moved = await extend_now(
            session, commitment=item, new_due=date(2027, 2, 1), reason="Bộ đồng ý", actor_id=None, now=now, today=today
        )
    assert not_later.outcome is Outcome.NOT_LATER and moved.changed
    async with db.session() as session:
        item = await session.get(Commitment, cid)
        requests = (await session.scalars(select(ExtensionRequest))).all()
    assert item is not None and item.due_date == date(2027, 2, 1) and not requests
    assert await _actions(db, cid) == [("extension_approved", "2026-12-15", "2027-02-01", "Bộ đồng ý")]
