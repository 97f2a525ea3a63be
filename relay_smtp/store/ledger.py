"""The ledger: clicks, registrations and free hire referral credits, counted once and right.

Why this module exists: a company is given one credit for every ``registrations_per_credit`` candidates
who registered through its links, so these numbers are money.  They must hold when the agency's webhook
is delivered twice, when the same candidate registers through two companies, and when several relays
(processes, machines) write to one PostgreSQL database at the same moment.

How counting stays right, in one transaction per registration:

1. ``(source, external_id)`` is looked up first: a replayed webhook returns the first outcome and
   changes nothing (a concurrent replay loses on the unique constraint and is retried into a replay).
2. The company's ``company_counters`` row is locked (``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite
   the whole write transaction already holds the database's write lock from ``BEGIN IMMEDIATE``).
3. If the candidate is counted anywhere, the registration is recorded as not counted.  Two companies
   racing for one candidate lock different rows; the partial unique index on counted candidates makes
   the loser fail, and its retry then sees the winner.
4. Otherwise it gets ``company_seq = counted + 1`` and, when that completes a block of N, the earned
   entry with ``credit_no`` = the credit's number, which a unique index lets exist only once.

Races surface as serialisation failures, deadlocks, busy databases or unique violations; the whole
transaction is then retried a few times.  Balances are sums of ledger entries, read in the same
transaction that redeems, under the same row lock, so they never go below zero.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Insert, Row, and_, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

from relay_smtp.store import outbox, reports
from relay_smtp.store.db import (
    create_engine_for,
    current_version,
    latest_version,
    read_transaction,
    upgrade,
    write_transaction,
)
from relay_smtp.store.models import (
    LEDGER_KINDS,
    REGISTRATION_SOURCES,
    REJECTION_ACTIONS,
    USER_AGENT_MAX,
    candidate_profiles,
    clicks,
    company_counters,
    issued_links,
    ledger_entries,
    registrations,
    rejections,
)
from relay_smtp.store.reports import DayCount, Funnel

__all__ = [
    "DayCount",
    "Funnel",
    "InsufficientCredits",
    "IssuedLink",
    "Ledger",
    "LedgerEntry",
    "Profile",
    "RegistrationOutcome",
    "SchemaOutOfDate",
    "UnknownRegistration",
    "utcnow",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

COUNTED = "counted"
AWAITING_CONFIRMATION = "awaiting confirmation"
AWAITING_HANDOFF = "awaiting hand-off to the agency"
CONFIRMATION_EXPIRED = "confirmation expired"
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


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class IssuedLink:
    company: str
    recipient_hash: str
    message_id: str
    issued_at: datetime


@dataclass(frozen=True)
class RegistrationOutcome:
    """What became of a registration.

    ``company_counted`` and ``balance`` are the company's numbers after this call.  ``duplicate`` means
    the same ``(source, external_id)`` (or an already used confirmation token) was seen before: the
    first outcome's ``counted`` and ``reason`` are returned, and ``earned_now`` is False because this
    call earned nothing.
    """

    registration_id: int
    counted: bool
    reason: str
    company: str
    company_counted: int
    balance: int
    earned_now: bool
    duplicate: bool


@dataclass(frozen=True)
class LedgerEntry:
    id: int
    company: str
    kind: str
    amount: int
    reason: str
    at: datetime
    credit_no: int | None


@dataclass(frozen=True)
class Profile:
    """What a candidate typed into the hosted form, and the version of the consent text they accepted."""

    name: str
    email: str
    phone: str | None
    job_type: str
    consent_version: str


class InsufficientCredits(Exception):
    """A redemption or adjustment would take the company's balance below zero."""


class UnknownRegistration(Exception):
    """No pending registration has this confirmation token (never issued, expired, or purged)."""


class SchemaOutOfDate(RuntimeError):
    """The database's schema is older than this code; run with upgrade (``Ledger.open(upgrade=True)``)."""


@dataclass(frozen=True)
class _Decision:
    counted: bool
    reason: str
    earned_now: bool


