"""The weekly digest's numbers (SPEC "Weekly digest"): aggregate queries, no rendering, no policy.

Counts per unit from one GROUP BY; lists read capped with their full count. Definitions: docs/ARCHITECTURE.md,
"Digests".
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Date, and_, case, cast, func, literal_column, or_, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from core.batches import chunks
from storage.db import dialect_of
from storage.models import (
    OPEN_STATUSES,
    Commitment,
    ExtensionRequest,
    ExtensionStatus,
    Membership,
    OutboxMessage,
    OutboxStatus,
    Person,
    Role,
    Status,
    Unit,
)
from storage.scopes import AFTER, Reach, Scope, limited_to, register_scope

# Failures that are not failed deliveries: the sender drops a reminder whose commitment was closed meanwhile
# (scheduler.drain.CLOSED_ERROR; tests/test_digest.py checks they agree).
MOOT_ERRORS = ("commitment closed",)

OVERDUE_LIMIT = 30
PENDING_LIMIT = 20
UNREACHABLE_LIMIT = 20
FAILED_LIMIT = 10
UNIT_ITEMS_LIMIT = 30
_CHUNK = 500  # ids per IN (…) list


@dataclass(frozen=True)
class DigestWindow:
    """The instant of the digest and the dates its definitions use."""

    now: datetime
    tz: ZoneInfo

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:
            raise ValueError("now must be timezone-aware")

    @property
    def today(self) -> date:
        return self.now.astimezone(self.tz).date()

    @property
    def since(self) -> datetime:
        """Start of "last week": the 7 days up to now."""
        return self.now - timedelta(days=7)

    @property
    def soon_until(self) -> date:
        return self.today + timedelta(days=7)

    @property
    def list_until(self) -> date:
        return self.today + timedelta(days=14)


@dataclass(slots=True)
class UnitCounts:
    """One unit's row of the per-unit table and of the chart."""

    unit_id: int
    code: str
    name: str
    open: int = 0
    overdue: int = 0
    due_soon: int = 0  # open, due today … today + 7
    listed: int = 0  # open, due up to today + 14, overdue included: the unit's own weekly list
    done_week: int = 0
    done_week_on_time: int = 0
    done_dated: int = 0  # every done commitment with a done_at
    done_on_time: int = 0

    @property
    def other_open(self) -> int:
        """Open, neither overdue nor due within 7 days."""
        return self.open - self.overdue - self.due_soon

    @property
    def active(self) -> bool:
        """Worth a row in the table and a bar in the chart: something open or done last week."""
        return self.open > 0 or self.done_week > 0


@dataclass
class Totals:
    open: int = 0
    overdue: int = 0
    due_soon: int = 0
    done_week: int = 0
    done_week_on_time: int = 0
    done_dated: int = 0
    done_on_time: int = 0

    @staticmethod
    def of(units: Iterable[UnitCounts]) -> Totals:
        totals = Totals()
        for u in units:
            totals.open += u.open
            totals.overdue += u.overdue
            totals.due_soon += u.due_soon
            totals.done_week += u.done_week
            totals.done_week_on_time += u.done_week_on_time
            totals.done_dated += u.done_dated
            totals.done_on_time += u.done_on_time
        return totals

    @property
    def week_rate(self) -> float | None:
        """Share of last week's done commitments done by their deadline (None: none done)."""
        return self.done_week_on_time / self.done_week if self.done_week else None

    @property
    def overall_rate(self) -> float | None:
        return self.done_on_time / self.done_dated if self.done_dated else None


@dataclass(frozen=True, slots=True)
class DigestItem:
    """An open commitment in a list (overdue items, a unit's weekly list)."""

    id: int
    unit_id: int
    unit_code: str
    title: str
    due_date: date
    status: Status
    progress: int


@dataclass(frozen=True)
class UnitNoFocal:
    unit_id: int
    code: str
    name: str
    linked: int  # focal points linked, all unreachable (0: none linked)


@dataclass(frozen=True)
class PersonRef:
    id: int
    telegram_id: int
    full_name: str
    username: str | None
    reachable: bool = False


@dataclass(frozen=True)
class UnreachablePerson:
    person: PersonRef
    roles: tuple[tuple[Role, str | None], ...]  # (role, unit code or None for secretary/admin)


