"""Scopes: the units a secretary manages, as ranges of materialised paths (docs/ARCHITECTURE.md, "Scopes").

A unit's path is the code keys from the root down, "/MOST/BNV/VPB/"; a secretary invited for BNV manages every
unit whose path starts with "/MOST/BNV/", one range of the units.path index. Secretaries in SECRETARY_IDS
(memberships without a unit) and admins have the whole register: their scope is None.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.batches import chunks
from core.i18n import N_
from storage.models import Commitment, ExtensionRequest, Membership, Person, Role, Unit
from storage.planning import PersonInfo
from storage.register_files import Problem, RegisterFiles

SEP = "/"
# The character after SEP: every path under P is >= P and < P[:-1] + AFTER (codes never hold SEP).
AFTER = chr(ord(SEP) + 1)
_CHUNK = 500


def path_of(parent_path: str | None, code_key: str) -> str:
    return f"{parent_path or SEP}{code_key}{SEP}"


def _under(column: Any, path: str) -> ColumnElement[bool]:
    return and_(column >= path, column < path[:-1] + AFTER)


@dataclass(frozen=True)
class Scope:
    """The subtrees of some units (the roots): what a secretary invited for those units manages."""

    roots: tuple[int, ...]
    paths: tuple[str, ...]  # the roots' paths, none inside another

    @staticmethod
    def of(roots: Iterable[tuple[int, str]]) -> Scope:
        """A scope from (unit id, path) pairs; a root inside another root's subtree adds nothing."""
        kept: list[tuple[int, str]] = []
        for uid, path in sorted(set(roots), key=lambda r: (len(r[1]), r[1])):
            if not any(path.startswith(p) for _u, p in kept):
                kept.append((uid, path))
        kept.sort(key=lambda r: r[1])
        return Scope(tuple(u for u, _p in kept), tuple(p for _u, p in kept))

    def covers(self, path: str) -> bool:
        return any(path.startswith(p) for p in self.paths)

    def condition(self, column: Any = None) -> ColumnElement[bool]:
        """SQL: the unit (whose path is `column`, by default units.path) is in the scope."""
        column = Unit.path if column is None else column
        return or_(*(_under(column, p) for p in self.paths)) if self.paths else false()

    def rollup_key(self, path: str) -> str | None:
        """The path of the row a unit counts in, in a digest of this scope: the root's child that holds it (or
        the root itself, for the root's own commitments); None outside the scope."""
        for root in self.paths:
            if path.startswith(root):
                rest = path[len(root) :]
                return root if not rest else root + rest.split(SEP, 1)[0] + SEP
        return None


def register_scope(units: Iterable[tuple[int, str]]) -> Scope | None:
    """The whole register as a digest's scope, from every unit's (id, path): None when it is flat (each unit is
    its own row already); its one top-level unit when there is one (a national root over the ministries: the
    ministries are the rows); otherwise the root above every top-level unit (they are the rows)."""
    tops: list[tuple[int, str]] = []
    tree = False
    for uid, path in units:
        if path.count(SEP) == 2:
            tops.append((uid, path))
        else:
            tree = True
    if not tree:
        return None
    return Scope.of(tops) if len(tops) == 1 else Scope((), (SEP,))


@dataclass(frozen=True)
class Reach:
    """What a person may see in lists: everything, or a scope's units and their own units."""

    everything: bool = False
    scope: Scope | None = None
    unit_ids: frozenset[int] = field(default_factory=frozenset)

    def condition(self) -> ColumnElement[bool] | None:
        """SQL on units (path, id): None when there is nothing to filter."""
        if self.everything:
            return None
        parts: list[ColumnElement[bool]] = []
        if self.scope is not None:
            parts.append(self.scope.condition())
        if self.unit_ids:
            parts.append(Unit.id.in_(sorted(self.unit_ids)))
        return or_(*parts) if parts else false()

    def covers(self, unit: Unit) -> bool:
        return self.everything or unit.id in self.unit_ids or (self.scope is not None and self.scope.covers(unit.path))


EVERYTHING = Reach(everything=True)


def limited_to(query: Any, reach: Reach | None) -> Any:
    """`query` (which reads units) limited to `reach` (None: not limited)."""
    condition = reach.condition() if reach is not None else None
    return query if condition is None else query.where(condition)


def in_scope(scope: Scope | None, unit: Unit) -> bool:
    """Whether a secretary of `scope` (None: the whole register) manages `unit`."""
    return scope is None or scope.covers(unit.path)


