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

The steps live in small modules, each one idea: `credits` (counting and the ledger's arithmetic),
`registration_rows` (a registration's and a profile's rows, and their purge), `writes` (the retried
write transaction), `ledger_data` (the records and errors).  This class is the one entry point.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Row, insert, select

from relay_smtp.store import credits, outbox, reports
from relay_smtp.store.credits import CountDecision
from relay_smtp.store.db import create_engine_for, current_version, latest_version, read_transaction, upgrade
from relay_smtp.store.ledger_data import (
    AWAITING_CONFIRMATION,
    AWAITING_HANDOFF,
    COUNTED,
    InsufficientCredits,
    IssuedLink,
    LedgerEntry,
    Profile,
    RegistrationOutcome,
    SchemaOutOfDate,
    SeenRejection,
    UnknownRegistration,
    utcnow,
)
from relay_smtp.store.models import (
    REGISTRATION_SOURCES,
    REJECTION_ACTIONS,
    USER_AGENT_MAX,
    candidate_profiles,
    clicks,
    issued_links,
    registrations,
    rejections,
)
from relay_smtp.store.registration_rows import (
    insert_profile,
    insert_registration,
    purge_profiles,
    registration_by_key,
    require_choice,
    set_registration,
    token_hash,
    warn_if_different,
)
from relay_smtp.store.reports import DayCount, Funnel
from relay_smtp.store.writes import insert_ignoring_duplicates, write_with_retry

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
    "SeenRejection",
    "UnknownRegistration",
    "utcnow",
]

