"""The store's tables: what the relay and the web app remember about rejections, links, clicks and credits.

Why this module exists: the numbers a company is billed by (counted registrations, earned and redeemed
credits) must stay right when several relays share one database, so the rules that make them right are
written here as constraints the database enforces, not only as code that checks first:

- a candidate (``recipient_hash``) is counted at most once across ALL companies (partial unique index);
- a company's counted registrations are numbered 1, 2, 3 ... without gaps or repeats (``company_seq``);
- the k-th credit of a company is earned at most once (``UNIQUE (company, credit_no)`` for earned entries);
- webhook deliveries are idempotent by ``(source, external_id)``.

Balances are never stored: they are the sum of ``ledger_entries.amount``.  ``company_counters`` exists
only as a row to lock, so that counting for one company is serialised (see ledger.py).

Personal data (name, e-mail, phone) lives only in ``candidate_profiles``, is written only with consent,
and is purged after the retention period; everything else holds keyed hashes and ids.

Times are timezone-aware UTC in Python.  PostgreSQL stores ``timestamptz``; SQLite, which has no time
zones, stores naive UTC text that sorts and compares correctly and that ``date()`` can read.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, Dialect, Index, Table, UniqueConstraint, text
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

#: The values of the enumerated text columns (checked by the database as well).
REJECTION_ACTIONS = ("injected", "audited")
REGISTRATION_SOURCES = ("agency", "hosted")
LEDGER_KINDS = ("earned", "redeemed", "adjusted")
USER_AGENT_MAX = 256


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out; naive datetimes are refused (their zone is a guess)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        utc = _as_utc(value)
        # SQLite's DATETIME drops the offset silently; strip it ourselves so the text is UTC by rule.
        return utc if dialect.name == "postgresql" else utc.replace(tzinfo=None)

    def bind_processor(self, dialect: Dialect) -> Callable[[datetime | None], Any] | None:
        """On SQLite, `process_bind_param` and the DATETIME's text in one step: every relayed message
        binds a few of these, and the two layers cost three times the work (the text is the same:
        tests/test_store.py compares it with SQLAlchemy's own)."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        return _sqlite_text

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.utcoffset() is None else value.astimezone(UTC)


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is UTC:
        return value
    if value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: the store keeps timezone-aware UTC times")
    return value.astimezone(UTC)


def _sqlite_text(value: datetime | None) -> str | None:
    """An aware datetime as SQLite's DATETIME stores it by default, in UTC: 2026-04-01 09:30:00.000000."""
    if value is None:
        return None
    value = _as_utc(value)
    # %-formatting: half the CPU of the f-string with the same specifiers, a third of strftime's.
    return "%04d-%02d-%02d %02d:%02d:%02d.%06d" % (  # noqa: UP031
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
    )


def _check_in(table: str, column: str, values: tuple[str, ...]) -> CheckConstraint:
    listed = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({listed})", name=f"ck_{table}_{column}_known")


def _utc(**kwargs: Any) -> Any:
    """A timestamp column (sqlmodel picks a naive DateTime for ``datetime`` by default)."""
    return Field(sa_type=UTCDateTime(), **kwargs)


class RejectionRow(SQLModel, table=True):
    """A message the classifier called a rejection: injected (enforce mode) or only logged (audit)."""

    __tablename__ = "rejections"
    __table_args__ = (
        _check_in("rejections", "action", REJECTION_ACTIONS),
        Index("ix_rejections_company_at", "company", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    company: str
    message_id: str
    queue_id: str
    action: str
    at: datetime = _utc()


class IssuedLinkRow(SQLModel, table=True):
    """One personal link given to one recipient of one message, recorded after the next hop accepted it."""

    __tablename__ = "issued_links"
    __table_args__ = (
        UniqueConstraint("company", "recipient_hash", "message_id", name="uq_issued_links"),
        Index("ix_issued_links_company_issued_at", "company", "issued_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    company: str
    recipient_hash: str
    message_id: str
    issued_at: datetime = _utc()


class ClickRow(SQLModel, table=True):
    """A visit of ``/r/<token>`` with a genuine token; bots (link scanners) are kept but flagged."""

    __tablename__ = "clicks"
    __table_args__ = (Index("ix_clicks_company_at", "company", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    company: str
    recipient_hash: str
    message_id: str
    at: datetime = _utc()
    user_agent: str | None = Field(default=None, max_length=USER_AGENT_MAX)
    suspected_bot: bool = False
    bot_reason: str = ""


class RegistrationRow(SQLModel, table=True):
    """A candidate's registration, from the partner agency's webhook or our hosted form.

    ``counted`` is decided once, when the registration is confirmed; ``company_seq`` is then its number
    among the company's counted registrations.  ``not_counted_reason`` says why it was not counted
    (or that it awaits confirmation).
    """

    __tablename__ = "registrations"
    __table_args__ = (
        _check_in("registrations", "source", REGISTRATION_SOURCES),
        UniqueConstraint("source", "external_id", name="uq_registrations_source_external_id"),
        # The anti-double-counting rule: one counted registration per candidate, whichever company.
        Index(
            "uq_registrations_counted_candidate",
            "recipient_hash",
            unique=True,
            sqlite_where=text("counted"),
            postgresql_where=text("counted"),
        ),
        Index(
            "uq_registrations_company_seq",
            "company",
            "company_seq",
            unique=True,
            sqlite_where=text("company_seq IS NOT NULL"),
            postgresql_where=text("company_seq IS NOT NULL"),
        ),
        CheckConstraint(
            "(counted AND company_seq IS NOT NULL) OR (NOT counted AND company_seq IS NULL)",
            name="ck_registrations_counted_has_seq",
        ),
        Index("ix_registrations_company_created_at", "company", "created_at"),
        Index("ix_registrations_recipient_hash", "recipient_hash"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str
    external_id: str
    company: str
    recipient_hash: str
    message_id: str
    created_at: datetime = _utc()
    confirmed_at: datetime | None = _utc(default=None, nullable=True)
    counted: bool = False
    company_seq: int | None = None
    not_counted_reason: str = ""


class CandidateProfileRow(SQLModel, table=True):
    """Personal data a candidate gave us on the hosted form, with the version of the consent they gave.

    The double opt-in token is stored only as its SHA-256 hash: a leaked database does not confirm
    anybody's registration.
    """

    __tablename__ = "candidate_profiles"

    id: int | None = Field(default=None, primary_key=True)
    registration_id: int = Field(foreign_key="registrations.id", unique=True)
    name: str
    email: str
    phone: str | None = None
    job_type: str
    consent_at: datetime = _utc()
    consent_version: str
    confirmation_token_hash: str | None = Field(default=None, unique=True, max_length=64)
    confirm_expires_at: datetime | None = _utc(default=None, nullable=True)


class LedgerEntryRow(SQLModel, table=True):
    """One movement of free hire referral credits: +1 earned, -1 redeemed, or an admin's ±n adjustment."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        _check_in("ledger_entries", "kind", LEDGER_KINDS),
        # "The k-th credit is earned exactly once", even if two relays race past the row lock somehow.
        Index(
            "uq_ledger_entries_earned_credit_no",
            "company",
            "credit_no",
            unique=True,
            sqlite_where=text("kind = 'earned'"),
            postgresql_where=text("kind = 'earned'"),
        ),
        CheckConstraint(
            "(kind = 'earned' AND amount = 1 AND credit_no IS NOT NULL)"
            " OR (kind = 'redeemed' AND amount = -1 AND credit_no IS NULL)"
            " OR (kind = 'adjusted' AND amount <> 0 AND credit_no IS NULL)",
            name="ck_ledger_entries_amount_matches_kind",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    company: str = Field(index=True)
    kind: str
    amount: int
    credit_no: int | None = None
    reason: str = ""
    at: datetime = _utc()


class CompanyCounterRow(SQLModel, table=True):
    """The row that serialises counting and redeeming for one company (locked, then updated).

    ``counted`` and ``earned`` are kept in step with registrations and the ledger in the same
    transaction; they number the next registration and credit, they are not where balances come from.
    """

    __tablename__ = "company_counters"

    company: str = Field(primary_key=True)
    counted: int = 0
    earned: int = 0


def _table(name: str) -> Table:
    return SQLModel.metadata.tables[name]


# Core handles on the tables: the ledger queries them with insert()/select(), which type-check cleanly
# (sqlmodel's class attributes are typed as the Python values, not as columns).
rejections = _table("rejections")
issued_links = _table("issued_links")
clicks = _table("clicks")
registrations = _table("registrations")
candidate_profiles = _table("candidate_profiles")
ledger_entries = _table("ledger_entries")
company_counters = _table("company_counters")

#: Ours, in creation order.  SQLModel.metadata is process-wide and may hold other modules' tables.
TABLES = (
    rejections,
    issued_links,
    clicks,
    registrations,
    candidate_profiles,
    ledger_entries,
    company_counters,
)
