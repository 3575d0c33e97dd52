"""The reminder planner: due reminders → outbox rows (SPEC "Reminders and escalation", "Scale").

`plan_tick` queues, never sends; keys make it safe to run twice. What a tick does, its keys and its choices:
docs/ARCHITECTURE.md, "The path of one reminder" and "The planner's tick".
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import holidays
from sqlalchemy.ext.asyncio import AsyncSession

from core.i18n import normalise_language
from scheduler import notices
from scheduler.calendar import WorkCalendar
from scheduler.notices import committee_recipients, content_id, focal_recipients, head_recipients
from scheduler.policy import (
    ESCALATION,
    CommitmentView,
    DuePlan,
    ReminderPolicy,
    Slot,
    SlotKind,
    due_plan,
    slots_between,
)
from scheduler.unreachable import notify_unreachable
from storage import planning
from storage.groups import GroupInfo, unit_groups
from storage.models import Commitment
from storage.outbox import Outgoing, enqueue
from storage.planning import PersonInfo, PlanRow, UnitInfo, UnitPeople, replan
from storage.scopes import Secretaries
from texts.keyboards import commitment_keyboard
from texts.notices import escalation_group_text, escalation_text, no_focal_text, reminder_text

if TYPE_CHECKING:
    from storage.db import Database

__all__ = [
    "PlanResult",
    "PlannedReminder",
    "plan_tick",
    "planned_reminders",
    "policy_fingerprint",
    "replan",
]

log = logging.getLogger(__name__)

# Bump when the planner's own logic changes in a way that should replan everything.
PLANNER_VERSION = 1
DEFAULT_BATCH = 1000
# Rows of policy or rendering between two yields to the event loop: the sender in the same process keeps its
# slots while a batch is planned (a batch of 1,000 is ~80 ms of Python).
YIELD_EVERY = 100


@dataclass
class PlanResult:
    """What one tick did. Counts are of new outbox rows (a key already queued is not counted)."""

    evaluated: int = 0
    reminders: int = 0
    escalations: int = 0  # escalation messages (grouped: one per recipient per tick, heads one per unit)
    escalated: int = 0  # commitments escalated by this tick (listed in those messages)
    notices: int = 0  # "no focal point" and "unreachable person" messages
    unreachable: int = 0  # people newly reported unreachable to the secretaries
    skipped_unreachable: int = 0  # reminders not queued because the person is unreachable
    units_without_focal: int = 0  # units newly reported to the secretaries
    failed: int = 0  # commitments that could not be planned, set aside (logged) until they change
    replanned_all: bool = False  # the settings or the calendar changed since the last tick
    more: bool = False  # stopped at max_rows with work left: the next tick continues

    @property
    def queued(self) -> int:
        return self.reminders + self.escalations + self.notices


def policy_fingerprint(policy: ReminderPolicy, calendar: WorkCalendar) -> str:
    """Changes when anything that decides slot times changes: settings, extra days, the holiday data."""
    parts = (
        PLANNER_VERSION,
        policy.legal_offsets,
        policy.internal_offsets,
        policy.reminder_time.isoformat(),
        policy.overdue_every_days,
        policy.escalate_after_days,
        policy.working_days_only,
        policy.tz.key,
        sorted(d.isoformat() for d in calendar.extra_days_off),
        sorted(d.isoformat() for d in calendar.extra_working_days),
        holidays.__version__,
    )
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class _Held:
    """A commitment whose escalation is due: written with the tick's grouped messages, at its end."""

    row: PlanRow
    next_at: datetime | None  # its next slot, stored once the escalation is written


@dataclass(frozen=True)
class _Item:
    commitment: PlanRow
    unit: UnitInfo


@dataclass
class _Tick:
    policy: ReminderPolicy
    calendar: WorkCalendar
    now: datetime
    default_language: str
    today: date
    committee: Secretaries  # every secretary and admin, with their scopes
    result: PlanResult
    focal_seen: set[int] = field(default_factory=set)  # units flagged "no focal" that have one again
    focal_missing: set[int] = field(default_factory=set)  # units with a due reminder and nobody to get it
    held: dict[int, _Held] = field(default_factory=dict)  # escalations due, by commitment id
    # The policy depends on a commitment's kind and due date only, and a register shares few of them (a decree's
    # deadline is thousands of units'): planned once per tick each.
    plans: dict[tuple[str, date], DuePlan] = field(default_factory=dict)

    @property
    def held_at(self) -> datetime:
        """next_slot_at of a held commitment: after `now`, so this tick does not claim it again, and before any
        later tick, which plans it again if this one ended before writing its escalation (a crash)."""
        return self.now + timedelta(microseconds=1)

    def lang(self, person: PersonInfo) -> str:
        return normalise_language(person.language, self.default_language)


