"""Provision records (第三者提供記録): which data went to which agency, when, on what consent.

Why this module exists: giving a person's data to a third party with their consent (個人情報保護法 27条)
obliges the giver to keep a record of each provision (29条) for a set time (normally 3 years) and to show
a person the records about them on request.  The candidate's profile is deleted after its retention or
on withdrawal; these records are not: they are the proof, kept ``agency.provision_record_years``.

A record is written in the same transaction that marks a hand-off as accepted by the agency (2xx on a
push, or an acknowledged pull), so there is exactly one ``provided`` record per handed-over
registration.  A withdrawal (利用停止) is recorded here as well (kind ``withdrawn``), so that a person's
export tells the whole story.  Records hold the name and e-mail address as the person gave them: that is
the "whose data" the law asks for, and the key a disclosure request is answered by.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import CheckConstraint, Connection, Engine, Index, Row, delete, func, insert, select
from sqlmodel import Field, SQLModel

from relay_smtp.store.models import UTCDateTime

RECORD_KINDS = ("provided", "withdrawn")
#: The items of a registration that go to the agency (the ``items`` column of a ``provided`` record).
PROVIDED_ITEMS = ("name", "email", "phone", "job_type", "locale")


class ProvisionRecordRow(SQLModel, table=True):
    """One provision of one person's data to the agency, or one withdrawal of consent."""

    __tablename__ = "provision_records"
    __table_args__ = (
        CheckConstraint("kind IN ('provided', 'withdrawn')", name="ck_provision_records_kind_known"),
        Index("ix_provision_records_email", "person_email"),
        Index("ix_provision_records_registration", "registration_id"),
        Index("ix_provision_records_keep_until", "keep_until"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str
    at: datetime = Field(sa_type=UTCDateTime())
    recipient: str  # the agency, by name
    channel: str = ""  # push | pull (provided); empty for a withdrawal
    registration_id: int
    public_id: str  # the registration_id the agency knows
    company: str
    person_name: str
    person_email: str
    items: str  # comma-separated field names
    consent_version: str
    consent_at: datetime = Field(sa_type=UTCDateTime())
    keep_until: datetime = Field(sa_type=UTCDateTime())


provision_records = SQLModel.metadata.tables["provision_records"]
TABLES = (provision_records,)


@dataclass(frozen=True)
class Person:
    """Whose data a hand-off carries: what the candidate typed, and the consent they gave."""

    name: str
    email: str
    phone: str | None
    job_type: str
    consent_at: datetime
    consent_version: str


@dataclass(frozen=True)
class ProvisionRecord:
    id: int
    kind: str
    at: datetime
    recipient: str
    channel: str
    registration_id: str  # the public id
    company: str
    person_name: str
    person_email: str
    items: tuple[str, ...]
    consent_version: str
    consent_at: datetime
    keep_until: datetime


def write_record(
    connection: Connection,
    *,
    kind: str,
    at: datetime,
    recipient: str,
    channel: str,
    registration_id: int,
    public_id: str,
    company: str,
    person: Person,
    items: tuple[str, ...],
    keep_years: int,
) -> None:
    if kind not in RECORD_KINDS:
        raise ValueError(f"kind must be one of {RECORD_KINDS}, not {kind!r}")
    connection.execute(
        insert(provision_records).values(
            kind=kind,
            at=at,
            recipient=recipient,
            channel=channel,
            registration_id=registration_id,
            public_id=public_id,
            company=company,
            person_name=person.name,
            person_email=person.email,
            items=",".join(items),
            consent_version=person.consent_version,
            consent_at=person.consent_at,
            keep_until=at + timedelta(days=366 * keep_years),
        )
    )


def person_from_records(connection: Connection, registration_id: int) -> Person | None:
    """The person behind a registration as its records remember them (after the profile is gone)."""
    row = connection.execute(
        select(provision_records)
        .where(provision_records.c.registration_id == registration_id)
        .order_by(provision_records.c.id)
        .limit(1)
    ).one_or_none()
    if row is None:
        return None
    return Person(row.person_name, row.person_email, None, "", row.consent_at, row.consent_version)


def records_for_email(engine: Engine, email: str) -> list[ProvisionRecord]:
    """Every record about the person with this address (case-insensitive), oldest first."""
    stmt = (
        select(provision_records)
        .where(func.lower(provision_records.c.person_email) == email.strip().lower())
        .order_by(provision_records.c.at, provision_records.c.id)
    )
    with engine.connect() as connection:
        return [_record(row) for row in connection.execute(stmt)]


def count_records(connection: Connection, kind: str = "provided") -> int:
    stmt = select(func.count()).select_from(provision_records).where(provision_records.c.kind == kind)
    return int(connection.scalar(stmt) or 0)


def purge_expired_records(connection: Connection, now: datetime) -> int:
    """Delete records past their keeping time; returns how many."""
    return int(
        connection.execute(delete(provision_records).where(provision_records.c.keep_until <= now)).rowcount
    )


def _record(row: Row[Any]) -> ProvisionRecord:
    return ProvisionRecord(
        id=int(row.id),
        kind=str(row.kind),
        at=row.at,
        recipient=str(row.recipient),
        channel=str(row.channel),
        registration_id=str(row.public_id),
        company=str(row.company),
        person_name=str(row.person_name),
        person_email=str(row.person_email),
        items=tuple(i for i in str(row.items).split(",") if i),
        consent_version=str(row.consent_version),
        consent_at=row.consent_at,
        keep_until=row.keep_until,
    )
