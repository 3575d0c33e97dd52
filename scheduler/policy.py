"""The reminder policy: which reminders a commitment gets, and when (SPEC "Reminders and escalation").

Pure: no database, no clock; every function takes `now`. Slots, offsets and keys: docs/ARCHITECTURE.md,
"The reminder policy".
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final, Literal
from zoneinfo import ZoneInfo

from scheduler.calendar import WorkCalendar
from storage.models import Kind, Status

if TYPE_CHECKING:
    from core.settings import Settings

SlotKind = Literal["before", "due", "overdue", "escalation"]
Audience = Literal["focal", "escalation"]

FOCAL: Final = "focal"
ESCALATION: Final = "escalation"
# The escalation's offset: distinct from any before (>= 0) or overdue (−1 … −999 999) offset, and one per
# occurrence whatever ESCALATE_AFTER_DAYS says, so an escalation is sent once.
ESCALATION_OFFSET: Final = -1_000_000

_ONE_DAY: Final = timedelta(days=1)
_EPSILON: Final = timedelta(microseconds=1)
_DEFAULT_TZ: Final = ZoneInfo("Asia/Ho_Chi_Minh")


@dataclass(frozen=True)
class ReminderPolicy:
    """The reminder settings, normalised: offsets unique and in descending order."""

    legal_offsets: tuple[int, ...] = (30, 14, 7, 3, 1, 0)
    internal_offsets: tuple[int, ...] = (7, 3, 1, 0)
    reminder_time: time = time(8, 30)
    overdue_every_days: int = 3
    escalate_after_days: int = 7
    working_days_only: bool = True
    tz: ZoneInfo = field(default=_DEFAULT_TZ)

    def __post_init__(self) -> None:
        for name in ("legal_offsets", "internal_offsets"):
            offsets = tuple(sorted({int(k) for k in getattr(self, name)}, reverse=True))
            if any(k < 0 for k in offsets):
                raise ValueError(f"{name}: days before a deadline cannot be negative")
            object.__setattr__(self, name, offsets)
        if self.overdue_every_days < 1:
            raise ValueError("overdue_every_days must be at least 1")
        if self.escalate_after_days < 1:
            raise ValueError("escalate_after_days must be at least 1")
        if self.reminder_time.tzinfo is not None:
            raise ValueError("reminder_time is a local time of day, without a time zone")

    @classmethod
    def from_settings(cls, settings: Settings) -> ReminderPolicy:
        return cls(
            legal_offsets=tuple(settings.reminder_days_legal),
            internal_offsets=tuple(settings.reminder_days_internal),
            reminder_time=settings.reminder_time,
            overdue_every_days=settings.overdue_every_days,
            escalate_after_days=settings.escalate_after_days,
            working_days_only=settings.working_days_only,
            tz=settings.tz,
        )

    def offsets_for(self, kind: Kind | str) -> tuple[int, ...]:
        return self.legal_offsets if kind == Kind.LEGAL else self.internal_offsets

    def reminder_at(self, local_date: date) -> datetime:
        """`REMINDER_TIME` on a local date, as an aware UTC instant."""
        return datetime.combine(local_date, self.reminder_time, tzinfo=self.tz).astimezone(UTC)

    def deadline_at(self, due: date) -> datetime:
        """The deadline: the end of the local due date (the next day's 00:00 local), in UTC."""
        return datetime.combine(due + _ONE_DAY, time(0), tzinfo=self.tz).astimezone(UTC)

    def last_passed_date(self, now: datetime) -> date:
        """The last local date whose reminder time is at or before `now`."""
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        today = now.astimezone(self.tz).date()
        return today if self.reminder_at(today) <= now else today - _ONE_DAY


@dataclass(frozen=True)
class CommitmentView:
    """What the policy needs to know about a commitment. `kind` and `status` accept the enums or their values."""

    id: int
    kind: Kind | str
    due: date
    status: Status | str = Status.OPEN

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", Kind(self.kind))
        object.__setattr__(self, "status", Status(self.status))

    @property
    def occurrence(self) -> str:
        """The occurrence key: the due date, ISO (see the module docstring)."""
        return self.due.isoformat()

    @property
    def is_open(self) -> bool:
        return self.status in (Status.OPEN, Status.IN_PROGRESS)

    @classmethod
    def from_commitment(cls, commitment: Any) -> CommitmentView:
        """From a `storage.models.Commitment` (or anything with id, kind, due_date, status)."""
        return cls(id=commitment.id, kind=commitment.kind, due=commitment.due_date, status=commitment.status)


@dataclass(frozen=True, order=True)
class Slot:
    """One planned reminder. Ordered by time first, then by key.

    offset: k >= 0 days before the deadline (0 = due day); −n = n days overdue on the nominal date;
    `ESCALATION_OFFSET` for the escalation. `local_date` is the date after working-day shifting.
    """

    at: datetime
    commitment_id: int
    occurrence: str
    offset: int
    local_date: date
    kind: SlotKind
    audience: Audience
    due: date

    @property
    def key(self) -> tuple[int, str, int]:
        """The delivery key without the recipient: (commitment, occurrence, offset)."""
        return (self.commitment_id, self.occurrence, self.offset)

    @property
    def days_before(self) -> int:
        """Days from the day it is sent to the due date (before/due slots; shifting may make it > offset)."""
        return (self.due - self.local_date).days

    @property
    def days_overdue(self) -> int:
        """Days overdue on the day it is sent (overdue and escalation slots)."""
        return (self.local_date - self.due).days


REMINDER_KEY_PREFIX: Final = "reminder:"


def delivery_key(slot: Slot, person_id: int) -> str:
    """The outbox key of one slot for one recipient: `reminder:{commitment}:{occurrence}:{offset}:{person}`."""
    return f"{REMINDER_KEY_PREFIX}{slot.commitment_id}:{slot.occurrence}:{slot.offset}:{person_id}"


def key_occurrence(key: str) -> str | None:
    """The occurrence (due date ISO) of a `delivery_key`; None for any other key."""
    if not key.startswith(REMINDER_KEY_PREFIX):
        return None
    parts = key.split(":")
    return parts[2] if len(parts) == 5 else None


# Date-level plans, shared by every commitment with the same kind and due date (a decree's deadline is often
# the deadline of thousands of units' commitments). The calendar is keyed by identity.


@lru_cache(maxsize=16384)
def _before_plan(
    policy: ReminderPolicy, calendar: WorkCalendar, kind: Kind, due: date
) -> tuple[tuple[int, date, datetime], ...]:
    """(offset, local date, at) of the before/due slots, ascending by date, collapsed."""
    by_date: dict[date, int] = {}
    for k in policy.offsets_for(kind):  # descending: a later (smaller) offset replaces an earlier one
        nominal = due - timedelta(days=k)
        day = calendar.previous_working_day(nominal) if policy.working_days_only else nominal
        by_date[day] = k
    return tuple((k, day, policy.reminder_at(day)) for day, k in sorted(by_date.items()))


@lru_cache(maxsize=16384)
def _escalation_date(policy: ReminderPolicy, calendar: WorkCalendar, due: date) -> date:
    nominal = due + timedelta(days=policy.escalate_after_days)
    return calendar.next_working_day(nominal) if policy.working_days_only else nominal


class _Overdue:
    """The overdue slots of one due date: the j-th is nominally on due + 1 + j·N, offset −(1 + j·N)."""

    __slots__ = ("calendar", "every", "first", "policy")

    def __init__(self, policy: ReminderPolicy, calendar: WorkCalendar, due: date) -> None:
        self.policy = policy
        self.calendar = calendar
        self.every = policy.overdue_every_days
        self.first = due + _ONE_DAY

    def nominal(self, j: int) -> date:
        return self.first + timedelta(days=j * self.every)

    def shifted(self, j: int) -> date:
        nominal = self.nominal(j)
        return self.calendar.next_working_day(nominal) if self.policy.working_days_only else nominal

    def offset(self, j: int) -> int:
        return -(1 + j * self.every)

    def last_on_or_before(self, last: date) -> int | None:
        """The slot (its representative j after collapsing) with the latest local date <= `last`."""
        if last < self.first:
            return None
        j = (last - self.first).days // self.every
        # Shifting only moves forward, and by at most the longest run of days off: a few steps back at most.
        while j >= 0 and self.shifted(j) > last:
            j -= 1
        if j < 0:
            return None
        return self.representative(j)

    def first_after(self, last: date) -> int:
        """The slot with the earliest local date > `last` (always exists: overdue reminders never stop)."""
        if last < self.first:
            return 0
        j = (last - self.first).days // self.every + 1
        while j > 0 and self.shifted(j - 1) > last:
            j -= 1
        return j  # shifted(j - 1) <= last < shifted(j): already the representative

    def representative(self, j: int) -> int:
        """Collapsing keeps the first (smallest n) of the overdue slots shifted onto the same date."""
        day = self.shifted(j)
        while j > 0 and self.shifted(j - 1) == day:
            j -= 1
        return j


def _slot(c: CommitmentView, offset: int, day: date, at: datetime, kind: SlotKind, audience: Audience) -> Slot:
    return Slot(
        at=at,
        commitment_id=c.id,
        occurrence=c.occurrence,
        offset=offset,
        local_date=day,
        kind=kind,
        audience=audience,
        due=c.due,
    )


def _before_slot(c: CommitmentView, offset: int, day: date, at: datetime) -> Slot:
    return _slot(c, offset, day, at, "due" if offset == 0 else "before", FOCAL)


def _overdue_slot(c: CommitmentView, policy: ReminderPolicy, overdue: _Overdue, j: int) -> Slot:
    day = overdue.shifted(j)
    return _slot(c, overdue.offset(j), day, policy.reminder_at(day), "overdue", FOCAL)


def _escalation_slot(c: CommitmentView, policy: ReminderPolicy, day: date) -> Slot:
    return _slot(c, ESCALATION_OFFSET, day, policy.reminder_at(day), "escalation", ESCALATION)


def _lower_bound(policy: ReminderPolicy, after: datetime | None, not_before: datetime | None) -> date | None:
    """Slots must fall on a local date > the returned one (None: no bound) to be after `after` (exclusive)
    and at or after `not_before` (inclusive)."""
    bounds = []
    if after is not None:
        bounds.append(policy.last_passed_date(after))
    if not_before is not None:
        bounds.append(policy.last_passed_date(not_before - _EPSILON))
    return max(bounds) if bounds else None


def slots_between(
    c: CommitmentView,
    policy: ReminderPolicy,
    calendar: WorkCalendar,
    start: datetime | None,
    end: datetime,
    *,
    not_before: datetime | None = None,
) -> list[Slot]:
    """Every slot of every audience with start < at <= end (start None: no lower bound), sorted by time.

    Before/due slots are listed even when the window reaches past the deadline: they were planned; whether a
    missed one may still be sent is `latest_due`'s business.
    """
    if not c.is_open:
        return []
    low = _lower_bound(policy, start, not_before)
    high = policy.last_passed_date(end)
    if low is not None and high <= low:
        return []

    slots = [
        _before_slot(c, k, day, at)
        for k, day, at in _before_plan(policy, calendar, Kind(c.kind), c.due)
        if (low is None or day > low) and day <= high
    ]

    overdue = _Overdue(policy, calendar, c.due)
    j = overdue.first_after(low) if low is not None else 0
    previous: date | None = None
    while overdue.nominal(j) <= high:
        day = overdue.shifted(j)
        if day > high:
            break
        if day != previous:  # collapsing: the first j shifted onto a date represents it
            slots.append(_overdue_slot(c, policy, overdue, j))
            previous = day
        j += 1

    escalation = _escalation_date(policy, calendar, c.due)
    if (low is None or escalation > low) and escalation <= high:
        slots.append(_escalation_slot(c, policy, escalation))

    slots.sort()
    return slots


def latest_due(
    c: CommitmentView,
    policy: ReminderPolicy,
    calendar: WorkCalendar,
    now: datetime,
    audience: Audience = FOCAL,
    *,
    not_before: datetime | None = None,
) -> Slot | None:
    """The latest slot of `audience` whose time has passed (at <= now): the one catch-up for a recipient.

    None for a done or cancelled commitment, when no slot has passed yet, when the latest one is before
    `not_before`, and for the focal audience between the deadline and the first overdue slot (a before/due
    reminder is never sent after the deadline).
    """
    if not c.is_open:
        return None
    last = policy.last_passed_date(now)
    low = _lower_bound(policy, None, not_before)
    slot: Slot | None = None
    if audience == ESCALATION:
        day = _escalation_date(policy, calendar, c.due)
        if day <= last:
            slot = _escalation_slot(c, policy, day)
    elif audience == FOCAL:
        if now < policy.deadline_at(c.due):
            for k, day, at in reversed(_before_plan(policy, calendar, Kind(c.kind), c.due)):
                if day <= last:
                    slot = _before_slot(c, k, day, at)
                    break
        else:
            overdue = _Overdue(policy, calendar, c.due)
            j = overdue.last_on_or_before(last)
            if j is not None:
                slot = _overdue_slot(c, policy, overdue, j)
    else:
        raise ValueError(f"unknown audience {audience!r}")
    if slot is None or (low is not None and slot.local_date <= low):
        return None
    return slot


def next_slot_after(
    c: CommitmentView,
    policy: ReminderPolicy,
    calendar: WorkCalendar,
    now: datetime,
    *,
    not_before: datetime | None = None,
) -> Slot | None:
    """The first slot of any audience with at > now (and at >= not_before); None for done/cancelled."""
    if not c.is_open:
        return None
    low = policy.last_passed_date(now)
    if not_before is not None:
        low = max(low, policy.last_passed_date(not_before - _EPSILON))
    candidates: list[Slot] = []
    for k, day, at in _before_plan(policy, calendar, Kind(c.kind), c.due):
        if day > low:
            candidates.append(_before_slot(c, k, day, at))
            break
    overdue = _Overdue(policy, calendar, c.due)
    candidates.append(_overdue_slot(c, policy, overdue, overdue.first_after(low)))
    escalation = _escalation_date(policy, calendar, c.due)
    if escalation > low:
        candidates.append(_escalation_slot(c, policy, escalation))
    return min(candidates)


def next_change_after(
    c: CommitmentView,
    policy: ReminderPolicy,
    calendar: WorkCalendar,
    now: datetime,
    *,
    not_before: datetime | None = None,
) -> datetime | None:
    """The instant of the commitment's next slot (any audience) after `now`: when the planner must look at
    it again. None for done/cancelled (an open commitment always has one: overdue reminders never stop)."""
    slot = next_slot_after(c, policy, calendar, now, not_before=not_before)
    return slot.at if slot is not None else None


@dataclass(frozen=True)
class DuePlan:
    """What a tick at one instant decides for every open commitment of one kind and due date (the policy reads
    nothing else of a commitment): its catch-up slots and its next change. The slots are commitment 0's;
    `for_commitment` names the commitment."""

    focal: Slot | None
    escalation: Slot | None
    next_at: datetime | None

    @staticmethod
    def for_commitment(slot: Slot, commitment_id: int) -> Slot:
        return replace(slot, commitment_id=commitment_id)


def due_plan(kind: Kind | str, due: date, policy: ReminderPolicy, calendar: WorkCalendar, now: datetime) -> DuePlan:
    """`latest_due` of both audiences and `next_change_after` for an open commitment of `kind` due on `due`."""
    view = CommitmentView(id=0, kind=kind, due=due)
    return DuePlan(
        focal=latest_due(view, policy, calendar, now, FOCAL),
        escalation=latest_due(view, policy, calendar, now, ESCALATION),
        next_at=next_change_after(view, policy, calendar, now),
    )
