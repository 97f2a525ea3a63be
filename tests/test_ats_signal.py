"""The ATS's rejection signal, end to end: API call, then mail through the real SMTP path.

A mail whose text alone is not a rejection gets the block when the company's ATS announced it; the
same mail to another address, after the window, or when its text is an interview invitation does not.
The store (SQLite here, and PostgreSQL below when configured) keeps only a keyed hash and an expiry.
"""

from __future__ import annotations

import json
import logging
import os
import smtplib
import sqlite3
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from smtp_fixtures import LoopThread, Relay, Sink, settings_for_sink

from relay_smtp.ats import NO_SIGNALS, AtsSignals, apply_signal
from relay_smtp.config import Company, Settings
from relay_smtp.links import LinkSigner
from relay_smtp.mail.classify import ClassifierRules, Sender, classify
from relay_smtp.store.db import scratch_schema
from relay_smtp.store.ledger import Ledger
from relay_smtp.store.signals import SignalStore

TOKEN = "ats-token-acme-0123456789abcdef"
CANDIDATE = "kenta.mori@example.org"
OTHER = "someone.else@example.org"
SENDER = "recruit@acme.example"
PG_URL = os.environ.get("RELAY_SMTP_TEST_DATABASE_URL", "")

# Neutral words: no phrase makes this a rejection (checked below), only the ATS's word does.
NEUTRAL = (
    "Dear candidate,\r\n\r\nThis is an update about your application for the analyst position.\r\n"
    "Our recruiting team has recorded the outcome in our system.\r\n\r\nRegards,\r\nACME Recruiting\r\n"
)
INTERVIEW = (
    "Dear candidate,\r\n\r\nWe would like to invite you to an interview for the analyst position.\r\n"
    "Please share your availability for next week.\r\n\r\nRegards,\r\nACME Recruiting\r\n"
)


def message(to: str, body: str) -> bytes:
    return (
        f"From: ACME Recruiting <{SENDER}>\r\nTo: {to}\r\nSubject: Your application\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@acme.example>\r\n\r\n{body}"
    ).encode()


def settings(sink: Sink, tmp_path: Path) -> Settings:
    base = settings_for_sink(sink.port, spool=tmp_path / "spool")
    acme = Company("acme", "ACME Inc.", "en", "enforce", (SENDER,), ("acme.example",), ats_token=TOKEN)
    quiet = Company("quiet", "Quiet Co.", "en", "enforce", ("hr@quiet.example",))
    return replace(
        base, companies=(acme, quiet), links=replace(base.links, secrets=("ats-link-secret-0123456789",))
    )


def post(
    port: int, company: str, payload: object, token: str | None = TOKEN
) -> tuple[int, dict[str, object]]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    url = f"http://127.0.0.1:{port}/api/v1/companies/{company}/rejections"
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        body = err.read()
        err.close()
        return err.code, json.loads(body) if body.startswith(b"{") else {}


def send(relay: Relay, to: str, body: str) -> bytes:
    data = message(to, body)
    with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as client:
        assert client.sendmail(SENDER, [to], data) == {}
    return data


def has_block(data: bytes) -> bool:
    return b"/r/" in data and b"X-Career-Relay: injected" in data


@pytest.fixture
def relay(loop_thread: LoopThread, sink: Sink, tmp_path: Path) -> Iterator[Relay]:
    started = Relay(loop_thread, settings(sink, tmp_path)).start()
    yield started
    started.stop()


def test_the_neutral_text_alone_is_not_a_rejection() -> None:
    sender = Sender(is_recruiting=True, company_domains=("acme.example",))
    verdict = classify(message(CANDIDATE, NEUTRAL), ClassifierRules(), sender, [CANDIDATE])
    assert verdict.label == "other"


def test_announced_rejection_gets_the_block_and_only_for_that_address(relay: Relay, sink: Sink) -> None:
    status, answer = post(relay.web_port, "acme", {"candidate": CANDIDATE})
    assert status == 202
    assert answer["company"] == "acme" and answer["window_hours"] == 72
    expires = datetime.fromisoformat(str(answer["expires_at"]))
    assert timedelta(hours=71) < expires - datetime.now(UTC) <= timedelta(hours=72)

    send(relay, CANDIDATE, NEUTRAL)
    sent_to_other = send(relay, OTHER, NEUTRAL)
    by_rcpt = {r.recipients[0]: r.data for r in sink.received}
    assert has_block(by_rcpt[CANDIDATE])
    assert by_rcpt[OTHER] == sent_to_other  # forwarded byte for byte


def test_outside_the_window_the_signal_no_longer_counts(relay: Relay, sink: Sink) -> None:
    assert post(relay.web_port, "acme", {"candidate": CANDIDATE, "window_hours": 1})[0] == 202
    # The window passes: the stored expiry is moved into the past (what an hour of waiting does).
    database = relay.settings.store.url.removeprefix("sqlite:///")
    with sqlite3.connect(database) as connection:
        past = (datetime.now(UTC) - timedelta(minutes=1)).replace(tzinfo=None).isoformat(" ")
        assert connection.execute("UPDATE ats_signals SET expires_at = ?", (past,)).rowcount == 1
    send(relay, CANDIDATE, NEUTRAL)
    assert not has_block(sink.received[0].data)


