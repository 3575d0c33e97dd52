"""Changing a commitment: done, progress, notes, reopen, evidence, extensions, new commitments.

Each function is one unit of work inside the caller's transaction: it checks the state, changes it with a
conditional UPDATE on the row's version (so two presses at once leave one consistent state and one event
per real change), and writes the event in the same transaction. Authorisation is the caller's (handlers);
these functions enforce only what the state allows.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from core.recurrence import RecurrenceError, next_occurrence
from storage import events
from storage.models import (
    Commitment,
    Evidence,
    ExtensionRequest,
    ExtensionStatus,
    Kind,
    Status,
    Unit,
)

log = logging.getLogger(__name__)


class Outcome(enum.Enum):
    CHANGED = "changed"
    ALREADY_DONE = "already_done"
    NOT_DONE = "not_done"
    CLOSED = "closed"  # cancelled: nothing to update
    STALE = "stale"  # made for an older version of the commitment
    UNCHANGED = "unchanged"
    LEGAL = "legal"  # a legal deadline cannot be moved by the committee
    NOT_LATER = "not_later"  # the new date is not after the current deadline
    IN_PAST = "in_past"
    PENDING_EXISTS = "pending_exists"
    DECIDED = "decided"  # the extension was already decided by someone else
    NOT_FOUND = "not_found"


@dataclass
class Change:
    outcome: Outcome
    commitment: Commitment | None = None
    request: ExtensionRequest | None = None
    done_late: bool = False
    next_occurrence: Commitment | None = None

    @property
    def changed(self) -> bool:
        return self.outcome is Outcome.CHANGED


async def _bump(session: AsyncSession, commitment: Commitment, expected_version: int | None, **values: object) -> bool:
    """Apply `values` only if nobody changed the row since it was read (and, with a button, since it was made)."""
    version = commitment.version if expected_version is None else expected_version
    result = await session.execute(
        update(Commitment)
        .where(Commitment.id == commitment.id, Commitment.version == version)
        .values(version=version + 1, **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    await session.refresh(commitment)
    return True


def _refuse(commitment: Commitment, expected_version: int | None) -> Change | None:
    """Why a done or progress update cannot apply (closed, or a button made for an older version), if it cannot."""
    if commitment.status == Status.DONE:
        return Change(Outcome.ALREADY_DONE, commitment)
    if commitment.status == Status.CANCELLED:
        return Change(Outcome.CLOSED, commitment)
    if expected_version is not None and expected_version != commitment.version:
        return Change(Outcome.STALE, commitment)
    return None


def _event(session: AsyncSession, commitment: Commitment, *, at: datetime, action: str, **details: object) -> None:
    """One event about `commitment`, in the caller's transaction."""
    events.record(
        session,
        at=at,
        action=action,
        commitment_id=commitment.id,
        unit_id=commitment.unit_id,
        **details,  # type: ignore[arg-type]
    )


async def _reload(session: AsyncSession, commitment: Commitment) -> Commitment:
    await session.refresh(commitment)
    return commitment


async def mark_done(
    session: AsyncSession,
    *,
    commitment: Commitment,
    actor_id: int | None,
    now: datetime,
    tz: ZoneInfo,
    note: str = "",
    expected_version: int | None = None,
) -> Change:
    if (refused := _refuse(commitment, expected_version)) is not None:
        return refused
    old = commitment.status
    if not await _bump(
        session, commitment, expected_version, status=Status.DONE, done_at=now, updated_at=now, progress=100
    ):
        fresh = await _reload(session, commitment)
        return Change(Outcome.ALREADY_DONE if fresh.status == Status.DONE else Outcome.STALE, fresh)
    late = now.astimezone(tz).date() > commitment.due_date
    _event(
        session,
        commitment,
        at=now,
        action="done_late" if late else "done",
        actor_id=actor_id,
        field="status",
        old_value=old.value,
        new_value=Status.DONE.value,
        note=note,
    )
    had_next = await session.scalar(select(Commitment.id).where(Commitment.previous_id == commitment.id).limit(1))
    following = None if had_next else await complete_occurrence(session, commitment, now, actor_id=actor_id)
    return Change(Outcome.CHANGED, commitment, done_late=late, next_occurrence=following)


