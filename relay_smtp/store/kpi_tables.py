"""The tables behind the company's KPIs (schema version 3): satisfaction, re-application, talent pool.

Why this module exists: these tables arrived together with one migration step, and the store modules
that use them (`satisfaction`, `kpi`, `talent_pool`) import each other's tables from here rather than
from one another.  What each table may hold is part of the privacy promise, so it is written down:

- ``satisfaction_counts``: only (company, month, score) and a count; there is no row per answer, so no
  answer can be tied to a person, a link or a time finer than the month.  ``satisfaction_voters`` holds
  a keyed hash per link that answered (to refuse a second answer) and nothing else: no company, no time.
- ``kpi_rejections``: keyed hashes of the recipient and of the Message-IDs of the
  thread, and dates.  Never an address, a subject or a name.
- ``talent_pool``: personal data, written only with the candidate's own talent-pool consent, deleted on
  withdrawal and after its own retention period.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, Table, UniqueConstraint
from sqlmodel import Field, SQLModel

from relay_smtp.store.models import UTCDateTime

#: Keyed hashes are hex text of this many characters at most.
HASH_MAX = 64
#: Thread hashes of one message, space-separated: Message-ID, In-Reply-To, References (bounded).
THREAD_MAX = 2048


class SatisfactionCountRow(SQLModel, table=True):
    """How many answers of one score one company got in one month (UTC)."""

    __tablename__ = "satisfaction_counts"
    __table_args__ = (CheckConstraint("score BETWEEN 1 AND 5", name="ck_satisfaction_counts_score"),)

    company: str = Field(primary_key=True)
    month: str = Field(primary_key=True, max_length=7)  # "2026-11"
    score: int = Field(primary_key=True)
    answers: int = 0


class SatisfactionVoterRow(SQLModel, table=True):
    """A link that has answered already (a keyed hash, nothing else)."""

    __tablename__ = "satisfaction_voters"

    voter_hash: str = Field(primary_key=True, max_length=HASH_MAX)


class KpiRejectionRow(SQLModel, table=True):
    """One rejection of one recipient: whom (keyed hash), which thread (keyed hashes), when."""

    __tablename__ = "kpi_rejections"
    __table_args__ = (
        UniqueConstraint("company", "recipient_hash", "message_hash", name="uq_kpi_rejections"),
        Index("ix_kpi_rejections_company_recipient", "company", "recipient_hash"),
        Index("ix_kpi_rejections_company_at", "company", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    company: str
    recipient_hash: str = Field(max_length=HASH_MAX)
    message_hash: str = Field(max_length=HASH_MAX)
    thread_hashes: str = Field(default="", max_length=THREAD_MAX)
    at: datetime = Field(sa_type=UTCDateTime())
    #: The first later mail of a recruiting sender to the same person outside this thread, if any.
    recontacted_at: datetime | None = Field(default=None, sa_type=UTCDateTime(), nullable=True)


class TalentPoolRow(SQLModel, table=True):
    """A candidate who agreed that the company itself may contact them about future openings."""

    __tablename__ = "talent_pool"
    __table_args__ = (Index("ix_talent_pool_company", "company"),)

    id: int | None = Field(default=None, primary_key=True)
    registration_id: int = Field(foreign_key="registrations.id", unique=True)
    company: str
    name: str
    email: str
    job_type: str = ""
    consent_version: str
    consent_at: datetime = Field(sa_type=UTCDateTime())
    #: Set when the candidate confirmed the registration by mail (double opt-in); until then the
    #: entry is neither shown nor exported, and it is purged if the confirmation never comes.
    confirmed_at: datetime | None = Field(default=None, sa_type=UTCDateTime(), nullable=True)
    #: When the company's ATS webhook (companies.talent_pool_webhook) accepted the entry.
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime(), nullable=True)


def _table(name: str) -> Table:
    return SQLModel.metadata.tables[name]


satisfaction_counts = _table("satisfaction_counts")
satisfaction_voters = _table("satisfaction_voters")
kpi_rejections = _table("kpi_rejections")
talent_pool = _table("talent_pool")

#: Created by migration 3, in this order.
TABLES = (satisfaction_counts, satisfaction_voters, kpi_rejections, talent_pool)
