"""Fixing and cancelling: /edit, /close, Undo of a done, and the closing of a pending extension request.

Like storage.status, each function is one unit of work in the caller's transaction (event, replan, notices);
authorisation and rendering are the caller's.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.dates import DateOutOfRange, NotADate, parse_date
from core.recurrence import validate_rrule
from storage import events
from storage.members import reachable_focal_points
from storage.models import OPEN_STATUSES, Commitment, Event, ExtensionRequest, Kind, Person, Status
from storage.outbox import Outgoing, enqueue
from storage.planning import replan
from storage.status import (
    CLOSED_BY_CANCEL,
    CLOSED_BY_EDIT,
    Change,
    ClosedNotice,
    Outcome,
    _bump,
    _reload,
    close_pending_request,
)

# The notice of a moved deadline to the unit's focal points: (commitment, old due date, people) → messages.
DueNotice = Callable[[Commitment, date, Sequence[Person]], Sequence[Outgoing]]

EDITABLE = ("title", "due", "kind", "basis", "source", "ref", "recurrence")
_COLUMNS = {
    "title": "title",
    "due": "due_date",
    "kind": "kind",
    "basis": "legal_basis",
    "source": "source",
    "ref": "ref",
    "recurrence": "recurrence",
}
_LIMITS = {"title": 500, "basis": 200, "source": 200, "ref": 64, "recurrence": 200}


class EditError(enum.Enum):
    UNKNOWN_FIELD = "unknown_field"
    EMPTY = "empty"
    TOO_LONG = "too_long"
    BAD_DATE = "bad_date"
    NO_SUCH_DATE = "no_such_date"  # in the right form, but not in the calendar (31/02/2026)
    DATE_OUT_OF_RANGE = "date_out_of_range"  # a year outside MIN_YEAR … MAX_YEAR
    BAD_KIND = "bad_kind"
    BAD_RECURRENCE = "bad_recurrence"
    REF_TAKEN = "ref_taken"
    SAME = "same"
    CLOSED = "closed"


@dataclass
class Edit:
    """What /edit did: the change (or why not), the field and its old and new values as stored."""

    error: EditError | None
    commitment: Commitment | None = None
    field: str = ""
    old: str = ""
    new: str = ""
    detail: str = ""  # a bad recurrence: why
    closed_request: ExtensionRequest | None = None

    @property
    def changed(self) -> bool:
        return self.error is None


async def close_commitment(
    session: AsyncSession,
    *,
    commitment: Commitment,
    reason: str,
    actor_id: int | None,
    now: datetime,
    notice: ClosedNotice | None = None,
) -> Change:
    """Cancel (hủy): no more reminders; its pending request closed. `/reopen` undoes it."""
    if commitment.status == Status.CANCELLED:
        return Change(Outcome.CLOSED, commitment)
    old = commitment.status
    if not await _bump(session, commitment, None, status=Status.CANCELLED, updated_at=now):
        return Change(Outcome.STALE, await _reload(session, commitment))
    events.record(
        session,
        at=now,
        action="cancelled",
        actor_id=actor_id,
        commitment_id=commitment.id,
        unit_id=commitment.unit_id,
        field="status",
        old_value=old.value,
        new_value=Status.CANCELLED.value,
        note=reason,
    )
    request = await close_pending_request(
        session, commitment=commitment, why=CLOSED_BY_CANCEL, actor_id=actor_id, now=now, notice=notice
    )
    await replan(session, commitment_ids=[commitment.id])
    return Change(Outcome.CHANGED, commitment, request)


def _parse_value(field: str, raw: str) -> tuple[object, str] | EditError:
    """The stored value and its text form, or why `raw` is not one."""
    value = raw.strip()
    if field in ("title", "due", "kind") and not value:
        return EditError.EMPTY
    if field in _LIMITS and len(value) > _LIMITS[field]:
        return EditError.TOO_LONG
    if field == "due":
        try:
            day = parse_date(value)
        except NotADate:
            return EditError.BAD_DATE
        except DateOutOfRange:
            return EditError.DATE_OUT_OF_RANGE
        except ValueError:
            return EditError.NO_SUCH_DATE
        return day, day.isoformat()
    if field == "kind":
        try:
            kind = Kind(value.lower())
        except ValueError:
            return EditError.BAD_KIND
        return kind, kind.value
    if field == "ref":
        return (value or None), value
    return value, value


def _stored(commitment: Commitment, field: str) -> str:
    current = getattr(commitment, _COLUMNS[field])
    if isinstance(current, date):
        return current.isoformat()
    if isinstance(current, Kind):
        return current.value
    return "" if current is None else str(current)


async def edit_commitment(
    session: AsyncSession,
    *,
    commitment: Commitment,
    field: str,
    raw: str,
    actor_id: int | None,
    now: datetime,
    due_notice: DueNotice | None = None,
    closed_notice: ClosedNotice | None = None,
) -> Edit:
    """A data-entry fix of one field, in the history with its old and new value. A moved deadline replans the
    reminders, closes a pending request and is told to the unit's focal points; so does a kind made legal."""
    field = field.strip().lower()
    if field not in EDITABLE:
        return Edit(EditError.UNKNOWN_FIELD, commitment, field)
    if commitment.status == Status.CANCELLED:
        return Edit(EditError.CLOSED, commitment, field)
    parsed = _parse_value(field, raw)
    if isinstance(parsed, EditError):
        return Edit(parsed, commitment, field)
    value, text = parsed
    if field == "recurrence" and text:
        problem = validate_rrule(text, dtstart=commitment.due_date)
        if problem is not None:
            return Edit(EditError.BAD_RECURRENCE, commitment, field, detail=problem)
    old = _stored(commitment, field)
    if old == text:
        return Edit(EditError.SAME, commitment, field, old, text)
    if field == "ref" and value is not None:
        taken = await session.scalar(
            select(Commitment.id).where(Commitment.ref == value, Commitment.id != commitment.id).limit(1)
        )
        if taken is not None:
            return Edit(EditError.REF_TAKEN, commitment, field, old, text)
    old_due = commitment.due_date
    while not await _bump(session, commitment, None, **{_COLUMNS[field]: value, "updated_at": now}):
        await _reload(session, commitment)
    events.record(
        session,
        at=now,
        action="edited",
        actor_id=actor_id,
        commitment_id=commitment.id,
        unit_id=commitment.unit_id,
        field=_COLUMNS[field],
        old_value=old,
        new_value=text,
    )
    edit = Edit(None, commitment, field, old, text)
    moves_deadline = field == "due" or (field == "kind" and value == Kind.LEGAL)
    if moves_deadline and commitment.status in OPEN_STATUSES:
        edit.closed_request = await close_pending_request(
            session, commitment=commitment, why=CLOSED_BY_EDIT, actor_id=actor_id, now=now, notice=closed_notice
        )
    if field in ("due", "recurrence", "kind"):
        await replan(session, commitment_ids=[commitment.id])
    if field == "due" and commitment.status in OPEN_STATUSES and due_notice is not None:
        people = await reachable_focal_points(session, unit_id=commitment.unit_id)
        await enqueue(session, due_notice(commitment, old_due, people), now=now)
    return edit


