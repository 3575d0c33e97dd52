"""The weekly digest's chart: status of the commitments per unit, as a PNG drawn with Pillow.

At most `MAX_BARS` bars (the rest summed into "others", on its own scale); CPU work, so async callers use a thread.
"""

from __future__ import annotations

import importlib.util
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from core.i18n import t_text
from texts.digest import num
from texts.render import fmt_date, shorten

MAX_BARS = 25
LABEL_LIMIT = 34
# Colour-blind-safe enough, and red is red: overdue, due soon, other open, done last week.
COLOURS = ("#d62728", "#ff9f1c", "#7f9fc6", "#2ca02c")


class ChartUnit(Protocol):
    @property
    def code(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def overdue(self) -> int: ...
    @property
    def due_soon(self) -> int: ...
    @property
    def other_open(self) -> int: ...
    @property
    def done_week(self) -> int: ...


@dataclass(frozen=True)
class ChartRow:
    """One bar: a unit, or (summary) the sum of the units not drawn one by one."""

    label: str
    overdue: int
    due_soon: int
    other_open: int
    done_week: int
    units: int = 1
    summary: bool = False

    @property
    def values(self) -> tuple[int, int, int, int]:
        return (self.overdue, self.due_soon, self.other_open, self.done_week)

    @property
    def total(self) -> int:
        return sum(self.values)


def _label(unit: ChartUnit) -> str:
    return shorten(f"{unit.code} · {unit.name}" if unit.name and unit.name != unit.code else unit.code, LABEL_LIMIT)


def chart_rows(units: Iterable[ChartUnit], *, max_bars: int = MAX_BARS) -> list[ChartRow]:
    """The bars to draw: units with anything to show, most overdue then most open first; beyond `max_bars`
    the rest become one summary row (last)."""
    shown = [u for u in units if u.overdue + u.due_soon + u.other_open + u.done_week > 0]
    shown.sort(key=lambda u: (-u.overdue, -(u.overdue + u.due_soon + u.other_open), -u.done_week, u.code))
    if len(shown) <= max_bars:
        top, rest = shown, []
    else:
        top, rest = shown[: max_bars - 1], shown[max_bars - 1 :]
    rows = [ChartRow(_label(u), u.overdue, u.due_soon, u.other_open, u.done_week) for u in top]
    if rest:
        rows.append(
            ChartRow(
                label="",
                overdue=sum(u.overdue for u in rest),
                due_soon=sum(u.due_soon for u in rest),
                other_open=sum(u.other_open for u in rest),
                done_week=sum(u.done_week for u in rest),
                units=len(rest),
                summary=True,
            )
        )
    return rows


def summary_label(lang: str, row: ChartRow) -> str:
    return t_text(lang, "others ({count} units)", count=num(lang, row.units))


# --- Drawing (Pillow: ~50 ms a chart, where matplotlib took ~0.6 s; a slot draws one per scope) -------------

WIDTH = 1100
PAD = 24
ROW = 30  # px per bar
BAR = 22
LABEL_MAX = 380  # px of the unit labels column
TEXT = "#333333"
GRID = "#e6e6e6"


@lru_cache(maxsize=8)
def _font(size: int, bold: bool = False) -> Any:
    """DejaVu Sans (shipped with matplotlib, a dependency: every Vietnamese letter), else Pillow's own."""
    from PIL import ImageFont

    spec = importlib.util.find_spec("matplotlib")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "mpl-data" / "fonts" / "ttf" / ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf")
        if path.exists():
            return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size)


def _nice_step(span: int) -> int:
    """An axis step of 1, 2 or 5 × 10^k giving at most eight ticks."""
    step = 1
    while span / step > 8:
        for factor in (2, 5):
            if span / (step * factor) <= 8:
                return step * factor
        step *= 10
    return step


def _width(draw: Any, text: str, font: Any) -> int:
    return int(draw.textlength(text, font=font))


def _fit(draw: Any, text: str, font: Any, limit: int) -> str:
    if _width(draw, text, font) <= limit:
        return text
    while text and _width(draw, text + "…", font) > limit:
        text = text[:-1]
    return text + "…"


