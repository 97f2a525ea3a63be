"""Engines and schema versions for the store: SQLite for one relay, PostgreSQL for several.

Why this module exists: the two databases need different care before the ledger's transactions can be
trusted, and that care belongs in one place.

- SQLite: WAL (readers never wait for the writer), a busy timeout, foreign keys on, and write
  transactions opened with ``BEGIN IMMEDIATE``.  Python's sqlite3 driver would otherwise open a deferred
  transaction only at the first INSERT, after our SELECTs, so two writers could both read "9 counted" and
  one of them would fail to upgrade its lock.  We switch the driver's own BEGIN off
  (``isolation_level = None``) and emit ours from SQLAlchemy's ``begin`` event (the recipe in SQLAlchemy's
  SQLite documentation, "Enabling Non-Legacy SQLite Transactional Modes").
- PostgreSQL: ``pool_pre_ping`` so a restarted server does not fail the next request; row locks are
  taken by the ledger (``SELECT ... FOR UPDATE``).

Schema changes are a short list of numbered migrations of our own (``MIGRATIONS``), recorded in a
``schema_version`` table and applied by ``upgrade()`` in one transaction.  Several relays may start at
once against one PostgreSQL database: a transaction-scoped advisory lock makes the second wait for the
first and then find nothing to do.  On SQLite ``BEGIN IMMEDIATE`` does the same.
"""

from __future__ import annotations

import logging
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    event,
    func,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from relay_smtp.store import kpi_tables, models, outbox, records
from relay_smtp.store.models import UTCDateTime

log = logging.getLogger(__name__)

#: Execution option that marks a connection's transactions as writes (SQLite: BEGIN IMMEDIATE).
WRITE_OPTION = "relay_smtp_write"
SQLITE_BUSY_TIMEOUT_MS = 5000
#: pg_advisory_xact_lock key for upgrade(): any constant our other locks do not use ("relaysmt").
_UPGRADE_LOCK_KEY = 0x72656C6179736D74

_version_metadata = MetaData()
schema_version = Table(
    "schema_version",
    _version_metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("description", String, nullable=False),
    Column("applied_at", UTCDateTime(), nullable=False),
)


# --------------------------------------------------------------------------- engines


def create_engine_for(url: str) -> Engine:
    """An engine for ``sqlite:///path`` or ``postgresql+psycopg://...`` set up as described above."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(url)
    if backend in ("postgresql", "postgres"):
        # Plain postgresql:// would mean psycopg2, which we do not install.
        if parsed.get_driver_name() != "psycopg":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(parsed, pool_pre_ping=True)
    raise ValueError(f"store.url: unsupported database {backend!r} (use sqlite:/// or postgresql+psycopg://)")


@contextmanager
def scratch_schema(url: str, prefix: str) -> Iterator[str]:
    """A new, empty schema of the PostgreSQL database at ``url``, as a store URL whose connections
    work in it (their search_path); dropped afterwards with all it holds. For the tests and the
    benchmarks that share one database with others."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine_for(url).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield scoped.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.engine.dispose()


def _sqlite_engine(url: str) -> Engine:
    engine = create_engine(url)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # No driver-made BEGIN; PRAGMAs below must also run outside a transaction.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            _enable_wal(cursor)
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def _enable_wal(cursor: sqlite3.Cursor) -> None:
    """Switch the file to WAL (a lasting property of the file, so this is mostly a no-op).

    Switching needs the database to itself and SQLite answers "database is locked" at once, without
    waiting for busy_timeout, when several connections open a new file together: so wait here.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() in ("wal", "memory"):
                return
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorname", "") != "SQLITE_BUSY" or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write: commits at the end, rolls back on an exception."""
    with engine.execution_options(**{WRITE_OPTION: True}).begin() as connection:
        yield connection


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that only reads: one consistent snapshot (SQLite WAL; PostgreSQL per statement)."""
    with engine.begin() as connection:
        yield connection


# --------------------------------------------------------------------------- migrations


def _create_initial_schema(connection: Connection) -> None:
    SQLModel.metadata.create_all(connection, tables=list(models.TABLES))


def _create_handoff_tables(connection: Connection) -> None:
    """Version 2 (issue 13): the agency outbox and the provision records (第三者提供記録)."""
    SQLModel.metadata.create_all(connection, tables=[*outbox.TABLES, *records.TABLES])


def _create_kpi_tables(connection: Connection) -> None:
    SQLModel.metadata.create_all(connection, tables=list(kpi_tables.TABLES))


def _create_ats_signals_and_audited_verdicts(connection: Connection) -> None:
    # Imported here: those modules import this one for their transactions.
    from relay_smtp.store import audit, signals

    SQLModel.metadata.create_all(connection, tables=[*signals.TABLES, *audit.TABLES])


#: (version, description, step).  Append only; never edit a released step.  Version 1 builds the tables
#: from models.py as they are; the first change to a table must come with a step that alters it (and
#: version 1 then frozen to the old definition), or databases made by version 1 would miss the change.
MIGRATIONS: list[tuple[int, str, Callable[[Connection], None]]] = [
    (
        1,
        "initial schema: rejections, links, clicks, registrations, profiles, ledger, counters",
        _create_initial_schema,
    ),
    (2, "agency hand-offs: outbox and provision records", _create_handoff_tables),
    (3, "company KPIs: satisfaction counts, re-application, talent pool", _create_kpi_tables),
    (4, "ATS rejection signals and audited verdicts", _create_ats_signals_and_audited_verdicts),
]


def latest_version() -> int:
    return max((version for version, _, _ in MIGRATIONS), default=0)


def current_version(engine: Engine) -> int:
    """The highest migration applied to the database (0 for an empty one)."""
    with read_transaction(engine) as connection:
        return _current_version(connection)


def _current_version(connection: Connection) -> int:
    if not inspect(connection).has_table(schema_version.name):
        return 0
    return int(connection.scalar(select(func.coalesce(func.max(schema_version.c.version), 0))) or 0)


def upgrade(engine: Engine) -> list[str]:
    """Apply the migrations the database lacks, in one transaction; return their "N: description"s."""
    applied: list[str] = []
    with write_transaction(engine) as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _UPGRADE_LOCK_KEY})
        _version_metadata.create_all(connection)
        have = _current_version(connection)
        for version, description, step in sorted(MIGRATIONS, key=lambda m: m[0]):
            if version <= have:
                continue
            step(connection)
            connection.execute(
                insert(schema_version).values(
                    version=version, description=description, applied_at=datetime.now(UTC)
                )
            )
            applied.append(f"{version}: {description}")
    for line in applied:
        log.info("store schema upgraded to %s", line)
    return applied
