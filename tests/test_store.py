"""The store: schema versions, counting registrations into credits, redeeming, reports, retention.

Every test runs on SQLite (a file under tmp_path) and, when RELAY_SMTP_TEST_DATABASE_URL names a
PostgreSQL database, on PostgreSQL too, each test in a schema of its own that is dropped afterwards (so
parallel runs against one server do not collide).  The concurrency tests at the end post from many
threads through two Ledger instances with their own connection pools, i.e. two relays.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Connection, DateTime, Engine, select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import StatementError

from relay_smtp.store import db
from relay_smtp.store.db import create_engine_for, current_version, scratch_schema, upgrade
from relay_smtp.store.ledger import (
    InsufficientCredits,
    IssuedLink,
    Ledger,
    Profile,
    RegistrationOutcome,
    SchemaOutOfDate,
    UnknownRegistration,
)
from relay_smtp.store.models import (
    UTCDateTime,
    candidate_profiles,
    clicks,
    issued_links,
    ledger_entries,
    registrations,
)
from relay_smtp.store.outbox import Outbox, agency_outbox

T = TypeVar("T")
PG_URL = os.environ.get("RELAY_SMTP_TEST_DATABASE_URL", "")
BACKENDS = [
    "sqlite",
    pytest.param(
        "postgresql", marks=pytest.mark.skipif(not PG_URL, reason="RELAY_SMTP_TEST_DATABASE_URL is not set")
    ),
]
START = datetime(2026, 4, 1, 9, 30, tzinfo=UTC)
PROFILE = Profile("山田 太郎", "taro@example.jp", None, "engineer", "consent-2026-01")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a fresh SQLite file, or a fresh PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/store.db"
        return
    with scratch_schema(PG_URL, "test_store") as scoped:
        yield scoped


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ledger(url: str, clock: Clock) -> Iterator[Ledger]:
    opened = Ledger.open(url, upgrade=True, clock=clock)
    yield opened
    opened.close()


def agency(
    ledger: Ledger, candidate: str, company: str = "acme", external_id: str = ""
) -> RegistrationOutcome:
    """A registration confirmed by the partner agency's webhook."""
    return ledger.register(
        source="agency",
        external_id=external_id or f"agency-{company}-{candidate}",
        company=company,
        recipient_hash=f"hash-{candidate}",
        message_id="m1",
        confirmed=True,
    )


def hosted(
    ledger: Ledger, candidate: str, token: str, company: str = "acme", ttl: timedelta = timedelta(days=2)
) -> RegistrationOutcome:
    """A registration on our hosted form, awaiting the double opt-in."""
    return ledger.register(
        source="hosted",
        external_id=f"form-{token}",
        company=company,
        recipient_hash=f"hash-{candidate}",
        message_id="m1",
        confirmed=False,
        profile=PROFILE,
        confirmation_token=token,
        confirm_ttl=ttl,
    )


def handed_over(ledger: Ledger, token: str) -> RegistrationOutcome:
    """Confirm a hosted registration and let the agency acknowledge it (pull): then it may count."""
    outcome = ledger.confirm(token)
    outbox = Outbox(ledger)
    ids = [h.outbox_id for h in outbox.undelivered(after=0, limit=1000)]
    outbox.acknowledge(ids)
    return outcome


def query(engine: Engine, work: Callable[[Connection], T]) -> T:
    with engine.connect() as connection:
        return work(connection)


def earned_credit_numbers(ledger: Ledger, company: str = "acme") -> list[int | None]:
    return [e.credit_no for e in ledger.entries(company) if e.kind == "earned"]


# --------------------------------------------------------------------------- schema


def test_upgrade_is_versioned_and_idempotent(url: str) -> None:
    engine = create_engine_for(url)
    try:
        assert current_version(engine) == 0
        with pytest.raises(SchemaOutOfDate):
            Ledger.open(url)
        applied = upgrade(engine)
        assert [line.split(":")[0] for line in applied] == [str(m[0]) for m in sorted(db.MIGRATIONS)]
        assert current_version(engine) == db.latest_version()
        assert upgrade(engine) == []
        Ledger.open(url).close()  # a current schema needs no upgrade
    finally:
        engine.dispose()