def _keyboard(lang: str, row: PlanRow) -> dict[str, Any] | None:
    # commitment_keyboard reads id, version and is_open only, which PlanRow has: no ORM object per reminder.
    return commitment_keyboard(lang, cast(Commitment, row))


async def _plan_batch(session: AsyncSession, rows: Sequence[PlanRow], tick: _Tick) -> None:
    policy, calendar, now = tick.policy, tick.calendar, tick.now
    next_at: dict[int, datetime | None] = {}
    focal_slots: dict[int, Slot] = {}
    escalation_slots: dict[int, Slot] = {}
    for n, row in enumerate(rows, start=1):
        if n % YIELD_EVERY == 0:
            await asyncio.sleep(0)
        if not row.is_open:
            next_at[row.id] = None
            continue
        try:
            plan = tick.plans.get((row.kind, row.due_date))
            if plan is None:
                plan = tick.plans[row.kind, row.due_date] = due_plan(row.kind, row.due_date, policy, calendar, now)
        except Exception:
            # One row the policy cannot plan (a due date whose arithmetic overflows, a bug) must not stop the
            # reminders of every other commitment: it is set aside until it changes (replan) or the settings do.
            log.exception("commitment #%s (due %s) cannot be planned: no reminders for it", row.id, row.due_date)
            tick.result.failed += 1
            next_at[row.id] = None
            continue
        next_at[row.id] = plan.next_at
        if plan.focal is not None:
            focal_slots[row.id] = DuePlan.for_commitment(plan.focal, row.id)
        if plan.escalation is not None and row.escalated_for != row.due_date:
            escalation_slots[row.id] = DuePlan.for_commitment(plan.escalation, row.id)
    tick.result.evaluated += len(rows)

    by_id = {row.id: row for row in rows}
    unit_ids = {by_id[cid].unit_id for cid in (*focal_slots, *escalation_slots)}
    units: dict[int, UnitInfo] = await planning.units_info(session, unit_ids) if unit_ids else {}
    people: dict[int, UnitPeople] = await planning.units_people(session, unit_ids) if unit_ids else {}

    reminders: list[Outgoing] = []
    texts: dict[tuple[int, str], tuple[str, dict[str, Any] | None]] = {}
    # A unit's linked group is one more recipient of its reminders (storage.groups: keyed by its chat id).
    groups = await unit_groups(session, {by_id[cid].unit_id for cid in focal_slots}) if focal_slots else {}
    for n, (cid, slot) in enumerate(focal_slots.items(), start=1):
        if n % YIELD_EVERY == 0:
            await asyncio.sleep(0)
        row = by_id[cid]
        if (group := groups.get(row.unit_id)) is not None:
            lang = tick.default_language
            if (cid, lang) not in texts:
                texts[cid, lang] = (reminder_text(lang, row, units[row.unit_id], day=tick.today), _keyboard(lang, row))
            text, markup = texts[cid, lang]
            reminders.append(
                Outgoing(
                    key=notices.REMINDER.key(slot, group.chat_id),
                    kind=notices.REMINDER.kind,
                    chat_id=group.chat_id,
                    text=text,
                    reply_markup=markup,
                    commitment_id=cid,
                )
            )
        unit_people = people[row.unit_id]
        reachable = focal_recipients(unit_people)
        tick.result.skipped_unreachable += len(unit_people.focal) - len(reachable)
        if not reachable:
            tick.focal_missing.add(row.unit_id)
            continue
        if units[row.unit_id].no_focal_notified_at is not None:
            tick.focal_seen.add(row.unit_id)
        for person in reachable:
            lang = tick.lang(person)
            if (cid, lang) not in texts:
                texts[cid, lang] = (reminder_text(lang, row, units[row.unit_id], day=tick.today), _keyboard(lang, row))
            text, markup = texts[cid, lang]
            reminders.append(
                Outgoing(
                    key=notices.REMINDER.key(slot, person.id),
                    kind=notices.REMINDER.kind,
                    chat_id=person.telegram_id,
                    text=text,
                    reply_markup=markup,
                    person_id=person.id,
                    commitment_id=cid,
                )
            )

    # Escalations are not written here but gathered for the whole tick (_notify_escalations): the commitment is
    # held (next_slot_at just after `now`) until then, so a tick that ends early leaves it to the next one.
    escalating = {by_id[cid].unit_id for cid in escalation_slots}
    committees = await notices.unit_committees(session, escalating, tick.committee) if escalating else {}
    for cid in escalation_slots:
        row = by_id[cid]
        if not committees[row.unit_id] and not head_recipients(people[row.unit_id]):
            log.warning("escalation of #%s: no reachable head, secretary or admin; will try again", cid)
            continue
        tick.held[cid] = _Held(row, next_at[cid])

    if reminders:
        tick.result.reminders += await enqueue(session, reminders, now=now)
    plans = [(cid, tick.held_at if cid in tick.held else at) for cid, at in next_at.items()]
    await planning.store_plans(session, plans)


