"""Reading register files (SPEC "Register files"): CSV files or an .xlsx workbook, recognised by their header.

No database: rows are checked on their own and across files; each problem names file, line, column and reason.
Formats: docs/ARCHITECTURE.md, "Register files".
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import lru_cache
from typing import Any, Generic, Literal, TypeVar

from dateutil.rrule import DAILY, rrule, rrulestr
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from core.dates import MAX_YEAR, MIN_YEAR, DateOutOfRange, NotADate, check_date_range, parse_date
from core.i18n import N_
from storage.models import Kind

TableKind = Literal["units", "commitments"]

UNIT_COLUMNS = ("code", "name", "parent_code")
COMMITMENT_COLUMNS = ("ref", "unit_code", "title", "kind", "due", "legal_basis", "source", "recurrence")
REQUIRED_COLUMNS: dict[TableKind, tuple[str, ...]] = {
    "units": ("code", "name"),
    "commitments": ("unit_code", "title", "kind", "due"),
}
KNOWN_COLUMNS: dict[TableKind, tuple[str, ...]] = {"units": UNIT_COLUMNS, "commitments": COMMITMENT_COLUMNS}
SHEET_NAMES = ("units", "commitments")

CODE_MAX = 32
NAME_MAX = 300
TITLE_MAX = 500
REF_MAX = 64
TEXT_MAX = 200  # legal_basis, source, recurrence (the database columns' width)

CODE_PATTERN = re.compile(r"[A-Za-z0-9_.\-]+")

# Reasons a row or a file is wrong (translated in core/locale/*/register.po).
MSG_NOT_UTF8 = N_("the file is not UTF-8 text: save it as “CSV UTF-8” and send it again")
MSG_EMPTY_FILE = N_("the file is empty")
MSG_OLD_XLS = N_("old .xls workbooks cannot be read: save it as .xlsx or “CSV UTF-8”")
MSG_BAD_WORKBOOK = N_("cannot read the workbook: the file is damaged or not an .xlsx file")
MSG_NO_SHEET = N_("the workbook has no sheet named units or commitments with a header row")
MSG_UNKNOWN_HEADER = N_(
    "unrecognised header: a units file needs the columns code and name, "
    "a commitments file the columns unit_code and title"
)
MSG_DUPLICATE_COLUMN = N_("the column {column} appears twice in the header")
MSG_MISSING_COLUMN = N_("the header has no column {column}")
MSG_EXTRA_VALUES = N_(
    "this line has {count} values but the header has {expected} columns: "
    "a value containing {delimiter} must be in double quotes"
)
MSG_BAD_LINE = N_("cannot read this line: {error}")
MSG_CANNOT_READ = N_("cannot read the file: {error}")
MSG_CODE_EMPTY = N_("the unit code is empty")
MSG_CODE_TOO_LONG = N_("the code {value} is too long: {length} characters, at most {max}")
MSG_CODE_CHARS = N_("the code {value} may only contain the letters A-Z, digits and _ . - (no spaces, no accents)")
MSG_CODE_DUPLICATE = N_("the code {value} is already used on line {line} (codes are compared regardless of case)")
MSG_CODE_DUPLICATE_ELSEWHERE = N_(
    "the code {value} is already used in {file}, line {line} (codes are compared regardless of case)"
)
MSG_NAME_EMPTY = N_("the name is empty")
MSG_TOO_LONG = N_("the text is too long: {length} characters, at most {max}")
MSG_OWN_PARENT = N_("a unit cannot be its own parent")
MSG_PARENT_LOOP = N_("the parent units form a loop: {chain}")
MSG_UNKNOWN_UNIT = N_("the unit {value} is neither in the files nor in the register")
MSG_REF_DUPLICATE = N_("the ref {value} is already used on line {line}")
MSG_REF_DUPLICATE_ELSEWHERE = N_("the ref {value} is already used in {file}, line {line}")
MSG_TITLE_EMPTY = N_("the title is empty")
MSG_KIND_EMPTY = N_("the kind is empty: write legal or internal")
MSG_KIND_BAD = N_("“{value}” is not a kind: write legal or internal")
MSG_DUE_EMPTY = N_("the due date is empty")
MSG_DUE_BAD = N_("“{value}” is not a date: write DD/MM/YYYY or YYYY-MM-DD")
MSG_DUE_IMPOSSIBLE = N_("the date {value} does not exist")
MSG_DUE_YEAR = N_("the date {value} is out of range: the year must be between {min} and {max}")
MSG_RRULE_BAD = N_("“{value}” is not a repeat rule (RRULE); example: FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=15")
MSG_RRULE_TOO_OFTEN = N_("a deadline repeats at most once a day: use FREQ=DAILY, WEEKLY, MONTHLY or YEARLY")
MSG_INVALID = N_("invalid value: {error}")


@dataclass(frozen=True)
class Problem:
    """One thing wrong: where (file, sheet, line, column) and why (msgid + params, translated later).

    `line` is 0 when the problem concerns the whole file; `column` is "" when it concerns a whole line.
    """

    file: str
    line: int
    column: str
    msgid: str
    params: Mapping[str, object] = field(default_factory=dict)
    sheet: str = ""

    @property
    def where(self) -> str:
        """The file as shown to the user: `name` or `name [sheet]`."""
        return file_label(self.file, self.sheet)


def file_label(file: str, sheet: str = "") -> str:
    return f"{file} [{sheet}]" if sheet else file


class RowError(ValueError):
    """Raised by the row validators: carries a msgid and its parameters."""

    def __init__(self, msgid: str, **params: object) -> None:
        super().__init__(msgid)
        self.msgid = msgid
        self.params = params


# ---------------------------------------------------------------------------------------------------------
# Cell values


def _text(value: object) -> str:
    """A cell as trimmed text: numbers without a spurious `.0`, dates as DD/MM/YYYY."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.strftime("%d/%m/%Y") if value.time() == time() else value.strftime("%d/%m/%Y %H:%M")
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    return str(value).strip()