def test_an_interview_invitation_is_a_conflict_and_passes_unchanged(
    relay: Relay, sink: Sink, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    assert post(relay.web_port, "acme", {"candidate": CANDIDATE})[0] == 202
    send(relay, CANDIDATE, INTERVIEW)
    assert not has_block(sink.received[0].data)
    assert any("ats-signal conflict" in r.getMessage() for r in caplog.records)


def test_the_store_keeps_no_address_and_the_log_names_none(
    relay: Relay, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert post(relay.web_port, "acme", {"candidate": CANDIDATE})[0] == 202
    database = Path(relay.settings.store.url.removeprefix("sqlite:///"))
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT company, recipient_hash FROM ats_signals").fetchall()
    expected = LinkSigner(("ats-link-secret-0123456789",)).recipient_hash(CANDIDATE)
    assert rows == [("acme", expected)]
    stored = b"".join(p.read_bytes() for p in database.parent.glob("relay-smtp.db*"))
    assert CANDIDATE.encode() not in stored and b"kenta.mori" not in stored
    assert not [r for r in caplog.records if "kenta" in r.getMessage()]


@pytest.mark.parametrize(
    ("company", "token", "status"),
    [
        ("acme", "wrong-token", 401),
        ("acme", None, 401),
        ("quiet", TOKEN, 401),  # no ats_token: the API is off for this company
        ("nobody", TOKEN, 401),
    ],
)
def test_only_the_companys_own_token_is_accepted(
    relay: Relay, company: str, token: str | None, status: int
) -> None:
    assert post(relay.web_port, company, {"candidate": CANDIDATE}, token)[0] == status


@pytest.mark.parametrize(
    "payload",
    [
        {"candidate": "not an address"},
        {"candidate": "A <a@example.org>"},
        {"candidate": "a@example.org\r\nX-Evil: 1"},
        {"candidate": CANDIDATE, "window_hours": 0},
        {"candidate": CANDIDATE, "window_hours": 24 * 31},
        {},
    ],
)
def test_bad_requests_are_refused_without_echoing_them(relay: Relay, payload: dict[str, object]) -> None:
    status, answer = post(relay.web_port, "acme", payload)
    assert status == 422
    assert "example.org" not in json.dumps(answer)


def test_pure_rule_needs_every_outside_recipient_and_a_recruiting_sender() -> None:
    sender = Sender(is_recruiting=True, company_domains=("acme.example",))
    verdict = classify(message(CANDIDATE, NEUTRAL), ClassifierRules(), sender, [CANDIDATE])
    signals = AtsSignals(frozenset({("acme", CANDIDATE)}))
    yes = apply_signal(verdict, "acme", True, [CANDIDATE, "hr@acme.example"], ["acme.example"], signals)
    assert yes.verdict.label == "rejection" and not yes.conflict
    assert [s.pattern for s in yes.verdict.reasons if s.where == "ats"] == ["ats-signal"]
    for company, recruiting, recipients in (
        ("acme", True, [CANDIDATE, OTHER]),
        ("other", True, [CANDIDATE]),
        ("acme", False, [CANDIDATE]),
    ):
        assert (
            apply_signal(verdict, company, recruiting, recipients, ["acme.example"], signals).verdict
            == verdict
        )
    assert apply_signal(verdict, "acme", True, [CANDIDATE], [], NO_SIGNALS).verdict == verdict


BACKENDS = [
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.skipif(not PG_URL, reason="no PostgreSQL")),
]


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/store.db"
        return
    with scratch_schema(PG_URL, "test_ats") as scoped:
        yield scoped


def test_signal_store_lookup_expiry_and_purge(store_url: str) -> None:
    now = [datetime(2026, 3, 1, 9, 0, tzinfo=UTC)]
    ledger = Ledger.open(store_url, upgrade=True)
    try:
        store = SignalStore(ledger.engine, lambda: now[0])
        hasher = LinkSigner(("store-secret-0123456789abcdef",)).recipient_hash
        store.add("acme", hasher(CANDIDATE), timedelta(hours=2))
        store.add("beta", hasher(OTHER), timedelta(hours=5))
        found = store.lookup(["acme", "beta"], [CANDIDATE.upper(), OTHER], hasher)
        assert found.active == {("acme", CANDIDATE.upper()), ("beta", OTHER)}
        assert store.lookup(["acme"], [OTHER], hasher).active == frozenset()
        now[0] += timedelta(hours=3)
        assert store.lookup(["acme", "beta"], [CANDIDATE, OTHER], hasher).active == {("beta", OTHER)}
        assert store.purge_expired() == 1
    finally:
        ledger.close()
