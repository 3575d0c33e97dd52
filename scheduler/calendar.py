"""Vietnam's working-day calendar (SPEC "Reminders and escalation"): holidays, EXTRA_DAYS_OFF, EXTRA_WORKING_DAYS.

Pure, with holiday years loaded lazily and every answer cached per date (docs/ARCHITECTURE.md, "Leader").
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from functools import cache

import holidays

COUNTRY = "VN"
# A calendar where no working day can be found within this many days is a configuration error.
_SEARCH_LIMIT_DAYS = 3660
_ONE_DAY = timedelta(days=1)


@cache
def _package_year(year: int, language: str) -> tuple[dict[date, str], frozenset[date]]:
    """The package's public holidays populated for `year` (dates may spill into a neighbouring year) and the
    weekend days it knows to be worked in exchange for a day off."""
    if not date.min.year <= year <= date.max.year:
        return {}, frozenset()
    table = holidays.country_holidays(COUNTRY, years=year, language=language)
    names = {day: str(name) for day, name in table.items()}
    workdays = frozenset(getattr(table, "weekend_workdays", ()) or ())
    return names, workdays


class WorkCalendar:
    """Working days in Vietnam, adjusted by the committee's own days off and make-up working days."""

    def __init__(
        self,
        extra_days_off: Iterable[date] = (),
        extra_working_days: Iterable[date] = (),
        *,
        language: str = "vi",
    ) -> None:
        self.extra_days_off: frozenset[date] = frozenset(extra_days_off)
        self.extra_working_days: frozenset[date] = frozenset(extra_working_days)
        self.language = language
        self._years: set[int] = set()
        self._holidays: dict[date, str] = {}
        self._weekend_workdays: set[date] = set()
        self._working: dict[date, bool] = {}
        self._previous: dict[date, date] = {}
        self._next: dict[date, date] = {}

    def __repr__(self) -> str:
        return (
            f"WorkCalendar(extra_days_off={sorted(self.extra_days_off)!r}, "
            f"extra_working_days={sorted(self.extra_working_days)!r})"
        )

    def _load(self, year: int) -> None:
        # Neighbouring years too: a day in lieu or a cross-year swap may be recorded under the year before.
        for y in (year - 1, year, year + 1):
            if y in self._years:
                continue
            names, workdays = _package_year(y, self.language)
            for day, name in names.items():
                self._holidays.setdefault(day, name)
            self._weekend_workdays.update(workdays)
            self._years.add(y)

    def _public_holiday(self, d: date) -> str | None:
        if d.year not in self._years:
            self._load(d.year)
        return self._holidays.get(d)

    def is_working_day(self, d: date) -> bool:
        """Mon–Fri and not a holiday or extra day off; or an extra (make-up) working day."""
        cached = self._working.get(d)
        if cached is not None:
            return cached
        if d in self.extra_working_days:
            working = True
        elif d in self.extra_days_off:
            working = False
        elif self._public_holiday(d) is not None:
            working = False
        elif d.weekday() >= 5:
            working = d in self._weekend_workdays
        else:
            working = True
        self._working[d] = working
        return working

    def holiday_name(self, d: date) -> str | None:
        """The public holiday's name (in the calendar's language, Vietnamese by default), or None.

        None also for the committee's extra days off (they have no name) and for a holiday the committee
        made a working day.
        """
        if d in self.extra_working_days:
            return None
        return self._public_holiday(d)

    def is_extra_day_off(self, d: date) -> bool:
        return d in self.extra_days_off and d not in self.extra_working_days

    def previous_working_day(self, d: date) -> date:
        """`d` itself when it is a working day, else the last working day before it."""
        cached = self._previous.get(d)
        if cached is not None:
            return cached
        day = d
        for _ in range(_SEARCH_LIMIT_DAYS):
            if self.is_working_day(day):
                self._previous[d] = day
                return day
            day -= _ONE_DAY
        raise ValueError(f"no working day in the {_SEARCH_LIMIT_DAYS} days up to {d.isoformat()}")

    def next_working_day(self, d: date) -> date:
        """`d` itself when it is a working day, else the first working day after it."""
        cached = self._next.get(d)
        if cached is not None:
            return cached
        day = d
        for _ in range(_SEARCH_LIMIT_DAYS):
            if self.is_working_day(day):
                self._next[d] = day
                return day
            day += _ONE_DAY
        raise ValueError(f"no working day in the {_SEARCH_LIMIT_DAYS} days from {d.isoformat()}")

    def add_working_days(self, d: date, n: int) -> date:
        """The n-th working day after `d` (n > 0) or before it (n < 0), not counting `d`; `d` for n == 0.

        This is how a period "in working days" (ngày làm việc) is counted: 3 working days from Friday is
        the next Wednesday.
        """
        step = _ONE_DAY if n > 0 else -_ONE_DAY
        day = d
        for _ in range(abs(n)):
            day = self.next_working_day(day + step) if n > 0 else self.previous_working_day(day + step)
        return day
