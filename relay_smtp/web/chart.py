"""A bar chart of daily clicks, registrations and counted registrations, as inline SVG.

Why this module exists: the admin page shows the last 90 days at a glance without any JavaScript or
third-party asset (the Content-Security-Policy forbids both).  The SVG uses presentation attributes and
CSS classes only (no inline ``style``), and every text in it is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from html import escape
from typing import Protocol

from markupsafe import Markup

WIDTH = 720
HEIGHT = 200
LEFT = 40
RIGHT = 8
TOP = 10
BOTTOM = 24


class Day(Protocol):
    """One day's numbers (the store's ``DayCount`` is one)."""

    @property
    def day(self) -> date: ...
    @property
    def clicks(self) -> int: ...
    @property
    def registrations(self) -> int: ...
    @property
    def counted(self) -> int: ...


def nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50 ... at least `value` (and at least 1)."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


#: How a day's tooltip reads: "{day}: {clicks} clicks, {registrations} registrations, {counted} counted".
DAY_TEXT = "{day}: {clicks} clicks, {registrations} registrations, {counted} counted"


def daily_chart(days: Sequence[Day], label: str, day_text: str = DAY_TEXT) -> Markup:
    """The SVG for `days` (oldest first); `label` names the chart for screen readers.

    ``day_text`` words each day's tooltip (the admin pages pass their language's).
    """
    top = nice_ceiling(max((max(d.clicks, d.registrations) for d in days), default=0))
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    slot = plot_w / max(1, len(days))
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(label)}"'
        ' xmlns="http://www.w3.org/2000/svg">',
        *_grid(top, plot_w, plot_h),
        *(_day_bars(i, d, slot, top, plot_h, day_text) for i, d in enumerate(days)),
        *_date_labels(days, slot),
        "</svg>",
    ]
    # Built from numbers and escaped text only.
    return Markup("\n".join(parts))


def _y(value: int, top: int, plot_h: int) -> float:
    return TOP + plot_h - (value / top) * plot_h


def _grid(top: int, plot_w: int, plot_h: int) -> list[str]:
    lines = []
    for value in (0, top // 2, top) if top >= 2 else (0, top):
        y = _y(value, top, plot_h)
        lines.append(f'<line class="grid" x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}"/>')
        lines.append(f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{value}</text>')
    return lines


def _day_bars(index: int, day: Day, slot: float, top: int, plot_h: int, day_text: str) -> str:
    x = LEFT + index * slot
    words = day_text.format(
        day=day.day.isoformat(), clicks=day.clicks, registrations=day.registrations, counted=day.counted
    )
    title = escape(words)
    bars = [
        _bar("clicks", x + slot * 0.05, slot * 0.9, day.clicks, top, plot_h),
        _bar("registrations", x + slot * 0.2, slot * 0.6, day.registrations, top, plot_h),
        _bar("counted", x + slot * 0.35, slot * 0.3, day.counted, top, plot_h),
    ]
    hit = f'<rect class="hit" x="{x:.1f}" y="{TOP}" width="{slot:.1f}" height="{plot_h}"/>'
    return f"<g><title>{title}</title>{hit}{''.join(b for b in bars if b)}</g>"


def _bar(kind: str, x: float, width: float, value: int, top: int, plot_h: int) -> str:
    if value <= 0:
        return ""
    y = _y(value, top, plot_h)
    height = TOP + plot_h - y
    return f'<rect class="bar-{kind}" x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height:.1f}"/>'


def _date_labels(days: Sequence[Day], slot: float) -> list[str]:
    if not days:
        return []
    step = max(1, len(days) // 6)
    picks = list(range(0, len(days), step))
    last = len(days) - 1
    if picks[-1] != last and last - picks[-1] >= step // 2:
        picks.append(last)
    return [_date_label(days[i].day, LEFT + (i + 0.5) * slot, i == last) for i in picks]


def _date_label(day: date, x: float, is_last: bool) -> str:
    """Month/day under its bar; the last one ends at its bar so that it stays inside the chart."""
    anchor = "end" if is_last else "middle"
    x_text = min(x + 4, WIDTH - RIGHT) if is_last else x
    position = f'x="{x_text:.1f}" y="{HEIGHT - 6}" text-anchor="{anchor}"'
    return f'<text class="axis" {position}>{day.month}/{day.day}</text>'
