"""storage.campaigns on SQLite and PostgreSQL: which units a selector names, Confirm once (even twice at the same
moment), numbers without gaps, and each unit's standing."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update

from storage import campaigns
from storage.campaigns import Confirmed, Standing, Target
from storage.db import Database
from storage.models import Campaign, Commitment, Event, Kind, Person, Status, Unit

AT = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
DUE = date(2026, 12, 15)
TZ = ZoneInfo("Asia/Ho_Chi_Minh")


async def _tree(db: Database) -> tuple[dict[str, int], int]:
    """BKHCN ← BYT ← (BYT.VP, BYT.PC ← BYT.PC.1), BKHCN ← BTC; and a secretary."""
    tree = (
        ("BKHCN", None),
        ("BYT", "BKHCN"),
        ("BTC", "BKHCN"),
        ("BYT.VP", "BYT"),
        ("BYT.PC", "BYT"),
        ("BYT.PC.1", "BYT.PC"),
    )
    ids: dict[str, int] = {}
    async with db.session() as session:
        for code, parent in tree:
            unit = Unit(code=code, code_key=code, name=code, parent_id=ids.get(parent or ""), created_at=AT)
            session.add(unit)
            await session.flush()
            ids[code] = unit.id
        person = Person(telegram_id=10, full_name="Thư ký", created_at=AT)
        session.add(person)
        await session.flush()
        return ids, person.id


async def _codes(db: Database, targets: list[Target] | None) -> tuple[list[str], list[str]]:
    async with db.session() as session:
        found = await campaigns.resolve_targets(session, targets)
    return [u.code for u in found.units], found.unknown


async def _draft(db: Database, unit_ids: list[int], secretary: int) -> int:
    async with db.session() as session:
        draft = await campaigns.create_draft(
            session,
            title="Gửi kế hoạch",
            kind=Kind.INTERNAL,
            due=DUE,
            selector="@x",
            unit_ids=unit_ids,
            created_by_id=secretary,
            chat_id=10,
            now=AT,
        )
        return draft.id


async def _confirm(db: Database, campaign_id: int, secretary: int) -> Confirmed:
    async with db.session() as session:
        draft = await campaigns.get_draft(session, campaign_id=campaign_id, created_by_id=secretary)
        assert draft is not None
        return (await campaigns.confirm(session, campaign=draft, actor_id=secretary, now=AT)).outcome


async def test_selectors_name_each_unit_once_and_subtrees_follow_the_parents(db: Database) -> None:
    await _tree(db)
    assert await _codes(db, [Target("BYT", subtree=True)]) == (["BYT", "BYT.PC", "BYT.VP", "BYT.PC.1"], [])
    assert await _codes(db, [Target("btc"), Target("BYT"), Target("BTC")]) == (["BTC", "BYT"], [])
    assert await _codes(db, [Target("BYT.VP"), Target("BYT", subtree=True)]) == (
        ["BYT.VP", "BYT", "BYT.PC", "BYT.PC.1"],
        [],
    )
    assert (await _codes(db, None))[0] == ["BKHCN", "BTC", "BYT", "BYT.PC", "BYT.PC.1", "BYT.VP"]
    assert await _codes(db, [Target("BYT"), Target("XYZ"), Target("NOPE", subtree=True)]) == ([], ["XYZ", "NOPE"])


async def test_a_loop_in_the_parents_ends(db: Database) -> None:
    ids, _ = await _tree(db)
    async with db.session() as session:
        await session.execute(update(Unit).where(Unit.id == ids["BKHCN"]).values(parent_id=ids["BYT.PC.1"]))
    codes, _ = await _codes(db, [Target("BYT", subtree=True)])
    assert sorted(codes) == sorted(ids)  # the whole loop, each unit once


async def test_confirm_creates_once_even_twice_at_the_same_moment(db: Database) -> None:
    ids, secretary = await _tree(db)
    units = [ids["BYT"], ids["BYT.VP"], ids["BTC"]]
    cancelled = await _draft(db, units, secretary)
    async with db.session() as session:
        draft = await campaigns.get_draft(session, campaign_id=cancelled, created_by_id=secretary)
        assert draft is not None and await campaigns.cancel(session, campaign=draft)
    assert await _confirm(db, cancelled, secretary) == Confirmed.CANCELLED

    first = await _draft(db, units, secretary)
    outcomes = await asyncio.gather(_confirm(db, first, secretary), _confirm(db, first, secretary))
    assert sorted(o.value for o in outcomes) == ["already", "created"]
    second = await _draft(db, [ids["BKHCN"]], secretary)
    assert await _confirm(db, second, secretary) == Confirmed.CREATED
    async with db.session() as session:
        numbers = dict((await session.execute(select(Campaign.id, Campaign.number))).tuples().all())
        assert numbers == {cancelled: None, first: 1, second: 2}  # a cancelled preview takes no number
        per_campaign = dict(
            (await session.execute(select(Commitment.campaign_id, func.count()).group_by(Commitment.campaign_id)))
            .tuples()
            .all()
        )
        assert per_campaign == {first: 3, second: 1}
        created = await session.scalar(select(func.count()).select_from(Event).where(Event.action == "created"))
        assert created == 4
        # another secretary's draft is not theirs to confirm
        assert await campaigns.get_draft(session, campaign_id=first, created_by_id=secretary + 1) is None


async def test_each_unit_stands_where_its_commitment_is(db: Database) -> None:
    ids, secretary = await _tree(db)
    units = [ids[c] for c in ("BYT", "BYT.VP", "BYT.PC", "BTC", "BKHCN")]
    campaign_id = await _draft(db, units, secretary)
    await _confirm(db, campaign_id, secretary)
    async with db.session() as session:
        rows = dict((await session.execute(select(Commitment.unit_id, Commitment.id))).tuples().all())
        # on time: done late evening of the due date, Hanoi time; late: the next morning
        on_time = datetime(2026, 12, 15, 16, 30, tzinfo=UTC)  # 23:30 in Hanoi
        for unit, values in (
            ("BYT", {"status": Status.DONE, "done_at": on_time}),
            ("BYT.VP", {"status": Status.DONE, "done_at": on_time + timedelta(hours=1)}),
            ("BYT.PC", {"status": Status.IN_PROGRESS, "progress": 40}),
            ("BKHCN", {"status": Status.CANCELLED}),
        ):
            await session.execute(update(Commitment).where(Commitment.id == rows[ids[unit]]).values(**values))
    async with db.session() as session:
        campaign = await campaigns.find_campaign(session, number=1)
        assert campaign is not None
        before = await campaigns.campaign_report(session, campaign=campaign, today=date(2026, 12, 10), tz=TZ)
        after = await campaigns.campaign_report(session, campaign=campaign, today=date(2026, 12, 16), tz=TZ)
    standing = {line.unit_code: line.standing for line in before.lines}
    assert standing == {
        "BYT": Standing.DONE_ON_TIME,
        "BYT.VP": Standing.DONE_LATE,
        "BYT.PC": Standing.IN_PROGRESS,
        "BTC": Standing.OPEN,
        "BKHCN": Standing.CANCELLED,
    }
    assert [line.unit_code for line in after.lines] == ["BTC", "BYT.PC", "BYT.VP", "BYT", "BKHCN"]  # overdue first
    assert after.count(Standing.OVERDUE) == 2 and after.count(Standing.IN_PROGRESS) == 0
