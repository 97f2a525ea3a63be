"""The ledger's vocabulary: the records it hands out, its errors, and the reasons it gives.

Why this module exists: the web side, the command line and the store's own modules read these frozen
records and catch these errors; keeping them apart from the `Ledger` that writes them lets each be read
without the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

COUNTED = "counted"
AWAITING_CONFIRMATION = "awaiting confirmation"
AWAITING_HANDOFF = "awaiting hand-off to the agency"
CONFIRMATION_EXPIRED = "confirmation expired"

# The reasons the relay writes on the ledger entries it makes itself.  They are stored as these English
# texts (the CSVs, the API and the command line show them as stored); the admin pages word them in the
# reader's language (`web.admin_i18n.AdminLocale.ledger_reason`).  Reasons a person typed stay as typed.
EARNED_REASON = "{count} registrations counted"
API_REDEEM_REASON = "redeemed via API"
CLI_REDEEM_REASON = "hire introduced by the partner agency"


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class IssuedLink:
    company: str
    recipient_hash: str
    message_id: str
    issued_at: datetime


@dataclass(frozen=True)
class SeenRejection:
    """A rejection the relay relayed (``action``: injected, audited, ...), as the funnel counts it."""

    company: str
    message_id: str
    queue_id: str
    action: str


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