async def unit_paths(session: AsyncSession, unit_ids: Iterable[int]) -> dict[int, str]:
    found: dict[int, str] = {}
    for chunk in chunks(sorted(set(unit_ids)), _CHUNK):
        rows = await session.execute(select(Unit.id, Unit.path).where(Unit.id.in_(chunk)))
        found.update((int(uid), str(path)) for uid, path in rows.tuples())
    return found


# --- Keeping paths -----------------------------------------------------------------------------------------


async def refresh_paths(session: AsyncSession) -> int:
    """Give every unit the path its parents make (after an import created or moved units); returns how many
    changed. One read of (id, parent, code) — 30,000 units are a few tens of milliseconds — and one executemany
    of the changed rows; a move carries its whole subtree with it."""
    rows = (await session.execute(select(Unit.id, Unit.parent_id, Unit.code_key, Unit.path))).tuples().all()
    parent = {uid: pid for uid, pid, _key, _path in rows}
    key = {uid: code_key for uid, _pid, code_key, _path in rows}
    found: dict[int, str] = {}
    for start in parent:
        chain: list[int] = []
        at: int | None = start
        # The importer refuses loops; a loop met here all the same ends the climb as if at a root.
        while at is not None and at not in found and at in key and at not in chain:
            chain.append(at)
            at = parent.get(at)
        prefix = found[at] if at is not None and at in found else SEP
        for uid in reversed(chain):
            prefix = found[uid] = path_of(prefix, key[uid])
    changed = [{"id": uid, "path": found[uid]} for uid, _pid, _key, path in rows if found[uid] != path]
    if changed:
        await session.execute(update(Unit), changed)
    return len(changed)


# --- Who manages a unit -------------------------------------------------------------------------------------

_PERSON = (Person.id, Person.telegram_id, Person.full_name, Person.username, Person.language, Person.reachable)


@dataclass(frozen=True)
class Secretaries:
    """The committee as scopes see it: who has the whole register, and who manages which subtree."""

    whole: list[PersonInfo]  # admins and secretaries without a unit, by name
    scoped: list[tuple[int, str, PersonInfo]]  # (root unit, its path, secretary) of every scoped secretary, by name

    def of_path(self, path: str) -> list[PersonInfo]:
        """Everyone whose scope covers the unit at `path`, once each: the whole register's first, then by name."""
        found = {p.id: p for p in self.whole}
        for _unit, root, person in self.scoped:
            if path.startswith(root) and person.id not in found:
                found[person.id] = person
        return list(found.values())

    def scopes(self) -> list[tuple[Scope, list[PersonInfo]]]:
        """Each scoped secretary's scope, with everyone who has exactly that scope (for one digest each)."""
        roots: dict[int, list[tuple[int, str]]] = {}
        people: dict[int, PersonInfo] = {}
        for unit_id, path, person in self.scoped:
            roots.setdefault(person.id, []).append((unit_id, path))
            people[person.id] = person
        found: dict[Scope, list[PersonInfo]] = {}
        for pid, person_roots in roots.items():
            found.setdefault(Scope.of(person_roots), []).append(people[pid])
        return sorted(found.items(), key=lambda item: item[0].paths)


async def secretaries(session: AsyncSession) -> Secretaries:
    """Every admin and secretary with their scope, in two small reads."""
    whole_ids = select(Membership.person_id).where(
        or_(Membership.role == Role.ADMIN, and_(Membership.role == Role.SECRETARY, Membership.unit_id.is_(None)))
    )
    by_name = (Person.full_name, Person.id)
    rows = await session.execute(select(*_PERSON).where(Person.id.in_(whole_ids)).order_by(*by_name))
    whole = [PersonInfo(*row) for row in rows.tuples()]
    have = {p.id for p in whole}
    paths = await session.execute(
        select(Unit.id, Unit.path, *_PERSON)
        .join(Membership, Membership.person_id == Person.id)
        .join(Unit, Unit.id == Membership.unit_id)
        .where(Membership.role == Role.SECRETARY)
        .order_by(*by_name, Unit.path)
    )
    scoped = [
        (unit_id, path, PersonInfo(pid, tid, name, username, language, reachable))
        for unit_id, path, pid, tid, name, username, language, reachable in paths.tuples()
        if pid not in have
    ]
    return Secretaries(whole, scoped)


async def secretaries_of_units(
    session: AsyncSession, unit_ids: Iterable[int], committee: Secretaries | None = None
) -> dict[int, list[PersonInfo]]:
    """THE "secretaries of this unit's scope": for each unit, every admin and secretary whose scope covers it."""
    committee = committee if committee is not None else await secretaries(session)
    ids = sorted(set(unit_ids))
    if not committee.scoped:
        return {uid: list(committee.whole) for uid in ids}
    paths = await unit_paths(session, ids)
    return {uid: committee.of_path(paths[uid]) if uid in paths else list(committee.whole) for uid in ids}