def test_upgrade_applies_only_the_missing_migrations(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = create_engine_for(url)
    try:
        upgrade(engine)
        ran: list[int] = []
        following = db.latest_version() + 1

        def step_next(connection: Connection) -> None:
            ran.append(following)
            connection.execute(text("CREATE TABLE extra (id INTEGER PRIMARY KEY)"))

        monkeypatch.setattr(db, "MIGRATIONS", [*db.MIGRATIONS, (following, "extra table", step_next)])
        assert upgrade(engine) == [f"{following}: extra table"]
        assert upgrade(engine) == []
        assert ran == [following]
        assert current_version(engine) == following
        assert query(engine, lambda c: c.execute(text("SELECT count(*) FROM extra")).scalar()) == 0
    finally:
        engine.dispose()


def test_relays_starting_together_upgrade_once(url: str) -> None:
    engines = [create_engine_for(url) for _ in range(4)]
    barrier = threading.Barrier(len(engines))

    def start(engine: Engine) -> list[str]:
        barrier.wait()
        return upgrade(engine)

    try:
        with ThreadPoolExecutor(len(engines)) as pool:
            results = list(pool.map(start, engines))
        assert sorted(len(r) for r in results) == [0, 0, 0, len(db.MIGRATIONS)]
        assert current_version(engines[0]) == db.latest_version()
    finally:
        for engine in engines:
            engine.dispose()


# --------------------------------------------------------------------------- counting


def test_ten_confirmed_registrations_earn_one_credit(ledger: Ledger) -> None:
    outcomes = [agency(ledger, f"c{i}") for i in range(10)]
    assert [o.counted for o in outcomes] == [True] * 10
    assert [o.earned_now for o in outcomes] == [False] * 9 + [True]
    assert [o.company_counted for o in outcomes] == list(range(1, 11))
    assert outcomes[-1].balance == 1 and outcomes[-1].reason == "counted"
    assert ledger.counted("acme") == 10
    assert ledger.balance("acme") == 1
    (entry,) = ledger.entries("acme")
    assert (entry.kind, entry.amount, entry.credit_no, entry.at) == ("earned", 1, 1, START)


def test_a_candidate_counts_once_across_companies(ledger: Ledger) -> None:
    for i in range(10):
        agency(ledger, f"c{i}")
    before = ledger.entries()
    again_elsewhere = agency(ledger, "c3", company="beta")
    again_here = agency(ledger, "c3", external_id="another-webhook-id")
    for outcome in (again_elsewhere, again_here):
        assert not outcome.counted and not outcome.duplicate and not outcome.earned_now
        assert outcome.reason == "candidate already counted for acme"
    assert (ledger.counted("acme"), ledger.balance("acme")) == (10, 1)
    assert (ledger.counted("beta"), ledger.balance("beta")) == (0, 0)
    assert ledger.entries() == before
    assert ledger.funnel("beta").registrations == 1


def test_a_replayed_webhook_changes_nothing(ledger: Ledger) -> None:
    for i in range(10):
        agency(ledger, f"c{i}")
    before = (ledger.entries(), ledger.funnel("acme"))
    replay = agency(ledger, "c9")
    assert replay.duplicate and replay.counted and replay.reason == "counted"
    assert not replay.earned_now  # the first delivery earned it; the replay earns nothing
    assert (replay.company_counted, replay.balance) == (10, 1)
    assert (ledger.entries(), ledger.funnel("acme")) == before


def test_hosted_registration_counts_when_the_agency_accepts_it(ledger: Ledger, clock: Clock) -> None:
    pending = hosted(ledger, "c1", "tok-1")
    assert (pending.counted, pending.reason, pending.company_counted) == (False, "awaiting confirmation", 0)
    stored = query(ledger.engine, lambda c: c.execute(select(candidate_profiles)).one())
    assert stored.confirmation_token_hash == hashlib.sha256(b"tok-1").hexdigest()
    assert (stored.email, stored.consent_version) == (PROFILE.email, "consent-2026-01")
    assert stored.consent_at == START

    clock.advance(hours=1)
    confirmed = ledger.confirm("tok-1")
    assert (confirmed.counted, confirmed.duplicate, confirmed.company_counted) == (False, False, 0)
    assert confirmed.reason == "awaiting hand-off to the agency"
    assert confirmed.registration_id == pending.registration_id
    (owed,) = query(ledger.engine, lambda c: c.execute(select(agency_outbox)).all())
    assert (owed.event, owed.registration_id, owed.status) == (
        "registered",
        pending.registration_id,
        "pending",
    )
    handed_over(ledger, "tok-1")
    assert ledger.counted("acme") == 1
    again = ledger.confirm("tok-1")
    assert (again.counted, again.duplicate, again.company_counted) == (True, True, 1)
    assert hosted(ledger, "c1", "tok-1").duplicate  # the form posted twice


def test_unknown_or_expired_confirmation_is_refused(ledger: Ledger, clock: Clock) -> None:
    with pytest.raises(UnknownRegistration):
        ledger.confirm("never-issued")
    hosted(ledger, "c1", "tok-1", ttl=timedelta(days=2))
    clock.advance(days=2, seconds=1)
    with pytest.raises(UnknownRegistration):
        ledger.confirm("tok-1")
    assert ledger.counted("acme") == 0


def test_confirmation_of_a_candidate_counted_meanwhile(ledger: Ledger) -> None:
    hosted(ledger, "c1", "tok-1", company="beta")
    agency(ledger, "c1", company="acme")
    handed_over(ledger, "tok-1")
    outcome = ledger.confirm("tok-1")
    assert (outcome.counted, outcome.reason) == (False, "candidate already counted for acme")
    assert ledger.counted("beta") == 0


def test_invalid_arguments_are_refused(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match="source"):
        ledger.register(
            source="mail", external_id="x", company="a", recipient_hash="h", message_id="m", confirmed=True
        )
    with pytest.raises(ValueError, match="confirmation token"):
        ledger.register(
            source="hosted", external_id="x", company="a", recipient_hash="h", message_id="m", confirmed=False
        )
    with pytest.raises(ValueError, match="action"):
        ledger.record_rejection("acme", "m1", "Q1", "bounced")
    with pytest.raises(ValueError):
        Ledger(ledger.engine, registrations_per_credit=0)


# --------------------------------------------------------------------------- credits


def test_redeem_down_to_zero_then_refuse(ledger: Ledger) -> None:
    for i in range(20):
        agency(ledger, f"c{i}")
    assert ledger.balance("acme") == 2
    first = ledger.redeem("acme", "hire #1")
    ledger.redeem("acme", "hire #2")
    assert (first.kind, first.amount, first.credit_no, first.reason) == ("redeemed", -1, None, "hire #1")
    with pytest.raises(InsufficientCredits):
        ledger.redeem("acme", "hire #3")
    with pytest.raises(InsufficientCredits):
        ledger.redeem("nobody", "never earned")
    assert ledger.balance("acme") == 0
    assert [e.kind for e in ledger.entries("acme")] == ["earned", "earned", "redeemed", "redeemed"]


def test_adjust_cannot_make_the_balance_negative(ledger: Ledger) -> None:
    assert ledger.adjust("acme", 3, "goodwill").amount == 3
    with pytest.raises(InsufficientCredits):
        ledger.adjust("acme", -4, "too much")
    with pytest.raises(ValueError):
        ledger.adjust("acme", 0, "nothing")
    ledger.adjust("acme", -3, "correction")
    assert ledger.balance("acme") == 0
    assert [(e.kind, e.amount) for e in ledger.entries()] == [("adjusted", 3), ("adjusted", -3)]


def test_changing_registrations_per_credit_never_repeats_a_credit_number(url: str, clock: Clock) -> None:
    small = Ledger.open(url, upgrade=True, registrations_per_credit=5, clock=clock)
    large = Ledger(small.engine, registrations_per_credit=10, clock=clock)
    try:
        for i in range(10):
            agency(small, f"c{i}")  # credits 1 and 2
        for i in range(10, 30):
            agency(large, f"c{i}")  # 30 // 10 = 3 due: credit 3 only
        assert earned_credit_numbers(small) == [1, 2, 3]
    finally:
        small.close()


# --------------------------------------------------------------------------- reports


def test_funnel_counts_every_step(ledger: Ledger) -> None:
    ledger.record_rejection("acme", "m1", "Q1", "injected")
    ledger.record_rejection("acme", "m2", "Q2", "audited")
    links = [IssuedLink("acme", f"hash-c{i}", "m1", START) for i in range(3)]
    ledger.record_links(links)
    ledger.record_links(links[:2])
    ledger.record_click("acme", "hash-c0", "m1", user_agent="Mozilla/5.0", suspected_bot=False)
    ledger.record_click("acme", "hash-c0", "m1", user_agent=None, suspected_bot=True, bot_reason="HEAD")
    ledger.record_click("gamma", "hash-z", "m9", user_agent="x" * 1000, suspected_bot=False)
    for i in range(11):
        agency(ledger, f"c{i}")
    agency(ledger, "c0", company="beta")
    hosted(ledger, "c99", "tok")
    ledger.redeem("acme", "hire")
    ledger.adjust("acme", 2, "goodwill")

    acme = ledger.funnel("acme")
    assert (acme.rejections_seen, acme.links_issued, acme.clicks, acme.suspected_bot_clicks) == (2, 3, 2, 1)
    assert (acme.registrations, acme.counted) == (12, 11)
    assert (acme.earned, acme.redeemed, acme.adjusted, acme.balance) == (1, 1, 2, 2)
    assert acme.balance == ledger.balance("acme")
    assert [f.company for f in ledger.funnels()] == ["acme", "beta", "gamma"]
    assert ledger.funnels()[0] == acme
    assert ledger.funnel("unseen").registrations == ledger.funnel("unseen").balance == 0
    agents = query(
        ledger.engine, lambda c: list(c.scalars(select(clicks.c.user_agent).order_by(clicks.c.id)))
    )
    assert [None if a is None else len(a) for a in agents] == [11, None, 256]


def test_record_links_is_idempotent(ledger: Ledger) -> None:
    links = [IssuedLink("acme", "hash-a", "m1", START), IssuedLink("acme", "hash-b", "m1", START)]
    ledger.record_links(links)
    ledger.record_links([*links, IssuedLink("acme", "hash-a", "m2", START)])
    ledger.record_links([])
    assert ledger.funnel("acme").links_issued == 3


def test_daily_series_includes_days_without_events(ledger: Ledger, clock: Clock) -> None:
    clock.now = datetime(2026, 4, 10, 23, 59, tzinfo=UTC)
    ledger.record_click("acme", "h", "m", user_agent=None, suspected_bot=False)
    clock.advance(minutes=2)  # 2026-04-11 00:01 UTC
    hosted(ledger, "c1", "tok", ttl=timedelta(days=3))
    agency(ledger, "c2")
    ledger.record_click("beta", "h", "m", user_agent=None, suspected_bot=False)
    clock.advance(days=2)  # 2026-04-13
    handed_over(ledger, "tok")

    days = ledger.daily("acme", days=5)
    assert [d.day for d in days] == [date(2026, 4, 9) + timedelta(days=n) for n in range(5)]
    assert [(d.clicks, d.registrations, d.counted) for d in days] == [
        (0, 0, 0),
        (1, 0, 0),
        (0, 2, 1),
        (0, 0, 0),
        (0, 0, 1),  # counted on the day it was confirmed
    ]
    assert len(ledger.daily("acme")) == 90
    assert ledger.daily("acme", days=1)[0].day == date(2026, 4, 13)


def test_times_are_timezone_aware_utc(ledger: Ledger) -> None:
    in_tokyo = datetime(2026, 4, 2, 3, 30, tzinfo=ZoneInfo("Asia/Tokyo"))
    ledger.record_links([IssuedLink("acme", "h", "m", in_tokyo)])
    (stored,) = query(ledger.engine, lambda c: list(c.scalars(select(issued_links.c.issued_at))))
    assert stored == in_tokyo and stored.tzinfo is UTC and stored.hour == 18
    with pytest.raises(StatementError, match="naive datetime"):
        ledger.record_links([IssuedLink("acme", "h2", "m", datetime(2026, 4, 1, 9, 0))])


def test_sqlite_stores_times_as_sqlalchemys_datetime_writes_them() -> None:
    """UTCDateTime writes SQLite's text itself (one step, for speed): the text SQLAlchemy would write."""
    dialect = sqlite.dialect()
    ours = UTCDateTime().bind_processor(dialect)
    theirs = DateTime(timezone=True).dialect_impl(dialect).bind_processor(dialect)
    assert ours is not None and theirs is not None
    for value in (
        datetime(2026, 4, 2, 3, 30, 5, 123456, tzinfo=ZoneInfo("Asia/Tokyo")),
        datetime(2026, 4, 1, 9, 0, tzinfo=UTC),
        datetime(2026, 3, 29, 1, 30, tzinfo=ZoneInfo("Europe/Berlin")),
        datetime(5, 1, 1, tzinfo=UTC),
        datetime(2026, 4, 1, 9, 0, tzinfo=ZoneInfo("UTC")),
    ):
        expected = theirs(UTCDateTime().process_bind_param(value, dialect))
        assert ours(value) == expected == theirs(value.astimezone(UTC))
    assert ours(None) is None
    with pytest.raises(ValueError, match="naive datetime"):
        ours(datetime(2026, 4, 1, 9, 0))


# --------------------------------------------------------------------------- retention


def test_purge_removes_personal_data_but_keeps_counts(ledger: Ledger, clock: Clock) -> None:
    hosted(ledger, "old", "tok-old")
    handed_over(ledger, "tok-old")
    clock.advance(days=20)
    hosted(ledger, "expired", "tok-expired", ttl=timedelta(days=1))
    clock.advance(days=15)
    hosted(ledger, "fresh", "tok-fresh")
    before = ledger.funnel("acme")

    assert ledger.purge_personal_data(older_than=timedelta(days=30)) == 2  # "old" by age, "expired"
    emails = query(ledger.engine, lambda c: list(c.scalars(select(candidate_profiles.c.registration_id))))
    assert len(emails) == 1
    assert ledger.funnel("acme") == before
    assert (ledger.counted("acme"), before.registrations) == (1, 3)
    reasons = query(
        ledger.engine,
        lambda c: {
            h: r
            for h, r in c.execute(select(registrations.c.recipient_hash, registrations.c.not_counted_reason))
        },
    )
    assert reasons["hash-expired"] == "confirmation expired"
    assert reasons["hash-fresh"] == "awaiting confirmation"
    with pytest.raises(UnknownRegistration):
        ledger.confirm("tok-expired")
    handed_over(ledger, "tok-fresh")
    assert ledger.counted("acme") == 2
    assert ledger.purge_personal_data(older_than=timedelta(days=30)) == 0


# --------------------------------------------------------------------------- concurrency


CREDITS = 3


@pytest.fixture
def two_relays(url: str, clock: Clock) -> Iterator[tuple[Ledger, Ledger]]:
    """Two Ledger instances with their own engines and pools, as two relays sharing one database."""
    first = Ledger.open(url, upgrade=True, clock=clock)
    second = Ledger.open(url, clock=clock)
    yield first, second
    first.close()
    second.close()


def run_together(tasks: Sequence[Callable[[], T]], workers: int = 12) -> list[T | Exception]:
    """Run the tasks from many threads, started at one moment; results or exceptions, in order."""
    barrier = threading.Barrier(min(workers, len(tasks)), timeout=10)
    local = threading.local()

    def run(task: Callable[[], T]) -> T | Exception:
        if not getattr(local, "started", False):
            local.started = True
            barrier.wait()
        try:
            return task()
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(run, tasks))


