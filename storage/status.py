"""The service layer of commitment changes: done, progress, notes, reopen, evidence, extensions, new ones.

Each function is one unit of work in the caller's transaction: conditional UPDATE on the row's version, the
event, `replan`. Authorisation is the caller's (docs/ARCHITECTURE.md, "Changing state").
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from core.recurrence import RecurrenceError, next_occurrence
from storage import events
from storage.members import committee
from storage.models import (
    Commitment,
    Evidence,
    ExtensionRequest,
    ExtensionStatus,
    Kind,
    Person,
    Status,
    Unit,
)
from storage.outbox import Outgoing, enqueue
from storage.planning import replan
from storage.register import find_unit

log = logging.getLogger(__name__)


# The notices of an extension request, one per secretary or admin (rendered above storage, by the caller).
CommitteeNotices = Callable[[ExtensionRequest, Sequence[Person]], Sequence[Outgoing]]
# The notice of a decision to the person who asked: (request, commitment as it now stands — an approval's new
# deadline is its due date —, requester, the secretary's reason for a rejection) → a message.
RequesterNotice = Callable[[ExtensionRequest, Commitment, Person, str], Outgoing]

# Why a pending request was closed (the words are the caller's: texts/).
CLOSED_BY_DONE = "done"
CLOSED_BY_CANCEL = "cancelled"
CLOSED_BY_EDIT = "edited"

# The notice to the person whose request was closed: (request, commitment, requester, why) → a message.
ClosedNotice = Callable[[ExtensionRequest, Commitment, Person, str], Outgoing]


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
    evidence: Evidence | None = None  # the file kept with a done (also when it was done already)
    unit: Unit | None = None  # an extension decision: the commitment's unit, and who decided
    decider: Person | None = None

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


async def _changed(
    session: AsyncSession, commitment: Commitment, *, at: datetime, action: str, **details: object
) -> None:
    """A change of `commitment` happened: its event, and the planner looks at it again at its next tick —
    both in the caller's transaction, so they commit or roll back with the change itself."""
    events.record(
        session,
        at=at,
        action=action,
        commitment_id=commitment.id,
        unit_id=commitment.unit_id,
        **details,  # type: ignore[arg-type]
    )
    await replan(session, commitment_ids=[commitment.id])


@dataclass(frozen=True)
class EvidenceFile:
    """A file sent as proof (a document or a photo), as the chat platform names it."""

    media: str
    file_id: str
    file_unique_id: str
    file_name: str = ""
    mime_type: str = ""
    file_size: int | None = None


async def _reload(session: AsyncSession, commitment: Commitment) -> Commitment:
    await session.refresh(commitment)
    return commitment


