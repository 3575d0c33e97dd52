"""A synthetic register, built fast with bulk inserts: units, their focal points and heads, secretaries,
and open commitments with due dates spread around `today`.

Deterministic for a given shape and seed. Rows are generated and inserted in chunks, so memory stays flat
whatever the size (a national register: 30,000 units, 300,000 commitments).

With a `Tick`, the register is laid out so that one chosen planner tick queues a chosen number of focal-point
reminders and nothing else: the commitments of that tick (enough of them, on units drawn at random among those
with a reachable focal point, for their reachable focal points to add up to the number) are due on a date
whose reminder falls on the tick, and every other commitment's due date is drawn again until the policy gives
it no slot at all on the tick's date.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import insert, text

from scheduler.calendar import WorkCalendar
from scheduler.policy import FOCAL, CommitmentView, ReminderPolicy, slots_between
from storage.db import Database
from storage.models import Commitment, Kind, Membership, Person, Role, Status, Unit

LEGAL_BASES = ("118/2009/QĐ-TTg", "19/2014/QĐ-TTg", "101/2018/NĐ-CP", "26/2014/TT-BKHCN")
SOURCES = ("1131/TB-BKHCN", "2570/QĐ-BKHCN", "")


@dataclass(frozen=True)
class Shape:
    units: int
    commitments: int
    focal_per_unit: int = 2
    heads_per_unit: int = 1
    secretaries: int = 5
    without_focal: float = 0.02  # share of units that have no focal point at all
    unreachable: float = 0.01  # share of people who blocked the bot
    legal_share: float = 0.5
    due_from_days: int = -20  # due dates uniformly in [today + from, today + to]
    due_to_days: int = 365
    seed: int = 1


@dataclass(frozen=True)
class Tick:
    """The planner tick at `at` must queue `reminders` focal-point reminders (± 0) and nothing else."""

    at: datetime
    reminders: int
    policy: ReminderPolicy
    calendar: WorkCalendar


@dataclass
class Built:
    units: int = 0
    people: int = 0
    memberships: int = 0
    commitments: int = 0
    tick_commitments: int = 0  # with a Tick: the commitments due at it
    tick_reminders: int = 0  # with a Tick: the reminders it should queue (their units' reachable focal points)


class _TickLayout:
    """Which due dates have a slot at the tick (any audience), by kind; the due date of the tick's commitments."""

    PREFERRED = (7, 3, 1, 0, 14, 30)  # days from the tick's date to the due date, most typical first

    def __init__(self, tick: Tick) -> None:
        self.tick = tick
        self._audiences: dict[tuple[Kind, date], frozenset[str]] = {}
        day = tick.at.astimezone(tick.policy.tz).date()
        for k in (*self.PREFERRED, *range(60)):
            due = day + timedelta(days=k)
            if all(self.audiences(kind, due) == {FOCAL} for kind in Kind):
                self.due = due
                break
        else:
            raise ValueError(f"no due date gives a focal reminder and nothing else at {tick.at}")

    def audiences(self, kind: Kind, due: date) -> frozenset[str]:
        found = self._audiences.get((kind, due))
        if found is None:
            view = CommitmentView(id=0, kind=kind, due=due)
            tick = self.tick
            slots = slots_between(view, tick.policy, tick.calendar, tick.at - timedelta(minutes=1), tick.at)
            found = self._audiences[(kind, due)] = frozenset(slot.audience for slot in slots)
        return found