def parse_due(value: object) -> date:
    """A due date: a date/datetime cell, or text DD/MM/YYYY or YYYY-MM-DD that names a real day.

    The same rule as everywhere else (core.settings.parse_date): the year is between MIN_YEAR and MAX_YEAR,
    for date cells too.
    """
    if isinstance(value, datetime | date):
        day = value.date() if isinstance(value, datetime) else value
        try:
            return check_date_range(day)
        except DateOutOfRange:
            raise RowError(MSG_DUE_YEAR, value=_text(value), min=MIN_YEAR, max=MAX_YEAR) from None
    text = _text(value)
    if not text:
        raise RowError(MSG_DUE_EMPTY)
    try:
        return parse_date(text)
    except NotADate:
        raise RowError(MSG_DUE_BAD, value=text) from None
    except DateOutOfRange:
        raise RowError(MSG_DUE_YEAR, value=text, min=MIN_YEAR, max=MAX_YEAR) from None
    except ValueError:
        raise RowError(MSG_DUE_IMPOSSIBLE, value=text) from None


def check_code(value: object) -> str:
    """A unit code: 1–32 of `A-Z a-z 0-9 _ . -`."""
    text = _text(value)
    if not text:
        raise RowError(MSG_CODE_EMPTY)
    if len(text) > CODE_MAX:
        raise RowError(MSG_CODE_TOO_LONG, value=text, length=len(text), max=CODE_MAX)
    if not CODE_PATTERN.fullmatch(text):
        raise RowError(MSG_CODE_CHARS, value=text)
    return text


@lru_cache(maxsize=4096)
def check_recurrence(value: str) -> str:
    """An RRULE (optionally prefixed `RRULE:`), upper-cased; "" for none. Raises RowError if invalid."""
    text = value.strip()
    if not text:
        return ""
    rule_text = text.upper().removeprefix("RRULE:")
    try:
        # Deadlines are local dates: the rule must work from a naive start (no UNTIL=…Z).
        rule = rrulestr(rule_text, dtstart=datetime(2000, 1, 1))
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        raise RowError(MSG_RRULE_BAD, value=text) from None
    if not isinstance(rule, rrule) or "\n" in rule_text or "DTSTART" in rule_text:
        raise RowError(MSG_RRULE_BAD, value=text)
    if rule._freq > DAILY:  # HOURLY, MINUTELY, SECONDLY
        raise RowError(MSG_RRULE_TOO_OFTEN)
    return rule_text


