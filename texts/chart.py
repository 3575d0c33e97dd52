"""The weekly digest's chart: status of the commitments per unit, as a PNG (matplotlib, Agg, no pyplot).

At most `MAX_BARS` bars (the rest summed into "others"); CPU work, so async callers use a thread.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # matplotlib itself is loaded only where a chart is drawn (scheduler.digest: its own process)
    from matplotlib.axes import Axes

from core.i18n import t_text
from texts.digest import num
from texts.render import fmt_date, shorten

MAX_BARS = 25
LABEL_LIMIT = 34
# Colour-blind-safe enough, and red is red: overdue, due soon, other open, done last week.
COLOURS = ("#d62728", "#ff9f1c", "#7f9fc6", "#2ca02c")
FONT: dict[Any, Any] = {"font.family": "DejaVu Sans", "font.size": 10, "axes.titlesize": 11}


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


def _draw(ax: Axes, lang: str, rows: Sequence[ChartRow], labels: Sequence[str]) -> None:
    from matplotlib.ticker import MaxNLocator

    positions = list(range(len(rows)))
    lefts = [0] * len(rows)
    for index, colour in enumerate(COLOURS):
        widths = [row.values[index] for row in rows]
        ax.barh(positions, widths, left=lefts, color=colour, height=0.72, edgecolor="white", linewidth=0.4)
        lefts = [left + width for left, width in zip(lefts, widths, strict=True)]
    largest = max((row.total for row in rows), default=0) or 1
    for position, row in zip(positions, rows, strict=True):
        text = num(lang, row.total)
        if row.overdue:
            text += "  (" + t_text(lang, "{count} overdue", count=num(lang, row.overdue)) + ")"
        ax.text(row.total + largest * 0.01, position, text, va="center", fontsize=8.5, color="#333333")
    ax.set_xlim(0, largest * 1.18)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_yticks(positions, labels)
    ax.set_ylim(len(rows) - 0.5, -0.5)  # first row on top
    ax.tick_params(axis="y", length=0)
    ax.grid(axis="x", color="#e6e6e6", linewidth=0.7)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def render_chart(lang: str, rows: Sequence[ChartRow], *, day: date, units_total: int | None = None) -> bytes:
    """The PNG of `rows` (from `chart_rows`), titled in `lang` with the local date `day`."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    top = [row for row in rows if not row.summary]
    others = [row for row in rows if row.summary]
    units_total = units_total if units_total is not None else sum(row.units for row in rows)
    bar_inches = 0.3
    height = 2.0 + bar_inches * max(len(top), 1) + (1.0 if others else 0.0)
    with matplotlib.rc_context(FONT):
        figure = Figure(figsize=(10, height), dpi=110, layout="constrained")
        FigureCanvasAgg(figure)
        if others:
            grid = figure.add_gridspec(2, 1, height_ratios=[max(len(top), 1), 1.4])
            axes = [figure.add_subplot(grid[0]), figure.add_subplot(grid[1])]
        else:
            axes = [figure.add_subplot(1, 1, 1)]
        if top:
            _draw(axes[0], lang, top, [row.label for row in top])
        else:
            axes[0].set_axis_off()
            axes[0].text(0.5, 0.5, t_text(lang, "No open tasks"), ha="center", va="center", fontsize=12)
        if others:
            _draw(axes[1], lang, others, [summary_label(lang, row) for row in others])
            axes[1].set_title(t_text(lang, "The other units together (own scale)"), fontsize=9, loc="left")
        axes[-1].set_xlabel(t_text(lang, "Tasks"))
        figure.suptitle(
            t_text(lang, "Tasks by unit — {date}", date=fmt_date(day))
            + "\n"
            + t_text(
                lang, "{units} unit(s) with tasks; the units with most overdue first", units=num(lang, units_total)
            ),
            fontsize=12,
        )
        legend = [
            t_text(lang, "overdue"),
            t_text(lang, "due within 7 days"),
            t_text(lang, "other open"),
            t_text(lang, "done last week"),
        ]
        figure.legend(
            handles=[Patch(color=colour, label=label) for colour, label in zip(COLOURS, legend, strict=True)],
            loc="outside lower center",
            ncols=4,
            frameon=False,
        )
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", facecolor="white")
    return buffer.getvalue()