def test_concurrent_registrations_earn_each_credit_once(two_relays: tuple[Ledger, Ledger]) -> None:
    relays = two_relays
    n = 10 * CREDITS
    # Every webhook is delivered twice, to different relays, at the same moment.
    tasks = [partial(agency, relays[(i + k) % 2], f"c{i}") for i in range(n) for k in range(2)]
    outcomes = run_together(tasks)
    assert all(isinstance(o, RegistrationOutcome) for o in outcomes), outcomes
    results = [o for o in outcomes if isinstance(o, RegistrationOutcome)]
    assert sum(o.duplicate for o in results) == n
    assert sum(o.earned_now for o in results) == CREDITS
    ledger = relays[0]
    assert ledger.counted("acme") == n
    assert earned_credit_numbers(ledger) == list(range(1, CREDITS + 1))
    assert ledger.balance("acme") == CREDITS
    counted_seqs = select(registrations.c.company_seq).where(registrations.c.counted)
    seqs = query(ledger.engine, lambda c: sorted(c.scalars(counted_seqs)))
    assert seqs == list(range(1, n + 1))


def test_one_candidate_racing_through_many_companies_counts_once(two_relays: tuple[Ledger, Ledger]) -> None:
    companies = [f"co{i}" for i in range(12)]
    tasks = [partial(agency, two_relays[i % 2], "same", company=co) for i, co in enumerate(companies)]
    outcomes = run_together(tasks)
    assert all(isinstance(o, RegistrationOutcome) for o in outcomes), outcomes
    results = [o for o in outcomes if isinstance(o, RegistrationOutcome)]
    winners = [o.company for o in results if o.counted]
    assert len(winners) == 1
    assert {o.reason for o in results if not o.counted} == {f"candidate already counted for {winners[0]}"}
    assert sum(f.counted for f in two_relays[0].funnels()) == 1


