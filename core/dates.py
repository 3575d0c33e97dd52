"""The one parser of dates a user types (commands, register files, settings)."""

from __future__ import annotations

import re
from datetime import date

# The dates the bot accepts anywhere (commands, register files, settings): a typo such as 2206 or 9999 is
# refused where it is typed, not found later by the date arithmetic of the reminders.
MIN_YEAR = 2000
MAX_YEAR = 2100


class NotADate(ValueError):
    """parse_date: the text is not in one of the accepted forms."""


class DateOutOfRange(ValueError):
    """parse_date, check_date_range: a date whose year is not between MIN_YEAR and MAX_YEAR."""


def check_date_range(day: date) -> date:
    """`day` itself, if its year is between MIN_YEAR and MAX_YEAR; raises DateOutOfRange otherwise."""
    if not MIN_YEAR <= day.year <= MAX_YEAR:
        raise DateOutOfRange(f"{day.isoformat()}: the year must be between {MIN_YEAR} and {MAX_YEAR}")
    return day


def parse_date(text: str) -> date:
    """DD/MM/YYYY or YYYY-MM-DD with a year between MIN_YEAR and MAX_YEAR.

    Raises ValueError for anything else: NotADate for another form, DateOutOfRange for a year out of range,
    a plain ValueError for a day that does not exist (31/02/2026).
    """
    text = text.strip()
    if re.fullmatch(r"\d{1,2}/\d{1,2}/\d{4}", text):
        day, month, year = (int(p) for p in text.split("/"))
    elif re.fullmatch(r"\d{4}-\d{1,2}-\d{1,2}", text):
        year, month, day = (int(p) for p in text.split("-"))
    else:
        raise NotADate(text)
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise DateOutOfRange(f"{text}: the year must be between {MIN_YEAR} and {MAX_YEAR}")
    return date(year, month, day)