def _limited(value: object, maximum: int) -> str:
    text = _text(value)
    if len(text) > maximum:
        raise RowError(MSG_TOO_LONG, length=len(text), max=maximum)
    return text


# ---------------------------------------------------------------------------------------------------------
# Row models


class UnitRecord(BaseModel):
    """One row of a units table, validated."""

    model_config = ConfigDict(frozen=True)

    code: str
    name: str
    parent_code: str = ""

    @field_validator("code", mode="before")
    @classmethod
    def _code(cls, value: object) -> str:
        return check_code(value)

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, value: object) -> str:
        text = _limited(value, NAME_MAX)
        if not text:
            raise RowError(MSG_NAME_EMPTY)
        return text

    @field_validator("parent_code", mode="before")
    @classmethod
    def _parent(cls, value: object) -> str:
        return _text(value)

    @property
    def key(self) -> str:
        return self.code.upper()


class CommitmentRecord(BaseModel):
    """One row of a commitments table, validated."""

    model_config = ConfigDict(frozen=True)

    ref: str = ""
    unit_code: str
    title: str
    kind: Kind
    due: date
    legal_basis: str = ""
    source: str = ""
    recurrence: str = ""

    @field_validator("ref", mode="before")
    @classmethod
    def _ref(cls, value: object) -> str:
        return _limited(value, REF_MAX)

    @field_validator("unit_code", mode="before")
    @classmethod
    def _unit_code(cls, value: object) -> str:
        text = _text(value)
        if not text:
            raise RowError(MSG_CODE_EMPTY)
        return text

    @field_validator("title", mode="before")
    @classmethod
    def _title(cls, value: object) -> str:
        text = _limited(value, TITLE_MAX)
        if not text:
            raise RowError(MSG_TITLE_EMPTY)
        return text

    @field_validator("kind", mode="before")
    @classmethod
    def _kind(cls, value: object) -> Kind:
        text = _text(value)
        if not text:
            raise RowError(MSG_KIND_EMPTY)
        try:
            return Kind(text.lower())
        except ValueError:
            raise RowError(MSG_KIND_BAD, value=text) from None

    @field_validator("due", mode="before")
    @classmethod
    def _due(cls, value: object) -> date:
        return parse_due(value)

    @field_validator("legal_basis", "source", mode="before")
    @classmethod
    def _document(cls, value: object) -> str:
        return _limited(value, TEXT_MAX)

    @field_validator("recurrence", mode="before")
    @classmethod
    def _recurrence(cls, value: object) -> str:
        return check_recurrence(_limited(value, TEXT_MAX))

    @property
    def unit_key(self) -> str:
        return self.unit_code.upper()


R = TypeVar("R", UnitRecord, CommitmentRecord)


@dataclass(frozen=True, slots=True)
class Row(Generic[R]):
    """A validated row and where it came from; `columns` are the known columns its table's header has."""

    file: str
    sheet: str
    line: int
    columns: frozenset[str]
    record: R


@dataclass(frozen=True, slots=True)
class Table:
    """One CSV file or one sheet, as recognised: which kind and how many rows it held."""

    file: str
    sheet: str
    kind: TableKind
    rows: int

    @property
    def label(self) -> str:
        return file_label(self.file, self.sheet)


@dataclass
class RegisterFiles:
    """Everything read from the files: the good rows, the tables seen, and every problem."""

    units: list[Row[UnitRecord]] = field(default_factory=list)
    commitments: list[Row[CommitmentRecord]] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    # Every unit key named in a units table (also on rows with other problems), so that a commitment
    # naming such a unit is not reported twice.
    unit_keys: set[str] = field(default_factory=set)
    # Every unit_code and parent_code given (also on rows with other problems), checked by
    # `check_references` against the units in the files and in the register.
    references: list[Reference] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Reference:
    """A unit named by a row: its unit_code (commitments) or parent_code (units, `own` = its own key)."""

    file: str
    sheet: str
    line: int
    column: str
    value: str
    own: str = ""


