"""Recurring commitments: the next due date from an iCalendar RRULE (SPEC "Reminders and escalation").

A rule as written (optional `RRULE:` and `DTSTART:YYYYMMDD`); dates only, nothing more frequent than daily. Pure.
"""

from __future__ import annotations

import calendar as _stdcalendar
import re
from datetime import date, datetime, time

from dateutil.rrule import rrule, rrulestr

_FREQUENCIES = ("YEARLY", "MONTHLY", "WEEKLY", "DAILY")
_WEEKDAY = r"[+-]?\d{0,2}(MO|TU|WE|TH|FR|SA|SU)"
_KNOWN_PARTS = {
    "FREQ",
    "INTERVAL",
    "COUNT",
    "UNTIL",
    "WKST",
    "BYMONTH",
    "BYMONTHDAY",
    "BYDAY",
    "BYYEARDAY",
    "BYWEEKNO",
    "BYSETPOS",
}
# (lowest absolute value, highest absolute value, negatives allowed) for numeric BY… lists.
_RANGES = {
    "BYMONTH": (1, 12, False),
    "BYMONTHDAY": (1, 31, True),
    "BYYEARDAY": (1, 366, True),
    "BYWEEKNO": (1, 53, True),
    "BYSETPOS": (1, 366, True),
}
# Without any DTSTART, validation counts from this date.
_REFERENCE_START = date(2000, 1, 1)


class RecurrenceError(ValueError):
    """The text is not a usable recurrence rule; the message says why, in one line."""


def _split(text: str) -> tuple[str | None, str]:
    """(DTSTART line or None, the RRULE body without its `RRULE:` prefix)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    start: str | None = None
    body: str | None = None
    for line in lines:
        upper = line.upper()
        if upper.startswith("DTSTART"):
            if start is not None:
                raise RecurrenceError("more than one DTSTART")
            start = line
        elif upper.startswith("RRULE:") or "=" in line.split(":", 1)[0]:
            if body is not None:
                raise RecurrenceError("more than one RRULE")
            body = line.split(":", 1)[1] if upper.startswith("RRULE:") else line
        else:
            raise RecurrenceError(f"unexpected line {line!r}: expected an RRULE such as FREQ=YEARLY;BYMONTH=12")
    if body is None or not body.strip():
        raise RecurrenceError("empty rule: expected an RRULE such as FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=15")
    return start, body.strip()


def _int_list(name: str, value: str) -> list[int]:
    low, high, negative = _RANGES[name]
    numbers = []
    for part in value.split(","):
        if not re.fullmatch(r"[+-]?\d{1,3}", part.strip()):
            raise RecurrenceError(f"{name}={value}: expected whole numbers separated by commas")
        number = int(part)
        if not low <= abs(number) <= high or (number < 0 and not negative):
            allowed = f"{low}..{high}" + (f" or -{high}..-{low}" if negative else "")
            raise RecurrenceError(f"{name}={value}: {number} is out of range ({allowed})")
        numbers.append(number)
    return numbers


def _check_parts(body: str) -> None:
    parts: dict[str, str] = {}
    for item in body.split(";"):
        if not item.strip():
            continue
        if "=" not in item:
            raise RecurrenceError(f"{item!r} is not NAME=VALUE")
        name, value = (p.strip() for p in item.split("=", 1))
        name = name.upper()
        if name not in _KNOWN_PARTS:
            raise RecurrenceError(f"{name} is not supported (dates only: no times of day)")
        if name in parts:
            raise RecurrenceError(f"{name} appears twice")
        parts[name] = value
    freq = parts.get("FREQ", "").upper()
    if freq not in _FREQUENCIES:
        raise RecurrenceError(f"FREQ must be one of {', '.join(_FREQUENCIES)}")
    for name in ("INTERVAL", "COUNT"):
        if name in parts and (not parts[name].isdigit() or int(parts[name]) < 1):
            raise RecurrenceError(f"{name} must be a whole number of at least 1")
    if "COUNT" in parts and "UNTIL" in parts:
        raise RecurrenceError("COUNT and UNTIL cannot both be given")
    for name in _RANGES:
        if name in parts:
            _int_list(name, parts[name])
    if "BYDAY" in parts:
        for part in parts["BYDAY"].split(","):
            if not re.fullmatch(_WEEKDAY, part.strip().upper()):
                raise RecurrenceError(f"BYDAY={parts['BYDAY']}: {part!r} is not a weekday such as MO or -1FR")
    # A month and day that never meet (30 February, 31 April) would make dateutil search until year 9999.
    if "BYMONTH" in parts and "BYMONTHDAY" in parts:
        months = _int_list("BYMONTH", parts["BYMONTH"])
        days = _int_list("BYMONTHDAY", parts["BYMONTHDAY"])
        longest = {m: max(_stdcalendar.monthrange(2024, m)[1], 29) for m in months}  # 2024: a leap year
        if not any(abs(d) <= longest[m] for m in months for d in days):
            raise RecurrenceError("BYMONTH and BYMONTHDAY never meet: the rule gives no date")


def _parse(text: str, dtstart: date) -> rrule:
    start, body = _split(text)
    _check_parts(body)
    source = f"{start}\nRRULE:{body}" if start else f"RRULE:{body}"
    try:
        rule = rrulestr(source, dtstart=datetime.combine(dtstart, time()), ignoretz=True)
    except (ValueError, TypeError, OverflowError) as exc:
        raise RecurrenceError(f"not a valid RRULE: {exc}") from None
    if not isinstance(rule, rrule):
        raise RecurrenceError("expected a single RRULE")
    return rule


def next_occurrence(rrule_text: str, after: date, *, dtstart: date | None = None) -> date | None:
    """The first date of the rule strictly after `after`, or None when the rule has ended.

    The rule starts at its own DTSTART if it has one, else at `dtstart`, else at `after` (the current
    occurrence's due date). Raises `RecurrenceError` for a rule `validate_rrule` rejects.
    """
    rule = _parse(rrule_text, dtstart if dtstart is not None else after)
    following = rule.after(datetime.combine(after, time.max), inc=False)
    return following.date() if following is not None else None


def validate_rrule(text: str, *, dtstart: date | None = None) -> str | None:
    """None if `text` is a usable rule, else a one-line reason (English; the caller localises or quotes it).

    A usable rule produces a date strictly after `dtstart` (the commitment's due date; 01/01/2000 when not
    given): a rule that would never create the next occurrence (COUNT=1, an UNTIL before the due date) is
    rejected.
    """
    start = dtstart if dtstart is not None else _REFERENCE_START
    try:
        rule = _parse(text, start)
        if rule.after(datetime.combine(start, time.max), inc=False) is None:
            return "the rule never produces another date"
    except RecurrenceError as exc:
        return str(exc)
    return None
