"""Broadcasts: a draft with its exact recipients, sent once on "Send", reported when every delivery ended."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    UNIT_ROLES,
    Broadcast,
    BroadcastStatus,
    Membership,
    OutboxMessage,
    OutboxStatus,
    Person,
    Unit,
)
from storage.outbox import OutboxKind, Outgoing, enqueue
from storage.register import code_key

FINAL = (OutboxStatus.SENT, OutboxStatus.FAILED, OutboxStatus.BLOCKED)


@dataclass
class Recipient:
    person: Person
    unit_codes: list[str] = field(default_factory=list)


async def resolve_units(session: AsyncSession, codes: Sequence[str]) -> tuple[list[str], list[str]]:
    """The units' codes as the register writes them, and the codes that name no unit."""
    rows = await session.execute(
        select(Unit.code_key, Unit.code).where(Unit.code_key.in_([code_key(c) for c in codes]))
    )
    known = {key: code for key, code in rows.tuples()}  # dict(result) would take Result.keys() for a mapping
    found = list(dict.fromkeys(known[code_key(c)] for c in codes if code_key(c) in known))
    return found, [code for code in codes if code_key(code) not in known]


async def recipients(session: AsyncSession, *, unit_codes: Sequence[str] | None) -> list[Recipient]:
    """Every linked person (focal points and heads) of all or the named units, each person once."""
    query = (
        select(Person, Unit.code)
        .join(Membership, Membership.person_id == Person.id)
        .join(Unit, Unit.id == Membership.unit_id)
        .where(Membership.role.in_(list(UNIT_ROLES)))
        .order_by(Person.full_name, Person.id, Unit.code_key)
    )
    if unit_codes is not None:
        query = query.where(Unit.code_key.in_([code_key(c) for c in unit_codes]))
    found: dict[int, Recipient] = {}
    for person, code in (await session.execute(query)).tuples():
        entry = found.setdefault(person.id, Recipient(person))
        if code not in entry.unit_codes:
            entry.unit_codes.append(code)
    return list(found.values())


async def create_draft(
    session: AsyncSession,
    *,
    created_by_id: int | None,
    chat_id: int,
    text: str,
    unit_codes: Sequence[str] | None,
    media: str | None,
    file_id: str | None,
    file_name: str | None,
    now: datetime,
) -> Broadcast:
    people = await recipients(session, unit_codes=unit_codes)
    draft = Broadcast(
        created_by_id=created_by_id,
        chat_id=chat_id,
        created_at=now,
        text=text,
        unit_codes=list(unit_codes) if unit_codes is not None else None,
        media=media,
        file_id=file_id,
        file_name=file_name,
        recipients=len(people),
        status=BroadcastStatus.DRAFT,
    )
    session.add(draft)
    await session.flush()
    return draft


async def send(
    session: AsyncSession,
    *,
    broadcast_id: int,
    now: datetime,
    render: Callable[[Broadcast, str], list[str]],
    default_language: str,
) -> tuple[bool, Broadcast | None]:
    """Queue the broadcast once: the draft → sending change is conditional, so a second "Send" does nothing.

    `render(broadcast, language)` gives the texts of its messages (already split within Telegram's limits).
    The recipients are counted again now, so someone linked since the preview is included.
    """
    claimed = await session.execute(
        update(Broadcast)
        .where(Broadcast.id == broadcast_id, Broadcast.status == BroadcastStatus.DRAFT)
        .values(status=BroadcastStatus.SENDING, sent_at=now)
        .execution_options(synchronize_session=False)
    )
    broadcast = await session.get(Broadcast, broadcast_id)
    if claimed.rowcount != 1 or broadcast is None:  # type: ignore[attr-defined]
        return False, broadcast
    await session.refresh(broadcast)
    people = await recipients(session, unit_codes=broadcast.unit_codes)
    batch = f"broadcast:{broadcast.id}"
    messages: list[Outgoing] = []
    rendered: dict[str, list[str]] = {}
    for recipient in people:
        person = recipient.person
        lang = person.language or default_language
        parts = rendered.setdefault(lang, render(broadcast, lang))
        for index, part in enumerate(parts):
            if broadcast.file_id and index == 0:
                messages.append(
                    Outgoing(
                        key=f"{batch}:{person.id}:{index}",
                        kind=OutboxKind.BROADCAST,
                        chat_id=person.telegram_id,
                        person_id=person.id,
                        batch=batch,
                        media=broadcast.media,
                        file_id=broadcast.file_id,
                        file_name=broadcast.file_name,
                        text=part,
                        priority=5,
                    )
                )
            else:
                messages.append(
                    Outgoing(
                        key=f"{batch}:{person.id}:{index}",
                        kind=OutboxKind.BROADCAST,
                        chat_id=person.telegram_id,
                        person_id=person.id,
                        batch=batch,
                        text=part,
                        priority=5,
                    )
                )
    broadcast.recipients = len(people)
    await enqueue(session, messages, now=now)
    return True, broadcast


async def cancel(session: AsyncSession, *, broadcast_id: int) -> tuple[bool, Broadcast | None]:
    claimed = await session.execute(
        update(Broadcast)
        .where(Broadcast.id == broadcast_id, Broadcast.status == BroadcastStatus.DRAFT)
        .values(status=BroadcastStatus.CANCELLED)
        .execution_options(synchronize_session=False)
    )
    broadcast = await session.get(Broadcast, broadcast_id)
    if broadcast is not None:
        await session.refresh(broadcast)
    return claimed.rowcount == 1, broadcast  # type: ignore[attr-defined]


@dataclass
class Delivery:
    person: Person | None
    status: OutboxStatus
    error: str
    unit_codes: list[str] = field(default_factory=list)


async def finished(session: AsyncSession) -> list[tuple[Broadcast, list[Delivery]]]:
    """Broadcasts being sent whose every delivery has ended (sent, blocked or failed), with the outcome per person."""
    sending = list(await session.scalars(select(Broadcast).where(Broadcast.status == BroadcastStatus.SENDING)))
    done: list[tuple[Broadcast, list[Delivery]]] = []
    for broadcast in sending:
        batch = f"broadcast:{broadcast.id}"
        open_rows = await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.batch == batch, OutboxMessage.status.not_in(list(FINAL)))
        )
        if open_rows:
            continue
        rows = await session.execute(
            select(OutboxMessage.person_id, OutboxMessage.status, OutboxMessage.last_error)
            .where(OutboxMessage.batch == batch)
            .order_by(OutboxMessage.id)
        )
        per_person: dict[int | None, tuple[OutboxStatus, str]] = {}
        for person_id, status, error in rows:
            previous = per_person.get(person_id)
            # A person counts as delivered only if every part went out; otherwise the worst outcome shows.
            if previous is None or previous[0] == OutboxStatus.SENT:
                per_person[person_id] = (status, error or "")
        people = {p.person.id: p for p in await recipients(session, unit_codes=broadcast.unit_codes)}
        deliveries = []
        for person_id, (status, error) in per_person.items():
            person = await session.get(Person, person_id) if person_id is not None else None
            codes = people[person_id].unit_codes if person_id in people else []
            deliveries.append(Delivery(person, status, error, codes))
        done.append((broadcast, deliveries))
    return done


async def mark_reported(session: AsyncSession, *, broadcast_id: int) -> bool:
    claimed = await session.execute(
        update(Broadcast)
        .where(Broadcast.id == broadcast_id, Broadcast.status == BroadcastStatus.SENDING)
        .values(status=BroadcastStatus.REPORTED)
        .execution_options(synchronize_session=False)
    )
    return claimed.rowcount == 1  # type: ignore[attr-defined]