@dataclass(frozen=True)
class PendingExtension:
    id: int
    commitment_id: int
    unit_code: str
    title: str
    old_due: date
    new_due: date
    reason: str
    requested_at: datetime
    requested_by: PersonRef | None


@dataclass(frozen=True)
class FailedDelivery:
    kind: str
    chat_id: int
    error: str
    at: datetime
    person: PersonRef | None


@dataclass
class CommitteeData:
    """Everything the committee digest shows."""

    window: DigestWindow
    units: list[UnitCounts]  # every unit with a commitment that is not cancelled, by code
    overdue: list[DigestItem]  # the first OVERDUE_LIMIT, oldest deadline first
    without_focal: list[UnitNoFocal]  # every unit without a reachable focal point
    unreachable: list[UnreachablePerson]
    unreachable_total: int
    pending: list[PendingExtension]
    pending_total: int
    failed: list[FailedDelivery]
    failed_total: int
    blocked_total: int  # messages not delivered last week because the person blocked the bot
    # A scoped secretary's digest: their roots (code, name), and `units` rolled up to one row per child of a
    # root; `detail` keeps each unit's own counts (None: `units` are the units themselves).
    scope_units: list[tuple[str, str]] = field(default_factory=list)
    detail: list[UnitCounts] | None = None
    totals: Totals = field(init=False)

    def __post_init__(self) -> None:
        self.totals = Totals.of(self.units)

    @property
    def active_units(self) -> list[UnitCounts]:
        return [u for u in self.units if u.active]


@dataclass(frozen=True)
class Recipient:
    person_id: int
    telegram_id: int
    language: str | None


# --- Queries --------------------------------------------------------------------------------------------------


def _local_date(session: AsyncSession, column: Any, window: DigestWindow) -> Any:
    if dialect_of(session) == "postgresql":
        return cast(func.timezone(window.tz.key, column), Date)
    offset = window.now.astimezone(window.tz).utcoffset() or timedelta(0)
    return func.date(column, f"{int(offset.total_seconds() // 60):+d} minutes")