# ---------------------------------------------------------------------------------------------------------
# Tables out of files


def _normalise_header(value: object) -> str:
    return re.sub(r"[\s\-]+", "_", _text(value).lower())


def _recognise(header: Sequence[str]) -> TableKind | None:
    names = set(header)
    if {"unit_code", "title"} <= names:
        return "commitments"
    if {"code", "name"} <= names:
        return "units"
    return None


def _detect_delimiter(line: str) -> str:
    """Comma or semicolon, whichever occurs more often outside quotes in the header line."""
    counts = {",": 0, ";": 0}
    quoted = False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    return ";" if counts[";"] > counts[","] else ","


class _Reader:
    """Collects rows and problems from the tables of several files."""

    def __init__(self) -> None:
        self.result = RegisterFiles()
        self._file_order: dict[str, int] = {}

    def problem(self, file: str, line: int, column: str, msgid: str, sheet: str = "", /, **params: object) -> None:
        self.result.problems.append(Problem(file, line, column, msgid, params, sheet))

    def read(self, name: str, data: bytes) -> None:
        self._file_order.setdefault(name, len(self._file_order))
        if data.startswith(b"PK\x03\x04"):
            self._read_workbook(name, data)
        elif data.startswith(b"\xd0\xcf\x11\xe0"):
            self.problem(name, 0, "", MSG_OLD_XLS)
        else:
            self._read_csv(name, data)

    # CSV ---------------------------------------------------------------------------------------------

    def _read_csv(self, name: str, data: bytes) -> None:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            self.problem(name, 0, "", MSG_NOT_UTF8)
            return
        first = next((line for line in text.splitlines() if line.strip()), None)
        if first is None:
            self.problem(name, 0, "", MSG_EMPTY_FILE)
            return
        delimiter = _detect_delimiter(first)
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)

        def records() -> Iterator[tuple[int, Sequence[object]]]:
            # Line numbers count records, as a spreadsheet numbers rows (a quoted value may span lines).
            number = 0
            while True:
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    number += 1
                    self.problem(name, number, "", MSG_BAD_LINE, error=str(exc))
                    continue
                number += 1
                yield number, cells

        self._read_table(name, "", records(), delimiter=delimiter)

    # xlsx --------------------------------------------------------------------------------------------

    def _read_workbook(self, name: str, data: bytes) -> None:
        import openpyxl

        try:
            workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception:  # a foreign file: any failure to open it is the same answer to the user
            self.problem(name, 0, "", MSG_BAD_WORKBOOK)
            return
        try:
            names = list(workbook.sheetnames)
            chosen = [s for s in names if s.strip().lower() in SHEET_NAMES]
            if not chosen:
                chosen = [s for s in names if s.strip().lower() != "history"]
            found = False
            for sheet_name in chosen:
                sheet = workbook[sheet_name]
                if not hasattr(sheet, "iter_rows"):
                    continue
                rows = sheet.iter_rows(values_only=True)
                found |= self._read_table(name, sheet_name, enumerate(rows, start=1), delimiter=None, empty_ok=True)
            if not found and not any(p.file == name for p in self.result.problems):
                self.problem(name, 0, "", MSG_NO_SHEET)
        except (zipfile.BadZipFile, KeyError, ValueError, OSError):
            self.problem(name, 0, "", MSG_BAD_WORKBOOK)
        finally:
            workbook.close()

    # Both --------------------------------------------------------------------------------------------

    def _read_table(
        self,
        name: str,
        sheet: str,
        records: Iterable[tuple[int, Sequence[object]]],
        *,
        delimiter: str | None,
        empty_ok: bool = False,
    ) -> bool:
        """Read one table; True if it had a recognised header."""
        iterator = iter(records)
        header_line = 0
        header: list[str] = []
        for number, cells in iterator:
            if any(_text(c) for c in cells):
                header_line, header = number, [_normalise_header(c) for c in cells]
                break
        else:
            if not empty_ok:
                self.problem(name, 0, "", MSG_EMPTY_FILE, sheet)
            return False
        kind = _recognise(header)
        if kind is None:
            self.problem(name, header_line, "", MSG_UNKNOWN_HEADER, sheet)
            return False
        known = KNOWN_COLUMNS[kind]
        positions: dict[str, int] = {}
        header_ok = True
        for index, column in enumerate(header):
            if column not in known:
                continue
            if column in positions:
                self.problem(name, header_line, column, MSG_DUPLICATE_COLUMN, sheet, column=column)
                header_ok = False
            else:
                positions[column] = index
        for column in REQUIRED_COLUMNS[kind]:
            if column not in positions:
                self.problem(name, header_line, column, MSG_MISSING_COLUMN, sheet, column=column)
                header_ok = False
        if not header_ok:
            if kind == "units" and "code" in positions:
                for _number, cells in iterator:
                    pos = positions["code"]
                    if pos < len(cells) and _text(cells[pos]):
                        self.result.unit_keys.add(_text(cells[pos]).upper())
            return True
        columns = frozenset(positions)
        model: type[UnitRecord] | type[CommitmentRecord] = UnitRecord if kind == "units" else CommitmentRecord
        width = len(header)
        count = 0
        for number, cells in iterator:
            if not any(_text(c) for c in cells):
                continue
            count += 1
            values = {col: (cells[pos] if pos < len(cells) else None) for col, pos in positions.items()}
            code = _text(values.get("code")) if kind == "units" else ""
            if code:
                self.result.unit_keys.add(code.upper())
            # More values than header columns in a CSV line: a value with the delimiter lost its quotes,
            # and every value after it moved one column: better to say so than to read them shifted.
            if delimiter is not None and len(cells) > width:
                self.problem(
                    name,
                    number,
                    "",
                    MSG_EXTRA_VALUES,
                    sheet,
                    count=len(cells),
                    expected=width,
                    delimiter=delimiter,
                )
                continue
            if kind == "units":
                parent = _text(values.get("parent_code"))
                if parent:
                    self.result.references.append(Reference(name, sheet, number, "parent_code", parent, code.upper()))
            else:
                unit_code = _text(values.get("unit_code"))
                if unit_code:
                    self.result.references.append(Reference(name, sheet, number, "unit_code", unit_code))
            try:
                record = model.model_validate(values)
            except ValidationError as exc:
                for error in exc.errors(include_url=False):
                    column = str(error["loc"][0]) if error["loc"] else ""
                    cause = (error.get("ctx") or {}).get("error")
                    if isinstance(cause, RowError):
                        self.problem(name, number, column, cause.msgid, sheet, **cause.params)
                    else:
                        self.problem(name, number, column, MSG_INVALID, sheet, error=error["msg"])
                continue
            if isinstance(record, UnitRecord):
                self.result.units.append(Row(name, sheet, number, columns, record))
            else:
                self.result.commitments.append(Row(name, sheet, number, columns, record))
        self.result.tables.append(Table(name, sheet, kind, count))
        return True

    # Across files ------------------------------------------------------------------------------------

    def check_duplicates(self) -> None:
        seen_codes: dict[str, Row[UnitRecord]] = {}
        for row in self.result.units:
            first = seen_codes.setdefault(row.record.key, row)
            if first is not row:
                self._duplicate(row, first, "code", row.record.code)
        seen_refs: dict[str, Row[CommitmentRecord]] = {}
        for crow in self.result.commitments:
            if not crow.record.ref:
                continue
            cfirst = seen_refs.setdefault(crow.record.ref, crow)
            if cfirst is not crow:
                self._duplicate(crow, cfirst, "ref", crow.record.ref)

    def _duplicate(self, row: Row[Any], first: Row[Any], column: str, value: str) -> None:
        same_table = (row.file, row.sheet) == (first.file, first.sheet)
        if column == "code":
            msgid = MSG_CODE_DUPLICATE if same_table else MSG_CODE_DUPLICATE_ELSEWHERE
        else:
            msgid = MSG_REF_DUPLICATE if same_table else MSG_REF_DUPLICATE_ELSEWHERE
        params: dict[str, object] = {"value": value, "line": first.line}
        if not same_table:
            params["file"] = file_label(first.file, first.sheet)
        self.problem(row.file, row.line, column, msgid, row.sheet, **params)

    def sort_problems(self) -> None:
        self.result.problems = sort_problems(self.result.problems, self._file_order)


