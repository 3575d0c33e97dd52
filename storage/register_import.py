"""Importing register files (SPEC "Register files"): all or nothing, idempotent, with a report.

One transaction upserts units and commitments in bulk, writes an event per real change and replans what it
touched; see docs/ARCHITECTURE.md, "Register files".
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.batches import chunks
from storage.db import Database
from storage.models import Commitment, Event, Kind, Status, Unit
from storage.register_files import (
    MSG_CANNOT_READ,
    CommitmentRecord,
    Problem,
    RegisterFiles,
    Row,
    Table,
    UnitRecord,
    check_references,
    read_register_files,
    sort_problems,
)
from storage.scopes import Scope, outside_scope, refresh_paths

CHUNK = 5000  # keys per IN (…) query: well under SQLite's and PostgreSQL's parameter limits


@dataclass
class ImportReport:
    """What an import did, or why it did nothing (`problems`)."""

    problems: list[Problem] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    units_created: int = 0
    units_updated: int = 0
    units_unchanged: int = 0
    commitments_created: int = 0
    commitments_updated: int = 0
    commitments_unchanged: int = 0
    created_ids: list[int] = field(default_factory=list)  # the new commitments (their units are told)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def changed(self) -> bool:
        return bool(self.units_created or self.units_updated or self.commitments_created or self.commitments_updated)


async def import_files(
    db: Database,
    paths: Sequence[Path | str],
    *,
    now: datetime,
    actor_label: str = "import",
    actor_id: int | None = None,
    on_created: Callable[[AsyncSession, Sequence[int]], Awaitable[object]] | None = None,
) -> ImportReport:
    """`qmsbot import FILE...`: read the files and import them (see `import_sources`)."""
    sources: list[tuple[str, bytes]] = []
    problems: list[Problem] = []
    for path in paths:
        try:
            data = await asyncio.to_thread(Path(path).read_bytes)
        except OSError as exc:
            problems.append(Problem(str(path), 0, "", MSG_CANNOT_READ, {"error": exc.strerror or str(exc)}))
            continue
        sources.append((str(path), data))
    if problems:
        return ImportReport(problems=problems)
    return await import_sources(db, sources, now=now, actor_label=actor_label, actor_id=actor_id, on_created=on_created)


async def import_sources(
    db: Database,
    sources: Sequence[tuple[str, bytes]],
    *,
    now: datetime,
    actor_label: str = "import",
    actor_id: int | None = None,
    on_created: Callable[[AsyncSession, Sequence[int]], Awaitable[object]] | None = None,
    scope: Scope | None = None,
) -> ImportReport:
    """Import (file name, content) pairs — files given on the command line or sent in a chat.

    All or nothing: the returned report either lists problems (and nothing was written) or counts what was
    created, updated and left unchanged. `on_created` runs in the import's transaction with the new
    commitments' ids (their units' notices).
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    files = await asyncio.to_thread(read_register_files, list(sources))
    async with db.session() as session:
        units = await _load_units(session)
        by_id = {u.id: u for u in units}
        parents = {u.key: (by_id[u.parent_id].key if u.parent_id in by_id else None) for u in units}
        problems = files.problems + check_references(files, parents)
        if scope is not None:  # a scoped secretary's import: a row outside the scope is a bad row
            problems += outside_scope(files, parents, scope)
        if problems:
            order = {name: i for i, (name, _data) in enumerate(sources)}
            return ImportReport(problems=sort_problems(problems, order), tables=files.tables)
        writer = _Writer(session, now=now, actor_label=actor_label, actor_id=actor_id, units=units)
        await writer.write(files)
        if on_created is not None and writer.report.created_ids:
            await on_created(session, writer.report.created_ids)
        return writer.report


# ---------------------------------------------------------------------------------------------------------
# Writing


@dataclass(slots=True)
class _UnitState:
    id: int
    code: str
    name: str
    parent_id: int | None

    @property
    def key(self) -> str:
        return self.code.upper()


@dataclass(slots=True)
class _CommitmentState:
    id: int
    ref: str | None
    unit_id: int
    title: str
    kind: Kind
    due_date: date
    legal_basis: str
    source: str
    recurrence: str
    version: int


_COMMITMENT_COLUMNS = (
    Commitment.id,
    Commitment.ref,
    Commitment.unit_id,
    Commitment.title,
    Commitment.kind,
    Commitment.due_date,
    Commitment.legal_basis,
    Commitment.source,
    Commitment.recurrence,
    Commitment.version,
)


async def _load_units(session: AsyncSession) -> list[_UnitState]:
    result = await session.execute(select(Unit.id, Unit.code, Unit.name, Unit.parent_id))
    return [_UnitState(*row) for row in result]


