"""The pure reminder policy: SPEC "Reminders and escalation" case by case, then properties over random input."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.recurrence import RecurrenceError, next_occurrence, validate_rrule
from core.settings import Settings
from scheduler.calendar import WorkCalendar
from scheduler.policy import (
    ESCALATION,
    ESCALATION_OFFSET,
    FOCAL,
    CommitmentView,
    DuePlan,
    ReminderPolicy,
    Slot,
    delivery_key,
    due_plan,
    key_occurrence,
    latest_due,
    next_change_after,
    next_slot_after,
    slots_between,
)
from storage.models import Kind, Status

HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
POLICY = ReminderPolicy()
CALENDAR = WorkCalendar()


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=HANOI)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def focal(slots: list[Slot]) -> list[Slot]:
    return [s for s in slots if s.audience == FOCAL]


def dates_and_offsets(slots: list[Slot]) -> list[tuple[date, int]]:
    return [(s.local_date, s.offset) for s in slots]


# --- SPEC cases ---------------------------------------------------------------------------------------------


def test_legal_deadline_default_offsets() -> None:
    c = CommitmentView(id=1, kind="legal", due=date(2026, 12, 11))  # a Friday
    slots = slots_between(c, POLICY, CALENDAR, None, local(2026, 12, 11, 23, 59))
    assert [(s.at, s.offset, s.kind) for s in slots] == [
        (utc(2026, 11, 11, 1, 30), 30, "before"),
        (utc(2026, 11, 27, 1, 30), 14, "before"),
        (utc(2026, 12, 4, 1, 30), 7, "before"),
        (utc(2026, 12, 8, 1, 30), 3, "before"),
        (utc(2026, 12, 10, 1, 30), 1, "before"),
        (utc(2026, 12, 11, 1, 30), 0, "due"),
    ]
    assert all(s.at.astimezone(HANOI).time() == time(8, 30) for s in slots)
    assert all(s.key == (1, "2026-12-11", s.offset) and s.audience == FOCAL for s in slots)
    assert [s.days_before for s in slots] == [30, 14, 7, 3, 1, 0]


def test_internal_deadline_uses_internal_offsets() -> None:
    c = CommitmentView(id=2, kind=Kind.INTERNAL, due=date(2026, 12, 11))
    slots = slots_between(c, POLICY, CALENDAR, None, local(2026, 12, 11, 23, 59))
    assert [s.offset for s in slots] == [7, 3, 1, 0]


def test_due_on_sunday_reminds_on_friday() -> None:
    c = CommitmentView(id=3, kind="internal", due=date(2026, 12, 13))  # a Sunday
    slots = slots_between(c, POLICY, CALENDAR, None, local(2026, 12, 13, 23, 59))
    # 7 → Sunday 06/12 → Friday 04/12; 3 → Thursday 10/12; 1 (Saturday) and 0 (Sunday) → Friday 11/12: one
    # reminder, the due-day one.
    assert dates_and_offsets(slots) == [(date(2026, 12, 4), 7), (date(2026, 12, 10), 3), (date(2026, 12, 11), 0)]
    assert slots[-1].kind == "due"
    assert slots[-1].at == utc(2026, 12, 11, 1, 30)


def test_before_reminders_over_tet_collapse_into_one() -> None:
    c = CommitmentView(id=4, kind="internal", due=date(2026, 2, 23))  # the first working day after Tết 2026
    slots = slots_between(c, POLICY, CALENDAR, None, local(2026, 2, 23, 23, 59))
    # 7 (16/02), 3 (20/02) and 1 (22/02) all fall in Tết or its weekend → Friday 13/02, keeping offset 1.
    assert dates_and_offsets(slots) == [(date(2026, 2, 13), 1), (date(2026, 2, 23), 0)]


def test_without_working_days_only_nothing_moves() -> None:
    policy = ReminderPolicy(working_days_only=False)
    c = CommitmentView(id=5, kind="internal", due=date(2026, 12, 13))
    slots = slots_between(c, policy, CALENDAR, None, local(2026, 12, 20, 23, 59))
    assert dates_and_offsets(focal(slots)) == [
        (date(2026, 12, 6), 7),
        (date(2026, 12, 10), 3),
        (date(2026, 12, 12), 1),
        (date(2026, 12, 13), 0),
        (date(2026, 12, 14), -1),
        (date(2026, 12, 17), -4),
        (date(2026, 12, 20), -7),
    ]
    escalation = [s for s in slots if s.audience == ESCALATION]
    assert dates_and_offsets(escalation) == [(date(2026, 12, 20), ESCALATION_OFFSET)]


def test_make_up_saturday_carries_reminders() -> None:
    calendar = WorkCalendar(extra_working_days=[date(2026, 12, 12)])
    c = CommitmentView(id=6, kind="internal", due=date(2026, 12, 12))
    slots = slots_between(c, POLICY, calendar, None, local(2026, 12, 12, 23, 59))
    assert slots[-1].local_date == date(2026, 12, 12) and slots[-1].offset == 0


def test_overdue_on_saturday_moves_to_monday() -> None:
    c = CommitmentView(id=7, kind="legal", due=date(2026, 12, 8))  # a Tuesday
    slots = focal(slots_between(c, POLICY, CALENDAR, local(2026, 12, 8, 23, 59), local(2026, 12, 18, 23, 59)))
    # due + 1 = Wednesday 09/12; due + 4 = Saturday 12/12 → Monday 14/12; due + 7 = Tuesday 15/12 …
    assert dates_and_offsets(slots) == [
        (date(2026, 12, 9), -1),
        (date(2026, 12, 14), -4),
        (date(2026, 12, 15), -7),
        (date(2026, 12, 18), -10),
    ]
    assert all(s.kind == "overdue" for s in slots)
    assert slots[1].at == utc(2026, 12, 14, 1, 30)
    assert slots[1].days_overdue == 6


def test_overdue_slots_shifted_onto_one_day_collapse() -> None:
    policy = ReminderPolicy(overdue_every_days=1)
    c = CommitmentView(id=8, kind="legal", due=date(2026, 12, 10))  # a Thursday
    slots = focal(slots_between(c, policy, CALENDAR, local(2026, 12, 10, 23, 59), local(2026, 12, 15, 23, 59)))
    # Friday 11/12 (−1); Saturday (−2), Sunday (−3) and Monday (−4) → Monday 14/12, once (−2); Tuesday (−5).
    assert dates_and_offsets(slots) == [(date(2026, 12, 11), -1), (date(2026, 12, 14), -2), (date(2026, 12, 15), -5)]


def test_catch_up_on_a_collapsed_overdue_day_has_the_kept_key() -> None:
    policy = ReminderPolicy(overdue_every_days=1)
    c = CommitmentView(id=8, kind="legal", due=date(2026, 12, 10))
    slot = latest_due(c, policy, CALENDAR, local(2026, 12, 14, 9), FOCAL)
    assert slot is not None and (slot.local_date, slot.offset) == (date(2026, 12, 14), -2)
    following = next_slot_after(c, policy, CALENDAR, local(2026, 12, 11, 9))
    assert following is not None and (following.local_date, following.offset) == (date(2026, 12, 14), -2)


def test_delivery_keys_carry_the_occurrence_for_the_sender() -> None:
    c = CommitmentView(id=12, kind="legal", due=date(2026, 12, 11))
    slots = slots_between(c, POLICY, CALENDAR, None, local(2027, 1, 31))
    assert {s.kind for s in slots} == {"before", "due", "overdue", "escalation"}
    for slot in slots:
        key = delivery_key(slot, 34)
        assert key == f"reminder:12:2026-12-11:{slot.offset}:34"
        assert key_occurrence(key) == "2026-12-11"
    assert key_occurrence("nofocal:3:1:34") is None
    assert key_occurrence("reminder:broken") is None


def test_escalation_once_at_due_plus_seven() -> None:
    c = CommitmentView(id=9, kind="legal", due=date(2026, 12, 11))
    slots = slots_between(c, POLICY, CALENDAR, None, local(2027, 6, 30))
    escalations = [s for s in slots if s.audience == ESCALATION]
    assert len(escalations) == 1
    (escalation,) = escalations
    assert escalation.at == utc(2026, 12, 18, 1, 30)
    assert escalation.kind == "escalation" and escalation.offset == ESCALATION_OFFSET
    assert escalation.days_overdue == 7
    # The focal points get their overdue reminder the same morning: a different key.
    same_morning = [s for s in slots if s.at == escalation.at]
    assert {s.audience for s in same_morning} == {FOCAL, ESCALATION}
    assert len({s.key for s in same_morning}) == 2


def test_escalation_on_a_weekend_moves_to_the_working_day_after() -> None:
    c = CommitmentView(id=10, kind="legal", due=date(2026, 12, 5))  # due + 7 = Saturday 12/12
    slot = latest_due(c, POLICY, CALENDAR, local(2026, 12, 20), ESCALATION)
    assert slot is not None and slot.local_date == date(2026, 12, 14)
    assert latest_due(c, POLICY, CALENDAR, local(2026, 12, 13, 12), ESCALATION) is None


def test_catch_up_after_three_days_down_is_the_latest_only() -> None:
    c = CommitmentView(id=11, kind="legal", due=date(2026, 12, 11))
    down, up = local(2026, 12, 7, 7), local(2026, 12, 10, 9)
    missed = slots_between(c, POLICY, CALENDAR, down, up)
    assert [s.offset for s in missed] == [3, 1]
    slot = latest_due(c, POLICY, CALENDAR, up, FOCAL)
    assert slot == missed[-1]
    assert latest_due(c, POLICY, CALENDAR, up, ESCALATION) is None


def test_catch_up_when_down_over_overdue_reminders() -> None:
    c = CommitmentView(id=12, kind="legal", due=date(2026, 12, 11))
    slot = latest_due(c, POLICY, CALENDAR, local(2026, 12, 22, 10), FOCAL)
    # Overdue reminders on 14/12 (−1), 15/12 (−4), 18/12 (−7) and 21/12 (−10): only the last one.
    assert slot is not None and (slot.local_date, slot.offset, slot.kind) == (date(2026, 12, 21), -10, "overdue")
    escalation = latest_due(c, POLICY, CALENDAR, local(2026, 12, 22, 10), ESCALATION)
    assert escalation is not None and escalation.local_date == date(2026, 12, 18)


def test_no_before_reminder_after_the_deadline() -> None:
    c = CommitmentView(id=13, kind="legal", due=date(2026, 12, 10))  # a Thursday
    due_slot = latest_due(c, POLICY, CALENDAR, local(2026, 12, 10, 23, 59, 59), FOCAL)
    assert due_slot is not None and due_slot.offset == 0
    assert latest_due(c, POLICY, CALENDAR, local(2026, 12, 11, 0, 0, 0), FOCAL) is None
    assert latest_due(c, POLICY, CALENDAR, local(2026, 12, 11, 0, 0, 1), FOCAL) is None
    assert latest_due(c, POLICY, CALENDAR, local(2026, 12, 11, 8, 29, 59), FOCAL) is None
    first_overdue = latest_due(c, POLICY, CALENDAR, local(2026, 12, 11, 8, 30), FOCAL)
    assert first_overdue is not None and (first_overdue.offset, first_overdue.kind) == (-1, "overdue")
    assert next_change_after(c, POLICY, CALENDAR, local(2026, 12, 11, 0, 0, 1)) == utc(2026, 12, 11, 1, 30)


def test_nothing_before_the_first_reminder() -> None:
    c = CommitmentView(id=14, kind="legal", due=date(2026, 12, 11))
    assert latest_due(c, POLICY, CALENDAR, local(2026, 11, 11, 8, 29), FOCAL) is None
    assert next_change_after(c, POLICY, CALENDAR, local(2026, 11, 11, 8, 29)) == utc(2026, 11, 11, 1, 30)
    slot = latest_due(c, POLICY, CALENDAR, local(2026, 11, 11, 8, 30), FOCAL)
    assert slot is not None and slot.offset == 30


@pytest.mark.parametrize("status", [Status.DONE, Status.CANCELLED, "done", "cancelled"])
def test_done_and_cancelled_get_nothing(status: Status | str) -> None:
    c = CommitmentView(id=15, kind="legal", due=date(2026, 12, 11), status=status)
    now = local(2026, 12, 30, 12)
    assert slots_between(c, POLICY, CALENDAR, None, now) == []
    assert latest_due(c, POLICY, CALENDAR, now, FOCAL) is None
    assert latest_due(c, POLICY, CALENDAR, now, ESCALATION) is None
    assert next_change_after(c, POLICY, CALENDAR, now) is None


def test_in_progress_is_still_reminded() -> None:
    c = CommitmentView(id=16, kind="legal", due=date(2026, 12, 11), status="in_progress")
    assert latest_due(c, POLICY, CALENDAR, local(2026, 12, 30, 12), FOCAL) is not None


def test_fifteen_years_overdue_is_arithmetic(now: datetime) -> None:
    # "Approve the implementation plan before 31/03/2011" (Quyết định 118/2009/QĐ-TTg), still open.
    c = CommitmentView(id=17, kind="legal", due=date(2011, 3, 31))
    slot = latest_due(c, POLICY, CALENDAR, now, FOCAL)
    expected = focal(slots_between(c, POLICY, CALENDAR, None, now))[-1]
    assert slot == expected
    assert slot.at <= now < slot.at + timedelta(days=10)
    assert CALENDAR.is_working_day(slot.local_date)
    following = next_slot_after(c, POLICY, CALENDAR, now)
    assert following is not None and following.at == next_change_after(c, POLICY, CALENDAR, now)
    assert following == slots_between(c, POLICY, CALENDAR, now, now + timedelta(days=30))[0]


def test_not_before_hides_earlier_slots() -> None:
    c = CommitmentView(id=18, kind="legal", due=date(2026, 12, 11))
    created = local(2026, 12, 1, 10)
    # The 14-day reminder (27/11) passed before the commitment existed: no catch-up for it.
    assert latest_due(c, POLICY, CALENDAR, local(2026, 12, 2), FOCAL, not_before=created) is None
    assert latest_due(c, POLICY, CALENDAR, local(2026, 12, 2), FOCAL) is not None
    slot = latest_due(c, POLICY, CALENDAR, local(2026, 12, 4, 9), FOCAL, not_before=created)
    assert slot is not None and slot.offset == 7
    assert [s.offset for s in slots_between(c, POLICY, CALENDAR, None, local(2026, 12, 8, 9), not_before=created)] == [
        7,
        3,
    ]
    exactly = local(2026, 12, 4, 8, 30)
    assert next_change_after(c, POLICY, CALENDAR, local(2026, 11, 1), not_before=exactly) == exactly


def test_an_extension_starts_a_new_occurrence() -> None:
    before = CommitmentView(id=19, kind="internal", due=date(2026, 12, 11))
    after = CommitmentView(id=19, kind="internal", due=date(2026, 12, 18))
    assert before.occurrence == "2026-12-11" and after.occurrence == "2026-12-18"
    keys_before = {s.key for s in slots_between(before, POLICY, CALENDAR, None, local(2027, 1, 1))}
    keys_after = {s.key for s in slots_between(after, POLICY, CALENDAR, None, local(2027, 1, 1))}
    assert not keys_before & keys_after


def test_policy_from_settings() -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        reminder_days_legal=[30, 7, 0],
        reminder_days_internal=[3, 0],
        reminder_time=time(7, 45),
        overdue_every_days=5,
        escalate_after_days=10,
        working_days_only=False,
    )
    policy = ReminderPolicy.from_settings(settings)
    assert policy == ReminderPolicy(
        legal_offsets=(30, 7, 0),
        internal_offsets=(3, 0),
        reminder_time=time(7, 45),
        overdue_every_days=5,
        escalate_after_days=10,
        working_days_only=False,
        tz=HANOI,
    )
    assert ReminderPolicy.from_settings(Settings(_env_file=None)) == ReminderPolicy()  # type: ignore[call-arg]


def test_policy_normalises_and_checks_offsets() -> None:
    assert ReminderPolicy(legal_offsets=(0, 3, 3, 1)).legal_offsets == (3, 1, 0)
    with pytest.raises(ValueError):
        ReminderPolicy(internal_offsets=(-1,))
    with pytest.raises(ValueError):
        ReminderPolicy(overdue_every_days=0)
    with pytest.raises(ValueError):
        latest_due(CommitmentView(1, "legal", date(2026, 1, 1)), POLICY, CALENDAR, datetime(2026, 1, 1), FOCAL)


# --- properties ---------------------------------------------------------------------------------------------


@cache
def calendar_for(days_off: frozenset[date], working: frozenset[date]) -> WorkCalendar:
    return WorkCalendar(days_off, working)


@st.composite
def cases(draw: st.DrawFn) -> tuple[CommitmentView, ReminderPolicy, WorkCalendar, datetime]:
    due = draw(st.dates(min_value=date(2010, 1, 1), max_value=date(2035, 12, 31)))
    kind = draw(st.sampled_from([Kind.LEGAL, Kind.INTERNAL, "legal", "internal"]))
    status = draw(st.sampled_from([*Status, "open", "done"]))
    near = st.integers(min_value=-60, max_value=90).map(lambda n: due + timedelta(days=n))
    days_off = draw(st.lists(near, max_size=12))
    working = draw(st.lists(near, max_size=4))
    policy = ReminderPolicy(
        legal_offsets=tuple(draw(st.lists(st.integers(0, 60), max_size=7))),
        internal_offsets=tuple(draw(st.lists(st.integers(0, 60), max_size=7))),
        reminder_time=draw(st.times()),
        overdue_every_days=draw(st.one_of(st.integers(1, 3), st.integers(1, 30))),
        escalate_after_days=draw(st.integers(1, 60)),
        working_days_only=draw(st.booleans()),
        tz=draw(st.sampled_from([HANOI, ZoneInfo("UTC"), ZoneInfo("America/New_York")])),
    )
    calendar = calendar_for(frozenset(days_off), frozenset(working))
    minutes = draw(st.integers(min_value=-100 * 1440, max_value=300 * 1440))
    now = datetime.combine(due, time(12), tzinfo=UTC) + timedelta(minutes=minutes, seconds=draw(st.integers(0, 59)))
    return CommitmentView(id=draw(st.integers(1, 10**9)), kind=kind, due=due, status=status), policy, calendar, now


Case = tuple[CommitmentView, ReminderPolicy, WorkCalendar, datetime]


def expected_latest(
    c: CommitmentView, policy: ReminderPolicy, past: list[Slot], now: datetime, audience: str
) -> Slot | None:
    deadline = policy.deadline_at(c.due)
    candidates = [s for s in past if s.audience == audience and not (s.kind in ("before", "due") and now >= deadline)]
    return max(candidates, key=lambda s: s.at) if candidates else None


@given(cases())
def test_slots_are_well_formed(case: Case) -> None:
    c, policy, calendar, now = case
    end = now + timedelta(days=120)
    slots = slots_between(c, policy, calendar, None, end)
    if not c.is_open:
        assert slots == []
        return
    assert slots == sorted(slots, key=lambda s: s.at)
    assert len({s.key for s in slots}) == len(slots)
    deadline = policy.deadline_at(c.due)
    offsets = policy.offsets_for(c.kind)
    for s in slots:
        assert s.at <= end and s.at.tzinfo == UTC
        assert s.at == datetime.combine(s.local_date, policy.reminder_time, tzinfo=policy.tz).astimezone(UTC)
        assert s.occurrence == c.due.isoformat() and s.commitment_id == c.id
        if s.kind in ("before", "due"):
            assert s.at < deadline and s.local_date <= c.due and s.offset in offsets and s.audience == FOCAL
            assert (s.kind == "due") == (s.offset == 0)
            nominal = c.due - timedelta(days=s.offset)
            assert s.local_date <= nominal
        elif s.kind == "overdue":
            assert s.offset < 0 and (-s.offset - 1) % policy.overdue_every_days == 0 and s.audience == FOCAL
            assert s.local_date >= c.due - timedelta(days=s.offset)
        else:
            assert (s.kind, s.audience, s.offset) == ("escalation", ESCALATION, ESCALATION_OFFSET)
            assert s.local_date >= c.due + timedelta(days=policy.escalate_after_days)
        if policy.working_days_only:
            assert calendar.is_working_day(s.local_date)
        else:
            assert s.local_date == c.due - timedelta(days=s.offset) or s.kind == "escalation"
    # One slot per audience and local date after collapsing, keeping the one closest to the deadline.
    per_day = {(s.audience, s.local_date) for s in slots}
    assert len(per_day) == len(slots)
    for s in slots:
        if s.kind in ("before", "due"):
            nearer = [k for k in offsets if k < s.offset]
            shift = calendar.previous_working_day if policy.working_days_only else (lambda d: d)
            assert all(shift(c.due - timedelta(days=k)) != s.local_date for k in nearer)


@given(cases())
def test_windows_add_up(case: Case) -> None:
    c, policy, calendar, now = case
    end = now + timedelta(days=45)
    whole = slots_between(c, policy, calendar, None, end)
    assert slots_between(c, policy, calendar, None, now) + slots_between(c, policy, calendar, now, end) == whole
    start = now - timedelta(days=40)
    assert slots_between(c, policy, calendar, start, end) == [s for s in whole if s.at > start]


@given(cases())
def test_latest_due_is_the_latest_passed_slot(case: Case) -> None:
    c, policy, calendar, now = case
    past = slots_between(c, policy, calendar, None, now)
    for audience in (FOCAL, ESCALATION):
        slot = latest_due(c, policy, calendar, now, audience)
        assert slot == expected_latest(c, policy, past, now, audience)
        if slot is not None:
            assert slot.at <= now and c.is_open
            if now >= policy.deadline_at(c.due):
                assert slot.kind in ("overdue", "escalation")


@given(cases(), st.integers(min_value=-60 * 1440, max_value=60 * 1440))
def test_not_before_filters(case: Case, shift_minutes: int) -> None:
    c, policy, calendar, now = case
    not_before = now + timedelta(minutes=shift_minutes)
    end = now + timedelta(days=60)
    assert slots_between(c, policy, calendar, None, end, not_before=not_before) == [
        s for s in slots_between(c, policy, calendar, None, end) if s.at >= not_before
    ]
    for audience in (FOCAL, ESCALATION):
        plain = latest_due(c, policy, calendar, now, audience)
        hidden = latest_due(c, policy, calendar, now, audience, not_before=not_before)
        assert hidden == (plain if plain is not None and plain.at >= not_before else None)


@given(cases())
def test_next_change_is_the_first_slot_after_now(case: Case) -> None:
    c, policy, calendar, now = case
    following = next_change_after(c, policy, calendar, now)
    if not c.is_open:
        assert following is None
        return
    upcoming = slots_between(c, policy, calendar, now, now + timedelta(days=400))
    assert following is not None and following > now
    assert following == upcoming[0].at
    assert next_slot_after(c, policy, calendar, now) == upcoming[0]


@given(cases(), st.integers(min_value=1, max_value=16 * 366))
def test_long_overdue_matches_enumeration(case: Case, days_later: int) -> None:
    c, policy, calendar, _ = case
    now = policy.deadline_at(c.due) + timedelta(days=days_later, minutes=days_later % 1440)
    slot = latest_due(c, policy, calendar, now, FOCAL)
    if not c.is_open:
        assert slot is None
        return
    recent = focal(slots_between(c, policy, calendar, now - timedelta(days=policy.overdue_every_days + 40), now))
    # After the deadline only an overdue reminder may go out: a due-day one that passed (e.g. moved before a
    # holiday) stays passed while the first overdue one waits for the working day after a weekend.
    recent = [s for s in recent if s.kind == "overdue"]
    assert slot == (recent[-1] if recent else None)
    assert slot is None or slot.kind == "overdue"


@given(cases())
def test_one_plan_per_kind_and_due_date_is_every_commitments_plan(case: Case) -> None:
    """The planner plans each (kind, due date) once per tick and gives the slots to each commitment: the
    reminders of a commitment planned that way are exactly its own."""
    c, policy, calendar, now = case
    if not c.is_open:
        return
    plan = due_plan(c.kind, c.due, policy, calendar, now)
    own = (latest_due(c, policy, calendar, now, FOCAL), latest_due(c, policy, calendar, now, ESCALATION))
    shared = tuple(None if s is None else DuePlan.for_commitment(s, c.id) for s in (plan.focal, plan.escalation))
    assert shared == own
    assert plan.next_at == next_change_after(c, policy, calendar, now)


# --- recurrence ---------------------------------------------------------------------------------------------


def test_annual_report_recurs_on_its_day() -> None:
    rule = "FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=15"
    assert validate_rrule(rule, dtstart=date(2026, 12, 15)) is None
    assert next_occurrence(rule, date(2026, 12, 15)) == date(2027, 12, 15)
    # Done early, or an occurrence whose due date was moved: the next is still the rule's next date.
    assert next_occurrence(rule, date(2026, 3, 10)) == date(2026, 12, 15)
    assert next_occurrence("RRULE:FREQ=MONTHLY;BYMONTHDAY=-1", date(2027, 1, 31)) == date(2027, 2, 28)
    assert next_occurrence("FREQ=MONTHLY", date(2027, 1, 20), dtstart=date(2027, 1, 15)) == date(2027, 2, 15)
    assert next_occurrence("DTSTART:20200105\nRRULE:FREQ=MONTHLY", date(2026, 12, 15)) == date(2027, 1, 5)


def test_rules_that_end_or_never_produce_another_date() -> None:
    assert next_occurrence("FREQ=YEARLY;UNTIL=20271231", date(2026, 12, 15)) == date(2027, 12, 15)
    assert next_occurrence("FREQ=YEARLY;UNTIL=20271231", date(2027, 12, 15)) is None
    assert validate_rrule("FREQ=YEARLY;COUNT=1", dtstart=date(2026, 12, 15)) is not None
    assert validate_rrule("FREQ=YEARLY;UNTIL=20250101", dtstart=date(2026, 12, 15)) is not None
    assert validate_rrule("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30") is not None  # 30 February


@pytest.mark.parametrize(
    "text", ["", "garbage", "FREQ=HOURLY", "FREQ=YEARLY;BYMONTH=13", "FREQ=WEEKLY;BYDAY=XX", "FREQ=DAILY;BYHOUR=9"]
)
def test_malformed_rules_are_explained(text: str) -> None:
    message = validate_rrule(text)
    assert message
    with pytest.raises(RecurrenceError):
        next_occurrence(text, date(2026, 12, 15))
