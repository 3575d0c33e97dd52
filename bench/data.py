"""A synthetic register, built fast with bulk inserts: units, their focal points and heads, secretaries,
and open commitments with due dates spread around `today`.

Deterministic for a given shape and seed. Rows are generated and inserted in chunks, so memory stays flat
whatever the size (a national register: 30,000 units, 300,000 commitments).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import insert

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


@dataclass
class Built:
    units: int = 0
    people: int = 0
    memberships: int = 0
    commitments: int = 0


def _chunks(rows: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def build_register(db: Database, shape: Shape, *, today: date, now: datetime, chunk: int = 20_000) -> Built:
    """Insert the register into an empty, migrated database, in one transaction."""
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

    def person_rows() -> Iterator[dict[str, Any]]:
        for pid, _role, _unit in people:
            yield {
                "id": pid,
                "telegram_id": 1_000_000_000 + pid,
                "full_name": f"Cán bộ {pid}",
                "username": None,
                "language": "en" if pid % 10 == 0 else None,
                "reachable": rng.random() >= shape.unreachable,
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
            yield {
                "id": cid,
                "ref": None,
                "unit_id": rng.randint(1, shape.units),
                "title": f"Nhiệm vụ số {cid}: báo cáo tình hình áp dụng hệ thống quản lý chất lượng",
                "kind": Kind.LEGAL if legal else Kind.INTERNAL,
                "due_date": today + timedelta(days=rng.randint(shape.due_from_days, shape.due_to_days)),
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
    return built
