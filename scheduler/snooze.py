""" "Remind me later" (/snooze and the reminder's button): one more reminder of a commitment for one person.

The reminder is an outbox row like the planner's, held until its time (`not_before`); the drain drops it if
the commitment is closed or its deadline moved by then, as it does any reminder.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.calendar import WorkCalendar
from scheduler.notices import SNOOZE
from storage.models import Commitment, Person, Unit
from storage.outbox import Outgoing, enqueue
from texts.keyboards import commitment_keyboard


@dataclass(frozen=True)
class Snooze:
    at: datetime | None  # when the reminder comes; None: refused (due today, nothing left to put off)
    queued: bool = False  # False: the same later reminder was already asked for


def snooze_day(
    today: date, due: date, days: int, *, calendar: WorkCalendar | None, working_days_only: bool
) -> date | None:
    """`days` working days (or plain days) after today, never past the deadline of a commitment not yet
    overdue; None when it is due today (a later reminder would come after the deadline)."""
    target = calendar.add_working_days(today, days) if working_days_only and calendar else today + timedelta(days)
    if today <= due < target:
        target = due
    return target if target > today else None


async def snooze(
    session: AsyncSession,
    *,
    commitment: Commitment,
    unit: Unit,
    person: Person,
    days: int,
    today: date,
    now: datetime,
    at_time: time,
    tz: ZoneInfo,
    calendar: WorkCalendar | None,
    working_days_only: bool,
    language: str,
) -> Snooze:
    day = snooze_day(today, commitment.due_date, days, calendar=calendar, working_days_only=working_days_only)
    if day is None:
        return Snooze(None)
    at = datetime.combine(day, at_time, tz)
    message = Outgoing(
        key=SNOOZE.key(commitment.id, commitment.due_date.isoformat(), day.isoformat(), person.id),
        kind=SNOOZE.kind,
        chat_id=person.telegram_id,
        person_id=person.id,
        commitment_id=commitment.id,
        text=SNOOZE.render(language, commitment, unit, day=day) if SNOOZE.render else "",
        reply_markup=commitment_keyboard(language, commitment),
        not_before=max(at, now),
    )
    return Snooze(at, await enqueue(session, [message], now=now) == 1)
