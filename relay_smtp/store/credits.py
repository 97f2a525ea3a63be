"""Counting registrations and the credits they earn: the money rules of the ledger, one connection at a time.

Why this module exists: these are the steps that must stay right under concurrent relays (see the
`ledger` module's docstring for how); kept as plain functions on a connection so the `Ledger` can run
them inside whatever transaction it holds, and a reader can check the arithmetic in one place.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, func, insert, select, update

from relay_smtp.store.ledger_data import COUNTED, EARNED_REASON, InsufficientCredits, LedgerEntry
from relay_smtp.store.models import LEDGER_KINDS, company_counters, ledger_entries, registrations
from relay_smtp.store.registration_rows import require_choice, set_registration
from relay_smtp.store.writes import insert_ignoring_duplicates

# The log lines keep the ledger's logger name, as before this module was split off.
log = logging.getLogger("relay_smtp.store.ledger")


@dataclass(frozen=True)
class CountDecision:
    """Whether a registration counted, why (or why not), and whether it completed a credit."""

    counted: bool
    reason: str
    earned_now: bool


def count_registration(
    connection: Connection,
    registration_id: int,
    company: str,
    recipient_hash: str,
    now: datetime,
    registrations_per_credit: int,
) -> CountDecision:
    """Count the (confirmed) registration unless the candidate is counted anywhere already."""
    counted, earned = lock_counter(connection, company)
    holder = connection.scalar(
        select(registrations.c.company)
        .where(registrations.c.recipient_hash == recipient_hash, registrations.c.counted.is_(True))
        .limit(1)
    )
    if holder is not None:
        reason = f"candidate already counted for {holder}"
        set_registration(connection, registration_id, not_counted_reason=reason)
        return CountDecision(False, reason, False)
    seq = counted + 1
    set_registration(
        connection,
        registration_id,
        counted=True,
        company_seq=seq,
        not_counted_reason="",
    )
    # With a fixed N this is "seq % N == 0, credit seq // N".  Written as "a credit is due that was not
    # yet earned" so that changing N never asks for a credit number that already exists.
    earned_now = seq // registrations_per_credit > earned
    if earned_now:
        reason = EARNED_REASON.format(count=seq)
        append_entry(connection, company, "earned", 1, reason, now, earned + 1)
        log.info("ledger %s earned credit #%d (%s)", company, earned + 1, reason)
    connection.execute(
        update(company_counters)
        .where(company_counters.c.company == company)
        .values(counted=seq, earned=earned + int(earned_now))
    )
    return CountDecision(True, COUNTED, earned_now)


def lock_counter(connection: Connection, company: str) -> tuple[int, int]:
    """Lock the company's counter row (made on first use); its (counted, earned)."""
    locked = select(company_counters.c.counted, company_counters.c.earned).where(
        company_counters.c.company == company
    )
    row = connection.execute(locked.with_for_update()).one_or_none()
    if row is None:
        stmt = insert_ignoring_duplicates(connection, company_counters)
        connection.execute(stmt.values(company=company, counted=0, earned=0))
        row = connection.execute(locked.with_for_update()).one()
    return int(row.counted), int(row.earned)


def balance(connection: Connection, company: str) -> int:
    total = connection.scalar(
        select(func.coalesce(func.sum(ledger_entries.c.amount), 0)).where(ledger_entries.c.company == company)
    )
    return int(total or 0)


def counted_of(connection: Connection, company: str) -> int:
    stmt = select(func.count()).where(registrations.c.company == company, registrations.c.counted.is_(True))
    return int(connection.scalar(stmt) or 0)


def append_entry(
    connection: Connection,
    company: str,
    kind: str,
    amount: int,
    reason: str,
    at: datetime,
    credit_no: int | None,
) -> LedgerEntry:
    require_choice("kind", kind, LEDGER_KINDS)
    result = connection.execute(
        insert(ledger_entries)
        .returning(ledger_entries.c.id)
        .values(company=company, kind=kind, amount=amount, reason=reason, at=at, credit_no=credit_no)
    )
    return LedgerEntry(int(result.scalar_one()), company, kind, amount, reason, at, credit_no)


def entry_of(row: Row[Any]) -> LedgerEntry:
    return LedgerEntry(
        id=int(row.id),
        company=str(row.company),
        kind=str(row.kind),
        amount=int(row.amount),
        reason=str(row.reason),
        at=row.at,
        credit_no=None if row.credit_no is None else int(row.credit_no),
    )


def spend(
    connection: Connection, company: str, kind: str, amount: int, reason: str, now: datetime
) -> LedgerEntry:
    """Redeem or adjust under the company's counter lock; InsufficientCredits below zero."""
    lock_counter(connection, company)
    current = balance(connection, company)
    if current + amount < 0:
        raise InsufficientCredits(
            f"{company} has {current} credit(s); {kind} {amount:+d} would make it {current + amount}"
        )
    return append_entry(connection, company, kind, amount, reason, now, None)


def entries(connection: Connection, company: str | None) -> list[LedgerEntry]:
    stmt = select(ledger_entries).order_by(ledger_entries.c.id)
    if company is not None:
        stmt = stmt.where(ledger_entries.c.company == company)
    return [entry_of(row) for row in connection.execute(stmt)]
