"""The period an admin page or report covers: calendar months of the reader's time zone.

Why this module exists: "November" for a Tokyo HR team starts at 2026-11-01 00:00 JST, which is
2026-10-31 15:00 UTC; the store counts between UTC instants, so the months are turned into bounds here,
once, for the admin pages, the CSV exports and ``relay-smtp report`` alike.  The period comes from
``?from=2026-06&to=2026-11`` (the default: the last six months up to the current one), is checked and
bounded, and never trusts the query string beyond "YYYY-MM".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from relay_smtp.store.kpi import Month

DEFAULT_MONTHS = 6
MAX_MONTHS = 36
_MONTH = re.compile(r"(\d{4})-(\d{2})")


class BadPeriod(ValueError):
    """A period the reader asked for that is not one (message safe to show)."""


@dataclass(frozen=True)
class Period:
    first: str  # "2026-06"
    last: str  # "2026-11"
    months: tuple[Month, ...]

    @property
    def whole(self) -> Month:
        return Month(f"{self.first}..{self.last}", self.months[0].start, self.months[-1].end)


def parse_month(text: str) -> tuple[int, int]:
    match = _MONTH.fullmatch(text.strip())
    if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 2000:
        raise BadPeriod(f"{text[:20]!r} is not a month (YYYY-MM)")
    return int(match.group(1)), int(match.group(2))


def _shift(year: int, month: int, by: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + by
    return index // 12, index % 12 + 1


def month_of(year: int, month: int, zone: ZoneInfo) -> Month:
    after = _shift(year, month, 1)
    return Month(
        f"{year:04d}-{month:02d}",
        datetime(year, month, 1, tzinfo=zone),
        datetime(after[0], after[1], 1, tzinfo=zone),
    )


def period(first: str | None, last: str | None, now: datetime, zone: ZoneInfo) -> Period:
    """The months from ``first`` to ``last`` inclusive (either may be None: the defaults)."""
    local = now.astimezone(zone)
    end = parse_month(last) if last else (local.year, local.month)
    start = parse_month(first) if first else _shift(*end, -(DEFAULT_MONTHS - 1))
    count = (end[0] * 12 + end[1]) - (start[0] * 12 + start[1]) + 1
    if count < 1:
        raise BadPeriod("the period ends before it starts")
    if count > MAX_MONTHS:
        raise BadPeriod(f"a period is at most {MAX_MONTHS} months")
    months = tuple(month_of(*_shift(*start, n), zone) for n in range(count))
    return Period(months[0].label, months[-1].label, months)
