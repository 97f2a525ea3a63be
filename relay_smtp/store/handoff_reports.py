"""Read-only views of the agency outbox: counts by state, flagged hand-offs, the full list.

Why this module exists: /metrics, /admin, ``relay-smtp agency`` and the admin's CSV read the outbox;
the outbox module itself is about claiming and marking under locks, and reads better without these.
No personal data is read here.  The table comes from `outbox` (which imports this module).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, Table, func, select


@dataclass(frozen=True)
class OutboxStats:
    pending: int
    delivered: int
    flagged: int
    cancelled: int


@dataclass(frozen=True)
class FlaggedHandoff:
    registration_id: str
    event: str
    company: str
    created_at: datetime
    attempts: int
    last_error: str


@dataclass(frozen=True)
class OutboxEntry:
    cursor: int
    registration_id: str
    event: str
    company: str
    status: str
    channel: str
    attempts: int
    created_at: datetime
    delivered_at: datetime | None
    last_error: str


def stats(engine: Engine, agency_outbox: Table) -> OutboxStats:
    stmt = select(agency_outbox.c.status, func.count()).group_by(agency_outbox.c.status)
    with engine.connect() as connection:
        counts = {str(status): int(n) for status, n in connection.execute(stmt)}
    return OutboxStats(
        pending=counts.get("pending", 0),
        delivered=counts.get("delivered", 0),
        flagged=counts.get("failed", 0),
        cancelled=counts.get("cancelled", 0),
    )


def flagged(engine: Engine, agency_outbox: Table, limit: int = 100) -> list[FlaggedHandoff]:
    stmt = (
        select(agency_outbox)
        .where(agency_outbox.c.status == "failed")
        .order_by(agency_outbox.c.id)
        .limit(limit)
    )
    with engine.connect() as connection:
        return [
            FlaggedHandoff(
                str(r.public_id),
                str(r.event),
                str(r.company),
                r.created_at,
                int(r.attempts),
                str(r.last_error),
            )
            for r in connection.execute(stmt)
        ]


def entries(engine: Engine, agency_outbox: Table) -> list[OutboxEntry]:
    """Every event with its state, oldest first (no personal data: for the admin's CSV)."""
    with engine.connect() as connection:
        rows = connection.execute(select(agency_outbox).order_by(agency_outbox.c.id)).all()
    return [
        OutboxEntry(
            cursor=int(r.id),
            registration_id=str(r.public_id),
            event=str(r.event),
            company=str(r.company),
            status=str(r.status),
            channel=str(r.channel),
            attempts=int(r.attempts),
            created_at=r.created_at,
            delivered_at=r.delivered_at,
            last_error=str(r.last_error),
        )
        for r in rows
    ]
