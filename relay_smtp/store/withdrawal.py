"""Withdrawal (利用停止・第三者提供停止): a candidate stops the use and provision of their data.

Why this module exists: a person may demand that use and provision of their data stop, and that must
happen without delay and reach the agency.  One transaction does all of it, so there is no moment in
which the profile is gone but the agency is not told, or the other way round:

- the candidate's profile (name, e-mail, phone, job type) is deleted;
- a registration not yet handed over is not sent any more (its outbox row is cancelled);
- if the registration was confirmed (the agency may have it, delivery being at least once), a
  ``withdrawn`` event goes into the same outbox as the registration, to be pushed or pulled;
- the withdrawal is recorded next to the provision records (kind ``withdrawn``), with the name and
  address the person gave, so that a disclosure request shows it;
- counts and credits stay: they hold no personal data, and a hire credit already earned is owed.

Other personal data kept about the candidate elsewhere (a talent pool, say) joins in through ``also``:
each step is called with the open connection and the registration's row id, inside the transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, delete, select, update

from relay_smtp.store import outbox
from relay_smtp.store.ledger import Ledger
from relay_smtp.store.models import candidate_profiles, registrations
from relay_smtp.store.records import (
    PROVIDED_ITEMS,
    person_from_records,
    provision_records,
    write_record,
)

WITHDRAWN = "withdrawn"

#: A further step of a withdrawal: (connection, registration row id) -> None, run in its transaction.
WithdrawalStep = Callable[[Connection, int], None]


@dataclass(frozen=True)
class Withdrawal:
    registration_id: str  # the public id
    company: str
    already: bool  # withdrawn before: nothing changed
    notice_queued: bool  # the agency is told (the registration had been confirmed)


def withdraw_registration(
    ledger: Ledger,
    registration_id: str,
    *,
    recipient: str,
    keep_years: int = 3,
    also: Sequence[WithdrawalStep] = (),
) -> Withdrawal | None:
    """Withdraw the hosted registration with this public id; None if there is no such registration."""

    def work(connection: Connection) -> Withdrawal | None:
        row = connection.execute(
            select(registrations)
            .where(registrations.c.source == "hosted", registrations.c.external_id == registration_id)
            .with_for_update()
        ).one_or_none()
        if row is None:
            return None
        row_id, company = int(row.id), str(row.company)
        if row.not_counted_reason == WITHDRAWN or _withdrawn_before(connection, row_id):
            return Withdrawal(registration_id, company, already=True, notice_queued=False)
        now = ledger.now()
        person = outbox.profile_person(connection, row_id) or person_from_records(connection, row_id)
        connection.execute(delete(candidate_profiles).where(candidate_profiles.c.registration_id == row_id))
        outbox.cancel_registered(connection, row_id)
        confirmed = row.confirmed_at is not None
        if confirmed:
            outbox.enqueue(
                connection,
                event=WITHDRAWN,
                registration_id=row_id,
                public_id=registration_id,
                company=company,
                locale="",
                now=now,
            )
        if not row.counted:
            connection.execute(
                update(registrations).where(registrations.c.id == row_id).values(not_counted_reason=WITHDRAWN)
            )
        if person is not None:
            write_record(
                connection,
                kind=WITHDRAWN,
                at=now,
                recipient=recipient,
                channel="",
                registration_id=row_id,
                public_id=registration_id,
                company=company,
                person=person,
                items=PROVIDED_ITEMS,
                keep_years=keep_years,
            )
        for step in also:
            step(connection, row_id)
        return Withdrawal(registration_id, company, already=False, notice_queued=confirmed)

    return ledger.write(work)


def _withdrawn_before(connection: Connection, row_id: int) -> bool:
    recorded = connection.scalar(
        select(provision_records.c.id).where(
            provision_records.c.registration_id == row_id, provision_records.c.kind == WITHDRAWN
        )
    )
    return recorded is not None or outbox.has_event(connection, row_id, WITHDRAWN)
