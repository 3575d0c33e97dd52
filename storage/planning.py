"""The database side of the reminder planner (scheduler/planner.py): bulk queries, no policy.

`commitments.next_slot_at` is the planner's index (NULL: needs planning); `replan` marks commitments for the
next tick and is called by the services that change state, in their transaction (never by handlers).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, cast

from sqlalchemy import Integer, Table, bindparam, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from core.batches import chunks
from storage.db import dialect_of
from storage.models import (
    OPEN_STATUSES,
    Commitment,
    Kind,
    Membership,
    OutboxMessage,
    Person,
    PlannerState,
    Role,
    Status,
    Unit,
)

# next_slot_at of a closed commitment: never looked at again, unless `replan` is called for it.
NEVER = datetime(9999, 1, 1, tzinfo=UTC)
_CHUNK = 500  # ids per IN (…) list: far below SQLite's and asyncpg's parameter limits

_commitments = cast(Table, Commitment.__table__)
_units = cast(Table, Unit.__table__)
_outbox = cast(Table, OutboxMessage.__table__)


# Local names for the shared helpers (core.batches, storage.db), so the queries below read as before.
def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    return chunks(ids, _CHUNK)


_dialect = dialect_of


async def replan(
    session: AsyncSession,
    *,
    commitment_ids: Iterable[int | None] | None = None,
    unit_ids: Iterable[int | None] | None = None,
    person_ids: Iterable[int | None] | None = None,
) -> int:
    """Mark commitments for planning at the next tick (next_slot_at = NULL); returns how many rows were marked.

    commitment_ids: those commitments, whatever their status (a closed one is then set to NEVER, a reopened
    one planned again). unit_ids: the open commitments of those units. person_ids: the open commitments of
    every unit where those people are focal points or heads. None entries are ignored.
    """
    marked = 0
    ids = sorted({i for i in commitment_ids or () if i is not None})
    for chunk in _chunks(ids):
        result = await session.execute(
            update(_commitments).where(_commitments.c.id.in_(chunk)).values(next_slot_at=None)
        )
        marked += max(result.rowcount or 0, 0)  # type: ignore[attr-defined]
    units = {i for i in unit_ids or () if i is not None}
    people = sorted({i for i in person_ids or () if i is not None})
    for chunk in _chunks(people):
        rows = await session.scalars(
            select(Membership.unit_id).where(
                Membership.person_id.in_(chunk),
                Membership.unit_id.is_not(None),
                Membership.role.in_([Role.FOCAL, Role.HEAD]),
            )
        )
        units.update(u for u in rows if u is not None)
    for chunk in _chunks(sorted(units)):
        result = await session.execute(
            update(_commitments)
            .where(_commitments.c.unit_id.in_(chunk), _commitments.c.status.in_(list(OPEN_STATUSES)))
            .values(next_slot_at=None)
        )
        marked += max(result.rowcount or 0, 0)  # type: ignore[attr-defined]
    return marked


async def replan_all(session: AsyncSession) -> int:
    """Every open commitment needs planning (the reminder settings or the calendar changed)."""
    result = await session.execute(
        update(_commitments).where(_commitments.c.status.in_(list(OPEN_STATUSES))).values(next_slot_at=None)
    )
    return max(result.rowcount or 0, 0)  # type: ignore[attr-defined]


# --- Planner state ------------------------------------------------------------------------------------------


async def get_state(session: AsyncSession, name: str) -> str | None:
    return await session.scalar(select(PlannerState.value).where(PlannerState.name == name))


async def set_state(session: AsyncSession, name: str, value: str) -> None:
    """Upsert one named value (also takes SQLite's write lock: see `claim_batch`)."""
    insert = postgresql.insert if _dialect(session) == "postgresql" else sqlite.insert
    statement = insert(PlannerState).values(name=name, value=value)
    await session.execute(statement.on_conflict_do_update(index_elements=["name"], set_={"value": value}))


async def first_state(session: AsyncSession, name: str, value: str) -> str:
    """The value stored under `name`, storing `value` first if there is none (the first writer wins)."""
    insert = postgresql.insert if _dialect(session) == "postgresql" else sqlite.insert
    await session.execute(insert(PlannerState).values(name=name, value=value).on_conflict_do_nothing())
    stored = await get_state(session, name)
    return stored if stored is not None else value


# --- Claiming work --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanRow:
    """What the planner needs of one commitment (also enough for its text and buttons)."""

    id: int
    unit_id: int
    title: str
    kind: Kind
    due_date: date
    legal_basis: str
    source: str
    status: Status
    version: int
    escalated_for: date | None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


_PLAN_COLUMNS = (
    _commitments.c.id,
    _commitments.c.unit_id,
    _commitments.c.title,
    _commitments.c.kind,
    _commitments.c.due_date,
    _commitments.c.legal_basis,
    _commitments.c.source,
    _commitments.c.status,
    _commitments.c.version,
    _commitments.c.escalated_for,
)


def _claim_query(*, pending: bool, now: datetime, limit: int, after_id: int) -> Any:
    column = _commitments.c.next_slot_at
    query = select(*_PLAN_COLUMNS)
    if pending:
        # From the last id claimed on, in the index's own order (next slot, then id; the slot is NULL here): each
        # batch of a first tick starts where the one before ended, instead of reading and sorting again every
        # commitment still to plan (PostgreSQL did, 200 ms a batch at 300,000).
        query = query.where(column.is_(None), _commitments.c.id > after_id).order_by(column, _commitments.c.id)
    else:
        query = query.where(column <= now).order_by(column, _commitments.c.id)
    return query.limit(limit)


async def claim_batch(
    session: AsyncSession, *, pending: bool, now: datetime, limit: int, after_id: int = 0
) -> list[PlanRow]:
    """Up to `limit` commitments to plan: those needing planning (pending, with an id above `after_id`) or whose
    next slot has come.

    The rows stay claimed until the session's transaction ends. PostgreSQL: locked FOR UPDATE SKIP LOCKED,
    so concurrent ticks (several instances) share the work instead of doing it twice, and a concurrent
    `replan` waits for this transaction and then wins. SQLite: the transaction first takes the database's
    write lock, then reads, so nothing can change between what is read and what is written.
    """
    query = _claim_query(pending=pending, now=now, limit=limit, after_id=after_id)
    if _dialect(session) == "postgresql":
        query = query.with_for_update(skip_locked=True, of=_commitments)
    else:
        # Outside a write transaction the read is free: only take the write lock when there is work.
        probe = (await session.execute(query.with_only_columns(_commitments.c.id).limit(1))).first()
        if probe is None:
            return []
        await set_state(session, "last_tick", now.astimezone(UTC).isoformat())
    return [PlanRow(*row) for row in (await session.execute(query)).tuples()]


async def store_plans(
    session: AsyncSession, plans: Sequence[tuple[int, datetime | None]], *, escalated: Sequence[tuple[int, date]] = ()
) -> None:
    """Write each commitment's next_slot_at (None → NEVER) and the due dates just escalated."""
    if plans and _dialect(session) == "postgresql":
        # One statement over two arrays: asyncpg's executemany is a round of work per row, ten times slower here.
        nexts = [at if at is not None else NEVER for _, at in plans]
        rows = (
            func.unnest(
                bindparam("_ids", [cid for cid, _ in plans], type_=postgresql.ARRAY(Integer)),
                bindparam("_nexts", nexts, type_=postgresql.ARRAY(postgresql.TIMESTAMP(timezone=True))),
            )
            .table_valued("id", "next")
            .render_derived(name="plan")
        )
        await session.execute(
            update(_commitments).where(_commitments.c.id == rows.c.id).values(next_slot_at=rows.c.next)
        )
    elif plans:
        statement = (
            update(_commitments)
            .where(_commitments.c.id == bindparam("_id"))
            .values(next_slot_at=bindparam("_next", type_=_commitments.c.next_slot_at.type))
        )
        await session.execute(statement, [{"_id": cid, "_next": at if at is not None else NEVER} for cid, at in plans])
    if escalated:
        statement = (
            update(_commitments)
            .where(_commitments.c.id == bindparam("_id"))
            .values(escalated_for=bindparam("_due", type_=_commitments.c.escalated_for.type))
        )
        await session.execute(statement, [{"_id": cid, "_due": due} for cid, due in escalated])


async def claim_escalations(session: AsyncSession, commitment_ids: Iterable[int], *, held: datetime) -> set[int]:
    """Mark as escalated (escalated_for = due date) those of these commitments that nothing changed since the
    planner held them (next_slot_at = `held`, see scheduler.planner) and that are open and not escalated for
    their due date yet; returns their ids. A conditional UPDATE … RETURNING: a commitment is claimed once, by
    one tick, whatever the restarts and instances.
    """
    claimed: set[int] = set()
    column = _commitments.c.escalated_for
    for chunk in _chunks(sorted(set(commitment_ids))):
        rows = await session.execute(
            update(_commitments)
            .where(
                _commitments.c.id.in_(chunk),
                _commitments.c.next_slot_at == held,
                _commitments.c.status.in_(list(OPEN_STATUSES)),
                or_(column.is_(None), column != _commitments.c.due_date),
            )
            .values(escalated_for=_commitments.c.due_date)
            .returning(_commitments.c.id)
        )
        claimed.update(int(cid) for cid in rows.scalars())
    return claimed


async def release_held(session: AsyncSession, plans: Sequence[tuple[int, datetime | None]], *, held: datetime) -> None:
    """Give held commitments their real next slot (None → NEVER), unless something changed them meanwhile."""
    if not plans:
        return
    statement = (
        update(_commitments)
        .where(
            _commitments.c.id == bindparam("_id"),
            _commitments.c.next_slot_at == bindparam("_held", type_=_commitments.c.next_slot_at.type),
        )
        .values(next_slot_at=bindparam("_next", type_=_commitments.c.next_slot_at.type))
    )
    await session.execute(
        statement, [{"_id": cid, "_held": held, "_next": at if at is not None else NEVER} for cid, at in plans]
    )


# --- Units and people ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnitInfo:
    id: int
    code: str
    name: str
    no_focal_notified_at: datetime | None


@dataclass(frozen=True)
class PersonInfo:
    id: int
    telegram_id: int
    full_name: str
    username: str | None
    language: str | None
    reachable: bool


@dataclass
class UnitPeople:
    focal: list[PersonInfo]
    heads: list[PersonInfo]

    @property
    def reachable_focal(self) -> list[PersonInfo]:
        return [p for p in self.focal if p.reachable]


_PERSON_COLUMNS = (
    Person.id,
    Person.telegram_id,
    Person.full_name,
    Person.username,
    Person.language,
    Person.reachable,
)


async def units_info(session: AsyncSession, unit_ids: Iterable[int]) -> dict[int, UnitInfo]:
    found: dict[int, UnitInfo] = {}
    for chunk in _chunks(sorted(set(unit_ids))):
        rows = await session.execute(
            select(Unit.id, Unit.code, Unit.name, Unit.no_focal_notified_at).where(Unit.id.in_(chunk))
        )
        found.update((row[0], UnitInfo(*row)) for row in rows.tuples())
    return found


async def units_people(session: AsyncSession, unit_ids: Iterable[int]) -> dict[int, UnitPeople]:
    """Focal points and heads of each unit, reachable or not, by name."""
    ids = sorted(set(unit_ids))
    found: dict[int, UnitPeople] = {uid: UnitPeople([], []) for uid in ids}
    for chunk in _chunks(ids):
        rows = await session.execute(
            select(Membership.unit_id, Membership.role, *_PERSON_COLUMNS)
            .join(Person, Person.id == Membership.person_id)
            .where(Membership.unit_id.in_(chunk), Membership.role.in_([Role.FOCAL, Role.HEAD]))
            .order_by(Person.full_name, Person.id)
        )
        for unit_id, role, person_id, telegram_id, full_name, username, language, reachable in rows.tuples():
            person = PersonInfo(person_id, telegram_id, full_name, username, language, reachable)
            people = found[cast(int, unit_id)]
            (people.focal if role == Role.FOCAL else people.heads).append(person)
    return found


async def committee_people(session: AsyncSession) -> list[PersonInfo]:
    """Every secretary and admin, once each, by name."""
    rows = await session.execute(
        select(*_PERSON_COLUMNS)
        .where(Person.id.in_(select(Membership.person_id).where(Membership.role.in_([Role.SECRETARY, Role.ADMIN]))))
        .order_by(Person.full_name, Person.id)
    )
    return [PersonInfo(*row) for row in rows.tuples()]


# --- "No focal point" notices -----------------------------------------------------------------------------


async def clear_no_focal(session: AsyncSession, unit_ids: Iterable[int]) -> None:
    """These units have a reachable focal point again: losing it later is worth a new notice."""
    for chunk in _chunks(sorted(set(unit_ids))):
        await session.execute(
            update(_units)
            .where(_units.c.id.in_(chunk), _units.c.no_focal_notified_at.is_not(None))
            .values(no_focal_notified_at=None)
        )


async def claim_no_focal(session: AsyncSession, unit_ids: Iterable[int], *, now: datetime) -> list[tuple[int, int]]:
    """Mark the units whose secretaries have not been told yet; returns (unit id, notice number) of those.

    A conditional UPDATE … RETURNING: of two concurrent ticks, only one gets a given unit.
    """
    claimed: list[tuple[int, int]] = []
    for chunk in _chunks(sorted(set(unit_ids))):
        rows = await session.execute(
            update(_units)
            .where(_units.c.id.in_(chunk), _units.c.no_focal_notified_at.is_(None))
            .values(no_focal_notified_at=now, no_focal_notices=_units.c.no_focal_notices + 1)
            .returning(_units.c.id, _units.c.no_focal_notices)
        )
        claimed.extend((int(uid), int(n)) for uid, n in rows.tuples())
    return sorted(claimed)


# --- "Unreachable person" notices ------------------------------------------------------------------------


async def claim_unreachable(session: AsyncSession, *, now: datetime) -> list[tuple[int, int]]:
    """The people who became unreachable and whose secretaries have not been told: (person id, event id), by
    person; they are marked told (people.unreachable_notice_event = NULL) in this transaction.

    PostgreSQL: the rows are locked (FOR UPDATE SKIP LOCKED), so two ticks never claim the same person. SQLite:
    the write lock is taken before the read.
    """
    column = Person.unreachable_notice_event
    query = select(Person.id, column).where(column.is_not(None)).order_by(Person.id)
    if _dialect(session) == "postgresql":
        query = query.with_for_update(skip_locked=True)
    else:
        # no ORDER BY here: the index on the column answers "anyone?" without reading every person
        if (await session.execute(select(Person.id).where(column.is_not(None)).limit(1))).first() is None:
            return []
        await set_state(session, "last_unreachable_tick", now.astimezone(UTC).isoformat())
    rows = [(int(pid), int(event)) for pid, event in (await session.execute(query)).tuples() if event is not None]
    for chunk in _chunks([pid for pid, _ in rows]):
        await session.execute(
            update(Person)
            .where(Person.id.in_(chunk))
            .values(unreachable_notice_event=None)
            .execution_options(synchronize_session=False)
        )
    return rows


async def unreachable_people(
    session: AsyncSession, person_ids: Iterable[int]
) -> dict[int, tuple[PersonInfo, list[str]]]:
    """Each person with the codes of their units, by code."""
    ids = sorted(set(person_ids))
    found: dict[int, tuple[PersonInfo, list[str]]] = {}
    for chunk in _chunks(ids):
        rows = await session.execute(select(*_PERSON_COLUMNS).where(Person.id.in_(chunk)))
        found.update((row[0], (PersonInfo(*row), [])) for row in rows.tuples())
        codes = await session.execute(
            select(Membership.person_id, Unit.code)
            .join(Unit, Unit.id == Membership.unit_id)
            .where(Membership.person_id.in_(chunk))
            .distinct()
            .order_by(Unit.code)
        )
        for pid, code in codes.tuples():
            if pid in found and code not in found[pid][1]:
                found[pid][1].append(code)
    return found


# --- Reading everything (qmsbot schedule) -------------------------------------------------------------------


async def open_rows_after(session: AsyncSession, *, after_id: int, limit: int) -> list[PlanRow]:
    """Open commitments with id > after_id, by id: keyset pages for streaming the whole register."""
    rows = await session.execute(
        select(*_PLAN_COLUMNS)
        .where(_commitments.c.id > after_id, _commitments.c.status.in_(list(OPEN_STATUSES)))
        .order_by(_commitments.c.id)
        .limit(limit)
    )
    return [PlanRow(*row) for row in rows.tuples()]
