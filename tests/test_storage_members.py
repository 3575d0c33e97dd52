"""People, roles and invites on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from storage.db import Database
from storage.invites import Redeem, create_invite, redeem_invite
from storage.members import bootstrap_roles, resolve_actor, set_reachable, touch_person
from storage.migrate import current_revision
from storage.models import Commitment, Event, Kind, Membership, Person, Role, Status, Unit


async def _unit(db: Database, now, code: str = "VPB") -> int:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        unit = Unit(code=code, code_key=code.upper(), name=f"Unit {code}", created_at=now)
        session.add(unit)
        await session.flush()
        return unit.id


async def test_schema_is_at_head(db: Database) -> None:
    assert await current_revision(db.engine) is not None
    await db.upgrade()  # running it again changes nothing and does not fail


async def test_bootstrap_roles_follow_the_settings(db: Database, now) -> None:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        await bootstrap_roles(session, admin_ids=[1], secretary_ids=[2, 3], now=now)
    async with db.session() as session:
        await bootstrap_roles(session, admin_ids=[1], secretary_ids=[2, 3], now=now)  # idempotent
        assert await session.scalar(select(func.count()).select_from(Membership)) == 3
    async with db.session() as session:
        await bootstrap_roles(session, admin_ids=[1], secretary_ids=[3], now=now)
    async with db.session() as session:
        two = await resolve_actor(session, telegram_id=2)
        three = await resolve_actor(session, telegram_id=3)
        one = await resolve_actor(session, telegram_id=1)
    assert not two.is_secretary and three.is_secretary and one.is_admin and one.is_committee


async def test_invite_links_once(db: Database, now) -> None:  # type: ignore[no-untyped-def]
    unit_id = await _unit(db, now)
    async with db.session() as session:
        invite = await create_invite(session, role=Role.FOCAL, unit_id=unit_id, created_by_id=None, now=now, ttl_days=7)
        alice = await touch_person(
            session, telegram_id=100, full_name="Alice", username=None, language_code="vi", now=now
        )
        bob = await touch_person(session, telegram_id=200, full_name="Bob", username=None, language_code="vi", now=now)
    assert 32 <= len(invite.code) <= 64
    async with db.session() as session:
        first = await redeem_invite(session, code=invite.code, person_id=alice.id, now=now)
    async with db.session() as session:
        second = await redeem_invite(session, code=invite.code, person_id=bob.id, now=now)
        actor = await resolve_actor(session, telegram_id=100)
        stranger = await resolve_actor(session, telegram_id=200)
        linked_events = await session.scalar(select(func.count()).select_from(Event).where(Event.action == "linked"))
    assert first.outcome is Redeem.LINKED and second.outcome is Redeem.USED
    assert actor.unit_ids == {unit_id} and not stranger.is_member
    assert linked_events == 1


async def test_expired_and_unknown_invites_change_nothing(db: Database, now) -> None:  # type: ignore[no-untyped-def]
    unit_id = await _unit(db, now)
    async with db.session() as session:
        invite = await create_invite(session, role=Role.HEAD, unit_id=unit_id, created_by_id=None, now=now, ttl_days=7)
        person = await touch_person(session, telegram_id=5, full_name="C", username=None, language_code=None, now=now)
    later = now + timedelta(days=7, seconds=1)
    async with db.session() as session:
        expired = await redeem_invite(session, code=invite.code, person_id=person.id, now=later)
        unknown = await redeem_invite(session, code="nope", person_id=person.id, now=now)
        memberships = await session.scalar(select(func.count()).select_from(Membership))
    assert expired.outcome is Redeem.EXPIRED and unknown.outcome is Redeem.UNKNOWN
    assert memberships == 0


async def test_sqlite_keeps_foreign_keys_and_wal(sqlite_db: Database) -> None:
    from sqlalchemy import text

    async with sqlite_db.engine.connect() as connection:
        assert (await connection.execute(text("PRAGMA foreign_keys"))).scalar() == 1
        assert (await connection.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
    from sqlalchemy.exc import IntegrityError

    try:
        async with sqlite_db.session() as session:
            session.add(
                Membership(
                    person_id=424242,
                    unit_id=None,
                    role=Role.SECRETARY,
                    origin="invite",
                    created_at=datetime(2026, 1, 1, tzinfo=UTC),
                )
            )
    except IntegrityError:
        pass
    else:
        raise AssertionError("a membership of a person who does not exist was accepted")


async def test_reachable_again_replans_the_units_open_commitments(db: Database, now) -> None:  # type: ignore[no-untyped-def]
    unit_id = await _unit(db, now)
    other_id = await _unit(db, now, "TTB")
    later = datetime(2030, 1, 1, tzinfo=UTC)
    async with db.session() as session:
        person = await touch_person(
            session, telegram_id=100, full_name="An", username=None, language_code="vi", now=now
        )
        session.add(Membership(person_id=person.id, unit_id=unit_id, role=Role.FOCAL, origin="invite", created_at=now))
        for uid, status in ((unit_id, Status.OPEN), (unit_id, Status.DONE), (other_id, Status.OPEN)):
            session.add(
                Commitment(
                    unit_id=uid,
                    title=f"{uid} {status.value}",
                    kind=Kind.INTERNAL,
                    due_date=now.date(),
                    status=status,
                    created_at=now,
                    updated_at=now,
                    next_slot_at=later,
                )
            )
        person.reachable = False
    async with db.session() as session:
        person = await session.get(Person, person.id)
        assert person is not None
        assert await set_reachable(session, person=person)
        assert not await set_reachable(session, person=person)  # reachable already: nothing to do
    async with db.session() as session:
        slots = {c.title: c.next_slot_at for c in await session.scalars(select(Commitment))}
        assert (await session.get(Person, person.id)).reachable  # type: ignore[union-attr]
    assert slots == {f"{unit_id} open": None, f"{unit_id} done": later, f"{other_id} open": later}
