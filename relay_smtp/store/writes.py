"""Writing to a store several relays share: a transaction lost to a race runs again from the start.

Why this module exists: the ledger and the other store modules (kpi, talent pool, satisfaction) write
under the same concurrency rules; these are the two pieces they share, the retried write transaction
and the portable INSERT ... ON CONFLICT DO NOTHING.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

from relay_smtp.store.db import write_transaction

# The log lines keep the ledger's logger name, as before this module was split off.
log = logging.getLogger("relay_smtp.store.ledger")
T = TypeVar("T")

#: Attempts at one write transaction before a race is reported as an error.
RETRY_ATTEMPTS = 8
#: SQLSTATEs of races worth retrying: serialization_failure, deadlock_detected, unique_violation.
_RETRY_SQLSTATES = frozenset({"40001", "40P01", "23505"})
_RETRY_SQLITE_ERRORS = (
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_CONSTRAINT_UNIQUE",
    "SQLITE_CONSTRAINT_PRIMARYKEY",
)


def write_with_retry(engine: Engine, work: Callable[[Connection], T]) -> T:
    """Run ``work`` in a write transaction, again from the start if it lost a race."""
    attempt = 1
    while True:
        try:
            with write_transaction(engine) as connection:
                return work(connection)
        except DBAPIError as exc:
            if attempt >= RETRY_ATTEMPTS or not _is_race(exc):
                raise
            log.debug("store write lost a race (attempt %d): %s", attempt, exc.orig)
        time.sleep(random.uniform(0, 0.002 * 2**attempt))
        attempt += 1


def _is_race(exc: DBAPIError) -> bool:
    """Whether the failure is another transaction's doing, so that running ours again may succeed."""
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate is not None:
        return sqlstate in _RETRY_SQLSTATES
    return str(getattr(exc.orig, "sqlite_errorname", "")).startswith(_RETRY_SQLITE_ERRORS)


def insert_ignoring_duplicates(connection: Connection, table: Any) -> Insert:
    """INSERT ... ON CONFLICT DO NOTHING in the connection's dialect.

    Built once per dialect and table: statements are immutable (``.values()`` makes a new one), and
    the relay's recorder runs this for every batch it writes.
    """
    return _insert_ignoring_duplicates(connection.dialect.name, table)


@cache
def _insert_ignoring_duplicates(dialect: str, table: Any) -> Insert:
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()