def _escalation_messages(
    tick: _Tick,
    items: Sequence[_Item],
    recipients: Sequence[PersonInfo],
    *,
    key: str,
    unit: UnitInfo | None,
    people: dict[int, UnitPeople],
) -> list[Outgoing]:
    """One message per recipient listing `items` (one item: the detailed alert, with the task's buttons)."""
    texts: dict[str, tuple[str, dict[str, Any] | None]] = {}
    single = items[0].commitment if len(items) == 1 else None
    messages = []
    for person in recipients:
        lang = tick.lang(person)
        if lang not in texts:
            if single is not None:
                focal = people[single.unit_id].focal
                text = escalation_text(lang, single, items[0].unit, focal, day=tick.today, to_heads=unit is not None)
                texts[lang] = (text, _keyboard(lang, single))
            else:
                texts[lang] = (escalation_group_text(lang, items, day=tick.today, unit=unit), None)
        text, markup = texts[lang]
        messages.append(
            Outgoing(
                key=notices.ESCALATION.key(key, person.id, unit.id if unit is not None else None),
                kind=notices.ESCALATION.kind,
                chat_id=person.telegram_id,
                text=text,
                reply_markup=markup,
                person_id=person.id,
                commitment_id=single.id if single is not None else None,
            )
        )
    return messages


async def _notify_escalations(session: AsyncSession, tick: _Tick) -> None:
    """The escalations of the tick: one message to each reachable secretary and admin listing those of their
    scope, one to each reachable head per unit listing that unit's (a head who is also a secretary of the unit's
    scope gets the committee's).

    Claimed (escalated_for) in the same transaction as the messages are queued: a restart finds nothing new.
    Keys `escalation:{content id}:{person}` and `escalation:{unit}:{content id}:{person}`, the content id naming
    the (commitment, due date) pairs listed.
    """
    held_at = tick.held_at
    claimed = await planning.claim_escalations(session, tick.held, held=held_at)
    await planning.release_held(session, [(cid, h.next_at) for cid, h in tick.held.items()], held=held_at)
    if not claimed:
        return
    rows = [tick.held[cid].row for cid in claimed]
    unit_ids = {row.unit_id for row in rows}
    units = await planning.units_info(session, unit_ids)
    people = await planning.units_people(session, unit_ids)
    items = sorted(
        (_Item(row, units[row.unit_id]) for row in rows),
        key=lambda i: (i.commitment.due_date, i.unit.code.upper(), i.commitment.id),
    )
    tick.result.escalated += len(items)
    committees = await notices.unit_committees(session, unit_ids, tick.committee)
    messages: list[Outgoing] = []
    for listed, recipients in notices.per_recipient(items, lambda i: i.commitment.unit_id, committees):
        content = content_id(f"{i.commitment.id}:{i.commitment.due_date}" for i in listed)
        messages += _escalation_messages(tick, listed, recipients, key=content, unit=None, people=people)
    by_unit: dict[int, list[_Item]] = {}
    for item in items:
        by_unit.setdefault(item.commitment.unit_id, []).append(item)
    for unit_id, unit_items in sorted(by_unit.items()):
        heads = head_recipients(people[unit_id], exclude={p.id for p in committees[unit_id]})
        if heads:
            content = content_id(f"{i.commitment.id}:{i.commitment.due_date}" for i in unit_items)
            messages += _escalation_messages(tick, unit_items, heads, key=content, unit=units[unit_id], people=people)
    if messages:
        tick.result.escalations += await enqueue(session, messages, now=tick.now)
    log.info("%d commitment(s) escalated in %d message(s)", len(items), len(messages))


