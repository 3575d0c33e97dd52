"""Units' group chats in storage, on SQLite and PostgreSQL: one group per unit and one unit per group, linking
and unlinking with their events, the group in a linked chat's view of the sender, and the unit's weekly list
to its group."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from scheduler.digest import plan_digests
from storage.db import Database
from storage.groups import UNLINKED_ERROR, LinkOutcome, acting_in_group, link_group, unit_groups, unlink_group
from storage.members import Actor
from storage.models import Event, OutboxStatus, Role, Unit, UnitGroup
from storage.outbox import OutboxKind, Outgoing, enqueue
from tests.test_digest import CREATED, NOW, add_unit, outbox, settings, world

GROUP, OTHER = -1001, -1002


async def _unit(db: Database, unit_id: int) -> Unit:
    async with db.session() as session:
        unit = await session.get(Unit, unit_id)
        assert unit is not None
        return unit


async def test_one_group_per_unit_and_one_unit_per_group(db: Database) -> None:
    vp = await _unit(db, await add_unit(db, "VP", "Văn phòng Bộ"))
    pc = await _unit(db, await add_unit(db, "PC", "Vụ Pháp chế"))
    async with db.session() as session:
        first = await link_group(session, unit=vp, chat_id=GROUP, title="Nhóm VP", person_id=None, now=CREATED)
    assert first.outcome is LinkOutcome.LINKED
    async with db.session() as session:
        again = await link_group(session, unit=vp, chat_id=GROUP, title="Nhóm VP", person_id=None, now=CREATED)
        taken = await link_group(session, unit=pc, chat_id=GROUP, title="Nhóm VP", person_id=None, now=CREATED)
    assert again.outcome is LinkOutcome.ALREADY
    assert taken.outcome is LinkOutcome.OTHER_UNIT and taken.unit.code == "VP"
    async with db.session() as session:
        moved = await link_group(session, unit=vp, chat_id=OTHER, title="Nhóm mới", person_id=None, now=CREATED)
    assert moved.outcome is LinkOutcome.MOVED and moved.previous_title == "Nhóm VP"
    async with db.session() as session:
        assert {g.chat_id for g in (await unit_groups(session, [vp.id, pc.id])).values()} == {OTHER}
        actions = list(await session.scalars(select(Event.action).order_by(Event.id)))
    assert actions == ["group_linked", "group_unlinked", "group_linked"]
    # The database itself keeps one group per unit and one unit per group.
    for unit_id, chat_id in ((vp.id, -9), (pc.id, OTHER)):
        with pytest.raises(IntegrityError):
            async with db.session() as session:
                session.add(UnitGroup(unit_id=unit_id, chat_id=chat_id, title="x", linked_at=CREATED))
    async with db.session() as session:
        gone = await unlink_group(session, chat_id=OTHER, person_id=None, now=CREATED, reason="removed")
        nothing = await unlink_group(session, chat_id=OTHER, person_id=None, now=CREATED)
    assert gone is not None and gone.unit.code == "VP" and gone.title == "Nhóm mới" and nothing is None
    async with db.session() as session:
        assert await unit_groups(session, [vp.id]) == {}


def test_in_a_group_the_sender_is_a_member_of_its_unit_only() -> None:
    secretary = Actor(1, 1, "Thư ký", None, is_secretary=True)
    focal = Actor(2, 2, "Lan", None, unit_roles={7: frozenset({Role.FOCAL}), 8: frozenset({Role.HEAD})})
    seven, nine = (Unit(id=i, code=f"U{i}", code_key=f"U{i}", name=f"Unit {i}", path=f"/U{i}/") for i in (7, 9))
    as_secretary = acting_in_group(secretary, seven)
    assert not as_secretary.is_committee and as_secretary.unit_ids == {7}
    assert acting_in_group(focal, seven).unit_roles == {7: frozenset({Role.FOCAL})}
    assert not acting_in_group(focal, nine).is_member  # another unit's group
    assert not acting_in_group(secretary, None).is_member  # a group not linked


async def test_the_weekly_list_of_a_unit_also_goes_to_its_group(db: Database) -> None:
    w = await world(db)
    vp = await _unit(db, w.units["VP"])
    pc = await _unit(db, w.units["PC"])
    async with db.session() as session:
        await link_group(session, unit=vp, chat_id=GROUP, title="Nhóm VP", person_id=None, now=CREATED)
        await link_group(session, unit=pc, chat_id=OTHER, title="Nhóm PC", person_id=None, now=CREATED)
    await plan_digests(db, settings=settings(), now=NOW)
    rows = await outbox(db, "unitdigest:")
    keys = {r.key for r in rows}
    # Its own key, the chat id where a person's id would be; PC has no focal point but its group is told.
    assert f"unitdigest:2026-12-07:{GROUP}:{vp.id}" in keys and f"unitdigest:2026-12-07:{OTHER}:{pc.id}" in keys
    group = [r for r in rows if r.chat_id == GROUP]
    assert len(group) == 1 and group[0].person_id is None
    assert "Danh sách nhiệm vụ tuần của Quý đơn vị <b>Văn phòng Bộ (VP)</b>" in group[0].text
    assert group[0].text == next(r.text for r in rows if r.person_id == w.people["lan"])
    # Planned again: nothing new.
    await plan_digests(db, settings=settings(), now=NOW)
    assert len(await outbox(db, "unitdigest:")) == len(rows)


async def test_what_was_queued_for_a_group_is_not_sent_once_it_is_unlinked(db: Database) -> None:
    vp = await _unit(db, await add_unit(db, "VP", "Văn phòng Bộ"))
    async with db.session() as session:
        await link_group(session, unit=vp, chat_id=GROUP, title="Nhóm VP", person_id=None, now=CREATED)
        await enqueue(
            session,
            [
                Outgoing(key=f"new:abc:{GROUP}", kind=OutboxKind.NEW_COMMITMENT, chat_id=GROUP, text="🆕"),
                Outgoing(key="new:abc:7", kind=OutboxKind.NEW_COMMITMENT, chat_id=7, person_id=None, text="🆕"),
            ],
            now=CREATED,
        )
        await unlink_group(session, chat_id=GROUP, person_id=None, now=CREATED)
    rows = {r.chat_id: r for r in await outbox(db, "new:")}
    assert rows[GROUP].status == OutboxStatus.FAILED and rows[GROUP].last_error == UNLINKED_ERROR
    assert rows[7].status == OutboxStatus.PENDING