def _chunks(rows: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def build_register(
    db: Database, shape: Shape, *, today: date, now: datetime, chunk: int = 20_000, tick: Tick | None = None
) -> Built:
    """Insert the register into an empty, migrated database, in one transaction (laid out for `tick`, if given)."""
    rng = random.Random(shape.seed)
    created = now - timedelta(days=90)
    built = Built()
    people: list[tuple[int, Role, int | None]] = []  # (person id, role, unit id)
    next_person = 1

    def unit_rows() -> Iterator[dict[str, Any]]:
        for uid in range(1, shape.units + 1):
            code = f"DV{uid:05d}"
            yield {"id": uid, "code": code, "code_key": code, "name": f"Đơn vị {uid}", "created_at": created}

    for uid in range(1, shape.units + 1):
        focal = 0 if rng.random() < shape.without_focal else shape.focal_per_unit
        for role, count in ((Role.FOCAL, focal), (Role.HEAD, shape.heads_per_unit)):
            for _ in range(count):
                people.append((next_person, role, uid))
                next_person += 1
    for _ in range(shape.secretaries):
        people.append((next_person, Role.SECRETARY, None))
        next_person += 1
    # Drawn here, in the order the rows were drawn before a Tick existed: the default register is unchanged.
    reachable = [rng.random() >= shape.unreachable for _ in people]

    layout: _TickLayout | None = None
    tick_units: list[int] = []  # the unit of each commitment due at the tick
    tick_ids: dict[int, int] = {}  # commitment id → index in tick_units
    if tick is not None:
        layout = _TickLayout(tick)
        focal_reachable = [0] * (shape.units + 1)
        for (_pid, role, unit), ok in zip(people, reachable, strict=True):
            if role == Role.FOCAL and ok and unit is not None:
                focal_reachable[unit] += 1
        picker = random.Random(shape.seed + 7)
        left = tick.reminders
        attempts = 0
        while left > 0:
            uid = picker.randint(1, shape.units)
            attempts += 1
            if focal_reachable[uid] == 0 and attempts < 100 * shape.units:
                continue  # no reminder there, only a notice to the secretaries: not what the tick is about
            if focal_reachable[uid] > left and attempts < 100 * shape.units:
                continue  # the last few: a unit with fewer reachable focal points, so that the count is exact
            tick_units.append(uid)
            left -= focal_reachable[uid]
        if len(tick_units) > shape.commitments:
            raise ValueError(
                f"{tick.reminders:,} reminders at the tick need {len(tick_units):,} commitments;"
                f" the register has {shape.commitments:,}"
            )
        ids = picker.sample(range(1, shape.commitments + 1), len(tick_units))
        tick_ids = {cid: n for n, cid in enumerate(sorted(ids))}
        built.tick_commitments = len(tick_units)
        built.tick_reminders = sum(focal_reachable[uid] for uid in tick_units)

    def person_rows() -> Iterator[dict[str, Any]]:
        for (pid, _role, _unit), ok in zip(people, reachable, strict=True):
            yield {
                "id": pid,
                "telegram_id": 1_000_000_000 + pid,
                "full_name": f"Cán bộ {pid}",
                "username": None,
                "language": "en" if pid % 10 == 0 else None,
                "reachable": ok,
                "has_started": True,
                "created_at": created,
                "last_seen_at": None,
            }

    def membership_rows() -> Iterator[dict[str, Any]]:
        for n, (pid, role, uid) in enumerate(people, start=1):
            yield {"id": n, "person_id": pid, "unit_id": uid, "role": role, "origin": "invite", "created_at": created}

    def commitment_rows() -> Iterator[dict[str, Any]]:
        for cid in range(1, shape.commitments + 1):
            legal = rng.random() < shape.legal_share
            kind = Kind.LEGAL if legal else Kind.INTERNAL
            unit_id = rng.randint(1, shape.units)
            due = today + timedelta(days=rng.randint(shape.due_from_days, shape.due_to_days))
            if layout is not None:
                if cid in tick_ids:
                    unit_id, due = tick_units[tick_ids[cid]], layout.due
                else:  # nothing at all at the tick: no reminder, no overdue repeat, no escalation
                    while layout.audiences(kind, due):
                        due = today + timedelta(days=rng.randint(shape.due_from_days, shape.due_to_days))
            yield {
                "id": cid,
                "ref": None,
                "unit_id": unit_id,
                "title": f"Nhiệm vụ số {cid}: báo cáo tình hình áp dụng hệ thống quản lý chất lượng",
                "kind": kind,
                "due_date": due,
                "legal_basis": rng.choice(LEGAL_BASES) if legal else "",
                "source": rng.choice(SOURCES),
                "recurrence": "",
                "previous_id": None,
                "status": Status.OPEN,
                "progress": 0,
                "done_at": None,
                "created_at": created,
                "updated_at": created,
                "version": 1,
            }

    async with db.engine.begin() as connection:
        for table, rows, field in (
            (Unit, unit_rows(), "units"),
            (Person, person_rows(), "people"),
            (Membership, membership_rows(), "memberships"),
            (Commitment, commitment_rows(), "commitments"),
        ):
            for part in _chunks(rows, chunk):
                await connection.execute(insert(table), part)
                setattr(built, field, getattr(built, field) + len(part))
        if connection.dialect.name == "postgresql":
            # The ids above are written, not drawn: the sequences must start after them for rows made later.
            for name in ("units", "people", "memberships", "commitments"):
                await connection.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))")
                )
    return built
