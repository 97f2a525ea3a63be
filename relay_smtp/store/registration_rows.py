"""The rows of one registration and its candidate's profile: how they are read, written and purged.

Why this module exists: the `Ledger` decides what happens to a registration; these are the plain SQL
steps it uses, kept apart so that the ledger's methods read as the decisions they are. The profile is
the only personal data in the store, so its retention (`purge_profiles`) lives here too.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, and_, delete, insert, or_, select, update

from relay_smtp.store import outbox
from relay_smtp.store.ledger_data import CONFIRMATION_EXPIRED, Profile
from relay_smtp.store.models import candidate_profiles, registrations

# The log lines keep the ledger's logger name, as before this module was split off.
log = logging.getLogger("relay_smtp.store.ledger")


def require_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def registration_by_key(connection: Connection, source: str, external_id: str) -> Row[Any] | None:
    stmt = select(registrations).where(
        registrations.c.source == source, registrations.c.external_id == external_id
    )
    return connection.execute(stmt).one_or_none()


def warn_if_different(row: Row[Any], company: str, recipient_hash: str) -> None:
    if row.company != company or row.recipient_hash != recipient_hash:
        log.warning(
            "registration %s/%s replayed with a different company or candidate; the first one stands",
            row.source,
            row.external_id,
        )


def insert_registration(
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


def insert_profile(
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
            confirmation_token_hash=None if confirmation_token is None else token_hash(confirmation_token),
            confirm_expires_at=expires,
        )
    )


def set_registration(connection: Connection, registration_id: int, **values: Any) -> None:
    connection.execute(update(registrations).where(registrations.c.id == registration_id).values(**values))


def purge_profiles(connection: Connection, now: datetime, older_than: timedelta) -> int:
    """Delete profiles older than the retention and those of pending registrations that expired.

    Registrations (hashes, counts) stay.  Returns the number of profiles removed.
    """
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
