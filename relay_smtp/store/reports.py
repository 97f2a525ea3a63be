"""Read-only numbers for the admin page and the ``credits`` command: funnels and daily series.

Why this module exists: the ledger's write path is about locks and retries; these queries are about
counting rows grouped by company or by day, and read better on their own.  Every function takes an open
connection, so a caller gets all its numbers from one snapshot.

Days are UTC calendar days.  The day of a counted registration is the day it was confirmed (when it
was counted); the day of any registration is the day it was received.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, func, select

from relay_smtp.store.models import (
    clicks,
    company_counters,
    issued_links,
    ledger_entries,
    registrations,
    rejections,
)


@dataclass(frozen=True)
class Funnel:
    """One company's path from rejection mail to credits.

    ``clicks`` includes ``suspected_bot_clicks``; ``registrations`` counts every registration received
    (pending, counted or not); ``redeemed`` is a positive number of credits; ``adjusted`` is the signed
    sum of admin adjustments; ``balance = earned - redeemed + adjusted``.
    """

    company: str
    rejections_seen: int
    links_issued: int
    clicks: int
    suspected_bot_clicks: int
    registrations: int
    counted: int
    earned: int
    redeemed: int
    adjusted: int
    balance: int


@dataclass(frozen=True)
class DayCount:
    """One UTC day of one company: clicks (bots included), registrations received, registrations counted."""

    day: date
    clicks: int
    registrations: int
    counted: int


# --------------------------------------------------------------------------- funnels


def funnels(connection: Connection, company: str | None = None) -> list[Funnel]:
    """The funnel of ``company`` (zeros if it was never seen), or of every company seen anywhere."""

    def count(table: Table, *conditions: ColumnElement[bool]) -> dict[str, int]:
        return _count_by_company(connection, table, company, *conditions)

    per_table = {
        "rejections_seen": count(rejections),
        "links_issued": count(issued_links),
        "clicks": count(clicks),
        "suspected_bot_clicks": count(clicks, clicks.c.suspected_bot.is_(True)),
        "registrations": count(registrations),
        "counted": count(registrations, registrations.c.counted.is_(True)),
    }
    sums = _ledger_sums(connection, company)
    if company is not None:
        names: Iterable[str] = [company]
    else:
        names = set(_companies(connection, company_counters)).union(*per_table.values(), *sums.values())
    return [_funnel(name, per_table, sums) for name in sorted(names)]


def _funnel(company: str, per_table: dict[str, dict[str, int]], sums: dict[str, dict[str, int]]) -> Funnel:
    earned = sums["earned"].get(company, 0)
    redeemed = -sums["redeemed"].get(company, 0)
    adjusted = sums["adjusted"].get(company, 0)
    counts = {name: by_company.get(company, 0) for name, by_company in per_table.items()}
    return Funnel(
        company=company,
        **counts,
        earned=earned,
        redeemed=redeemed,
        adjusted=adjusted,
        balance=earned - redeemed + adjusted,
    )


def _count_by_company(
    connection: Connection, table: Table, company: str | None, *conditions: ColumnElement[bool]
) -> dict[str, int]:
    stmt = select(table.c.company, func.count()).where(*conditions).group_by(table.c.company)
    if company is not None:
        stmt = stmt.where(table.c.company == company)
    return {str(name): int(n) for name, n in connection.execute(stmt)}


def _ledger_sums(connection: Connection, company: str | None) -> dict[str, dict[str, int]]:
    """{kind: {company: sum(amount)}} for earned, redeemed and adjusted."""
    stmt = select(
        ledger_entries.c.kind, ledger_entries.c.company, func.sum(ledger_entries.c.amount)
    ).group_by(ledger_entries.c.kind, ledger_entries.c.company)
    if company is not None:
        stmt = stmt.where(ledger_entries.c.company == company)
    sums: dict[str, dict[str, int]] = {"earned": {}, "redeemed": {}, "adjusted": {}}
    for kind, name, total in connection.execute(stmt):
        sums[str(kind)][str(name)] = int(total)
    return sums


def _companies(connection: Connection, table: Table) -> list[str]:
    return [str(name) for name in connection.scalars(select(table.c.company))]


# --------------------------------------------------------------------------- days


def daily(connection: Connection, company: str, today: date, days: int) -> list[DayCount]:
    """``days`` rows ending with ``today``, oldest first, zeros included."""
    if days < 1:
        raise ValueError(f"days must be at least 1, not {days}")
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, time.min, tzinfo=UTC)
    click_days = _per_day(connection, clicks.c.at, clicks.c.company == company, clicks.c.at >= since)
    received = _per_day(
        connection,
        registrations.c.created_at,
        registrations.c.company == company,
        registrations.c.created_at >= since,
    )
    counted = _per_day(
        connection,
        registrations.c.confirmed_at,
        registrations.c.company == company,
        registrations.c.counted.is_(True),
        registrations.c.confirmed_at >= since,
    )
    span = (first + timedelta(days=n) for n in range(days))
    return [DayCount(d, click_days.get(d, 0), received.get(d, 0), counted.get(d, 0)) for d in span]


def _per_day(connection: Connection, at: Any, *conditions: ColumnElement[bool]) -> dict[date, int]:
    day = _utc_day(at, connection.dialect.name)
    stmt = select(day, func.count()).where(*conditions).group_by(day)
    return {_as_date(d): int(n) for d, n in connection.execute(stmt)}


def _utc_day(at: Any, dialect: str) -> Any:
    if dialect == "postgresql":
        # date(timestamptz) would use the session's TimeZone; the day must be the UTC day.
        return func.date(func.timezone("UTC", at))
    # SQLite holds naive UTC text ("2026-01-02 03:04:05.678901"), which date() reads as it is.
    return func.date(at)


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)
