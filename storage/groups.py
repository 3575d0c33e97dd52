"""Units' Telegram group chats (`/linkgroup`): one group per unit, one unit per group.

A linked group is one more recipient of the unit's reminders, new-commitment notices and weekly list. Its
outbox keys put the group's chat id where a person's id would be: Telegram's group ids are negative and
people's ids positive, so a group's key never meets a person's.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.events import record
from storage.members import Actor
from storage.models import Role, Unit, UnitGroup
from storage.outbox import fail_pending_of_chat, readdress_pending
from storage.planning import replan

UNLINKED_ERROR = "the group is no longer the unit's group"


@dataclass(frozen=True)
class GroupInfo:
    """A unit's group as the planner and the notices need it."""

    unit_id: int
    chat_id: int
    title: str


class LinkOutcome(enum.StrEnum):
    LINKED = "linked"
    MOVED = "moved"  # the unit had another group: this one replaces it
    ALREADY = "already"  # this group already serves this unit
    OTHER_UNIT = "other unit"  # this group serves another unit: nothing changed


@dataclass(frozen=True)
class LinkResult:
    outcome: LinkOutcome
    unit: Unit  # the unit now (or already) served; for OTHER_UNIT the unit the group serves
    previous_title: str = ""  # MOVED: the group that served the unit until now


async def group_of_chat(session: AsyncSession, *, chat_id: int) -> UnitGroup | None:
    return await session.scalar(select(UnitGroup).where(UnitGroup.chat_id == chat_id))


async def linked_unit(session: AsyncSession, *, chat_id: int) -> Unit | None:
    """The unit a group chat serves, if any."""
    return await session.scalar(
        select(Unit).join(UnitGroup, UnitGroup.unit_id == Unit.id).where(UnitGroup.chat_id == chat_id)
    )


async def unit_groups(session: AsyncSession, unit_ids: Iterable[int]) -> dict[int, GroupInfo]:
    """The group of each of these units that has one."""
    ids = sorted(set(unit_ids))
    found: dict[int, GroupInfo] = {}
    for start in range(0, len(ids), 500):
        rows = await session.execute(
            select(UnitGroup.unit_id, UnitGroup.chat_id, UnitGroup.title).where(
                UnitGroup.unit_id.in_(ids[start : start + 500])
            )
        )
        found.update((unit_id, GroupInfo(unit_id, chat_id, title)) for unit_id, chat_id, title in rows.tuples())
    return found


async def link_group(
    session: AsyncSession, *, unit: Unit, chat_id: int, title: str, person_id: int | None, now: datetime
) -> LinkResult:
    """Make the group chat the unit's group (the caller has checked who may), with its event, and replan the
    unit's open commitments."""
    current = await group_of_chat(session, chat_id=chat_id)
    if current is not None:
        if current.unit_id != unit.id:
            other = await session.get(Unit, current.unit_id)
            assert other is not None
            return LinkResult(LinkOutcome.OTHER_UNIT, other)
        current.title = title
        return LinkResult(LinkOutcome.ALREADY, unit)
    previous = await session.scalar(select(UnitGroup).where(UnitGroup.unit_id == unit.id))
    previous_title = ""
    if previous is not None:
        previous_title = previous.title
        record(session, at=now, action="group_unlinked", actor_id=person_id, unit_id=unit.id, note=previous.title)
        await fail_pending_of_chat(session, chat_id=previous.chat_id, error=UNLINKED_ERROR)
        await session.delete(previous)
        await session.flush()
    session.add(UnitGroup(unit_id=unit.id, chat_id=chat_id, title=title, linked_by_id=person_id, linked_at=now))
    record(session, at=now, action="group_linked", actor_id=person_id, unit_id=unit.id, note=title)
    await session.flush()
    # As for a person linked later: at the next tick the group gets the latest due reminder of each open
    # commitment (one each; the unit's focal points already have theirs, under their own keys).
    await replan(session, unit_ids=[unit.id])
    return LinkResult(LinkOutcome.MOVED if previous is not None else LinkOutcome.LINKED, unit, previous_title)


@dataclass(frozen=True)
class Unlinked:
    unit: Unit  # the unit the group served
    title: str  # the group's title
    event_id: int  # its "group_unlinked" event (the key of the notice to the unit)


async def unlink_group(
    session: AsyncSession, *, chat_id: int, person_id: int | None, now: datetime, reason: str = ""
) -> Unlinked | None:
    """End the link of a group chat, with its event; None if the chat served no unit."""
    current = await group_of_chat(session, chat_id=chat_id)
    if current is None:
        return None
    unit = await session.get(Unit, current.unit_id)
    assert unit is not None
    title = current.title
    event = record(session, at=now, action="group_unlinked", actor_id=person_id, unit_id=unit.id, note=reason or title)
    await session.execute(delete(UnitGroup).where(UnitGroup.id == current.id))
    # What was queued for the group and not sent yet stays unsent: the group asked for nothing more.
    await fail_pending_of_chat(session, chat_id=chat_id, error=UNLINKED_ERROR)
    await session.flush()
    return Unlinked(unit, title, event.id)


async def move_group(session: AsyncSession, *, old_chat_id: int, new_chat_id: int, now: datetime) -> Unit | None:
    """A unit's group became a supergroup, with a new chat id: the link and what is pending follow it. Telegram
    tells it twice (in the old group and in the new one): the second time changes nothing. The unit, if any."""
    current = await group_of_chat(session, chat_id=old_chat_id)
    if current is None:
        return None
    current.chat_id = new_chat_id
    record(session, at=now, action="group_moved", unit_id=current.unit_id, old_value=old_chat_id, new_value=new_chat_id)
    await readdress_pending(session, old_chat_id=old_chat_id, new_chat_id=new_chat_id)
    return await session.get(Unit, current.unit_id)


def acting_in_group(actor: Actor, unit: Unit | None) -> Actor:
    """The sender as a group chat sees them: a member of the group's unit only, without committee powers.

    Everyone in the group reads the answers, so nothing of another unit may appear there. A secretary whose
    scope holds the unit acts in its group as a head of it would; in a group not linked, nobody is a member.
    """
    if unit is None or not actor.can_see(unit):
        return replace(actor, is_admin=False, is_secretary=False, scope=None, unit_roles={})
    roles = actor.unit_roles.get(unit.id) or frozenset({Role.HEAD})
    return replace(actor, is_admin=False, is_secretary=False, scope=None, unit_roles={unit.id: roles})