async def _notify_no_focal(session: AsyncSession, tick: _Tick) -> None:
    if tick.focal_seen:
        await planning.clear_no_focal(session, tick.focal_seen)
    missing = tick.focal_missing - tick.focal_seen
    if not missing:
        return
    committees = await notices.unit_committees(session, missing, tick.committee)
    # A unit nobody can be told of stays unclaimed: it is told once a secretary of its scope can hear it.
    told = {unit_id for unit_id in missing if committees[unit_id]}
    if len(told) < len(missing):
        log.warning(
            "%d unit(s) have reminders due and no focal point, and no secretary can be told", len(missing) - len(told)
        )
    claimed = await planning.claim_no_focal(session, told, now=tick.now) if told else []
    if not claimed:
        return
    numbers = dict(claimed)
    info = await planning.units_info(session, numbers)
    units = sorted(info.values(), key=lambda u: (u.code.upper(), u.id))
    tick.result.units_without_focal += len(units)
    log.warning("%d unit(s) have reminders due and no reachable focal point; secretaries told", len(units))
    messages = []
    for listed, recipients in notices.per_recipient(units, lambda u: u.id, committees):
        first = min(listed, key=lambda u: u.id)
        texts: dict[str, str] = {}
        for person in recipients:
            lang = tick.lang(person)
            if lang not in texts:
                texts[lang] = no_focal_text(lang, listed)
            messages.append(
                Outgoing(
                    key=notices.NO_FOCAL.key(first.id, numbers[first.id], person.id),
                    kind=notices.NO_FOCAL.kind,
                    chat_id=person.telegram_id,
                    text=texts[lang],
                    person_id=person.id,
                )
            )
    tick.result.notices += await enqueue(session, messages, now=tick.now)


