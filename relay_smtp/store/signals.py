"""ATS rejection signals in the store: a keyed recipient hash and an expiry, nothing else.

Why this module exists: the ATS tells the relay that a rejection to an address is coming
(``web/ats_api.py``); the relay must remember that until the mail passes, across processes and
relays sharing one store, without keeping the address. The address is hashed with the links module's
recipient key (``LinkSigner.recipient_hash``: keyed, so the table cannot be reversed by hashing
guessed addresses) on arrival; the row holds the company, that hash and when the signal expires.
Expired rows are useless and are deleted by :meth:`SignalStore.purge_expired` (run with the other
purges) and ignored by every lookup.

The table is created by migration 4 (``store/db.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import Engine, Index, Table, delete, insert, select
from sqlmodel import Field, SQLModel

from relay_smtp.ats import AtsSignals
from relay_smtp.store.db import read_transaction, write_transaction
from relay_smtp.store.models import UTCDateTime


class AtsSignalRow(SQLModel, table=True):
    """One announced rejection: to whom (keyed hash) from which company, valid until when."""

    __tablename__ = "ats_signals"
    __table_args__ = (Index("ix_ats_signals_company_recipient", "company", "recipient_hash"),)

    id: int | None = Field(default=None, primary_key=True)
    company: str
    recipient_hash: str = Field(max_length=32)
    created_at: datetime = Field(sa_type=UTCDateTime())
    expires_at: datetime = Field(sa_type=UTCDateTime(), index=True)


ats_signals: Table = SQLModel.metadata.tables["ats_signals"]
TABLES = (ats_signals,)

Hasher = Callable[[str], str]
#: (company ids with the ATS API on, envelope recipients) -> the pipeline's input; see SignalStore.lookup.
AtsLookup = Callable[[Sequence[str], Sequence[str]], AtsSignals]


class SignalStore:
    def __init__(self, engine: Engine, clock: Callable[[], datetime]) -> None:
        self.engine = engine
        self.clock = clock

    def add(self, company: str, recipient_hash: str, window: timedelta) -> datetime:
        """Store a signal; returns when it expires."""
        now = self.clock()
        expires = now + window
        row = {"company": company, "recipient_hash": recipient_hash, "created_at": now, "expires_at": expires}
        with write_transaction(self.engine) as connection:
            connection.execute(insert(ats_signals).values(**row))
        return expires

    def active(self, companies: Sequence[str], hashes: Iterable[str]) -> set[tuple[str, str]]:
        """(company, recipient hash) pairs with a signal that has not expired."""
        wanted = sorted(set(hashes))
        if not companies or not wanted:
            return set()
        query = select(ats_signals.c.company, ats_signals.c.recipient_hash).where(
            ats_signals.c.company.in_(list(companies)),
            ats_signals.c.recipient_hash.in_(wanted),
            ats_signals.c.expires_at > self.clock(),
        )
        with read_transaction(self.engine) as connection:
            return {(str(c), str(h)) for c, h in connection.execute(query)}

    def lookup(self, companies: Sequence[str], recipients: Sequence[str], hasher: Hasher) -> AtsSignals:
        """The pipeline's input for one message: which recipients carry an active signal of which
        company (addresses stay in memory, only their hashes go to the database)."""
        by_hash = {hasher(r): r for r in recipients}
        found = self.active(companies, by_hash)
        return AtsSignals(frozenset((company, by_hash[h]) for company, h in found))

    def purge_expired(self) -> int:
        with write_transaction(self.engine) as connection:
            result = connection.execute(delete(ats_signals).where(ats_signals.c.expires_at <= self.clock()))
        return int(result.rowcount or 0)