def _sum(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _scan(session: AsyncSession, column: Any) -> Any:
    """On SQLite, `+column`: the same value, but the query planner will not use an index for it.

    Aggregating the whole register is one sequential scan (~0.4 s for 300,000 rows); through the (unit_id, status)
    or (status, due_date) index it is one random row lookup per commitment (~0.9 s). PostgreSQL chooses well
    by itself.
    """
    if dialect_of(session) != "sqlite":
        return column
    return type_coerce(literal_column(f"+{column.table.name}.{column.name}"), column.type)


async def unit_counts(session: AsyncSession, window: DigestWindow, within: Reach | None = None) -> list[UnitCounts]:
    """Per-unit counts in one GROUP BY (unit, status), for every unit (within `within`) with a commitment that is
    not cancelled, by code. A scope is read through the units.path index, not by a scan of the register."""
    c = Commitment
    today = window.today
    whole = within is None or within.everything
    unit_id, status = (_scan(session, c.unit_id), _scan(session, c.status)) if whole else (c.unit_id, c.status)
    done_week = and_(c.done_at >= window.since, c.done_at <= window.now)
    on_time = and_(c.done_at.is_not(None), _local_date(session, c.done_at, window) <= c.due_date)
    query = select(
        unit_id,
        status,
        func.count(),
        _sum(c.due_date < today),
        _sum(and_(c.due_date >= today, c.due_date <= window.soon_until)),
        _sum(c.due_date <= window.list_until),
        _sum(done_week),
        _sum(and_(done_week, on_time)),
        _sum(c.done_at.is_not(None)),
        _sum(on_time),
    )
    if not whole:
        query = limited_to(query.join(Unit, Unit.id == c.unit_id), within)
    rows = await session.execute(query.where(status != Status.CANCELLED).group_by(unit_id, status))
    counts: dict[int, UnitCounts] = {}
    for uid, state, n, overdue, soon, listed, week, week_on_time, dated, on_time_all in rows.tuples():
        unit = counts.get(uid)
        if unit is None:
            unit = counts[uid] = UnitCounts(uid, "", "")
        if state in OPEN_STATUSES:
            unit.open += int(n)
            unit.overdue += int(overdue)
            unit.due_soon += int(soon)
            unit.listed += int(listed)
        elif state == Status.DONE:
            unit.done_week += int(week)
            unit.done_week_on_time += int(week_on_time)
            unit.done_dated += int(dated)
            unit.done_on_time += int(on_time_all)
    found = []
    for uid, code, name in (
        await session.execute(limited_to(select(Unit.id, Unit.code, Unit.name), within).order_by(Unit.code_key))
    ).tuples():
        unit = counts.get(uid)
        if unit is not None:
            unit.code, unit.name = code, name
            found.append(unit)
    return found


def _item_columns() -> tuple[Any, ...]:
    c = Commitment
    return (c.id, c.unit_id, Unit.code, c.title, c.due_date, c.status, c.progress)


async def overdue_items(
    session: AsyncSession, window: DigestWindow, *, limit: int = OVERDUE_LIMIT, within: Reach | None = None
) -> list[DigestItem]:
    """The open commitments past their deadline (within `within`), oldest deadline first, at most `limit`.

    A scope reads its own units' commitments through the (unit_id, status) index and sorts those few: walking
    the register's overdue items in deadline order (the (status, due_date) index) until 30 fall in a small
    scope reads most of them (~0.25 s at national size, per scope)."""
    c = Commitment
    query = select(*_item_columns()).join(Unit, Unit.id == c.unit_id)
    if within is None or within.everything:
        query = query.where(c.status.in_(list(OPEN_STATUSES)), c.due_date < window.today).order_by(c.due_date)
    else:
        due, status = _scan(session, c.due_date), _scan(session, c.status)
        query = limited_to(query, within).where(status.in_(list(OPEN_STATUSES)), due < window.today).order_by(due)
    rows = await session.execute(query.order_by(Unit.code_key, c.id).limit(limit))
    return [DigestItem(*row) for row in rows.tuples()]


async def units_without_focal(session: AsyncSession, within: Reach | None = None) -> list[UnitNoFocal]:
    """Units (within `within`) where no focal point can receive anything: none linked, or every one unreachable."""
    scoped = limited_to(select(Unit.id), within) if within is not None and not within.everything else None
    focal = (
        select(
            Membership.unit_id.label("unit_id"),
            func.count().label("linked"),
            _sum(Person.reachable.is_(True)).label("reachable"),
        )
        .join(Person, Person.id == Membership.person_id)
        .where(Membership.role == Role.FOCAL, Membership.unit_id.is_not(None))
        .where(Membership.unit_id.in_(scoped) if scoped is not None else Membership.unit_id.is_not(None))
        .group_by(Membership.unit_id)
        .subquery()
    )
    rows = await session.execute(
        limited_to(select(Unit.id, Unit.code, Unit.name, func.coalesce(focal.c.linked, 0)), within)
        .outerjoin(focal, focal.c.unit_id == Unit.id)
        .where(or_(focal.c.reachable.is_(None), focal.c.reachable == 0))
        .order_by(Unit.code_key)
    )
    return [UnitNoFocal(uid, code, name, int(linked)) for uid, code, name, linked in rows.tuples()]


_PERSON = (Person.id, Person.telegram_id, Person.full_name, Person.username, Person.reachable)


def _person(values: Sequence[Any]) -> PersonRef | None:
    """A PersonRef from the _PERSON columns of an outer-joined row (None when there was no person)."""
    if values[0] is None:
        return None
    pid, telegram_id, full_name, username, reachable = values
    return PersonRef(int(pid), int(telegram_id), str(full_name or ""), username, bool(reachable))


def _people_within(within: Reach | None) -> Any:
    """The people with a role (within `within`: a role in one of its units)."""
    if within is None or within.everything:
        return select(Membership.person_id)
    return limited_to(select(Membership.person_id).join(Unit, Unit.id == Membership.unit_id), within)


async def unreachable_people(
    session: AsyncSession, *, limit: int = UNREACHABLE_LIMIT, within: Reach | None = None
) -> tuple[list[UnreachablePerson], int]:
    """People with a role (within `within`) who cannot be reached (403), by name, at most `limit`, and how many
    in all."""
    with_role = _people_within(within)
    condition = and_(Person.reachable.is_(False), Person.id.in_(with_role))
    total = int(await session.scalar(select(func.count()).select_from(Person).where(condition)) or 0)
    if not total:
        return [], 0
    rows = await session.execute(select(*_PERSON).where(condition).order_by(Person.full_name, Person.id).limit(limit))
    people = [PersonRef(*row) for row in rows.tuples()]
    roles: dict[int, list[tuple[Role, str | None]]] = {p.id: [] for p in people}
    role_rows = await session.execute(
        select(Membership.person_id, Membership.role, Unit.code)
        .outerjoin(Unit, Unit.id == Membership.unit_id)
        .where(Membership.person_id.in_(list(roles)))
        .order_by(Membership.person_id, Unit.code_key)
    )
    for person_id, role, code in role_rows.tuples():
        roles[person_id].append((role, code))
    return [UnreachablePerson(p, tuple(roles[p.id])) for p in people], total


async def pending_extensions(
    session: AsyncSession, *, limit: int = PENDING_LIMIT, within: Reach | None = None
) -> tuple[list[PendingExtension], int]:
    """Extension requests (within `within`) waiting for a decision, oldest first, at most `limit`, and how many."""
    e = ExtensionRequest
    pending = e.status == ExtensionStatus.PENDING
    counted = (
        select(func.count())
        .select_from(e)
        .join(Commitment, Commitment.id == e.commitment_id)
        .join(Unit, Unit.id == Commitment.unit_id)
        .where(pending)
    )
    total = int(await session.scalar(limited_to(counted, within)) or 0)
    if not total:
        return [], 0
    query = (
        select(
            e.id,
            e.commitment_id,
            Unit.code,
            Commitment.title,
            e.old_due,
            e.new_due,
            e.reason,
            e.requested_at,
            *_PERSON,
        )
        .join(Commitment, Commitment.id == e.commitment_id)
        .join(Unit, Unit.id == Commitment.unit_id)
        .outerjoin(Person, Person.id == e.requested_by_id)
        .where(pending)
    )
    rows = await session.execute(limited_to(query, within).order_by(e.requested_at, e.id).limit(limit))
    found = []
    for rid, cid, code, title, old_due, new_due, reason, at, *person in rows.tuples():
        found.append(PendingExtension(rid, cid, code, title, old_due, new_due, reason or "", at, _person(person)))
    return found, total


async def failed_deliveries(
    session: AsyncSession, window: DigestWindow, *, limit: int = FAILED_LIMIT, within: Reach | None = None
) -> tuple[list[FailedDelivery], int, int]:
    """Deliveries queued last week that failed (latest first, at most `limit`), how many, and how many were blocked;
    within `within`: those to the people of its units."""
    o = OutboxMessage
    recent = o.created_at >= window.since
    if within is not None and not within.everything:
        recent = and_(recent, o.person_id.in_(_people_within(within)))
    failed = and_(recent, o.status == OutboxStatus.FAILED, o.last_error.not_in(MOOT_ERRORS))
    total = int(await session.scalar(select(func.count()).select_from(o).where(failed)) or 0)
    blocked = int(
        await session.scalar(select(func.count()).select_from(o).where(recent, o.status == OutboxStatus.BLOCKED)) or 0
    )
    if not total:
        return [], 0, blocked
    rows = await session.execute(
        select(o.kind, o.chat_id, o.last_error, o.created_at, *_PERSON)
        .outerjoin(Person, Person.id == o.person_id)
        .where(failed)
        .order_by(o.created_at.desc(), o.id.desc())
        .limit(limit)
    )
    found = [
        FailedDelivery(kind, chat_id, error or "", at, _person(person))
        for kind, chat_id, error, at, *person in rows.tuples()
    ]
    return found, total, blocked


async def committee_data(session: AsyncSession, window: DigestWindow, scope: Scope | None = None) -> CommitteeData:
    """Everything the committee digest shows, in one read transaction: of the whole register (`scope` None), or
    of a scoped secretary's subtrees, one row per child of a root rolling up its subtree."""
    within = Reach(scope=scope) if scope is not None else None
    units = await unit_counts(session, window, within)
    unreachable, unreachable_total = await unreachable_people(session, within=within)
    pending, pending_total = await pending_extensions(session, within=within)
    failed, failed_total, blocked_total = await failed_deliveries(session, window, within=within)
    data = CommitteeData(
        window=window,
        units=units,
        overdue=await overdue_items(session, window, within=within),
        without_focal=await units_without_focal(session, within),
        unreachable=unreachable,
        unreachable_total=unreachable_total,
        pending=pending,
        pending_total=pending_total,
        failed=failed,
        failed_total=failed_total,
        blocked_total=blocked_total,
    )
    await _roll_up(session, data, scope)
    return data


async def _roll_up(session: AsyncSession, data: CommitteeData, scope: Scope | None) -> None:
    """`data.units` become one row per child of each root (and one for a root's own commitments); for the whole
    register (None), per top-level unit, or per child of the one top-level unit (storage.scopes.register_scope)."""
    query = select(Unit.id, Unit.code, Unit.name, Unit.path)
    rows = list((await session.execute(query.where(scope.condition()) if scope is not None else query)).tuples())
    rolled = scope if scope is not None else register_scope((uid, path) for uid, _code, _name, path in rows)
    if rolled is not None:
        _roll(data, rolled, {path: (uid, code, name) for uid, code, name, path in rows})


def _roll(data: CommitteeData, scope: Scope, by_path: dict[str, tuple[int, str, str]]) -> None:
    """The roll-up of `data.units` (each unit's own counts, by code) over the scope's units (path → unit)."""
    path_of = {uid: path for path, (uid, _code, _name) in by_path.items()}
    data.scope_units = [(by_path[p][1], by_path[p][2]) for p in scope.paths if p in by_path]
    rolled: dict[str, UnitCounts] = {}
    for unit in data.units:
        key = scope.rollup_key(path_of.get(unit.unit_id, ""))
        if key is None or key not in by_path:
            continue
        row = rolled.get(key)
        if row is None:
            uid, code, name = by_path[key]
            row = rolled[key] = UnitCounts(uid, code, name)
        for counted in _COUNTED:
            setattr(row, counted, getattr(row, counted) + getattr(unit, counted))
    data.detail = data.units
    data.units = sorted(rolled.values(), key=lambda u: u.code.upper())
    data.totals = Totals.of(data.units)


EVERY = 10**9  # no limit: the whole list, to be sliced per scope


async def committee_data_many(
    session: AsyncSession, window: DigestWindow, scopes: Sequence[Scope | None]
) -> list[CommitteeData]:
    """The digests of many scopes at once (a slot's: the national one and every secretariat's), the same as
    `committee_data` of each, from one read of each figure sliced in memory by the units' paths: a hundred scopes
    cost about what the national digest costs, where a query set per scope is ~60 ms at national size."""
    if len(scopes) <= 1:
        return [await committee_data(session, window, scope) for scope in scopes]
    units = sorted(
        (await session.execute(select(Unit.path, Unit.id, Unit.code, Unit.name))).tuples(), key=lambda u: u[0]
    )
    ordered = [path for path, *_rest in units]
    path_by_code = {code: path for path, _uid, code, _name in units}
    counts = await unit_counts(session, window)
    overdue = await overdue_items(session, window, limit=EVERY)
    without_focal = await units_without_focal(session)
    unreachable, unreachable_total = await unreachable_people(session, limit=EVERY)
    pending, pending_total = await pending_extensions(session, limit=EVERY)
    failed, failed_total, blocked_total = await failed_deliveries(session, window, limit=EVERY)
    # Whose people are whose: the units of each person a failure or a block is about.
    o = OutboxMessage
    blocked = await session.execute(
        select(o.person_id, func.count())
        .where(o.created_at >= window.since, o.status == OutboxStatus.BLOCKED, o.person_id.is_not(None))
        .group_by(o.person_id)
    )
    blocked_by = {int(pid): int(n) for pid, n in blocked.tuples() if pid is not None}
    about = sorted({f.person.id for f in failed if f.person is not None} | set(blocked_by))
    person_paths: dict[int, list[str]] = {}
    for chunk in chunks(about, _CHUNK):
        rows = await session.execute(
            select(Membership.person_id, Unit.path)
            .join(Unit, Unit.id == Membership.unit_id)
            .where(Membership.person_id.in_(chunk))
        )
        for pid, path in rows.tuples():
            person_paths.setdefault(int(pid), []).append(path)

    found: list[CommitteeData] = []
    whole = register_scope((uid, path) for path, uid, _code, _name in units)
    for scope in scopes:
        if scope is None:
            national = CommitteeData(
                window=window,
                units=counts,
                overdue=overdue[:OVERDUE_LIMIT],
                without_focal=without_focal,
                unreachable=unreachable[:UNREACHABLE_LIMIT],
                unreachable_total=unreachable_total,
                pending=pending[:PENDING_LIMIT],
                pending_total=pending_total,
                failed=failed[:FAILED_LIMIT],
                failed_total=failed_total,
                blocked_total=blocked_total,
            )
            if whole is not None:
                _roll(national, whole, {path: (uid, code, name) for path, uid, code, name in units})
            found.append(national)
            continue
        by_path: dict[str, tuple[int, str, str]] = {}
        for root in scope.paths:  # a subtree is one run of the paths in order
            start = bisect_left(ordered, root)
            end = bisect_left(ordered, root[:-1] + AFTER)
            by_path.update((path, (uid, code, name)) for path, uid, code, name in units[start:end])
        inside = {uid for uid, _code, _name in by_path.values()}

        def covers(code: str | None, scope: Scope = scope) -> bool:
            return code is not None and code in path_by_code and scope.covers(path_by_code[code])

        def person_in(pid: int | None, scope: Scope = scope) -> bool:
            return pid is not None and any(scope.covers(p) for p in person_paths.get(pid, ()))

        mine_unreachable = [p for p in unreachable if any(covers(code) for _role, code in p.roles)]
        mine_pending = [r for r in pending if covers(r.unit_code)]
        mine_failed = [f for f in failed if f.person is not None and person_in(f.person.id)]
        data = CommitteeData(
            window=window,
            units=[u for u in counts if u.unit_id in inside],
            overdue=[i for i in overdue if i.unit_id in inside][:OVERDUE_LIMIT],
            without_focal=[u for u in without_focal if u.unit_id in inside],
            unreachable=mine_unreachable[:UNREACHABLE_LIMIT],
            unreachable_total=len(mine_unreachable),
            pending=mine_pending[:PENDING_LIMIT],
            pending_total=len(mine_pending),
            failed=mine_failed[:FAILED_LIMIT],
            failed_total=len(mine_failed),
            blocked_total=sum(n for pid, n in blocked_by.items() if person_in(pid)),
        )
        _roll(data, scope, by_path)
        found.append(data)
    return found


_COUNTED = ("open", "overdue", "due_soon", "listed", "done_week", "done_week_on_time", "done_dated", "done_on_time")


# --- A unit's own weekly list ---------------------------------------------------------------------------------


async def unit_items(
    session: AsyncSession, window: DigestWindow, unit_ids: Iterable[int] | None = None
) -> dict[int, list[DigestItem]]:
    """Each unit's open commitments due up to today + 14 (overdue included), by due date; units without any
    are left out. `unit_ids` None: every unit, in one query (a range of the (status, due_date) index: ~20,000
    rows in a national register), rather than one IN list per few hundred units."""
    c = Commitment
    query = (
        select(*_item_columns())
        .join(Unit, Unit.id == c.unit_id)
        .where(c.status.in_(list(OPEN_STATUSES)), c.due_date <= window.list_until)
        .order_by(c.unit_id, c.due_date, c.id)
    )
    found: dict[int, list[DigestItem]] = {}
    parts = (
        [query] if unit_ids is None else [query.where(c.unit_id.in_(p)) for p in chunks(sorted(set(unit_ids)), _CHUNK)]
    )
    for part in parts:
        for row in (await session.execute(part)).tuples():
            found.setdefault(row[1], []).append(DigestItem(*row))
    return found


async def reachable_focal(session: AsyncSession, unit_ids: Iterable[int]) -> dict[int, list[Recipient]]:
    """The reachable focal points of each unit (units with none are left out)."""
    found: dict[int, list[Recipient]] = {}
    for chunk in chunks(sorted(set(unit_ids)), _CHUNK):
        rows = await session.execute(
            select(Membership.unit_id, Person.id, Person.telegram_id, Person.language)
            .join(Person, Person.id == Membership.person_id)
            .where(Membership.unit_id.in_(chunk), Membership.role == Role.FOCAL, Person.reachable.is_(True))
            .order_by(Membership.unit_id, Person.id)
        )
        for unit_id, person_id, telegram_id, language in rows.tuples():
            if unit_id is not None:
                found.setdefault(unit_id, []).append(Recipient(person_id, telegram_id, language))
    return found