async def plan_tick(
    db: Database,
    *,
    policy: ReminderPolicy,
    calendar: WorkCalendar,
    now: datetime,
    default_language: str,
    batch_size: int = DEFAULT_BATCH,
    max_rows: int | None = None,
    turn: AbstractAsyncContextManager[object] | None = None,
) -> PlanResult:
    """Queue every reminder, escalation, "no focal point" and "unreachable person" notice due at `now` (aware).

    Reads only the commitments that need it (next_slot_at passed or NULL), `batch_size` per transaction,
    at most `max_rows` per call (None: all; `result.more` says when some were left for the next tick).
    `turn` (bot.jobs on SQLite: the sender's write lock) is held for each transaction, so that the sender's
    short writes go in between the batches instead of waiting in SQLite's busy handler.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    result = PlanResult()
    fingerprint = policy_fingerprint(policy, calendar)
    async with _turn(turn), db.session() as session:
        if await planning.get_state(session, "fingerprint") != fingerprint:
            count = await planning.replan_all(session)
            await planning.set_state(session, "fingerprint", fingerprint)
            result.replanned_all = True
            if count:
                log.info("reminder settings or calendar changed: replanning %d open commitments", count)
        committee = await notices.scope_committee(session)
    tick = _Tick(
        policy=policy,
        calendar=calendar,
        now=now,
        default_language=default_language,
        today=now.astimezone(policy.tz).date(),
        committee=committee,
        result=result,
    )
    budget = max_rows
    for pending in (True, False):
        after_id = 0
        while True:
            if budget is not None and budget <= 0:
                result.more = True
                break
            limit = batch_size if budget is None else min(batch_size, budget)
            async with _turn(turn), db.session() as session:
                rows = await planning.claim_batch(session, pending=pending, now=now, limit=limit, after_id=after_id)
                if rows:
                    await _plan_batch(session, rows, tick)
                    after_id = rows[-1].id
            if budget is not None:
                budget -= len(rows)
            if len(rows) < limit:
                break
    if tick.held:
        async with _turn(turn), db.session() as session:
            await _notify_escalations(session, tick)
    if tick.focal_seen or tick.focal_missing:
        async with _turn(turn), db.session() as session:
            await _notify_no_focal(session, tick)
    async with _turn(turn), db.session() as session:
        told, messages = await notify_unreachable(
            session, now=now, recipients=committee, default_language=default_language
        )
    result.unreachable += told
    result.notices += messages
    return result


def _turn(turn: AbstractAsyncContextManager[object] | None) -> AbstractAsyncContextManager[object]:
    return turn if turn is not None else nullcontext()


# --- What is planned (qmsbot schedule) ----------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedReminder:
    """One planned delivery: a slot and one recipient (None: nobody can receive it)."""

    at: datetime
    commitment_id: int
    unit_code: str
    kind: SlotKind
    offset: int
    days_before: int
    days_overdue: int
    recipient: PersonInfo | None
    has_focal: bool  # the unit has focal points, though none reachable (when recipient is None)
    group: str | None = None  # the unit's linked group chat (its title), which gets the unit's reminders too

    def sort_key(self) -> tuple[datetime, int, int, int, str, int]:
        name = self.recipient.full_name if self.recipient else ""
        person = self.recipient.id if self.recipient else 0
        return (
            self.at,
            self.commitment_id,
            1 if self.kind == "escalation" else 0,
            self.group is not None,
            name,
            person,
        )


async def planned_reminders(
    db: Database,
    *,
    policy: ReminderPolicy,
    calendar: WorkCalendar,
    start: datetime,
    end: datetime,
    page: int = 2000,
) -> list[PlannedReminder]:
    """Every delivery planned with start < time <= end, sorted by time; reads only, writes nothing.

    Focal reminders go to each reachable focal point (or one entry without recipient); the escalation (unless
    already sent for this due date) to each reachable head, secretary and admin. Streams the register by pages.
    """
    planned: list[PlannedReminder] = []
    after_id = 0
    async with db.session() as session:
        committee = await notices.scope_committee(session)
        while True:
            rows = await planning.open_rows_after(session, after_id=after_id, limit=page)
            if not rows:
                break
            after_id = rows[-1].id
            slots: list[tuple[PlanRow, Slot]] = []
            for row in rows:
                view = CommitmentView(id=row.id, kind=row.kind, due=row.due_date, status=row.status)
                try:
                    row_slots = slots_between(view, policy, calendar, start, end)
                except Exception:
                    log.exception("commitment #%s (due %s) cannot be planned: left out", row.id, row.due_date)
                    continue
                for slot in row_slots:
                    if slot.kind == "escalation" and row.escalated_for == row.due_date:
                        continue
                    slots.append((row, slot))
            unit_ids = {row.unit_id for row, _ in slots}
            units = await planning.units_info(session, unit_ids)
            people = await planning.units_people(session, unit_ids)
            committees = await notices.unit_committees(session, unit_ids, committee)
            groups = await unit_groups(session, unit_ids)
            for row, slot in slots:
                planned.extend(
                    _deliveries(
                        row,
                        slot,
                        units[row.unit_id],
                        people[row.unit_id],
                        committees[row.unit_id],
                        groups.get(row.unit_id),
                    )
                )
    planned.sort(key=PlannedReminder.sort_key)
    return planned


def _deliveries(
    row: PlanRow,
    slot: Slot,
    unit: UnitInfo,
    people: UnitPeople,
    committee: Iterable[PersonInfo],
    group: GroupInfo | None,
) -> list[PlannedReminder]:
    if slot.audience == ESCALATION:
        recipients = committee_recipients((*people.heads, *committee))
    else:
        recipients = focal_recipients(people)

    def entry(person: PersonInfo | None) -> PlannedReminder:
        return PlannedReminder(
            at=slot.at,
            commitment_id=row.id,
            unit_code=unit.code,
            kind=slot.kind,
            offset=slot.offset,
            days_before=slot.days_before,
            days_overdue=slot.days_overdue,
            recipient=person,
            has_focal=bool(people.focal),
        )

    planned = [entry(p) for p in recipients] or [entry(None)]
    if group is not None and slot.audience != ESCALATION:
        planned.append(replace(entry(None), group=group.title))
    return planned
