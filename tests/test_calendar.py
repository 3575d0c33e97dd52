"""Vietnam's working-day calendar: public holidays, weekends and the committee's swapped days."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from scheduler.calendar import WorkCalendar


@pytest.fixture(scope="module")
def calendar() -> WorkCalendar:
    return WorkCalendar()


def test_national_day_2026_is_not_a_working_day(calendar: WorkCalendar) -> None:
    assert date(2026, 9, 2).weekday() == 2  # a Wednesday
    assert not calendar.is_working_day(date(2026, 9, 2))
    assert not calendar.is_working_day(date(2026, 9, 1))  # the adjacent day
    assert calendar.holiday_name(date(2026, 9, 2)) == "Quốc khánh"
    assert calendar.is_working_day(date(2026, 9, 3))


def test_tet_2026_is_not_working(calendar: WorkCalendar) -> None:
    # Tết Bính Ngọ: Monday 16/02 (New Year's Eve) to Friday 20/02/2026, then the weekend.
    for day in range(16, 23):
        assert not calendar.is_working_day(date(2026, 2, day)), day
    assert calendar.holiday_name(date(2026, 2, 17)) == "Tết Nguyên Đán"
    assert calendar.is_working_day(date(2026, 2, 13))
    assert calendar.is_working_day(date(2026, 2, 23))


def test_weekends_and_ordinary_days(calendar: WorkCalendar) -> None:
    assert calendar.is_working_day(date(2026, 12, 11))  # Friday
    assert not calendar.is_working_day(date(2026, 12, 12))  # Saturday
    assert not calendar.is_working_day(date(2026, 12, 13))  # Sunday
    assert calendar.holiday_name(date(2026, 12, 12)) is None


def test_extra_working_saturday_is_a_working_day() -> None:
    saturday = date(2026, 1, 10)
    assert not WorkCalendar().is_working_day(saturday)
    calendar = WorkCalendar(extra_working_days=[saturday])
    assert calendar.is_working_day(saturday)
    assert calendar.previous_working_day(date(2026, 1, 11)) == saturday
    assert calendar.next_working_day(saturday) == saturday


def test_extra_day_off_weekday_is_not_a_working_day() -> None:
    friday = date(2026, 1, 2)  # the day after New Year's Day, often given off and repaid on a Saturday
    assert WorkCalendar().is_working_day(friday)
    calendar = WorkCalendar(extra_days_off=[friday])
    assert not calendar.is_working_day(friday)
    assert calendar.is_extra_day_off(friday)
    assert calendar.holiday_name(friday) is None
    assert calendar.next_working_day(date(2026, 1, 1)) == date(2026, 1, 5)


def test_extra_working_day_wins_over_a_holiday_and_a_day_off() -> None:
    day = date(2026, 9, 1)
    calendar = WorkCalendar(extra_days_off=[day], extra_working_days=[day])
    assert calendar.is_working_day(day)
    assert calendar.holiday_name(day) is None


def test_make_up_saturday_known_to_the_package() -> None:
    # 2026: Monday 31/08 off, repaid by working Saturday 22/08 (the package records the swap).
    calendar = WorkCalendar()
    assert not calendar.is_working_day(date(2026, 8, 31))
    assert calendar.is_working_day(date(2026, 8, 22))
    assert not calendar.is_working_day(date(2026, 8, 29))


def test_previous_and_next_working_day_across_tet(calendar: WorkCalendar) -> None:
    assert calendar.previous_working_day(date(2026, 2, 22)) == date(2026, 2, 13)
    assert calendar.previous_working_day(date(2026, 2, 17)) == date(2026, 2, 13)
    assert calendar.next_working_day(date(2026, 2, 14)) == date(2026, 2, 23)
    assert calendar.next_working_day(date(2026, 2, 16)) == date(2026, 2, 23)
    # A working day is its own previous and next working day.
    assert calendar.previous_working_day(date(2026, 2, 13)) == date(2026, 2, 13)
    assert calendar.next_working_day(date(2026, 2, 23)) == date(2026, 2, 23)


def test_add_working_days(calendar: WorkCalendar) -> None:
    assert calendar.add_working_days(date(2026, 2, 13), 1) == date(2026, 2, 23)  # over Tết
    assert calendar.add_working_days(date(2026, 2, 23), -1) == date(2026, 2, 13)
    assert calendar.add_working_days(date(2026, 12, 11), 3) == date(2026, 12, 16)  # Friday + 3 = Wednesday
    assert calendar.add_working_days(date(2026, 12, 12), 0) == date(2026, 12, 12)
    assert calendar.add_working_days(date(2026, 12, 12), 1) == date(2026, 12, 14)  # from a Saturday


def test_new_year_holidays_across_years(calendar: WorkCalendar) -> None:
    assert not calendar.is_working_day(date(2027, 1, 1))
    assert calendar.previous_working_day(date(2027, 1, 1)) == date(2026, 12, 31)
    assert calendar.next_working_day(date(2026, 12, 31) + timedelta(days=1)) == date(2027, 1, 4)


def test_english_names() -> None:
    assert WorkCalendar(language="en_US").holiday_name(date(2026, 9, 2)) == "National Day"
