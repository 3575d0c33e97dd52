"""People and their roles: who is admin, secretary, head or focal point of which unit.

`Actor` is what authorisation looks at: it is resolved from the sender's Telegram id and the database,
never from what a message or a button claims.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.events import record
from storage.models import UNIT_ROLES, Membership, OutboxMessage, OutboxStatus, Person, Role, Unit
from storage.planning import replan
from storage.scopes import EVERYTHING, Reach, Scope, in_scope, secretaries_of_units

UNREACHABLE_ERROR = "recipient unreachable (blocked the bot or never started it)"


@dataclass(frozen=True)
class Actor:
    telegram_id: int
    person_id: int | None
    name: str
    language: str | None
    is_admin: bool = False
    is_secretary: bool = False
    # unit id → the roles held there (focal, head)
    unit_roles: dict[int, frozenset[Role]] = field(default_factory=dict)
    # What a secretary manages (storage.scopes): None, the whole register; else the subtrees of their units.
    scope: Scope | None = None

    @property
    def is_committee(self) -> bool:
        """Secretaries (of any scope) and admins: the committee's commands, inside their scope."""
        return self.is_admin or self.is_secretary

    @property
    def whole_register(self) -> bool:
        """Admins and the secretaries of SECRETARY_IDS or invited without a unit: every unit is theirs."""
        return self.is_admin or (self.is_secretary and self.scope is None)

    def manages(self, unit: Unit) -> bool:
        """A secretary's rights over `unit` (decisions, invites, reopen): inside their scope only."""
        return self.is_admin or (self.is_secretary and in_scope(self.scope, unit))

    @property
    def reach(self) -> Reach:
        """What lists show this person: everything, or their scope and their own units (storage.scopes)."""
        if self.whole_register:
            return EVERYTHING
        return Reach(scope=self.scope if self.is_secretary else None, unit_ids=self.unit_ids)

    @property
    def is_member(self) -> bool:
        return self.is_committee or bool(self.unit_roles)

    @property
    def unit_ids(self) -> frozenset[int]:
        return frozenset(self.unit_roles)

    def can_see(self, unit: Unit) -> bool:
        """The one check of "may this person see this unit's commitments": their own units, or their scope."""
        return unit.id in self.unit_roles or self.manages(unit)


async def get_person(session: AsyncSession, *, telegram_id: int) -> Person | None:
    return await session.scalar(select(Person).where(Person.telegram_id == telegram_id))


async def touch_person(
    session: AsyncSession,
    *,
    telegram_id: int,
    full_name: str,
    username: str | None,
    language_code: str | None,
    now: datetime,
) -> Person:
    """Create or refresh the person who just wrote; writing to the bot makes them reachable again."""
    person = await get_person(session, telegram_id=telegram_id)
    if person is None:
        person = Person(
            telegram_id=telegram_id,
            full_name=full_name,
            username=username,
            language=None,
            reachable=True,
            has_started=True,
            created_at=now,
            last_seen_at=now,
        )
        session.add(person)
        await session.flush()
        return person
    person.full_name = full_name or person.full_name
    person.username = username
    await set_reachable(session, person=person)
    person.has_started = True
    person.last_seen_at = now
    return person


async def set_reachable(session: AsyncSession, *, person: Person) -> bool:
    """The person can be written to again (they wrote to the bot, or unblocked it); True if they could not.

    Reachable again: the open commitments of their units are planned anew in this transaction, so the
    latest due reminder of each reaches them at the planner's next tick (the blocked ones are not resent).
    """
    if person.reachable:
        return False
    person.reachable = True
    await replan(session, person_ids=[person.id])
    return True


async def resolve_actor(
    session: AsyncSession,
    *,
    telegram_id: int,
    fallback_name: str = "",
    fallback_language: str | None = None,
    admin_ids: Iterable[int] = (),
    secretary_ids: Iterable[int] = (),
) -> Actor:
    person = await get_person(session, telegram_id=telegram_id)
    is_admin = telegram_id in set(admin_ids)
    is_secretary = telegram_id in set(secretary_ids)
    unit_roles: dict[int, set[Role]] = {}
    roots: list[tuple[int, str]] = []
    whole = is_admin or is_secretary
    if person is not None:
        rows = await session.execute(
            select(Membership.role, Membership.unit_id, Unit.path)
            .outerjoin(Unit, Unit.id == Membership.unit_id)
            .where(Membership.person_id == person.id)
        )
        for role, unit_id, path in rows.tuples():
            if role == Role.ADMIN:
                is_admin = whole = True
            elif role == Role.SECRETARY:
                is_secretary = True
                if unit_id is None:
                    whole = True
                else:
                    roots.append((unit_id, path))
            elif unit_id is not None:
                unit_roles.setdefault(unit_id, set()).add(role)
    return Actor(
        telegram_id=telegram_id,
        person_id=person.id if person else None,
        name=(person.full_name if person and person.full_name else fallback_name),
        language=(person.language if person and person.language else fallback_language),
        is_admin=is_admin,
        is_secretary=is_secretary,
        unit_roles={unit: frozenset(roles) for unit, roles in unit_roles.items()},
        scope=None if whole else Scope.of(roots),
    )