class Ledger:
    """The store's one entry point for the relay, the web app and the command line (thread-safe)."""

    def __init__(
        self,
        engine: Engine,
        *,
        registrations_per_credit: int = 10,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if registrations_per_credit < 1:
            raise ValueError(f"registrations_per_credit must be at least 1, not {registrations_per_credit}")
        self.engine = engine
        self.registrations_per_credit = registrations_per_credit
        self._clock = clock

    @classmethod
    def open(
        cls,
        url: str,
        *,
        registrations_per_credit: int = 10,
        upgrade: bool = False,
        clock: Callable[[], datetime] = utcnow,
    ) -> Ledger:
        """A ledger on ``url``; with ``upgrade`` the schema is brought up to date first."""
        engine = create_engine_for(url)
        try:
            _prepare_schema(engine, apply=upgrade)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, registrations_per_credit=registrations_per_credit, clock=clock)

    def close(self) -> None:
        self.engine.dispose()

    # ----------------------------------------------------------------------- relay side

    def record_rejection(self, company: str, message_id: str, queue_id: str, action: str) -> None:
        _require_choice("action", action, REJECTION_ACTIONS)
        row = {"company": company, "message_id": message_id, "queue_id": queue_id, "action": action}
        self._write(lambda c: c.execute(insert(rejections).values(**row, at=self._clock())))

    def record_links(self, links: Sequence[IssuedLink]) -> None:
        """Remember issued links; links already recorded are left as they were."""
        if not links:
            return
        rows = [
            {
                "company": link.company,
                "recipient_hash": link.recipient_hash,
                "message_id": link.message_id,
                "issued_at": link.issued_at,
            }
            for link in links
        ]
        self._write(lambda c: c.execute(_insert_ignoring_duplicates(c, issued_links), rows))

    # ----------------------------------------------------------------------- candidate side

    def record_click(
        self,
        company: str,
        recipient_hash: str,
        message_id: str,
        *,
        user_agent: str | None,
        suspected_bot: bool,
        bot_reason: str = "",
    ) -> None:
        row = {
            "company": company,
            "recipient_hash": recipient_hash,
            "message_id": message_id,
            "user_agent": None if user_agent is None else user_agent[:USER_AGENT_MAX],
            "suspected_bot": suspected_bot,
            "bot_reason": bot_reason,
        }
        self._write(lambda c: c.execute(insert(clicks).values(**row, at=self._clock())))

    def register(
        self,
        *,
        source: str,
        external_id: str,
        company: str,
        recipient_hash: str,
        message_id: str,
        confirmed: bool,
        profile: Profile | None = None,
        confirmation_token: str | None = None,
        confirm_ttl: timedelta = timedelta(days=2),
    ) -> RegistrationOutcome:
        """Record a registration; count it now if ``confirmed`` (agency), else when confirm() is called.

        Idempotent by ``(source, external_id)``.  A pending (hosted) registration needs the candidate's
        profile, which is stored with the consent, and a confirmation token, stored only as its hash.
        """
        _require_choice("source", source, REGISTRATION_SOURCES)
        if not external_id:
            raise ValueError("external_id must not be empty")
        if not confirmed and (profile is None or not confirmation_token):
            raise ValueError("a registration awaiting confirmation needs a profile and a confirmation token")
        key = (source, external_id)

        def work(connection: Connection) -> RegistrationOutcome:
            existing = _registration_by_key(connection, *key)
            if existing is not None:
                _warn_if_different(existing, company, recipient_hash)
                return self._outcome(connection, existing, earned_now=False, duplicate=True)
            now = self._clock()
            registration_id = _insert_registration(
                connection, key, company, recipient_hash, message_id, now, AWAITING_CONFIRMATION
            )
            if profile is not None:
                expires = None if confirmed else now + confirm_ttl
                _insert_profile(connection, registration_id, profile, confirmation_token, now, expires)
            decision = _Decision(False, AWAITING_CONFIRMATION, False)
            if confirmed:
                _set_registration(connection, registration_id, confirmed_at=now)
                decision = self._count(connection, registration_id, company, recipient_hash, now)
            return self._outcome_of(connection, registration_id, company, decision, duplicate=False)

        return self._write(work)

    def confirm(self, confirmation_token: str, *, locale: str = "ja") -> RegistrationOutcome:
        """Confirm a hosted registration (double opt-in); again: the same outcome, duplicate.

        The registration is not counted yet: the hand-off to the agency is written to the outbox in this
        same transaction, and it counts when the agency accepts it (`count_handed_over`).
        """
        token_hash = _token_hash(confirmation_token)

        def work(connection: Connection) -> RegistrationOutcome:
            found = connection.execute(
                select(candidate_profiles.c.registration_id, candidate_profiles.c.confirm_expires_at).where(
                    candidate_profiles.c.confirmation_token_hash == token_hash
                )
            ).one_or_none()
            if found is None:
                raise UnknownRegistration("no registration has this confirmation token")
            # Locked, so that two clicks on the confirmation mail cannot both confirm it.
            row = connection.execute(
                select(registrations).where(registrations.c.id == found.registration_id).with_for_update()
            ).one()
            if row.confirmed_at is not None:
                return self._outcome(connection, row, earned_now=False, duplicate=True)
            now = self._clock()
            if found.confirm_expires_at is not None and found.confirm_expires_at <= now:
                raise UnknownRegistration("the confirmation token has expired")
            _set_registration(connection, row.id, confirmed_at=now, not_counted_reason=AWAITING_HANDOFF)
            outbox.enqueue(
                connection,
                event="registered",
                registration_id=row.id,
                public_id=row.external_id,
                company=row.company,
                locale=locale,
                now=now,
            )
            decision = _Decision(False, AWAITING_HANDOFF, False)
            return self._outcome_of(connection, row.id, row.company, decision, duplicate=False)

        return self._write(work)

    def count_handed_over(self, connection: Connection, registration_id: int, now: datetime) -> bool:
        """Count a confirmed registration the agency accepted (inside the outbox's transaction).

        Whether it counts follows the same rule as any other: once per candidate across companies.
        Returns whether a credit was earned by it.
        """
        row = connection.execute(
            select(registrations).where(registrations.c.id == registration_id).with_for_update()
        ).one()
        if row.counted:
            return False
        return self._count(connection, registration_id, row.company, row.recipient_hash, now).earned_now

    def write(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in a write transaction, retried from the start when it lost a race."""
        return self._write(work)

    def now(self) -> datetime:
        return self._clock()

    # ----------------------------------------------------------------------- credits

    def balance(self, company: str) -> int:
        with read_transaction(self.engine) as connection:
            return _balance(connection, company)

    def counted(self, company: str) -> int:
        with read_transaction(self.engine) as connection:
            return _counted(connection, company)

    def redeem(self, company: str, reason: str) -> LedgerEntry:
        """Spend one credit; InsufficientCredits when the balance is zero."""
        return self._spend(company, "redeemed", -1, reason)

    def adjust(self, company: str, amount: int, reason: str) -> LedgerEntry:
        """An admin's correction of ±amount credits; InsufficientCredits if the balance would go below 0."""
        if amount == 0:
            raise ValueError("an adjustment of 0 credits changes nothing")
        return self._spend(company, "adjusted", amount, reason)

    def _spend(self, company: str, kind: str, amount: int, reason: str) -> LedgerEntry:
        def work(connection: Connection) -> LedgerEntry:
            _lock_counter(connection, company)
            balance = _balance(connection, company)
            if balance + amount < 0:
                raise InsufficientCredits(
                    f"{company} has {balance} credit(s); {kind} {amount:+d} would make it {balance + amount}"
                )
            return _append_entry(connection, company, kind, amount, reason, self._clock(), None)

        entry = self._write(work)
        log.info("ledger %s %s %+d (%s)", company, kind, amount, reason)
        return entry

    def entries(self, company: str | None = None) -> list[LedgerEntry]:
        stmt = select(ledger_entries).order_by(ledger_entries.c.id)
        if company is not None:
            stmt = stmt.where(ledger_entries.c.company == company)
        with read_transaction(self.engine) as connection:
            return [_entry(row) for row in connection.execute(stmt)]

    # ----------------------------------------------------------------------- reports

    def funnel(self, company: str) -> Funnel:
        with read_transaction(self.engine) as connection:
            return reports.funnels(connection, company)[0]

    def funnels(self) -> list[Funnel]:
        with read_transaction(self.engine) as connection:
            return reports.funnels(connection)

    def daily(self, company: str, days: int = 90) -> list[DayCount]:
        today = self._clock().astimezone(UTC).date()
        with read_transaction(self.engine) as connection:
            return reports.daily(connection, company, today, days)

    # ----------------------------------------------------------------------- retention

    def purge_personal_data(self, older_than: timedelta) -> int:
        """Delete profiles older than the retention and those of pending registrations that expired.

        Registrations (hashes, counts) stay.  Returns the number of profiles removed.
        """

        def work(connection: Connection) -> int:
            now = self._clock()
            pending = select(registrations.c.id).where(registrations.c.confirmed_at.is_(None))
            expired = and_(
                candidate_profiles.c.confirm_expires_at <= now,
                candidate_profiles.c.registration_id.in_(pending),
            )
            connection.execute(
                update(registrations)
                .where(registrations.c.id.in_(select(candidate_profiles.c.registration_id).where(expired)))
                .values(not_counted_reason=CONFIRMATION_EXPIRED)
            )
            stale = or_(candidate_profiles.c.consent_at < now - older_than, expired)
            # A hand-off still owed for a purged profile has nothing left to send.
            outbox.cancel_registered(connection, select(candidate_profiles.c.registration_id).where(stale))
            return int(connection.execute(delete(candidate_profiles).where(stale)).rowcount)

        removed = self._write(work)
        log.info("purged %d candidate profile(s)", removed)
        return removed

    # ----------------------------------------------------------------------- internals

    def _write(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in a write transaction, again from the start if it lost a race."""
        attempt = 1
        while True:
            try:
                with write_transaction(self.engine) as connection:
                    return work(connection)
            except DBAPIError as exc:
                if attempt >= RETRY_ATTEMPTS or not _is_race(exc):
                    raise
                log.debug("store write lost a race (attempt %d): %s", attempt, exc.orig)
            time.sleep(random.uniform(0, 0.002 * 2**attempt))
            attempt += 1

    def _count(
        self, connection: Connection, registration_id: int, company: str, recipient_hash: str, now: datetime
    ) -> _Decision:
        """Count the (confirmed) registration unless the candidate is counted anywhere already."""
        counted, earned = _lock_counter(connection, company)
        holder = connection.scalar(
            select(registrations.c.company)
            .where(registrations.c.recipient_hash == recipient_hash, registrations.c.counted.is_(True))
            .limit(1)
        )
        if holder is not None:
            reason = f"candidate already counted for {holder}"
            _set_registration(connection, registration_id, not_counted_reason=reason)
            return _Decision(False, reason, False)
        seq = counted + 1
        _set_registration(
            connection,
            registration_id,
            counted=True,
            company_seq=seq,
            not_counted_reason="",
        )
        # With a fixed N this is "seq % N == 0, credit seq // N".  Written as "a credit is due that was not
        # yet earned" so that changing N never asks for a credit number that already exists.
        earned_now = seq // self.registrations_per_credit > earned
        if earned_now:
            reason = f"{seq} registrations counted"
            _append_entry(connection, company, "earned", 1, reason, now, earned + 1)
            log.info("ledger %s earned credit #%d (%s)", company, earned + 1, reason)
        connection.execute(
            update(company_counters)
            .where(company_counters.c.company == company)
            .values(counted=seq, earned=earned + int(earned_now))
        )
        return _Decision(True, COUNTED, earned_now)

    def _outcome(
        self, connection: Connection, row: Row[Any], *, earned_now: bool, duplicate: bool
    ) -> RegistrationOutcome:
        reason = COUNTED if row.counted else str(row.not_counted_reason)
        decision = _Decision(bool(row.counted), reason, earned_now)
        return self._outcome_of(connection, int(row.id), str(row.company), decision, duplicate=duplicate)

    def _outcome_of(
        self,
        connection: Connection,
        registration_id: int,
        company: str,
        decision: _Decision,
        *,
        duplicate: bool,
    ) -> RegistrationOutcome:
        return RegistrationOutcome(
            registration_id=registration_id,
            counted=decision.counted,
            reason=decision.reason,
            company=company,
            company_counted=_counted(connection, company),
            balance=_balance(connection, company),
            earned_now=decision.earned_now,
            duplicate=duplicate,
        )


# --------------------------------------------------------------------------- helpers


def _prepare_schema(engine: Engine, *, apply: bool) -> None:
    if apply:
        upgrade(engine)
        return
    have, need = current_version(engine), latest_version()
    if have < need:
        raise SchemaOutOfDate(f"the store's schema is at version {have}, this relay needs {need}: upgrade it")
    if have > need:
        log.warning("the store's schema (version %d) is newer than this relay knows (%d)", have, need)


def _require_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")


def _is_race(exc: DBAPIError) -> bool:
    """Whether the failure is another transaction's doing, so that running ours again may succeed."""
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate is not None:
        return sqlstate in _RETRY_SQLSTATES
    return str(getattr(exc.orig, "sqlite_errorname", "")).startswith(_RETRY_SQLITE_ERRORS)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _insert_ignoring_duplicates(connection: Connection, table: Any) -> Insert:
    """INSERT ... ON CONFLICT DO NOTHING in the connection's dialect."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


def _lock_counter(connection: Connection, company: str) -> tuple[int, int]:
    """Lock the company's counter row (made on first use); its (counted, earned)."""
    locked = select(company_counters.c.counted, company_counters.c.earned).where(
        company_counters.c.company == company
    )
    row = connection.execute(locked.with_for_update()).one_or_none()
    if row is None:
        stmt = _insert_ignoring_duplicates(connection, company_counters)
        connection.execute(stmt.values(company=company, counted=0, earned=0))
        row = connection.execute(locked.with_for_update()).one()
    return int(row.counted), int(row.earned)


def _balance(connection: Connection, company: str) -> int:
    total = connection.scalar(
        select(func.coalesce(func.sum(ledger_entries.c.amount), 0)).where(ledger_entries.c.company == company)
    )
    return int(total or 0)


def _counted(connection: Connection, company: str) -> int:
    stmt = select(func.count()).where(registrations.c.company == company, registrations.c.counted.is_(True))
    return int(connection.scalar(stmt) or 0)


def _registration_by_key(connection: Connection, source: str, external_id: str) -> Row[Any] | None:
    stmt = select(registrations).where(
        registrations.c.source == source, registrations.c.external_id == external_id
    )
    return connection.execute(stmt).one_or_none()


def _warn_if_different(row: Row[Any], company: str, recipient_hash: str) -> None:
    if row.company != company or row.recipient_hash != recipient_hash:
        log.warning(
            "registration %s/%s replayed with a different company or candidate; the first one stands",
            row.source,
            row.external_id,
        )


def _insert_registration(
    connection: Connection,
    key: tuple[str, str],
    company: str,
    recipient_hash: str,
    message_id: str,
    now: datetime,
    reason: str,
) -> int:
    new_id = connection.scalar(
        insert(registrations)
        .returning(registrations.c.id)
        .values(
            source=key[0],
            external_id=key[1],
            company=company,
            recipient_hash=recipient_hash,
            message_id=message_id,
            created_at=now,
            confirmed_at=None,
            counted=False,
            company_seq=None,
            not_counted_reason=reason,
        )
    )
    return int(new_id)


def _insert_profile(
    connection: Connection,
    registration_id: int,
    profile: Profile,
    confirmation_token: str | None,
    now: datetime,
    expires: datetime | None,
) -> None:
    connection.execute(
        insert(candidate_profiles).values(
            registration_id=registration_id,
            name=profile.name,
            email=profile.email,
            phone=profile.phone,
            job_type=profile.job_type,
            consent_at=now,
            consent_version=profile.consent_version,
            confirmation_token_hash=None if confirmation_token is None else _token_hash(confirmation_token),
            confirm_expires_at=expires,
        )
    )


def _set_registration(connection: Connection, registration_id: int, **values: Any) -> None:
    connection.execute(update(registrations).where(registrations.c.id == registration_id).values(**values))


def _append_entry(
    connection: Connection,
    company: str,
    kind: str,
    amount: int,
    reason: str,
    at: datetime,
    credit_no: int | None,
) -> LedgerEntry:
    _require_choice("kind", kind, LEDGER_KINDS)
    result = connection.execute(
        insert(ledger_entries)
        .returning(ledger_entries.c.id)
        .values(company=company, kind=kind, amount=amount, reason=reason, at=at, credit_no=credit_no)
    )
    return LedgerEntry(int(result.scalar_one()), company, kind, amount, reason, at, credit_no)


def _entry(row: Row[Any]) -> LedgerEntry:
    return LedgerEntry(
        id=int(row.id),
        company=str(row.company),
        kind=str(row.kind),
        amount=int(row.amount),
        reason=str(row.reason),
        at=row.at,
        credit_no=None if row.credit_no is None else int(row.credit_no),
    )
