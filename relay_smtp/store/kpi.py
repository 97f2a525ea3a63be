"""The company's KPIs from the store: the funnel month by month, and the re-application rate.

Why this module exists: the admin page, the CSV exports and ``relay-smtp report`` all show the same
figures, so they are computed here once, from one read transaction, for months whose bounds the caller
gives (the months of the viewer's time zone, as UTC instants).

The funnel's steps, each a count of what happened in the month:

    rejections seen ▸ links issued ▸ human clicks ▸ registrations ▸ counted ▸ credits earned ▸ hires

"Human clicks" are distinct (person, message) pairs with a click not suspected to be a mail scanner, so
that a person who opens the page three times is one click and the rate against links stays a rate.
"Hires" are credits redeemed: a credit is spent when the company hires through a referral.

Re-application (再応募): the relay writes down each rejection as keyed hashes (recipient, Message-ID and
the thread's ids) and a date.  When a recruiting sender of the same company later writes to the same
recipient, at least ``min_days`` after the rejection and within ``window_days``, and the mail is not in
the rejection's thread (no shared id among Message-ID, In-Reply-To and References), the rejection is
marked re-contacted: the candidate is in a new selection process with the company.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import ColumnElement, Connection, Engine, bindparam, delete, func, select, update

from relay_smtp.store.db import read_transaction, write_transaction
from relay_smtp.store.kpi_tables import THREAD_MAX, kpi_rejections
from relay_smtp.store.models import clicks, issued_links, ledger_entries, registrations, rejections
from relay_smtp.store.writes import insert_ignoring_duplicates

#: The funnel's steps in order (the names of MonthFunnel's counts, and the CSV's columns).
FUNNEL_STEPS = (
    "rejections_seen",
    "links_issued",
    "human_clicks",
    "registrations",
    "counted",
    "credits_earned",
    "referral_hires",
)


@dataclass(frozen=True)
class Month:
    """A calendar month of some time zone: its label and its bounds as aware datetimes."""

    label: str  # "2026-11"
    start: datetime
    end: datetime  # exclusive


@dataclass(frozen=True)
class MonthFunnel:
    month: str
    counts: tuple[int, ...]  # in FUNNEL_STEPS order

    def rates(self) -> tuple[float | None, ...]:
        """Each step as a share of the step before (None for the first step and after a zero)."""
        shares: list[float | None] = [None]
        for before, after in zip(self.counts, self.counts[1:], strict=False):
            shares.append(after / before if before else None)
        return tuple(shares)


@dataclass(frozen=True)
class Reapplication:
    """The candidates rejected in one month, how many came back, and how many of those registered."""

    month: str
    rejected: int
    came_back: int
    registered: int  # of those who came back: registered through Career Relay (this company's link)

    @property
    def rate(self) -> float | None:
        return self.came_back / self.rejected if self.rejected else None


@dataclass(frozen=True)
class ObservedMail:
    """One outgoing mail of a company to one recipient, reduced to hashes and a date."""

    kind: Literal["rejection", "contact"]
    company: str
    recipient_hash: str
    message_hash: str
    references: tuple[str, ...]  # hashes of In-Reply-To and References
    at: datetime


# --------------------------------------------------------------------------- funnel


def monthly_funnel(engine: Engine, company: str, months: Sequence[Month]) -> list[MonthFunnel]:
    with read_transaction(engine) as connection:
        return [MonthFunnel(m.label, _funnel_counts(connection, company, m)) for m in months]


def _funnel_counts(connection: Connection, company: str, month: Month) -> tuple[int, ...]:
    def count(at: ColumnElement[datetime], *conditions: ColumnElement[bool]) -> int:
        stmt = select(func.count()).where(at >= month.start, at < month.end, *conditions)
        return int(connection.scalar(stmt) or 0)

    human = (
        select(clicks.c.recipient_hash, clicks.c.message_id)
        .where(
            clicks.c.company == company,
            clicks.c.suspected_bot.is_(False),
            clicks.c.at >= month.start,
            clicks.c.at < month.end,
        )
        .distinct()
        .subquery()
    )
    entries = ledger_entries.c
    return (
        count(rejections.c.at, rejections.c.company == company),
        count(issued_links.c.issued_at, issued_links.c.company == company),
        int(connection.scalar(select(func.count()).select_from(human)) or 0),
        count(registrations.c.created_at, registrations.c.company == company),
        count(
            registrations.c.confirmed_at,
            registrations.c.company == company,
            registrations.c.counted.is_(True),
        ),
        count(entries.at, entries.company == company, entries.kind == "earned"),
        count(entries.at, entries.company == company, entries.kind == "redeemed"),
    )


# --------------------------------------------------------------------------- re-application


def record_mail(engine: Engine, mails: Sequence[ObservedMail], *, min_days: int, window_days: int) -> int:
    """Record rejections and mark those a later mail re-contacted; returns how many were marked.

    Every mail of a recruiting sender is a contact, a rejection included (a second rejection 20 days
    later means the person applied again); a rejection is then also written down itself.
    """
    with write_transaction(engine) as connection:
        return record_mail_in(connection, mails, min_days=min_days, window_days=window_days)


def record_mail_in(
    connection: Connection, mails: Sequence[ObservedMail], *, min_days: int, window_days: int
) -> int:
    """`record_mail` inside the caller's write transaction (the relay's recorder writes a whole batch
    of relayed mail, its links and this in one).

    The mails are taken in order of time, as if each were recorded alone: a mail re-contacts the
    rejections open before it, and a rejection it re-contacts is no longer open for the mails after
    it.  That is done with a few statements per batch rather than two per mail (the recorder's CPU
    per relayed message is the relay's): the open rejections of the batch's recipients are read at
    once, matched here, and the marks and new rejections are written each with one executemany.
    Only a mail that could re-contact a rejection of the same batch (none in a batch of a fraction
    of a second, unless ``min_days`` is 0) starts another such round, which then reads that rejection
    from the database like any other.
    """
    ordered = sorted(mails, key=lambda m: m.at)
    marked, start = 0, 0
    while start < len(ordered):
        end = _independent_run(ordered, start, min_days, window_days)
        marked += _record_run(connection, ordered[start:end], min_days, window_days)
        start = end
    return marked


def _independent_run(ordered: Sequence[ObservedMail], start: int, min_days: int, window_days: int) -> int:
    """The end of the run of mails from ``start`` none of which could re-contact a rejection of the run."""
    rejected: dict[tuple[str, str], list[datetime]] = {}
    for index in range(start, len(ordered)):
        mail = ordered[index]
        key = (mail.company, mail.recipient_hash)
        earliest, latest = _window(mail, min_days, window_days)
        if any(earliest <= at <= latest for at in rejected.get(key, ())):
            return index
        if mail.kind == "rejection":
            rejected.setdefault(key, []).append(mail.at)
    return len(ordered)


def _window(mail: ObservedMail, min_days: int, window_days: int) -> tuple[datetime, datetime]:
    """The dates of the rejections ``mail`` would re-contact: earliest and latest, both included."""
    return mail.at - timedelta(days=window_days), mail.at - timedelta(days=min_days)


def _record_run(connection: Connection, run: Sequence[ObservedMail], min_days: int, window_days: int) -> int:
    """Marks and rejections of mails none of which re-contacts a rejection of the others."""
    windows = [_window(mail, min_days, window_days) for mail in run]
    open_rejections = _open_rejections(
        connection,
        {(mail.company, mail.recipient_hash) for mail in run},
        min(earliest for earliest, _ in windows),
        max(latest for _, latest in windows),
    )
    marks: list[tuple[int, datetime]] = []  # (rejection id, re-contacted at)
    new_rows: list[dict[str, object]] = []
    for mail, (earliest, latest) in zip(run, windows, strict=True):
        candidates = open_rejections.get((mail.company, mail.recipient_hash))
        if candidates:
            mine = {mail.message_hash, *mail.references}
            for rejection_id, (at, thread) in list(candidates.items()):
                if earliest <= at <= latest and mine.isdisjoint(thread):
                    marks.append((rejection_id, mail.at))
                    del candidates[rejection_id]
        if mail.kind == "rejection":
            thread_hashes = " ".join(dict.fromkeys((mail.message_hash, *mail.references)))[:THREAD_MAX]
            new_rows.append(
                {
                    "company": mail.company,
                    "recipient_hash": mail.recipient_hash,
                    "message_hash": mail.message_hash,
                    "thread_hashes": thread_hashes,
                    "at": mail.at,
                }
            )
    if marks:
        # In the order of the rows, as any relay sharing the store does: their row locks (PostgreSQL)
        # are then taken in one order, not in two that could deadlock.
        rows = [{"rejection_id": row_id, "recontacted_at": at} for row_id, at in sorted(marks)]
        connection.execute(_MARK_RECONTACTED, rows)
    if new_rows:
        connection.execute(insert_ignoring_duplicates(connection, kpi_rejections), new_rows)
    return len(marks)


#: Recipients per SELECT of open rejections (bound parameters stay well below any driver's limit).
_RECIPIENTS_PER_QUERY = 500

# Built once with bound parameters: building (and cache-keying) statements per relayed mail cost more
# than running them.
_OPEN_REJECTIONS = select(
    kpi_rejections.c.id, kpi_rejections.c.recipient_hash, kpi_rejections.c.at, kpi_rejections.c.thread_hashes
).where(
    kpi_rejections.c.company == bindparam("company"),
    kpi_rejections.c.recipient_hash.in_(bindparam("recipient_hashes", expanding=True)),
    kpi_rejections.c.recontacted_at.is_(None),
    kpi_rejections.c.at <= bindparam("latest"),
    kpi_rejections.c.at >= bindparam("earliest"),
)
_MARK_RECONTACTED = (
    update(kpi_rejections)
    .where(kpi_rejections.c.id == bindparam("rejection_id"))
    .values(recontacted_at=bindparam("recontacted_at"))
)

#: Per (company, recipient hash): the open rejections' ids, with their dates and thread hashes.
OpenRejections = dict[tuple[str, str], dict[int, tuple[datetime, frozenset[str]]]]


def _open_rejections(
    connection: Connection, keys: set[tuple[str, str]], earliest: datetime, latest: datetime
) -> OpenRejections:
    """The rejections not re-contacted yet of these recipients, dated from ``earliest`` to ``latest``."""
    by_company: dict[str, list[str]] = {}
    for company, recipient_hash in sorted(keys):
        by_company.setdefault(company, []).append(recipient_hash)
    found: OpenRejections = {}
    for company, hashes in by_company.items():
        for first in range(0, len(hashes), _RECIPIENTS_PER_QUERY):
            chunk = hashes[first : first + _RECIPIENTS_PER_QUERY]
            parameters = {
                "company": company,
                "recipient_hashes": chunk,
                "earliest": earliest,
                "latest": latest,
            }
            for row in connection.execute(_OPEN_REJECTIONS, parameters):
                open_of_recipient = found.setdefault((company, row.recipient_hash), {})
                open_of_recipient[row.id] = (row.at, frozenset(str(row.thread_hashes).split()))
    return found


def reapplication(
    engine: Engine, company: str, months: Sequence[Month], *, window_days: int = 365
) -> list[Reapplication]:
    """Per month of rejection: distinct candidates rejected, re-contacted within the window, registered."""
    with read_transaction(engine) as connection:
        return [_reapplication(connection, company, m, window_days) for m in months]


def _reapplication(connection: Connection, company: str, month: Month, window_days: int) -> Reapplication:
    r = kpi_rejections.c
    in_month = (r.company == company, r.at >= month.start, r.at < month.end)
    rejected = select(r.recipient_hash).where(*in_month).distinct().subquery()
    # "Within the window" is checked against each rejection's own date; SQL date arithmetic differs
    # between SQLite and PostgreSQL, so the rows are few and compared here.
    rows = connection.execute(
        select(r.recipient_hash, r.at, r.recontacted_at).where(*in_month, r.recontacted_at.is_not(None))
    ).all()
    back = {row.recipient_hash for row in rows if row.recontacted_at - row.at <= timedelta(days=window_days)}
    registered = 0
    if back:
        registered = int(
            connection.scalar(
                select(func.count(func.distinct(registrations.c.recipient_hash))).where(
                    registrations.c.company == company, registrations.c.recipient_hash.in_(back)
                )
            )
            or 0
        )
    total = int(connection.scalar(select(func.count()).select_from(rejected)) or 0)
    return Reapplication(month.label, total, len(back), registered)


def purge(engine: Engine, before: datetime) -> int:
    """Forget rejections older than ``before`` (hashes and dates are kept only while reported on)."""
    with write_transaction(engine) as connection:
        return int(connection.execute(delete(kpi_rejections).where(kpi_rejections.c.at < before)).rowcount)