async def bootstrap_roles(
    session: AsyncSession, *, admin_ids: Iterable[int], secretary_ids: Iterable[int], now: datetime
) -> None:
    """Keep the roles given by ADMIN_IDS / SECRETARY_IDS in step with the settings.

    People named there exist from the start (so digests and escalations reach them, or report them
    unreachable), and a role removed from the settings is removed from the database.
    """
    wanted = {(tid, Role.ADMIN) for tid in admin_ids} | {(tid, Role.SECRETARY) for tid in secretary_ids}
    existing = await session.execute(
        select(Membership, Person.telegram_id)
        .join(Person, Person.id == Membership.person_id)
        .where(Membership.origin == "config")
    )
    have = set()
    for membership, telegram_id in existing:
        key = (telegram_id, membership.role)
        if key in wanted:
            have.add(key)
        else:
            await session.delete(membership)
    for telegram_id, role in sorted(wanted - have):
        person = await get_person(session, telegram_id=telegram_id)
        if person is None:
            person = Person(telegram_id=telegram_id, full_name="", reachable=True, has_started=False, created_at=now)
            session.add(person)
            await session.flush()
        session.add(Membership(person_id=person.id, unit_id=None, role=role, origin="config", created_at=now))


async def add_membership(
    session: AsyncSession, *, person_id: int, role: Role, unit_id: int | None, now: datetime
) -> bool:
    """Give a role; False when the person already had it."""
    query = select(Membership).where(Membership.person_id == person_id, Membership.role == role)
    query = query.where(Membership.unit_id.is_(None) if unit_id is None else Membership.unit_id == unit_id)
    if await session.scalar(query) is not None:
        return False
    session.add(Membership(person_id=person_id, unit_id=unit_id, role=role, origin="invite", created_at=now))
    return True


async def set_language(session: AsyncSession, *, telegram_id: int, language: str) -> None:
    person = await get_person(session, telegram_id=telegram_id)
    if person is not None:
        person.language = language


async def unit_people(
    session: AsyncSession, *, unit_ids: Iterable[int], roles: Iterable[Role] = UNIT_ROLES
) -> dict[int, list[tuple[Person, Role]]]:
    """People of each unit with their role, for /units, reminders and broadcasts."""
    ids = list(unit_ids)
    result: dict[int, list[tuple[Person, Role]]] = {uid: [] for uid in ids}
    if not ids:
        return result
    rows = await session.execute(
        select(Membership.unit_id, Membership.role, Person)
        .join(Person, Person.id == Membership.person_id)
        .where(Membership.unit_id.in_(ids), Membership.role.in_(list(roles)))
        .order_by(Person.full_name)
    )
    for unit_id, role, person in rows:
        result[unit_id].append((person, role))
    return result


async def reachable_focal_points(session: AsyncSession, *, unit_id: int) -> list[Person]:
    """The unit's focal points who can be reached, by name (who is told of a change to the unit's work)."""
    rows = await session.scalars(
        select(Person)
        .join(Membership, Membership.person_id == Person.id)
        .where(Membership.unit_id == unit_id, Membership.role == Role.FOCAL, Person.reachable.is_(True))
        .order_by(Person.full_name)
        .distinct()
    )
    return list(rows)


async def committee(session: AsyncSession, *, unit_id: int | None = None) -> list[Person]:
    """The secretaries and admins of `unit_id`'s scope (storage.scopes: the whole register's and those whose
    subtree holds the unit); without a unit, every secretary and admin."""
    query = select(Person).join(Membership, Membership.person_id == Person.id)
    query = query.where(Membership.role.in_([Role.SECRETARY, Role.ADMIN]))
    if unit_id is not None:
        ids = (await secretaries_of_units(session, [unit_id])).get(unit_id, [])
        query = query.where(Person.id.in_([p.id for p in ids]))
    return list(await session.scalars(query.distinct()))


async def mark_unreachable(session: AsyncSession, *, person_id: int, now: datetime, reason: str) -> bool:
    """The person cannot be reached (403, or they blocked the bot): stop sending to them; the committee will know.

    Their pending outbox rows become `blocked`; they are marked unreachable, with an "unreachable" event, and
    that event is left for the next planning tick to tell the secretaries (`people.unreachable_notice_event`:
    every person who became unreachable since the last tick is listed in one notice per secretary). Sends
    nothing itself. Returns True when the person was reachable until now.
    """
    person = await session.get(Person, person_id)
    if person is None:
        return False
    await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.status == OutboxStatus.PENDING,
            or_(OutboxMessage.person_id == person_id, OutboxMessage.chat_id == person.telegram_id),
        )
        .values(status=OutboxStatus.BLOCKED, last_error=UNREACHABLE_ERROR)
        .execution_options(synchronize_session=False)
    )
    changed = await session.execute(
        update(Person)
        .where(Person.id == person_id, Person.reachable.is_(True))
        .values(reachable=False)
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        return False
    event = record(session, at=now, action="unreachable", actor_id=person_id, note=reason)
    await session.flush()
    await session.execute(
        update(Person)
        .where(Person.id == person_id)
        .values(unreachable_notice_event=event.id)
        .execution_options(synchronize_session=False)
    )
    return True