@dataclass
class Undo:
    outcome: Outcome  # CHANGED; NOT_DONE (nothing to undo); STALE (too late, or changed since); NOT_FOUND
    commitment: Commitment | None = None
    restored: Status | None = None


async def undo_done(
    session: AsyncSession,
    *,
    commitment: Commitment,
    actor_id: int | None,
    may_undo_others: bool,
    now: datetime,
    minutes: int,
    expected_version: int | None = None,
) -> Undo:
    """Put a commitment marked done back as it was, within `minutes` of the done, by the same person (or a
    secretary: `may_undo_others`). The done and its undo both stay in the history; a next occurrence that the
    done created (recurring) is cancelled if nobody touched it."""
    if commitment.status != Status.DONE:
        return Undo(Outcome.NOT_DONE, commitment)
    if expected_version is not None and expected_version != commitment.version:
        return Undo(Outcome.STALE, commitment)
    done = await session.scalar(
        select(Event)
        .where(Event.commitment_id == commitment.id, Event.action.in_(("done", "done_late")))
        .order_by(Event.at.desc(), Event.id.desc())
        .limit(1)
    )
    if done is None or now - done.at > timedelta(minutes=minutes):
        return Undo(Outcome.STALE, commitment)
    if done.actor_id != actor_id and not may_undo_others:
        return Undo(Outcome.NOT_FOUND, commitment)
    try:
        restored = Status(done.old_value or Status.OPEN.value)
    except ValueError:
        restored = Status.OPEN
    if restored not in OPEN_STATUSES:
        restored = Status.OPEN
    progress = await _progress_before(session, commitment.id, done) if restored == Status.IN_PROGRESS else 0
    if not await _bump(session, commitment, None, status=restored, done_at=None, progress=progress, updated_at=now):
        return Undo(Outcome.STALE, await _reload(session, commitment))
    events.record(
        session,
        at=now,
        action="undone",
        actor_id=actor_id,
        commitment_id=commitment.id,
        unit_id=commitment.unit_id,
        field="status",
        old_value=Status.DONE.value,
        new_value=restored.value,
    )
    following = await session.scalar(
        select(Commitment).where(
            Commitment.previous_id == commitment.id, Commitment.status == Status.OPEN, Commitment.version == 1
        )
    )
    changed = [commitment.id]
    if following is not None:
        following.status = Status.CANCELLED
        following.version += 1
        following.updated_at = now
        events.record(
            session,
            at=now,
            action="cancelled",
            actor_id=actor_id,
            commitment_id=following.id,
            unit_id=following.unit_id,
            field="status",
            old_value=Status.OPEN.value,
            new_value=Status.CANCELLED.value,
            note=f"#{commitment.id}",
        )
        changed.append(following.id)
    await session.flush()
    await replan(session, commitment_ids=changed)
    return Undo(Outcome.CHANGED, commitment, restored)


async def _progress_before(session: AsyncSession, commitment_id: int, done: Event) -> int:
    """The percentage the last progress report before the done gave (`in_progress 40%` → 40)."""
    value = await session.scalar(
        select(Event.new_value)
        .where(Event.commitment_id == commitment_id, Event.action == "progress", Event.id < done.id)
        .order_by(Event.id.desc())
        .limit(1)
    )
    try:
        return int(str(value).rsplit(" ", 1)[-1].rstrip("%"))
    except ValueError:
        return 0