log = logging.getLogger(__name__)
T = TypeVar("T")


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
        self.record_relayed([SeenRejection(company, message_id, queue_id, action)], ())

    def record_links(self, links: Sequence[IssuedLink]) -> None:
        """Remember issued links; links already recorded are left as they were."""
        if links:
            self.record_relayed((), links)

    def record_relayed(
        self,
        seen: Sequence[SeenRejection],
        links: Sequence[IssuedLink],
        also: Callable[[Connection], object] | None = None,
    ) -> None:
        """Rejections, issued links (duplicates left as they were) and ``also``'s writes, in one write
        transaction: the relay's recorder writes a whole batch of messages with one commit."""
        for rejection in seen:
            require_choice("action", rejection.action, REJECTION_ACTIONS)
        now = self._clock()
        rejection_rows = [
            {
                "company": r.company,
                "message_id": r.message_id,
                "queue_id": r.queue_id,
                "action": r.action,
                "at": now,
            }
            for r in seen
        ]
        link_rows = [
            {
                "company": link.company,
                "recipient_hash": link.recipient_hash,
                "message_id": link.message_id,
                "issued_at": link.issued_at,
            }
            for link in links
        ]

        def work(connection: Connection) -> None:
            if rejection_rows:
                connection.execute(insert(rejections), rejection_rows)
            if link_rows:
                connection.execute(insert_ignoring_duplicates(connection, issued_links), link_rows)
            if also is not None:
                also(connection)

        self._write(work)

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
        require_choice("source", source, REGISTRATION_SOURCES)
        if not external_id:
            raise ValueError("external_id must not be empty")
        if not confirmed and (profile is None or not confirmation_token):
            raise ValueError("a registration awaiting confirmation needs a profile and a confirmation token")
        key = (source, external_id)

        def work(connection: Connection) -> RegistrationOutcome:
            existing = registration_by_key(connection, *key)
            if existing is not None:
                warn_if_different(existing, company, recipient_hash)
                return self._outcome(connection, existing, earned_now=False, duplicate=True)
            now = self._clock()
            registration_id = insert_registration(
                connection, key, company, recipient_hash, message_id, now, AWAITING_CONFIRMATION
            )
            if profile is not None:
                expires = None if confirmed else now + confirm_ttl
                insert_profile(connection, registration_id, profile, confirmation_token, now, expires)
            decision = CountDecision(False, AWAITING_CONFIRMATION, False)
            if confirmed:
                set_registration(connection, registration_id, confirmed_at=now)
                decision = self._count(connection, registration_id, company, recipient_hash, now)
            return self._outcome_of(connection, registration_id, company, decision, duplicate=False)

        return self._write(work)

    def confirm(self, confirmation_token: str, *, locale: str = "ja") -> RegistrationOutcome:
        """Confirm a hosted registration (double opt-in); again: the same outcome, duplicate.

        The registration is not counted yet: the hand-off to the agency is written to the outbox in this
        same transaction, and it counts when the agency accepts it (`count_handed_over`).
        """
        hashed = token_hash(confirmation_token)

        def work(connection: Connection) -> RegistrationOutcome:
            found = connection.execute(
                select(candidate_profiles.c.registration_id, candidate_profiles.c.confirm_expires_at).where(
                    candidate_profiles.c.confirmation_token_hash == hashed
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
            set_registration(connection, row.id, confirmed_at=now, not_counted_reason=AWAITING_HANDOFF)
            outbox.enqueue(
                connection,
                event="registered",
                registration_id=row.id,
                public_id=row.external_id,
                company=row.company,
                locale=locale,
                now=now,
            )
            decision = CountDecision(False, AWAITING_HANDOFF, False)
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
            return credits.balance(connection, company)

    def counted(self, company: str) -> int:
        with read_transaction(self.engine) as connection:
            return credits.counted_of(connection, company)

    def redeem(self, company: str, reason: str) -> LedgerEntry:
        """Spend one credit; InsufficientCredits when the balance is zero."""
        return self._spend(company, "redeemed", -1, reason)

    def adjust(self, company: str, amount: int, reason: str) -> LedgerEntry:
        """An admin's correction of ±amount credits; InsufficientCredits if the balance would go below 0."""
        if amount == 0:
            raise ValueError("an adjustment of 0 credits changes nothing")
        return self._spend(company, "adjusted", amount, reason)

    def _spend(self, company: str, kind: str, amount: int, reason: str) -> LedgerEntry:
        entry = self._write(lambda c: credits.spend(c, company, kind, amount, reason, self._clock()))
        log.info("ledger %s %s %+d (%s)", company, kind, amount, reason)
        return entry

    def entries(self, company: str | None = None) -> list[LedgerEntry]:
        with read_transaction(self.engine) as connection:
            return credits.entries(connection, company)

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

        removed = self._write(lambda c: purge_profiles(c, self._clock(), older_than))
        log.info("purged %d candidate profile(s)", removed)
        return removed

    # ----------------------------------------------------------------------- internals

    def _write(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in a write transaction, again from the start if it lost a race."""
        return write_with_retry(self.engine, work)

    def _count(
        self, connection: Connection, registration_id: int, company: str, recipient_hash: str, now: datetime
    ) -> CountDecision:
        """Count the (confirmed) registration unless the candidate is counted anywhere already."""
        per_credit = self.registrations_per_credit
        return credits.count_registration(
            connection, registration_id, company, recipient_hash, now, per_credit
        )

    def _outcome(
        self, connection: Connection, row: Row[Any], *, earned_now: bool, duplicate: bool
    ) -> RegistrationOutcome:
        reason = COUNTED if row.counted else str(row.not_counted_reason)
        decision = CountDecision(bool(row.counted), reason, earned_now)
        return self._outcome_of(connection, int(row.id), str(row.company), decision, duplicate=duplicate)

    def _outcome_of(
        self,
        connection: Connection,
        registration_id: int,
        company: str,
        decision: CountDecision,
        *,
        duplicate: bool,
    ) -> RegistrationOutcome:
        return RegistrationOutcome(
            registration_id=registration_id,
            counted=decision.counted,
            reason=decision.reason,
            company=company,
            company_counted=credits.counted_of(connection, company),
            balance=credits.balance(connection, company),
            earned_now=decision.earned_now,
            duplicate=duplicate,
        )


def _prepare_schema(engine: Engine, *, apply: bool) -> None:
    if apply:
        upgrade(engine)
        return
    have, need = current_version(engine), latest_version()
    if have < need:
        raise SchemaOutOfDate(f"the store's schema is at version {have}, this relay needs {need}: upgrade it")
    if have > need:
        log.warning("the store's schema (version %d) is newer than this relay knows (%d)", have, need)
