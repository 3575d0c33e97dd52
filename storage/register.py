"""Reading the register: units, their commitments and the counts the committee looks at."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

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
    session: AsyncSession, *, unit_ids: Iterable[int] | None, limit: int | None = None, within: Reach | None = None
) -> list[tuple[Commitment, Unit]]:
    """Open commitments of the given units (None: all) within a person's reach, overdue first, then by due date.

    Ordering by due date puts the overdue ones first by itself: their deadlines are the earliest.
    """
    query = (
        select(Commitment, Unit)
        .join(Unit, Unit.id == Commitment.unit_id)
        .where(Commitment.status.in_(OPEN_STATUSES))
        .order_by(Commitment.due_date, Unit.code_key, Commitment.id)
    )
    if unit_ids is not None:
        ids = list(unit_ids)
        if not ids:
            return []
        query = query.where(Commitment.unit_id.in_(ids))
    query = limited_to(query, within)
    if limit is not None:
        query = query.limit(limit)
    return [(commitment, unit) for commitment, unit in (await session.execute(query)).tuples()]


async def count_open(session: AsyncSession, *, unit_ids: Iterable[int] | None, within: Reach | None = None) -> int:
    query = select(func.count()).select_from(Commitment).where(Commitment.status.in_(OPEN_STATUSES))
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