async def complete_occurrence(
    session: AsyncSession,
    commitment: Commitment,
    now: datetime,
    *,
    actor_id: int | None = None,
    actor_label: str = "",
) -> Commitment | None:
    """After an occurrence of a recurring commitment is done: create the next one (or return it if it exists).

    The next row has the same unit, title, kind, legal basis, source and rule, previous_id = this one, the
    next date of the rule strictly after this due date (even if that date has passed too: every period's
    report is owed), no ref (refs are unique: the import keeps updating the first row), and an Event "created".
    None when the commitment does not recur, or its rule has ended or is unusable. The planner picks the new
    row up at its next tick (next_slot_at is NULL).
    """
    if not commitment.recurrence.strip():
        return None
    existing = await session.scalar(
        select(Commitment).where(Commitment.previous_id == commitment.id).order_by(Commitment.id).limit(1)
    )
    if existing is not None:
        return existing
    try:
        due = next_occurrence(commitment.recurrence, commitment.due_date)
    except RecurrenceError as exc:
        log.warning("#%s: recurrence %r unusable: %s", commitment.id, commitment.recurrence, exc)
        return None
    if due is None:
        return None
    following = Commitment(
        ref=None,
        unit_id=commitment.unit_id,
        title=commitment.title,
        kind=commitment.kind,
        due_date=due,
        legal_basis=commitment.legal_basis,
        source=commitment.source,
        recurrence=commitment.recurrence,
        previous_id=commitment.id,
        status=Status.OPEN,
        progress=0,
        done_at=None,
        created_at=now,
        updated_at=now,
        version=1,
        next_slot_at=None,
    )
    session.add(following)
    await session.flush()
    events.record(
        session,
        at=now,
        action="created",
        actor_id=actor_id,
        actor_label=actor_label,
        commitment_id=following.id,
        unit_id=following.unit_id,
        field="due_date",
        old_value=commitment.due_date.isoformat(),
        new_value=due.isoformat(),
        note=f"#{commitment.id}",
    )
    return following


async def set_progress(
    session: AsyncSession,
    *,
    commitment: Commitment,
    percent: int,
    actor_id: int | None,
    now: datetime,
    note: str = "",
    expected_version: int | None = None,
) -> Change:
    if (refused := _refuse(commitment, expected_version)) is not None:
        return refused
    if commitment.status == Status.IN_PROGRESS and commitment.progress == percent and not note:
        return Change(Outcome.UNCHANGED, commitment)
    old = f"{commitment.status.value} {commitment.progress}%"
    if not await _bump(
        session, commitment, expected_version, status=Status.IN_PROGRESS, progress=percent, updated_at=now
    ):
        fresh = await _reload(session, commitment)
        if fresh.status == Status.IN_PROGRESS and fresh.progress == percent:
            return Change(Outcome.UNCHANGED, fresh)
        return Change(Outcome.ALREADY_DONE if fresh.status == Status.DONE else Outcome.STALE, fresh)
    _event(
        session,
        commitment,
        at=now,
        action="progress",
        actor_id=actor_id,
        field="progress",
        old_value=old,
        new_value=f"{Status.IN_PROGRESS.value} {percent}%",
        note=note,
    )
    return Change(Outcome.CHANGED, commitment)


async def add_note(
    session: AsyncSession, *, commitment: Commitment, text: str, actor_id: int | None, now: datetime
) -> Change:
    commitment.updated_at = now
    _event(
        session,
        commitment,
        at=now,
        action="note",
        actor_id=actor_id,
        note=text,
    )
    return Change(Outcome.CHANGED, commitment)


async def reopen(
    session: AsyncSession, *, commitment: Commitment, actor_id: int | None, now: datetime, note: str = ""
) -> Change:
    if commitment.status != Status.DONE:
        return Change(Outcome.NOT_DONE, commitment)
    new_status = Status.OPEN
    if not await _bump(session, commitment, None, status=new_status, done_at=None, progress=0, updated_at=now):
        return Change(Outcome.STALE, await _reload(session, commitment))
    _event(
        session,
        commitment,
        at=now,
        action="reopened",
        actor_id=actor_id,
        field="status",
        old_value=Status.DONE.value,
        new_value=new_status.value,
        note=note,
    )
    return Change(Outcome.CHANGED, commitment)


async def add_evidence(
    session: AsyncSession,
    *,
    commitment: Commitment,
    actor_id: int | None,
    now: datetime,
    media: str,
    file_id: str,
    file_unique_id: str,
    file_name: str,
    mime_type: str,
    file_size: int | None,
    note: str = "",
) -> Evidence:
    evidence = Evidence(
        commitment_id=commitment.id,
        person_id=actor_id,
        at=now,
        media=media,
        file_id=file_id,
        file_unique_id=file_unique_id,
        file_name=file_name,
        mime_type=mime_type,
        file_size=file_size,
        note=note,
    )
    session.add(evidence)
    await session.flush()
    _event(
        session,
        commitment,
        at=now,
        action="evidence",
        actor_id=actor_id,
        field="file",
        new_value=file_name or media,
        note=note,
    )
    return evidence


