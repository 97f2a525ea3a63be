"""The talent pool (タレントプール): candidates who let the company itself contact them again.

Why this module exists: separately from the registration with the partner agency, a candidate may agree
that the rejecting company keep their name and address to invite them when a new position opens.  That
is its own consent (own text, own version, own retention period), so the data lives in its own table,
is shown and exported only to that company, and goes away on withdrawal (`withdraw`, for the candidate's
withdrawal link) or when it is older than the retention period (`purge`).

An entry is written with the registration and becomes visible when the candidate confirms the address
(`confirm`, the same double opt-in as the registration); an entry never confirmed is purged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Delete, Engine, and_, delete, or_, select, update

from relay_smtp.store.db import read_transaction, write_transaction
from relay_smtp.store.kpi_tables import talent_pool
from relay_smtp.store.writes import insert_ignoring_duplicates


@dataclass(frozen=True)
class PoolEntry:
    registration_id: int
    company: str
    name: str
    email: str
    job_type: str
    consent_version: str
    consent_at: datetime


def join(engine: Engine, entry: PoolEntry, *, confirmed_at: datetime | None = None) -> bool:
    """Add the candidate to the company's pool (once per registration); False if already there."""
    with write_transaction(engine) as connection:
        stmt = insert_ignoring_duplicates(connection, talent_pool).values(
            registration_id=entry.registration_id,
            company=entry.company,
            name=entry.name,
            email=entry.email,
            job_type=entry.job_type,
            consent_version=entry.consent_version,
            consent_at=entry.consent_at,
            confirmed_at=confirmed_at,
        )
        # RETURNING, not rowcount: psycopg reports -1 for an INSERT ... ON CONFLICT DO NOTHING.
        return connection.execute(stmt.returning(talent_pool.c.id)).scalar() is not None


def confirm(engine: Engine, registration_id: int, at: datetime) -> PoolEntry | None:
    """The registration was confirmed: its pool entry (if the candidate opted in) becomes visible."""
    c = talent_pool.c
    with write_transaction(engine) as connection:
        connection.execute(
            update(talent_pool)
            .where(c.registration_id == registration_id, c.confirmed_at.is_(None))
            .values(confirmed_at=at)
        )
        row = connection.execute(
            select(talent_pool).where(c.registration_id == registration_id)
        ).one_or_none()
    return None if row is None else _entry(row)


def entries(engine: Engine, company: str) -> list[PoolEntry]:
    """The company's confirmed pool, newest first."""
    c = talent_pool.c
    stmt = (
        select(talent_pool)
        .where(c.company == company, c.confirmed_at.is_not(None))
        .order_by(c.consent_at.desc(), c.id.desc())
    )
    with read_transaction(engine) as connection:
        return [_entry(row) for row in connection.execute(stmt)]


def undelivered(engine: Engine, companies: list[str], limit: int = 100) -> list[PoolEntry]:
    """Confirmed entries of these companies that their ATS webhook has not accepted yet, oldest first."""
    c = talent_pool.c
    stmt = (
        select(talent_pool)
        .where(c.company.in_(companies), c.confirmed_at.is_not(None), c.delivered_at.is_(None))
        .order_by(c.id)
        .limit(limit)
    )
    with read_transaction(engine) as connection:
        return [_entry(row) for row in connection.execute(stmt)]


def mark_delivered(engine: Engine, registration_id: int, at: datetime) -> None:
    with write_transaction(engine) as connection:
        connection.execute(
            update(talent_pool)
            .where(talent_pool.c.registration_id == registration_id)
            .values(delivered_at=at)
        )


def withdraw(engine: Engine, registration_id: int) -> int:
    """Remove the candidate of this registration from the pool at once; the number of entries removed."""
    with write_transaction(engine) as connection:
        return int(connection.execute(_delete_entry(registration_id)).rowcount)


def withdraw_step(connection: Connection, registration_id: int) -> None:
    """The same inside a transaction of the caller's: the candidate's withdrawal link runs it as one
    step of the withdrawal (`store.withdrawal.withdraw_registration(..., also=...)`)."""
    connection.execute(_delete_entry(registration_id))


def _delete_entry(registration_id: int) -> Delete:
    return delete(talent_pool).where(talent_pool.c.registration_id == registration_id)


def purge(engine: Engine, now: datetime, retention: timedelta, pending_ttl: timedelta) -> int:
    """Delete entries older than the retention, and those never confirmed; how many were deleted."""
    c = talent_pool.c
    stale = or_(
        c.consent_at < now - retention,
        and_(c.confirmed_at.is_(None), c.consent_at < now - pending_ttl),
    )
    with write_transaction(engine) as connection:
        return int(connection.execute(delete(talent_pool).where(stale)).rowcount)


def _entry(row: Any) -> PoolEntry:
    return PoolEntry(
        int(row.registration_id),
        str(row.company),
        str(row.name),
        str(row.email),
        str(row.job_type),
        str(row.consent_version),
        row.consent_at,
    )