def test_concurrent_redeems_never_overdraw(two_relays: tuple[Ledger, Ledger]) -> None:
    two_relays[0].adjust("acme", 5, "five to spend")
    tasks = [partial(two_relays[i % 2].redeem, "acme", f"hire {i}") for i in range(16)]
    outcomes = run_together(tasks)
    assert sum(not isinstance(o, Exception) for o in outcomes) == 5
    assert all(isinstance(o, InsufficientCredits) for o in outcomes if isinstance(o, Exception)), outcomes
    assert two_relays[0].balance("acme") == 0
    total = query(
        two_relays[1].engine,
        lambda c: list(c.scalars(select(ledger_entries.c.amount).where(ledger_entries.c.kind == "redeemed"))),
    )
    assert total == [-1] * 5


def test_concurrent_confirmations_count_once(two_relays: tuple[Ledger, Ledger]) -> None:
    hosted(two_relays[0], "c1", "tok")
    outcomes = run_together([partial(two_relays[i % 2].confirm, "tok") for i in range(8)])
    results = [o for o in outcomes if isinstance(o, RegistrationOutcome)]
    assert len(results) == 8, outcomes
    assert sum(not o.duplicate for o in results) == 1
    assert not any(o.counted for o in results)  # counted when the agency accepts it, not before
    assert query(two_relays[0].engine, lambda c: len(c.execute(select(agency_outbox)).all())) == 1
    handed_over(two_relays[1], "tok")
    assert two_relays[0].counted("acme") == 1