async def request_unit(session: AsyncSession, *, request_id: int) -> Unit | None:
    """The unit of an extension request's commitment, for authorising its decision."""
    return await session.scalar(
        select(Unit)
        .join(Commitment, Commitment.unit_id == Unit.id)
        .join(ExtensionRequest, ExtensionRequest.commitment_id == Commitment.id)
        .where(ExtensionRequest.id == request_id)
    )


async def people_units(session: AsyncSession, person_ids: Iterable[int]) -> dict[int, list[int]]:
    """The units each person has a role in (focal, head, or secretary of a subtree), for whom to tell about them."""
    found: dict[int, list[int]] = {}
    for chunk in chunks(sorted(set(person_ids)), _CHUNK):
        rows = await session.execute(
            select(Membership.person_id, Membership.unit_id)
            .where(Membership.person_id.in_(chunk), Membership.unit_id.is_not(None))
            .order_by(Membership.person_id, Membership.unit_id)
        )
        for pid, unit_id in rows.tuples():
            if unit_id is not None:
                found.setdefault(int(pid), []).append(int(unit_id))
    return found


async def unit_codes_within(
    session: AsyncSession, reach: Reach, codes: Sequence[str] | None
) -> tuple[list[str], list[str]]:
    """The codes, as the register writes them, of the named units (None: every unit) within `reach`, and the
    named codes that name no unit there (an existing unit outside the scope is as unknown as a wrong code)."""
    query = limited_to(select(Unit.code_key, Unit.code), reach)
    if codes is None:
        return [code for _key, code in (await session.execute(query.order_by(Unit.code_key))).tuples()], []
    keys = [code.strip().upper() for code in codes]
    known = {key: code for key, code in (await session.execute(query.where(Unit.code_key.in_(keys)))).tuples()}
    found = list(dict.fromkeys(known[key] for key in keys if key in known))
    return found, [code for code, key in zip(codes, keys, strict=True) if key not in known]


# --- Imports by a scoped secretary --------------------------------------------------------------------------

MSG_OUTSIDE = N_("{value} is not a unit of your scope")


def outside_scope(files: RegisterFiles, existing_parents: Mapping[str, str | None], scope: Scope) -> list[Problem]:
    """The rows of a scoped secretary's import that name a unit outside their scope, as it will stand after the
    import (a new unit must hang below the scope, an existing one must not be moved out of it): bad rows, so the
    import writes nothing. `existing_parents`: the register's units, key → parent key."""
    roots = {path.rstrip(SEP).rsplit(SEP, 1)[-1] for path in scope.paths}
    parents = dict(existing_parents)
    for row in files.units:
        if "parent_code" in row.columns:
            parents[row.record.key] = row.record.parent_code.upper() or None
        else:
            parents.setdefault(row.record.key, None)
    now_inside: dict[str, bool] = {}
    then_inside: dict[str, bool] = {}

    def covered(key: str, parents: Mapping[str, str | None], inside: dict[str, bool]) -> bool:
        chain: list[str] = []
        at: str | None = key
        while at is not None and at not in inside and at not in roots and at not in chain:
            chain.append(at)
            at = parents.get(at)
        if at is None or at in chain:  # up to a top unit outside the scope (or round a loop, reported already)
            verdict = False
        else:
            verdict = at in roots or inside[at]
        for node in chain:
            inside[node] = verdict
        return verdict

    def allowed(key: str) -> bool:
        """In the scope after the import, and, for a unit the register has, before it too."""
        before = key not in existing_parents or covered(key, existing_parents, now_inside)
        return before and covered(key, parents, then_inside)

    problems = []
    for unit in files.units:
        key = unit.record.key
        # A scope's own root stays where the committee above put it.
        moved = key in roots and "parent_code" in unit.columns and parents[key] != existing_parents.get(key)
        if moved or not allowed(key):
            column = "parent_code" if key in existing_parents and "parent_code" in unit.columns else "code"
            problems.append(Problem(unit.file, unit.line, column, MSG_OUTSIDE, {"value": unit.record.code}, unit.sheet))
    for item in files.commitments:
        if not allowed(item.record.unit_key):
            value = item.record.unit_code
            problems.append(Problem(item.file, item.line, "unit_code", MSG_OUTSIDE, {"value": value}, item.sheet))
    return problems
