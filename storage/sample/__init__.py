"""The sample register, taken from the two seed documents (for the sandbox, the demo and the tests).

`units.csv` holds the bodies named in notice 1131/TB-BKHCN (25/05/2011) and the units of the ISO steering
committee meeting of 28/11/2013; `commitments.csv` the deadlines those documents name, with their real,
historical dates. `shifted_sample(today)` moves the deadlines next to today so that reminders fire.
"""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from pathlib import Path

from storage.register_files import parse_due

SAMPLE_DIR = Path(__file__).parent
UNITS_FILE = SAMPLE_DIR / "units.csv"
COMMITMENTS_FILE = SAMPLE_DIR / "commitments.csv"

# Days from today given to the distinct due dates of the sample, earliest first: three groups overdue past
# the escalation threshold, one just overdue, then due today, in 1, 3, 7, 14 and 30 days; any further
# dates follow every 30 days.
OFFSETS = (-45, -20, -9, -3, 0, 1, 3, 7, 14, 30)


def sample_sources() -> list[tuple[str, bytes]]:
    """The two sample files as (file name, content), with their historical dates."""
    return [(UNITS_FILE.name, UNITS_FILE.read_bytes()), (COMMITMENTS_FILE.name, COMMITMENTS_FILE.read_bytes())]


def shift_dates(dues: list[date], today: date) -> dict[date, date]:
    """Map each distinct due date onto today + OFFSETS, in order.

    The order of the deadlines is kept and commitments that share a deadline still share one; the
    historical gaps (years) are not, so that the whole set sits around today.
    """
    distinct = sorted(set(dues))
    mapping: dict[date, date] = {}
    for index, due in enumerate(distinct):
        offset = OFFSETS[index] if index < len(OFFSETS) else OFFSETS[-1] + 30 * (index - len(OFFSETS) + 1)
        mapping[due] = today + timedelta(days=offset)
    return mapping


def shifted_sample(today: date) -> list[tuple[str, bytes]]:
    """The sample files with the due dates moved around `today` (deterministic for a given day)."""
    units, commitments = sample_sources()
    text = commitments[1].decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    fieldnames = list(reader.fieldnames or [])
    rows = list(reader)
    mapping = shift_dates([parse_due(row["due"]) for row in rows], today)
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=fieldnames, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "due": mapping[parse_due(row["due"])].strftime("%d/%m/%Y")})
    return [units, (commitments[0], out.getvalue().encode("utf-8"))]
