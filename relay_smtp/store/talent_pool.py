"""The talent pool (タレントプール): candidates who let the company itself contact them again.

Why this module exists: separately from the registration with the partner agency, a candidate may agree
that the rejecting company keep their name and address to invite them when a new position opens.  That
is its own consent (own text, own version, own retention period), so the data lives in its own table,
is shown and exported only to that company, and goes away on withdrawal (`withdraw`, wired into the
candidate's withdrawal link) or when it is older than the retention period (`purge`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, select

from relay_smtp.store.db import read_transaction, write_transaction
from relay_smtp.store.kpi_tables import talent_pool
from relay_smtp.store.ledger import _insert_ignoring_duplicates


@dataclass(frozen=True)
class PoolEntry:
    registration_id: int
    company: str
    name: str
    email: str
    job_type: str
    consent_version: str
    consent_at: datetime


def join(engine: Engine, entry: PoolEntry) -> bool:
    """Add the candidate to the company's pool (once per registration); False if already there."""
    with write_transaction(engine) as connection:
        stmt = _insert_ignoring_duplicates(connection, talent_pool).values(
            registration_id=entry.registration_id,
            company=entry.company,
            name=entry.name,
            email=entry.email,
            job_type=entry.job_type,
            consent_version=entry.consent_version,
            consent_at=entry.consent_at,
        )
        return bool(connection.execute(stmt).rowcount)


def entries(engine: Engine, company: str) -> list[PoolEntry]:
    """The company's pool, newest first."""
    c = talent_pool.c
    stmt = select(talent_pool).where(c.company == company).order_by(c.consent_at.desc(), c.id.desc())
    with read_transaction(engine) as connection:
        return [
            PoolEntry(
                int(row.registration_id),
                str(row.company),
                str(row.name),
                str(row.email),
                str(row.job_type),
                str(row.consent_version),
                row.consent_at,
            )
            for row in connection.execute(stmt)
        ]


def withdraw(engine: Engine, registration_id: int) -> int:
    """Remove the candidate of this registration from the pool at once; the number of entries removed."""
    with write_transaction(engine) as connection:
        stmt = delete(talent_pool).where(talent_pool.c.registration_id == registration_id)
        return int(connection.execute(stmt).rowcount)


def purge(engine: Engine, now: datetime, retention: timedelta) -> int:
    """Delete pool entries whose consent is older than the retention period; how many were deleted."""
    with write_transaction(engine) as connection:
        stmt = delete(talent_pool).where(talent_pool.c.consent_at < now - retention)
        return int(connection.execute(stmt).rowcount)