def _block(draw: Any, lang: str, rows: Sequence[ChartRow], labels: Sequence[str], top: int, left: int) -> int:
    """Stacked bars of `rows` from `top`, labels right-aligned before `left`, their own scale; returns the
    bottom of the block (its axis ticks included)."""
    small, label_font = _font(12), _font(13)
    right = WIDTH - PAD
    largest = max((row.total for row in rows), default=0) or 1
    span = largest * 1.18
    scale = (right - left) / span
    step = _nice_step(int(span))
    bottom = top + ROW * len(rows)
    for tick in range(0, int(span) + 1, step):
        at = left + int(tick * scale)
        draw.line([(at, top), (at, bottom)], fill=GRID, width=1)
        label = num(lang, tick)
        draw.text((at - _width(draw, label, small) // 2, bottom + 4), label, font=small, fill=TEXT)
    for index, (row, label) in enumerate(zip(rows, labels, strict=True)):
        y = top + index * ROW + (ROW - BAR) // 2
        text = _fit(draw, label, label_font, left - PAD - 8)
        draw.text((left - 8 - _width(draw, text, label_font), y + 3), text, font=label_font, fill=TEXT)
        x = float(left)
        for value, colour in zip(row.values, COLOURS, strict=True):
            if value:
                end = x + value * scale
                draw.rectangle([int(x), y, max(int(end) - 1, int(x)), y + BAR], fill=colour)
                x = end
        total = num(lang, row.total)
        if row.overdue:
            total += "  (" + t_text(lang, "{count} overdue", count=num(lang, row.overdue)) + ")"
        draw.text((int(x) + 6, y + 4), total, font=small, fill=TEXT)
    draw.line([(left, top), (left, bottom)], fill="#999999", width=1)
    return bottom + 22


def render_chart(lang: str, rows: Sequence[ChartRow], *, day: date, units_total: int | None = None) -> bytes:
    """The PNG of `rows` (from `chart_rows`), titled in `lang` with the local date `day`."""
    from PIL import Image, ImageDraw

    top_rows = [row for row in rows if not row.summary]
    others = [row for row in rows if row.summary]
    units_total = units_total if units_total is not None else sum(row.units for row in rows)
    title_font, sub_font, label_font = _font(17, bold=True), _font(13), _font(13)
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    labels = [row.label for row in top_rows]
    other_labels = [summary_label(lang, row) for row in others]
    widest = max((_width(measure, label, label_font) for label in [*labels, *other_labels]), default=0)
    left = PAD + min(widest, LABEL_MAX) + 12
    height = 84 + ROW * max(len(top_rows), 1) + 30 + (ROW + 60 if others else 0) + 70
    image = Image.new("RGB", (WIDTH, height), "white")
    draw = ImageDraw.Draw(image)
    title = t_text(lang, "Tasks by unit — {date}", date=fmt_date(day))
    subtitle = t_text(
        lang, "{units} unit(s) with tasks; the units with most overdue first", units=num(lang, units_total)
    )
    draw.text(((WIDTH - _width(draw, title, title_font)) // 2, PAD - 8), title, font=title_font, fill="#111111")
    draw.text(((WIDTH - _width(draw, subtitle, sub_font)) // 2, PAD + 16), subtitle, font=sub_font, fill=TEXT)
    y = 84
    if top_rows:
        y = _block(draw, lang, top_rows, labels, y, left)
    else:
        empty = t_text(lang, "No open tasks")
        draw.text(((WIDTH - _width(draw, empty, title_font)) // 2, y + 4), empty, font=title_font, fill=TEXT)
        y += ROW + 30
    if others:
        heading = t_text(lang, "The other units together (own scale)")
        draw.text((PAD, y + 6), heading, font=_font(12), fill=TEXT)
        y = _block(draw, lang, others, other_labels, y + 28, left)
    caption = t_text(lang, "Tasks")
    draw.text(((left + WIDTH - PAD - _width(draw, caption, sub_font)) // 2, y - 2), caption, font=sub_font, fill=TEXT)
    legend = [
        t_text(lang, "overdue"),
        t_text(lang, "due within 7 days"),
        t_text(lang, "other open"),
        t_text(lang, "done last week"),
    ]
    widths = [18 + 6 + _width(draw, label, sub_font) for label in legend]
    x = (WIDTH - sum(widths) - 28 * (len(widths) - 1)) // 2
    for label, colour, width in zip(legend, COLOURS, widths, strict=True):
        draw.rectangle([x, y + 28, x + 16, y + 42], fill=colour)
        draw.text((x + 24, y + 27), label, font=sub_font, fill=TEXT)
        x += width + 28
    buffer = io.BytesIO()
    image.crop((0, 0, WIDTH, min(height, y + 60))).save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()
