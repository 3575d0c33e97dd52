"""Reading the register: units, their commitments and the counts the committee looks at."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.folding import fold
from storage.members import unit_people
from storage.models import OPEN_STATUSES, Commitment, Person, Role, Unit
from storage.scopes import Reach, limited_to


def code_key(code: str) -> str:
    return code.strip().upper()


async def find_unit(session: AsyncSession, *, code: str) -> Unit | None:
    return await session.scalar(select(Unit).where(Unit.code_key == code_key(code)))


async def units_by_id(session: AsyncSession, *, unit_ids: Iterable[int]) -> dict[int, Unit]:
    ids = list(unit_ids)
    if not ids:
        return {}
    return {unit.id: unit for unit in await session.scalars(select(Unit).where(Unit.id.in_(ids)))}


async def open_commitments(
    session: AsyncSession,
    *,
    unit_ids: Iterable[int] | None,
    limit: int | None = None,
    closed_too: bool = False,
    within: Reach | None = None,
) -> list[tuple[Commitment, Unit]]:
    """Open commitments of the given units (None: all) within a person's reach, overdue first, then by due date;
    `closed_too` adds the done and cancelled ones after them.

    Ordering by due date puts the overdue ones first by itself: their deadlines are the earliest.
    """
    query = select(Commitment, Unit).join(Unit, Unit.id == Commitment.unit_id)
    if closed_too:
        is_open = case((Commitment.status.in_(OPEN_STATUSES), 0), else_=1)
        query = query.order_by(is_open, Commitment.due_date, Unit.code_key, Commitment.id)
    else:
        query = query.where(Commitment.status.in_(OPEN_STATUSES))
        query = query.order_by(Commitment.due_date, Unit.code_key, Commitment.id)
    if unit_ids is not None:
        ids = list(unit_ids)
        if not ids:
            return []
        query = query.where(Commitment.unit_id.in_(ids))
    query = limited_to(query, within)
    if limit is not None:
        query = query.limit(limit)
    return [(commitment, unit) for commitment, unit in (await session.execute(query)).tuples()]


async def count_open(
    session: AsyncSession, *, unit_ids: Iterable[int] | None, closed_too: bool = False, within: Reach | None = None
) -> int:
    query = select(func.count()).select_from(Commitment)
    if not closed_too:
        query = query.where(Commitment.status.in_(OPEN_STATUSES))
    if unit_ids is not None:
        query = query.where(Commitment.unit_id.in_(list(unit_ids)))
    if within is not None and not within.everything:
        query = limited_to(query.join(Unit, Unit.id == Commitment.unit_id), within)
    return int(await session.scalar(query) or 0)


async def get_commitment(session: AsyncSession, *, commitment_id: int) -> tuple[Commitment, Unit] | None:
    row = (
        await session.execute(
            select(Commitment, Unit).join(Unit, Unit.id == Commitment.unit_id).where(Commitment.id == commitment_id)
        )
    ).first()
    return (row[0], row[1]) if row else None


@dataclass
class UnitSummary:
    unit: Unit
    open_count: int = 0
    overdue_count: int = 0
    focal: list[Person] = field(default_factory=list)
    heads: list[Person] = field(default_factory=list)

    @property
    def has_focal(self) -> bool:
        return bool(self.focal)


async def unit_summaries(session: AsyncSession, *, today: date, within: Reach | None = None) -> list[UnitSummary]:
    """Every unit (within a person's reach) with its open and overdue counts and its people, for /units."""
    units = list(await session.scalars(limited_to(select(Unit), within).order_by(Unit.code_key)))
    summaries = {unit.id: UnitSummary(unit) for unit in units}
    counts = await session.execute(
        limited_to(
            select(
                Commitment.unit_id,
                func.count(),
                func.sum(case((Commitment.due_date < today, 1), else_=0)),
            )
            .join(Unit, Unit.id == Commitment.unit_id)
            .where(Commitment.status.in_(OPEN_STATUSES)),
            within,
        ).group_by(Commitment.unit_id)
    )
    for unit_id, open_count, overdue_count in counts:
        summaries[unit_id].open_count = int(open_count)
        summaries[unit_id].overdue_count = int(overdue_count or 0)
    people = await unit_people(session, unit_ids=summaries)
    for unit_id, members in people.items():
        for person, role in members:
            (summaries[unit_id].focal if role == Role.FOCAL else summaries[unit_id].heads).append(person)
    return list(summaries.values())


async def overdue_commitments(
    session: AsyncSession, *, today: date, limit: int, within: Reach | None = None
) -> tuple[list[tuple[Commitment, Unit]], int]:
    """Overdue open commitments (within a person's reach) grouped by unit (by unit code, then due date), at most
    `limit`, and the total."""
    where = (Commitment.status.in_(OPEN_STATUSES), Commitment.due_date < today)
    counted = select(func.count()).select_from(Commitment).join(Unit, Unit.id == Commitment.unit_id).where(*where)
    total = int(await session.scalar(limited_to(counted, within)) or 0)
    rows = await session.execute(
        limited_to(select(Commitment, Unit).join(Unit, Unit.id == Commitment.unit_id).where(*where), within)
        .order_by(Unit.code_key, Commitment.due_date, Commitment.id)
        .limit(limit)
    )
    return [(c, u) for c, u in rows.tuples()], total


async def find_commitments(
    session: AsyncSession, *, within: Reach | None, words: list[str], limit: int
) -> tuple[list[tuple[Commitment, Unit]], int]:
    """The commitments within a person's reach (None: all) whose title, ref, legal basis, source, unit code or unit
    name holds every one of `words` (folded: core.folding), open ones first; at most `limit`, and the total.

    Matched in Python over the text columns only (streamed): SQL cannot fold Vietnamese diacritics on SQLite,
    and a register of 300,000 commitments streams in about a second.
    """
    query = (
        select(
            Commitment.id,
            Commitment.title,
            Commitment.ref,
            Commitment.legal_basis,
            Commitment.source,
            Unit.code,
            Unit.name,
        )
        .join(Unit, Unit.id == Commitment.unit_id)
        .order_by(case((Commitment.status.in_(OPEN_STATUSES), 0), else_=1), Commitment.due_date, Commitment.id)
    )
    query = limited_to(query, within)
    found: list[int] = []
    total = 0
    async for row in await session.stream(query.execution_options(yield_per=2000)):
        haystack = fold(" ".join(str(value or "") for value in row[1:]))
        if all(word in haystack for word in words):
            total += 1
            if len(found) < limit:
                found.append(row[0])
    if not found:
        return [], total
    rows = await session.execute(
        select(Commitment, Unit).join(Unit, Unit.id == Commitment.unit_id).where(Commitment.id.in_(found))
    )
    by_id = {commitment.id: (commitment, unit) for commitment, unit in rows.tuples()}
    return [by_id[i] for i in found if i in by_id], total
