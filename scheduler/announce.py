"""New commitments told to their units: one message per unit and focal point per /add or import, listing
what is new for that unit (SPEC: "The unit's focal points are told of a new commitment once"); a unit's linked
group gets the same message once."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.batches import chunks
from scheduler.notices import NEW_COMMITMENT, content_id, focal_recipients
from storage.groups import unit_groups
from storage.models import Commitment
from storage.outbox import Outgoing, enqueue
from storage.planning import units_info, units_people
from texts.notices import new_commitments_text


async def announce_new(
    session: AsyncSession, commitment_ids: Sequence[int], *, now: datetime, today: date, default_language: str
) -> int:
    """Queue the notices of these new commitments, in the caller's transaction; how many were queued. A unit
    without a reachable focal point gets none here: the planner's "no focal point" warning covers it."""
    ids = sorted(set(commitment_ids))
    unit_of: dict[int, int] = {}
    for chunk in chunks(ids, 500):
        rows = await session.execute(select(Commitment.id, Commitment.unit_id).where(Commitment.id.in_(chunk)))
        unit_of.update(rows.tuples().all())
    people = await units_people(session, set(unit_of.values()))
    # A national import mostly reaches units nobody is linked to yet: only those with someone to tell are read.
    groups = await unit_groups(session, set(unit_of.values()))
    told = {unit_id for unit_id, members in people.items() if focal_recipients(members)} | set(groups)
    if not told:
        return 0
    by_unit: dict[int, list[Commitment]] = defaultdict(list)
    # Chosen by id, not by `unit_id IN (told)`: a campaign tells thousands of units, a list too long to repeat.
    for chunk in chunks([i for i in ids if unit_of.get(i) in told], 500):
        for commitment in await session.scalars(select(Commitment).where(Commitment.id.in_(chunk))):
            by_unit[commitment.unit_id].append(commitment)
    units = await units_info(session, by_unit)
    messages: list[Outgoing] = []
    for unit_id, items in by_unit.items():
        items.sort(key=lambda c: (c.due_date, c.id))
        content = content_id(c.id for c in items)
        texts: dict[str, str] = {}  # rendered once per unit and language (a campaign tells thousands of units)
        if (group := groups.get(unit_id)) is not None:
            texts[default_language] = new_commitments_text(default_language, units[unit_id], items, day=today)
            messages.append(
                Outgoing(
                    key=NEW_COMMITMENT.key(content, group.chat_id),
                    kind=NEW_COMMITMENT.kind,
                    chat_id=group.chat_id,
                    commitment_id=items[0].id if len(items) == 1 else None,
                    text=texts[default_language],
                )
            )
        for person in focal_recipients(people[unit_id]):
            lang = person.language or default_language
            if lang not in texts:
                texts[lang] = new_commitments_text(lang, units[unit_id], items, day=today)
            messages.append(
                Outgoing(
                    key=NEW_COMMITMENT.key(content, person.id),
                    kind=NEW_COMMITMENT.kind,
                    chat_id=person.telegram_id,
                    person_id=person.id,
                    commitment_id=items[0].id if len(items) == 1 else None,
                    text=texts[lang],
                )
            )
    return await enqueue(session, messages, now=now)