def sort_problems(problems: Iterable[Problem], file_order: Mapping[str, int] | None = None) -> list[Problem]:
    """By file (in the order given), sheet, line, then column in the tables' column order."""
    order = dict(file_order or {})
    for problem in problems:
        order.setdefault(problem.file, len(order))
    columns = {name: i for i, name in enumerate((*UNIT_COLUMNS, *COMMITMENT_COLUMNS))}

    def key(p: Problem) -> tuple[int, str, int, int]:
        return order[p.file], p.sheet, p.line, columns.get(p.column, -1)

    return sorted(problems, key=key)


def read_register_files(sources: Sequence[tuple[str, bytes]]) -> RegisterFiles:
    """Read and check every row of every file; the database is not consulted (see `check_references`)."""
    reader = _Reader()
    for name, data in sources:
        reader.read(name, data)
    reader.check_duplicates()
    reader.sort_problems()
    return reader.result


def check_references(files: RegisterFiles, existing_parents: Mapping[str, str | None]) -> list[Problem]:
    """Unit codes and parents must name a unit in the files or in the register; parents make no loop.

    `existing_parents` maps the key (upper-cased code) of every unit in the register to its parent's key.
    """
    problems: list[Problem] = []
    known = files.unit_keys | existing_parents.keys()
    for ref in files.references:
        key = ref.value.upper()
        if ref.own and key == ref.own:
            problems.append(Problem(ref.file, ref.line, ref.column, MSG_OWN_PARENT, {}, ref.sheet))
        elif key not in known:
            problems.append(Problem(ref.file, ref.line, ref.column, MSG_UNKNOWN_UNIT, {"value": ref.value}, ref.sheet))
    parents: dict[str, str | None] = dict(existing_parents)
    file_rows: dict[str, Row[UnitRecord]] = {}
    for row in files.units:
        record = row.record
        if file_rows.setdefault(record.key, row) is not row:
            continue  # a duplicate code, reported already
        if "parent_code" not in row.columns:
            parents.setdefault(record.key, None)
            continue
        parent = record.parent_code.upper() or None
        parents[record.key] = parent if parent in known and parent != record.key else None
    problems.extend(_loops(parents, file_rows))
    return problems


def _loops(parents: Mapping[str, str | None], file_rows: Mapping[str, Row[UnitRecord]]) -> list[Problem]:
    """Every file row whose unit sits on a parent loop (each node is walked once)."""
    done: set[str] = set()
    problems: list[Problem] = []
    for start in file_rows:
        path: list[str] = []
        on_path: dict[str, int] = {}
        node: str | None = start
        while node is not None and node not in done and node not in on_path:
            on_path[node] = len(path)
            path.append(node)
            node = parents.get(node)
        if node is not None and node in on_path:
            loop = path[on_path[node] :]
            for member in loop:
                row = file_rows.get(member)
                if row is None:
                    continue
                i = loop.index(member)
                names = [*loop[i:], *loop[:i], member]
                chain = " → ".join(_code_of(n, file_rows) for n in names)
                problems.append(
                    Problem(row.file, row.line, "parent_code", MSG_PARENT_LOOP, {"chain": chain}, row.sheet)
                )
        done.update(path)
    return problems


def _code_of(key: str, file_rows: Mapping[str, Row[UnitRecord]]) -> str:
    row = file_rows.get(key)
    return row.record.code if row else key
