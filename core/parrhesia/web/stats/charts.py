"""Horizontal bar charts as geometry for inline SVG: drawn on the server, no script.

A suppressed cell gets no bar (its length would tell what its label hides), only its
printed value; the other bars are scaled to the largest printed value.
"""

from __future__ import annotations

from dataclasses import dataclass

from parrhesia.domain.statistics import Table

__all__ = ["Bar", "Chart", "bar_chart"]

WIDTH = 640
LABEL_WIDTH = 260
BAR_AREA = 300
ROW = 26
LABEL_CHARS = 38


@dataclass(frozen=True)
class Bar:
    label: str
    short_label: str
    shown: str
    y: int
    width: int  # 0 for a suppressed cell
    value_x: int


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    label_width: int
    bars: tuple[Bar, ...]


def bar_chart(table: Table) -> Chart:
    largest = table.largest or 1
    bars = []
    for index, cell in enumerate(table.cells):
        width = round(BAR_AREA * cell.value / largest) if cell.value else 0
        short = cell.label if len(cell.label) <= LABEL_CHARS else cell.label[: LABEL_CHARS - 1] + "…"
        bars.append(Bar(cell.label, short, cell.shown, index * ROW, width, LABEL_WIDTH + width + 6))
    return Chart(WIDTH, max(1, len(bars)) * ROW, LABEL_WIDTH, tuple(bars))