async def evidence_of(session: AsyncSession, *, commitment_id: int) -> list[Evidence]:
    rows = await session.scalars(
        select(Evidence)
        .where(Evidence.commitment_id == commitment_id)
        .options(selectinload(Evidence.person))
        .order_by(Evidence.id)
    )
    return list(rows)


async def request_extension(
    session: AsyncSession,
    *,
    commitment: Commitment,
    new_due: date,
    reason: str,
    actor_id: int | None,
    now: datetime,
    today: date,
) -> Change:
    if commitment.kind == Kind.LEGAL:
        return Change(Outcome.LEGAL, commitment)
    if not commitment.is_open:
        return Change(Outcome.ALREADY_DONE if commitment.status == Status.DONE else Outcome.CLOSED, commitment)
    if new_due < today:
        return Change(Outcome.IN_PAST, commitment)
    if new_due <= commitment.due_date:
        return Change(Outcome.NOT_LATER, commitment)
    pending = await session.scalar(
        select(ExtensionRequest).where(
            ExtensionRequest.commitment_id == commitment.id, ExtensionRequest.status == ExtensionStatus.PENDING
        )
    )
    if pending is not None:
        return Change(Outcome.PENDING_EXISTS, commitment, pending)
    request = ExtensionRequest(
        commitment_id=commitment.id,
        requested_by_id=actor_id,
        requested_at=now,
        old_due=commitment.due_date,
        new_due=new_due,
        reason=reason,
        status=ExtensionStatus.PENDING,
    )
    try:
        # One pending request per commitment, kept by a unique index even when two people ask at once.
        async with session.begin_nested():
            session.add(request)
            await session.flush()
    except IntegrityError:
        return Change(Outcome.PENDING_EXISTS, commitment)
    _event(
        session,
        commitment,
        at=now,
        action="extension_requested",
        actor_id=actor_id,
        field="due_date",
        old_value=commitment.due_date.isoformat(),
        new_value=new_due.isoformat(),
        note=reason,
    )
    return Change(Outcome.CHANGED, commitment, request)


async def decide_extension(
    session: AsyncSession, *, request_id: int, approve: bool, actor_id: int | None, now: datetime
) -> Change:
    """The first decision wins: a conditional update from pending, so a second press finds it decided."""
    request = await session.get(ExtensionRequest, request_id)
    if request is None:
        return Change(Outcome.NOT_FOUND)
    commitment = await session.get(Commitment, request.commitment_id)
    if request.status != ExtensionStatus.PENDING:
        return Change(Outcome.DECIDED, commitment, request)
    closed = commitment is None or not commitment.is_open
    # A request about a commitment done or cancelled since is closed as rejected: its deadline no longer moves.
    new_status = ExtensionStatus.APPROVED if approve and not closed else ExtensionStatus.REJECTED
    claimed = await session.execute(
        update(ExtensionRequest)
        .where(ExtensionRequest.id == request_id, ExtensionRequest.status == ExtensionStatus.PENDING)
        .values(status=new_status, decided_by_id=actor_id, decided_at=now)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(request)
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return Change(Outcome.DECIDED, commitment, request)
    assert commitment is not None
    if closed:
        _event(
            session,
            commitment,
            at=now,
            action="extension_rejected",
            actor_id=actor_id,
            field="due_date",
            old_value=commitment.due_date.isoformat(),
            new_value=request.new_due.isoformat(),
            note=commitment.status.value,
        )
        return Change(Outcome.CLOSED, commitment, request)
    old_due = commitment.due_date
    if approve:
        # The decision is claimed; the deadline moves even if the row changed meanwhile (e.g. a progress note).
        while not await _bump(session, commitment, None, due_date=request.new_due, updated_at=now):
            await _reload(session, commitment)
    _event(
        session,
        commitment,
        at=now,
        action="extension_approved" if approve else "extension_rejected",
        actor_id=actor_id,
        field="due_date",
        old_value=old_due.isoformat(),
        new_value=request.new_due.isoformat(),
    )
    return Change(Outcome.CHANGED, commitment, request)


async def add_commitment(
    session: AsyncSession,
    *,
    unit: Unit,
    title: str,
    kind: Kind,
    due: date,
    legal_basis: str,
    actor_id: int | None,
    now: datetime,
) -> Commitment:
    commitment = Commitment(
        unit_id=unit.id,
        title=title,
        kind=kind,
        due_date=due,
        legal_basis=legal_basis,
        source="",
        recurrence="",
        status=Status.OPEN,
        progress=0,
        created_at=now,
        updated_at=now,
        version=1,
    )
    session.add(commitment)
    await session.flush()
    events.record(
        session,
        at=now,
        action="created",
        actor_id=actor_id,
        commitment_id=commitment.id,
        unit_id=unit.id,
        field="due_date",
        new_value=due.isoformat(),
        note=title,
    )
    return commitment
