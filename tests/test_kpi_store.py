"""The KPI store on real SQLite and PostgreSQL: months in JST, re-application rules, satisfaction counts,
the talent pool's life (join, confirm, withdraw, purge)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select
from test_store import url  # noqa: F401 (the SQLite / PostgreSQL fixture)

from relay_smtp.store import kpi, satisfaction, talent_pool
from relay_smtp.store.db import read_transaction
from relay_smtp.store.kpi import ObservedMail
from relay_smtp.store.kpi_tables import kpi_rejections
from relay_smtp.store.ledger import Ledger
from relay_smtp.store.talent_pool import PoolEntry
from relay_smtp.web.period import BadPeriod, month_of, period

JST = ZoneInfo("Asia/Tokyo")
T0 = datetime(2026, 5, 31, 16, 0, tzinfo=UTC)  # 2026-06-01 01:00 JST


@pytest.fixture
def ledger(url: str) -> Iterator[Ledger]:  # noqa: F811
    opened = Ledger.open(url, upgrade=True, clock=lambda: T0)
    yield opened
    opened.close()


def rejection(person: str, at: datetime, message: str, *refs: str, company: str = "acme") -> ObservedMail:
    return ObservedMail("rejection", company, person, message, refs, at)


def contact(person: str, at: datetime, message: str, *refs: str, company: str = "acme") -> ObservedMail:
    return ObservedMail("contact", company, person, message, refs, at)


def test_months_are_the_readers(ledger: Ledger) -> None:
    ledger.record_rejection("acme", "m1", "q1", "injected")  # 2026-05-31 16:00 UTC = June in Tokyo
    june_jst, may_jst = month_of(2026, 6, JST), month_of(2026, 5, JST)
    june_utc = month_of(2026, 6, ZoneInfo("UTC"))
    counts = kpi.monthly_funnel(ledger.engine, "acme", [may_jst, june_jst, june_utc])
    assert [c.counts[0] for c in counts] == [0, 1, 0]
    chosen = period(None, None, T0, JST)
    assert (chosen.first, chosen.last, len(chosen.months)) == ("2026-01", "2026-06", 6)
    assert period("2025-12", "2026-02", T0, JST).whole.end == datetime(2026, 3, 1, tzinfo=JST)
    for first, last in (("2026-06", "2026-01"), ("2020-01", "2026-01"), ("2026-00", None)):
        with pytest.raises(BadPeriod):
            period(first, last, T0, JST)


def test_reapplication_rules(ledger: Ledger) -> None:
    engine = ledger.engine
    later = T0 + timedelta(days=20)
    marked = kpi.record_mail(
        engine,
        [
            rejection("pA", T0, "rA", "app-A"),
            rejection("pB", T0, "rB"),
            rejection("pC", T0, "rC"),
            rejection("pD", T0, "rD"),
            contact("pA", T0 + timedelta(days=2), "x1", "rA"),  # reply in the thread, too soon anyway
            contact("pB", later, "x2", "rB"),  # reply in the thread, 20 days later
            contact("pC", later, "x3", "app-A"),  # the thread's root (References) of another person: new
            contact("pD", later, "x4", company="globex"),  # another company
            contact("pE", later, "x5"),  # never rejected
        ],
        min_days=14,
        window_days=365,
    )
    assert marked == 1  # pC only
    assert kpi.record_mail(engine, [contact("pA", later, "x6", "app-A")], min_days=14, window_days=365) == 0
    assert kpi.record_mail(engine, [contact("pA", later, "x7")], min_days=14, window_days=365) == 1
    assert kpi.record_mail(engine, [contact("pA", later, "x8")], min_days=14, window_days=365) == 0  # once
    late = T0 + timedelta(days=400)
    assert kpi.record_mail(engine, [contact("pD", late, "x9")], min_days=14, window_days=365) == 0
    ledger.register(
        source="agency", external_id="r1", company="acme", recipient_hash="pA", message_id="m", confirmed=True
    )
    [june] = kpi.reapplication(engine, "acme", [month_of(2026, 6, JST)])
    assert (june.rejected, june.came_back, june.registered, june.rate) == (4, 2, 1, 0.5)
    assert kpi.purge(engine, T0) == 0
    assert kpi.purge(engine, T0 + timedelta(seconds=1)) == 4


def random_stream(seed: int) -> list[ObservedMail]:
    """Mail of two companies to a few people over some weeks, threads crossing, duplicates included."""
    chance = random.Random(seed)
    stream = []
    for _ in range(60):
        kind: Literal["rejection", "contact"] = "rejection" if chance.random() < 0.5 else "contact"
        refs = tuple(chance.sample(["r1", "r2", "r3", "x1", "app"], chance.randint(0, 2)))
        at = T0 + timedelta(days=chance.choice((0, 0, 1, 5, 14, 15, 20, 40)), hours=chance.randint(0, 3))
        person, message = chance.choice(("pA", "pB", "pC")), chance.choice(("r1", "r2", "r3", "x1", "x2"))
        stream.append(ObservedMail(kind, chance.choice(("acme", "globex")), person, message, refs, at))
    return stream


def kpi_rows(engine: Engine) -> list[tuple[object, ...]]:
    r = kpi_rejections.c
    columns = (r.company, r.recipient_hash, r.message_hash, r.thread_hashes, r.at, r.recontacted_at)
    with read_transaction(engine) as connection:
        return sorted(tuple(row) for row in connection.execute(select(*columns)))


@pytest.mark.parametrize("min_days", [14, 0])
def test_a_batch_is_recorded_as_its_mails_one_by_one(
    url: str,  # noqa: F811
    min_days: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The recorder's batch (a few statements for all its mail) against one mail per transaction."""
    monkeypatch.setattr(kpi, "_RECIPIENTS_PER_QUERY", 2)  # three people: the open rejections in two reads
    for seed in range(3):
        stream = random_stream(seed)
        alone = Ledger.open(url, upgrade=True)
        one_by_one = sum(
            kpi.record_mail(alone.engine, [mail], min_days=min_days, window_days=30)
            for mail in sorted(stream, key=lambda m: m.at)
        )
        expected = kpi_rows(alone.engine)
        kpi.purge(alone.engine, T0 + timedelta(days=999))
        batched = kpi.record_mail(alone.engine, stream, min_days=min_days, window_days=30)
        assert (batched, kpi_rows(alone.engine)) == (one_by_one, expected)
        assert one_by_one > 0
        kpi.purge(alone.engine, T0 + timedelta(days=999))
        alone.close()