async def close_pending_request(
    session: AsyncSession,
    *,
    commitment: Commitment,
    why: str,
    actor_id: int | None,
    now: datetime,
    notice: ClosedNotice | None = None,
) -> ExtensionRequest | None:
    """Close the commitment's pending extension request (its deadline question is moot), tell the requester."""
    request = await session.scalar(
        select(ExtensionRequest).where(
            ExtensionRequest.commitment_id == commitment.id, ExtensionRequest.status == ExtensionStatus.PENDING
        )
    )
    if request is None:
        return None
    claimed = await session.execute(
        update(ExtensionRequest)
        .where(ExtensionRequest.id == request.id, ExtensionRequest.status == ExtensionStatus.PENDING)
        .values(status=ExtensionStatus.CLOSED, decided_by_id=actor_id, decided_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return None
    await session.refresh(request)
    events.record(
        session,
        at=now,
        action="extension_closed",
        actor_id=actor_id,
        commitment_id=commitment.id,
        unit_id=commitment.unit_id,
        field="due_date",
        old_value=request.old_due.isoformat(),
        new_value=request.new_due.isoformat(),
        note=why,
    )
    if notice is not None and request.requested_by_id is not None and request.requested_by_id != actor_id:
        requester = await session.get(Person, request.requested_by_id)
        if requester is not None:
            await enqueue(session, [notice(request, commitment, requester, why)], now=now)
    return request


async def mark_done(
    session: AsyncSession,
    *,
    commitment: Commitment,
    actor_id: int | None,
    now: datetime,
    tz: ZoneInfo,
    note: str = "",
    expected_version: int | None = None,
    evidence: EvidenceFile | None = None,
    closed_notice: ClosedNotice | None = None,
) -> Change:
    """Done (with the next occurrence of a recurring one), closing a pending extension request (its requester
    told by `closed_notice`). A file sent with it is kept as evidence even when the commitment was done
    already: it is the proof that was sent."""
    change = await _mark_done(
        session, commitment=commitment, actor_id=actor_id, now=now, tz=tz, note=note, expected_version=expected_version
    )
    if change.changed:
        change.request = await close_pending_request(
            session, commitment=commitment, why=CLOSED_BY_DONE, actor_id=actor_id, now=now, notice=closed_notice
        )
    if evidence is not None and change.outcome in (Outcome.CHANGED, Outcome.ALREADY_DONE):
        change.evidence = await keep_evidence(
            session, commitment=commitment, actor_id=actor_id, now=now, file=evidence, note=note
        )
    return change


async def _mark_done(
    session: AsyncSession,
    *,
    commitment: Commitment,
    actor_id: int | None,
    now: datetime,
    tz: ZoneInfo,
    note: str,
    expected_version: int | None,
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
    await _changed(
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
    await _changed(
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
    await _changed(
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
    """A done or cancelled commitment open again; reminders are planned from now on (with the one catch-up)."""
    if commitment.status not in (Status.DONE, Status.CANCELLED):
        return Change(Outcome.NOT_DONE, commitment)
    old, new_status = commitment.status, Status.OPEN
    if not await _bump(session, commitment, None, status=new_status, done_at=None, progress=0, updated_at=now):
        return Change(Outcome.STALE, await _reload(session, commitment))
    await _changed(
        session,
        commitment,
        at=now,
        action="reopened",
        actor_id=actor_id,
        field="status",
        old_value=old.value,
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
    await _changed(
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


async def keep_evidence(
    session: AsyncSession, *, commitment: Commitment, actor_id: int | None, now: datetime, file: EvidenceFile, note: str
) -> Evidence:
    """A file kept as evidence of the commitment (see `add_evidence`)."""
    return await add_evidence(
        session,
        commitment=commitment,
        actor_id=actor_id,
        now=now,
        media=file.media,
        file_id=file.file_id,
        file_unique_id=file.file_unique_id,
        file_name=file.file_name,
        mime_type=file.mime_type,
        file_size=file.file_size,
        note=note,
    )


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
    notices: CommitteeNotices | None = None,
) -> Change:
    """Ask the committee to move a deadline: the pending request, its event and (with `notices`) the
    secretaries' notices in the outbox, in one transaction. A legal deadline is refused (Outcome.LEGAL)."""
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
    await _changed(
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
    if notices is not None:
        await enqueue(session, notices(request, await committee(session, unit_id=commitment.unit_id)), now=now)
    return Change(Outcome.CHANGED, commitment, request)


async def decide_extension(
    session: AsyncSession,
    *,
    request_id: int,
    approve: bool,
    actor_id: int | None,
    now: datetime,
    notice: RequesterNotice | None = None,
    new_due: date | None = None,
    reason: str = "",
) -> Change:
    """The first decision wins: a conditional update from pending, so a second press finds it decided.

    An approval moves the deadline to the date asked, or to `new_due` when the secretary chose another; a
    rejection keeps it and carries `reason`. A request whose commitment is no longer open is closed, never
    rejected. The change carries the request, the commitment, its unit and who decided (also when it was
    decided already). A real decision also queues `notice` to the requester, in the same transaction.
    """
    change = await _decide_extension(
        session, request_id=request_id, approve=approve, actor_id=actor_id, now=now, new_due=new_due, reason=reason
    )
    request, commitment = change.request, change.commitment
    if request is None or commitment is None:
        return change
    change.unit = await session.get(Unit, commitment.unit_id)
    change.decider = await session.get(Person, request.decided_by_id) if request.decided_by_id else None
    if change.changed and notice is not None and request.requested_by_id is not None:
        requester = await session.get(Person, request.requested_by_id)
        if requester is not None:
            await enqueue(session, [notice(request, commitment, requester, reason)], now=now)
    return change


async def _decide_extension(
    session: AsyncSession,
    *,
    request_id: int,
    approve: bool,
    actor_id: int | None,
    now: datetime,
    new_due: date | None,
    reason: str,
) -> Change:
    request = await session.get(ExtensionRequest, request_id)
    if request is None:
        return Change(Outcome.NOT_FOUND)
    commitment = await session.get(Commitment, request.commitment_id)
    if request.status != ExtensionStatus.PENDING:
        return Change(Outcome.DECIDED, commitment, request)
    if commitment is not None and not commitment.is_open:
        # Done or cancelled since it was asked (before such changes closed requests themselves): moot.
        await close_pending_request(
            session,
            commitment=commitment,
            why=CLOSED_BY_DONE if commitment.status == Status.DONE else CLOSED_BY_CANCEL,
            actor_id=actor_id,
            now=now,
        )
        await session.refresh(request)
        return Change(Outcome.CLOSED, commitment, request)
    target = new_due or request.new_due
    if approve and commitment is not None and target <= commitment.due_date:
        return Change(Outcome.NOT_LATER, commitment, request)
    new_status = ExtensionStatus.APPROVED if approve else ExtensionStatus.REJECTED
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
    old_due = commitment.due_date
    if approve:
        # The decision is claimed; the deadline moves even if the row changed meanwhile (e.g. a progress note).
        while not await _bump(session, commitment, None, due_date=target, updated_at=now):
            await _reload(session, commitment)
    await _changed(
        session,
        commitment,
        at=now,
        action="extension_approved" if approve else "extension_rejected",
        actor_id=actor_id,
        field="due_date",
        old_value=old_due.isoformat(),
        new_value=(target if approve else request.new_due).isoformat(),
        note=reason,
    )
    return Change(Outcome.CHANGED, commitment, request)


async def extend_now(
    session: AsyncSession,
    *,
    commitment: Commitment,
    new_due: date,
    reason: str,
    actor_id: int | None,
    now: datetime,
    today: date,
    closed_notice: ClosedNotice | None = None,
) -> Change:
    """A secretary's own /extend: the deadline moves at once (no request to themselves), in the history as an
    approved extension; a pending request of someone else is closed (its requester told)."""
    if commitment.kind == Kind.LEGAL:
        return Change(Outcome.LEGAL, commitment)
    if not commitment.is_open:
        return Change(Outcome.ALREADY_DONE if commitment.status == Status.DONE else Outcome.CLOSED, commitment)
    if new_due < today:
        return Change(Outcome.IN_PAST, commitment)
    if new_due <= commitment.due_date:
        return Change(Outcome.NOT_LATER, commitment)
    old_due = commitment.due_date
    while not await _bump(session, commitment, None, due_date=new_due, updated_at=now):
        await _reload(session, commitment)
    await _changed(
        session,
        commitment,
        at=now,
        action="extension_approved",
        actor_id=actor_id,
        field="due_date",
        old_value=old_due.isoformat(),
        new_value=new_due.isoformat(),
        note=reason,
    )
    request = await close_pending_request(
        session, commitment=commitment, why=CLOSED_BY_EDIT, actor_id=actor_id, now=now, notice=closed_notice
    )
    return Change(Outcome.CHANGED, commitment, request)


async def add_commitment(
    session: AsyncSession,
    *,
    unit_code: str,
    title: str,
    kind: Kind,
    due: date,
    legal_basis: str,
    actor_id: int | None,
    now: datetime,
) -> Change:
    """A new commitment of the unit with that code (any case), with its event; Outcome.NOT_FOUND without one."""
    unit = await find_unit(session, code=unit_code)
    if unit is None:
        return Change(Outcome.NOT_FOUND)
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
        next_slot_at=None,  # a new row needs planning: the planner picks it up at its next tick
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
    return Change(Outcome.CHANGED, commitment, unit=unit)
