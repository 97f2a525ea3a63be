"""The agency outbox: hand-offs the relay owes the partner agency, written durably and marked once.

Why this module exists: when a candidate confirms a hosted registration, the agency must get them,
exactly once as far as anybody can tell, even if the agency is down for a day, the relay restarts, or
several relays share one PostgreSQL store.  So the hand-off is not an HTTP call made from the request;
it is a row written in the same transaction that confirms the registration, and:

- a push sender *claims* due rows for a while (a lease: ``leased_until``/``lease_owner``), taking them
  with ``SELECT ... FOR UPDATE SKIP LOCKED`` so that two relays claiming at once take different rows
  (SQLite has one writer at a time anyway); the lease is longer than one HTTP attempt, so a row is sent
  by one sender at a time, and a sender that died is replaced when its lease runs out;
- a failed attempt waits longer each time (``retry_base`` doubling up to ``retry_cap``); a row that still
  fails ``max_age`` after its window opened is *flagged* (``failed``): no more automatic attempts, counted
  in /metrics and shown on /admin until ``relay-smtp agency retry`` opens a new window;
- the agency may instead *pull* undelivered rows and acknowledge them;
- whichever comes first, push 2xx or pull acknowledgement, marks the row ``delivered`` under a row lock,
  and only that marking writes the provision record and counts the registration toward the company's
  credits (`Ledger.count_handed_over`).  Delivery itself is at least once: the agency deduplicates by
  ``registration_id`` (and ``event``), see docs/agency.md.

The personal data of a ``registered`` event is not copied here: it is read from the candidate's profile
when the row is sent or listed, so a withdrawal that deletes the profile leaves no copy behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    CheckConstraint,
    Connection,
    Index,
    Row,
    Select,
    UniqueConstraint,
    insert,
    or_,
    select,
    update,
)
from sqlmodel import Field, SQLModel

from relay_smtp.store import handoff_reports
from relay_smtp.store.handoff_reports import FlaggedHandoff, OutboxEntry, OutboxStats
from relay_smtp.store.models import UTCDateTime, candidate_profiles, registrations
from relay_smtp.store.records import (
    PROVIDED_ITEMS,
    Person,
    person_from_records,
    purge_expired_records,
    write_record,
)

if TYPE_CHECKING:
    from relay_smtp.store.ledger import Ledger

EVENTS = ("registered", "withdrawn")
STATUSES = ("pending", "delivered", "failed", "cancelled")
CHANNELS = ("push", "pull")
LAST_ERROR_MAX = 200


class AgencyOutboxRow(SQLModel, table=True):
    """One event owed to the agency: a confirmed registration, or the withdrawal of one."""

    __tablename__ = "agency_outbox"
    __table_args__ = (
        CheckConstraint("event IN ('registered', 'withdrawn')", name="ck_agency_outbox_event_known"),
        CheckConstraint(
            "status IN ('pending', 'delivered', 'failed', 'cancelled')", name="ck_agency_outbox_status_known"
        ),
        UniqueConstraint("registration_id", "event", name="uq_agency_outbox_registration_event"),
        Index("ix_agency_outbox_status_next", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    event: str
    registration_id: int = Field(foreign_key="registrations.id")
    public_id: str  # the registration_id the agency sees (registrations.external_id)
    company: str
    locale: str = "ja"
    created_at: datetime = Field(sa_type=UTCDateTime())
    status: str = "pending"
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_type=UTCDateTime())
    retry_since: datetime = Field(sa_type=UTCDateTime())  # start of the window push_max_age applies to
    leased_until: datetime | None = Field(default=None, sa_type=UTCDateTime(), nullable=True)
    lease_owner: str = ""
    last_error: str = ""
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime(), nullable=True)
    channel: str = ""


agency_outbox = SQLModel.metadata.tables["agency_outbox"]
TABLES = (agency_outbox,)


@dataclass(frozen=True)
class Handoff:
    """One event as the agency gets it (``person`` only for ``registered``)."""

    outbox_id: int
    event: str
    registration_id: str
    company: str
    locale: str
    at: datetime  # when it was confirmed or withdrawn
    attempts: int
    person: Person | None


@dataclass(frozen=True)
class OutboxPolicy:
    """How the outbox retries and what it writes into provision records."""

    recipient: str = "partner agency"  # the agency's name, for the records
    record_years: int = 3
    max_age: timedelta = timedelta(hours=72)
    retry_base: timedelta = timedelta(seconds=30)
    retry_cap: timedelta = timedelta(hours=1)
    lease: timedelta = timedelta(minutes=2)


def enqueue(
    connection: Connection,
    *,
    event: str,
    registration_id: int,
    public_id: str,
    company: str,
    locale: str,
    now: datetime,
) -> None:
    """Owe the agency ``event`` for this registration (call inside the transaction that causes it)."""
    if event not in EVENTS:
        raise ValueError(f"event must be one of {EVENTS}, not {event!r}")
    connection.execute(
        insert(agency_outbox).values(
            event=event,
            registration_id=registration_id,
            public_id=public_id,
            company=company,
            locale=locale,
            created_at=now,
            status="pending",
            attempts=0,
            next_attempt_at=now,
            retry_since=now,
        )
    )


def cancel_registered(connection: Connection, registration_id: int | Select[Any]) -> None:
    """Do not send these registrations any more: withdrawn, or their profile purged, before hand-off.

    ``registration_id`` is one row id, or a SELECT of row ids.
    """
    which = (
        agency_outbox.c.registration_id == registration_id
        if isinstance(registration_id, int)
        else agency_outbox.c.registration_id.in_(registration_id)
    )
    connection.execute(
        update(agency_outbox)
        .where(
            which,
            agency_outbox.c.event == "registered",
            agency_outbox.c.status.in_(("pending", "failed")),
        )
        .values(status="cancelled", leased_until=None)
    )


def has_event(connection: Connection, registration_id: int, event: str) -> bool:
    stmt = select(agency_outbox.c.id).where(
        agency_outbox.c.registration_id == registration_id, agency_outbox.c.event == event
    )
    return connection.scalar(stmt) is not None


def profile_person(connection: Connection, registration_id: int) -> Person | None:
    row = connection.execute(
        select(candidate_profiles).where(candidate_profiles.c.registration_id == registration_id)
    ).one_or_none()
    if row is None:
        return None
    return Person(row.name, row.email, row.phone, row.job_type, row.consent_at, row.consent_version)


class Outbox:
    """Claiming, marking and listing hand-offs, on a Ledger's store (its retries, clock and counting)."""

    def __init__(self, ledger: Ledger, policy: OutboxPolicy = OutboxPolicy()) -> None:
        self.ledger = ledger
        self.policy = policy

    # ----------------------------------------------------------------------- push

    def claim(self, owner: str, limit: int = 20) -> list[Handoff]:
        """Lease up to ``limit`` due events to ``owner``; rows other senders hold are skipped."""

        def work(connection: Connection) -> list[Handoff]:
            now = self.ledger.now()
            due = (
                select(agency_outbox.c.id)
                .where(
                    agency_outbox.c.status == "pending",
                    agency_outbox.c.next_attempt_at <= now,
                    or_(agency_outbox.c.leased_until.is_(None), agency_outbox.c.leased_until <= now),
                )
                .order_by(agency_outbox.c.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            ids = list(connection.scalars(due))
            if not ids:
                return []
            connection.execute(
                update(agency_outbox)
                .where(agency_outbox.c.id.in_(ids))
                .values(leased_until=now + self.policy.lease, lease_owner=owner)
            )
            return self._handoffs(connection, ids, cancel_orphans=True)

        return self.ledger.write(work)

    def delivered(self, outbox_id: int, channel: str) -> bool:
        """Mark the event as accepted by the agency; True if this call did (the first one)."""
        if channel not in CHANNELS:
            raise ValueError(f"channel must be one of {CHANNELS}, not {channel!r}")

        def work(connection: Connection) -> bool:
            row = connection.execute(
                select(agency_outbox).where(agency_outbox.c.id == outbox_id).with_for_update()
            ).one_or_none()
            if row is None or row.status == "delivered":
                return False
            now = self.ledger.now()
            connection.execute(
                update(agency_outbox)
                .where(agency_outbox.c.id == outbox_id)
                .values(
                    status="delivered", delivered_at=now, channel=channel, leased_until=None, last_error=""
                )
            )
            if row.event == "registered":
                self._record_provision(connection, row, channel, now)
                self.ledger.count_handed_over(connection, int(row.registration_id), now)
            return True

        return self.ledger.write(work)

    def failed(self, outbox_id: int, owner: str, error: str) -> bool:
        """One attempt failed: wait longer, or flag the event past max_age.  True if it was flagged."""

        def work(connection: Connection) -> bool:
            row = connection.execute(
                select(agency_outbox).where(agency_outbox.c.id == outbox_id).with_for_update()
            ).one_or_none()
            if row is None or row.status != "pending" or row.lease_owner != owner:
                return False  # marked by someone else meanwhile, or our lease was taken over
            now = self.ledger.now()
            attempts = int(row.attempts) + 1
            flag = bool(now - row.retry_since >= self.policy.max_age)
            wait = min(self.policy.retry_base * 2 ** (attempts - 1), self.policy.retry_cap)
            connection.execute(
                update(agency_outbox)
                .where(agency_outbox.c.id == outbox_id)
                .values(
                    attempts=attempts,
                    status="failed" if flag else "pending",
                    next_attempt_at=now + wait,
                    leased_until=None,
                    last_error=error[:LAST_ERROR_MAX],
                )
            )
            return flag

        return self.ledger.write(work)

    def retry_flagged(self) -> int:
        """Give every flagged event a new window of max_age, due now; returns how many."""

        def work(connection: Connection) -> int:
            now = self.ledger.now()
            result = connection.execute(
                update(agency_outbox)
                .where(agency_outbox.c.status == "failed")
                .values(status="pending", attempts=0, next_attempt_at=now, retry_since=now, leased_until=None)
            )
            return int(result.rowcount)

        return self.ledger.write(work)

    # ----------------------------------------------------------------------- pull

    def undelivered(self, after: int, limit: int) -> list[Handoff]:
        """Events the agency has not accepted yet with an id above ``after``, in order (for the pull API)."""
        stmt = (
            select(agency_outbox.c.id)
            .where(agency_outbox.c.id > after, agency_outbox.c.status.in_(("pending", "failed")))
            .order_by(agency_outbox.c.id)
            .limit(limit)
        )
        with self.ledger.engine.connect() as connection:
            ids = list(connection.scalars(stmt))
            return self._handoffs(connection, ids, cancel_orphans=False)

    def acknowledge(self, outbox_ids: list[int]) -> dict[int, str]:
        """The agency took these (pull): ``acknowledged``, ``already handed over`` or ``unknown`` each."""
        answers: dict[int, str] = {}
        for outbox_id in outbox_ids:
            if self.delivered(outbox_id, "pull"):
                answers[outbox_id] = "acknowledged"
                continue
            with self.ledger.engine.connect() as connection:
                exists = connection.scalar(select(agency_outbox.c.id).where(agency_outbox.c.id == outbox_id))
            answers[outbox_id] = "already handed over" if exists is not None else "unknown"
        return answers

    # ----------------------------------------------------------------------- reports

    def stats(self) -> OutboxStats:
        return handoff_reports.stats(self.ledger.engine, agency_outbox)

    def flagged(self, limit: int = 100) -> list[FlaggedHandoff]:
        return handoff_reports.flagged(self.ledger.engine, agency_outbox, limit)

    def entries(self) -> list[OutboxEntry]:
        return handoff_reports.entries(self.ledger.engine, agency_outbox)

    def purge_expired_records(self) -> int:
        """Delete provision records past ``record_years`` (their own ``keep_until``); returns how many."""
        return self.ledger.write(lambda c: purge_expired_records(c, self.ledger.now()))

    # ----------------------------------------------------------------------- internals

    def _handoffs(self, connection: Connection, ids: list[int], *, cancel_orphans: bool) -> list[Handoff]:
        if not ids:
            return []
        stmt = (
            select(agency_outbox, registrations.c.confirmed_at)
            .join(registrations, registrations.c.id == agency_outbox.c.registration_id)
            .where(agency_outbox.c.id.in_(ids))
            .order_by(agency_outbox.c.id)
        )
        handoffs: list[Handoff] = []
        for row in connection.execute(stmt).all():
            person = (
                profile_person(connection, int(row.registration_id)) if row.event == "registered" else None
            )
            if row.event == "registered" and person is None:
                # The profile was purged or withdrawn after the event was written: nothing left to send.
                if cancel_orphans:
                    connection.execute(
                        update(agency_outbox)
                        .where(agency_outbox.c.id == row.id)
                        .values(status="cancelled", leased_until=None)
                    )
                continue
            handoffs.append(_handoff(row, person))
        return handoffs

    def _record_provision(self, connection: Connection, row: Row[Any], channel: str, now: datetime) -> None:
        registration_id = int(row.registration_id)
        person = profile_person(connection, registration_id) or person_from_records(
            connection, registration_id
        )
        if person is None:
            return
        items = tuple(i for i in PROVIDED_ITEMS if not (i == "phone" and person.phone is None))
        write_record(
            connection,
            kind="provided",
            at=now,
            recipient=self.policy.recipient,
            channel=channel,
            registration_id=registration_id,
            public_id=str(row.public_id),
            company=str(row.company),
            person=person,
            items=items,
            keep_years=self.policy.record_years,
        )


def _handoff(row: Row[Any], person: Person | None) -> Handoff:
    at = row.confirmed_at if row.event == "registered" and row.confirmed_at is not None else row.created_at
    return Handoff(
        outbox_id=int(row.id),
        event=str(row.event),
        registration_id=str(row.public_id),
        company=str(row.company),
        locale=str(row.locale),
        at=at,
        attempts=int(row.attempts),
        person=person,
    )