def test_satisfaction_is_counted_once_per_link(ledger: Ledger) -> None:
    engine = ledger.engine
    voter = satisfaction.voter_hash("recipient-hash", "q1")
    assert satisfaction.record_answer(engine, "acme", voter, 5, T0)
    assert not satisfaction.record_answer(engine, "acme", voter, 1, T0)
    assert satisfaction.record_answer(engine, "acme", satisfaction.voter_hash("other", "q1"), 2, T0)
    with pytest.raises(ValueError):
        satisfaction.record_answer(engine, "acme", "v", 6, T0)
    may, june = satisfaction.monthly(engine, "acme", ["2026-05", "2026-06"])  # UTC months
    assert may.distribution == (0, 1, 0, 0, 1) and may.average == 3.5 and june.average is None


def test_talent_pool_life(ledger: Ledger) -> None:
    engine = ledger.engine
    ids = [
        ledger.register(
            source="agency",
            external_id=f"p{i}",
            company=c,
            recipient_hash=f"h{i}",
            message_id="m",
            confirmed=True,
        ).registration_id
        for i, c in enumerate(("acme", "acme", "globex"))
    ]
    for registration_id, company in zip(ids, ("acme", "acme", "globex"), strict=True):
        entry = PoolEntry(registration_id, company, "名前", f"{registration_id}@x.jp", "sales", "2026-01", T0)
        assert talent_pool.join(engine, entry)
        assert not talent_pool.join(engine, entry)
    assert talent_pool.entries(engine, "acme") == []  # not confirmed yet
    assert talent_pool.confirm(engine, ids[0], T0) is not None
    assert talent_pool.confirm(engine, ids[2], T0) is not None
    assert [e.registration_id for e in talent_pool.entries(engine, "acme")] == [ids[0]]
    assert [e.registration_id for e in talent_pool.undelivered(engine, ["acme"])] == [ids[0]]
    talent_pool.mark_delivered(engine, ids[0], T0)
    assert talent_pool.undelivered(engine, ["acme", "globex"])[0].registration_id == ids[2]
    assert talent_pool.purge(engine, T0 + timedelta(days=3), timedelta(days=730), timedelta(days=2)) == 1
    assert talent_pool.withdraw(engine, ids[0]) == 1
    assert talent_pool.withdraw(engine, ids[0]) == 0
    assert talent_pool.entries(engine, "acme") == []
    assert len(talent_pool.entries(engine, "globex")) == 1