class _Writer:
    def __init__(
        self,
        session: AsyncSession,
        *,
        now: datetime,
        actor_label: str,
        actor_id: int | None,
        units: list[_UnitState],
    ) -> None:
        self.session = session
        self.now = now
        self.actor_label = actor_label
        self.actor_id = actor_id
        self.units_by_key = {u.key: u for u in units}
        self.units_by_id = {u.id: u for u in units}
        self.events: list[dict[str, Any]] = []
        self.report = ImportReport()

    async def write(self, files: RegisterFiles) -> None:
        self.report.tables = files.tables
        await self._units(files.units)
        await self._commitments(files.commitments)
        if self.events:
            await self.session.execute(insert(Event), self.events)

    def _event(
        self,
        action: str,
        *,
        unit_id: int | None,
        commitment_id: int | None = None,
        field: str = "",
        old: object = None,
        new: object = None,
    ) -> None:
        # The same row storage.events.record writes, collected for one executemany.
        self.events.append(
            {
                "at": self.now,
                "action": action,
                "actor_id": self.actor_id,
                "actor_label": self.actor_label,
                "commitment_id": commitment_id,
                "unit_id": unit_id,
                "field": field,
                "old_value": None if old is None else str(old),
                "new_value": None if new is None else str(new),
                "note": "",
            }
        )

    async def _insert(self, table: Any, rows: list[dict[str, Any]], keys: Sequence[Any]) -> list[Any]:
        """INSERT … RETURNING id and `keys`, in chunks (each a few multi-row statements)."""
        inserted: list[Any] = []
        for chunk in chunks(rows, CHUNK):
            result = await self.session.execute(insert(table).returning(table.c.id, *keys), chunk)
            inserted.extend(result.all())
        return inserted

    def _unit_code(self, unit_id: int | None) -> str | None:
        unit = self.units_by_id.get(unit_id) if unit_id is not None else None
        return unit.code if unit else None

    # Units -------------------------------------------------------------------------------------------

    async def _units(self, rows: list[Row[UnitRecord]]) -> None:
        fresh = [row.record for row in rows if row.record.key not in self.units_by_key]
        created: set[int] = set()
        if fresh:
            inserted = await self._insert(
                Unit.__table__,
                [
                    {"code": r.code, "code_key": r.key, "name": r.name, "parent_id": None, "created_at": self.now}
                    for r in fresh
                ],
                (Unit.__table__.c.code_key,),
            )
            ids = {code_key: unit_id for unit_id, code_key in inserted}
            for record in fresh:
                unit_id = ids[record.key]
                state = _UnitState(unit_id, record.code, record.name, None)
                self.units_by_key[state.key] = state
                self.units_by_id[unit_id] = state
                created.add(unit_id)
                self._event("created", unit_id=unit_id, new=record.code)

        updates: list[dict[str, Any]] = []
        for row in rows:
            record = row.record
            state = self.units_by_key[record.key]
            values: dict[str, Any] = {}
            is_new = state.id in created
            if not is_new and record.code != state.code:
                values["code"] = record.code
                self._event("updated", unit_id=state.id, field="code", old=state.code, new=record.code)
            if not is_new and record.name != state.name:
                values["name"] = record.name
                self._event("updated", unit_id=state.id, field="name", old=state.name, new=record.name)
            if "parent_code" in row.columns:
                parent = self.units_by_key[record.parent_code.upper()] if record.parent_code else None
                parent_id = parent.id if parent else None
                if parent_id != state.parent_id:
                    values["parent_id"] = parent_id
                    if not is_new:
                        old = self._unit_code(state.parent_id)
                        self._event("updated", unit_id=state.id, field="parent", old=old, new=parent and parent.code)
            if values:
                updates.append({"id": state.id, **values})
                if not is_new:
                    self.report.units_updated += 1
            if not is_new and not values:
                self.report.units_unchanged += 1
            # Later rows (and commitments) see the unit as the file leaves it.
            state.code = record.code
            state.name = record.name
            if "parent_id" in values:
                state.parent_id = values["parent_id"]
        self.report.units_created = len(created)
        if updates:
            await self.session.execute(update(Unit), updates)
            await refresh_paths(self.session)  # the tree's paths follow its parents (storage.scopes)

    # Commitments -------------------------------------------------------------------------------------

    async def _commitments(self, rows: list[Row[CommitmentRecord]]) -> None:
        loaded: dict[int, _CommitmentState] = {}

        def keep(result: Any) -> Iterator[_CommitmentState]:
            for values in result:
                state = loaded.get(values.id)
                if state is None:
                    state = loaded[values.id] = _CommitmentState(*values)
                yield state

        refs = sorted({row.record.ref for row in rows if row.record.ref})
        by_ref: dict[str, _CommitmentState] = {}
        for ref_chunk in chunks(refs, CHUNK):
            result = await self.session.execute(select(*_COMMITMENT_COLUMNS).where(Commitment.ref.in_(ref_chunk)))
            for state in keep(result):
                by_ref[state.ref or ""] = state

        # Rows matched by unit + title + due: those without a ref, and those whose ref is new (a row the
        # register already has without a ref gets it).
        unit_ids = sorted(
            {
                self.units_by_key[row.record.unit_key].id
                for row in rows
                if not row.record.ref or row.record.ref not in by_ref
            }
        )
        by_key: dict[tuple[int, str, date], list[_CommitmentState]] = defaultdict(list)
        for chunk in chunks(unit_ids, CHUNK):
            result = await self.session.execute(select(*_COMMITMENT_COLUMNS).where(Commitment.unit_id.in_(chunk)))
            for state in keep(result):
                by_key[(state.unit_id, state.title, state.due_date)].append(state)
        for candidates in by_key.values():
            candidates.sort(key=lambda c: (c.ref is not None, c.id))

        matches: list[_CommitmentState | None] = [None] * len(rows)
        claimed: set[int] = set()
        for index, row in enumerate(rows):
            found = by_ref.get(row.record.ref) if row.record.ref else None
            if found is not None:
                matches[index] = found
                claimed.add(found.id)

        def by_content(index: int, row: Row[CommitmentRecord], *, unkeyed_only: bool) -> None:
            record = row.record
            key = (self.units_by_key[record.unit_key].id, record.title, record.due)
            for candidate in by_key.get(key, ()):
                if candidate.id in claimed or (unkeyed_only and candidate.ref is not None):
                    continue
                matches[index] = candidate
                claimed.add(candidate.id)
                return

        for index, row in enumerate(rows):
            if row.record.ref and matches[index] is None:
                by_content(index, row, unkeyed_only=True)
        for index, row in enumerate(rows):
            if not row.record.ref:
                by_content(index, row, unkeyed_only=False)

        fresh: list[CommitmentRecord] = []
        updates: list[dict[str, Any]] = []
        for row, match in zip(rows, matches, strict=True):
            if match is None:
                fresh.append(row.record)
                continue
            values = self._commitment_changes(row, match)
            if values:
                # Any change (deadline, kind, unit, title …) replans the row: next_slot_at = NULL in the same
                # executemany UPDATE is what storage.planning.replan writes, without a second statement per chunk.
                updates.append(
                    {
                        "id": match.id,
                        **values,
                        "version": match.version + 1,
                        "updated_at": self.now,
                        "next_slot_at": None,
                    }
                )
                self.report.commitments_updated += 1
            else:
                self.report.commitments_unchanged += 1

        if fresh:
            table = Commitment.__table__
            inserted = await self._insert(
                table,
                [self._new_commitment(record) for record in fresh],
                (table.c.ref, table.c.unit_id, table.c.title, table.c.due_date),
            )
            # Rows come back in no guaranteed order: pair them up by content. Rows that share it (no ref,
            # same unit, title and due) are alike, so which id goes with which does not matter.
            ids: dict[tuple[Any, ...], list[int]] = defaultdict(list)
            for commitment_id, *key in inserted:
                ids[tuple(key)].append(commitment_id)
            for record in fresh:
                unit_id = self.units_by_key[record.unit_key].id
                commitment_id = ids[(record.ref or None, unit_id, record.title, record.due)].pop()
                self.report.created_ids.append(commitment_id)
                self._event(
                    "created",
                    unit_id=self.units_by_key[record.unit_key].id,
                    commitment_id=commitment_id,
                    new=record.title,
                )
            self.report.commitments_created = len(fresh)
        if updates:
            await self.session.execute(update(Commitment), updates)

    def _new_commitment(self, record: CommitmentRecord) -> dict[str, Any]:
        return {
            "ref": record.ref or None,
            "unit_id": self.units_by_key[record.unit_key].id,
            "title": record.title,
            "kind": record.kind,
            "due_date": record.due,
            "legal_basis": record.legal_basis,
            "source": record.source,
            "recurrence": record.recurrence,
            "previous_id": None,
            "status": Status.OPEN,
            "progress": 0,
            "done_at": None,
            "created_at": self.now,
            "updated_at": self.now,
            "version": 1,
            # NULL is "plan me" (storage.planning): a new row is replanned by being inserted, in this transaction.
            "next_slot_at": None,
        }

    def _commitment_changes(self, row: Row[CommitmentRecord], state: _CommitmentState) -> dict[str, Any]:
        record = row.record
        values: dict[str, Any] = {}

        def change(column: str, event_field: str, old: Any, new: Any, old_shown: Any = None, new_shown: Any = None):
            if old == new:
                return
            values[column] = new
            self._event(
                "updated",
                unit_id=values.get("unit_id", state.unit_id),
                commitment_id=state.id,
                field=event_field,
                old=old if old_shown is None else old_shown,
                new=new if new_shown is None else new_shown,
            )

        if record.ref and state.ref is None:
            change("ref", "ref", None, record.ref)
        unit_id = self.units_by_key[record.unit_key].id
        change("unit_id", "unit", state.unit_id, unit_id, self._unit_code(state.unit_id), self._unit_code(unit_id))
        change("title", "title", state.title, record.title)
        change("kind", "kind", state.kind, record.kind)
        change("due_date", "due_date", state.due_date, record.due)
        for name in ("legal_basis", "source", "recurrence"):
            if name in row.columns:
                change(name, name, getattr(state, name), getattr(record, name))
        return values
