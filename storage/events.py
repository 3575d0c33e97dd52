"""The append-only event log: every change writes one row, in the same transaction as the change."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Event


def record(
    session: AsyncSession,
    *,
    at: datetime,
    action: str,
    actor_id: int | None = None,
    actor_label: str = "",
    commitment_id: int | None = None,
    unit_id: int | None = None,
    field: str = "",
    old_value: object = None,
    new_value: object = None,
    note: str = "",
) -> Event:
    event = Event(
        at=at,
        action=action,
        actor_id=actor_id,
        actor_label=actor_label,
        commitment_id=commitment_id,
        unit_id=unit_id,
        field=field,
        old_value=None if old_value is None else str(old_value),
        new_value=None if new_value is None else str(new_value),
        note=note,
    )
    session.add(event)
    return event


async def history(session: AsyncSession, *, commitment_id: int) -> list[Event]:
    from sqlalchemy.orm import selectinload

    rows = await session.scalars(
        select(Event)
        .where(Event.commitment_id == commitment_id)
        .options(selectinload(Event.actor))
        .order_by(Event.at, Event.id)
    )
    return list(rows)
