"""`relay-smtp audit`: what audit mode saw, from a mail through the real SMTP path to the command's output."""

from __future__ import annotations

import json
import smtplib
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from smtp_fixtures import LoopThread, Relay, Sink, settings_for_sink

from relay_smtp.audit_report import parse_since
from relay_smtp.config import Company
from relay_smtp.store.audit import AuditedVerdict, AuditStore, audit_subject
from relay_smtp.store.ledger import Ledger

SENDER = "recruit@acme.example"
CANDIDATE = "kenta.mori@example.org"
REJECTION = (
    f"From: ACME Recruiting <{SENDER}>\r\nTo: {CANDIDATE}\r\n"
    f"Subject: Your application ({CANDIDATE})\r\nMessage-ID: <audit-1@acme.example>\r\n\r\n"
    "Dear candidate,\r\n\r\nThank you for interviewing for the analyst position. Unfortunately we have\r\n"
    "decided not to move forward with your application.\r\n\r\nBest of luck in your job search.\r\n"
).encode()


def audit_cli(store_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "cli.toml"
    config.write_text(f'[store]\nurl = "{store_url}"\n', encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "relay_smtp.cli", "audit", "--config", str(config), *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_audited_rejection_is_listed_with_subject_and_reasons_and_no_address(
    loop_thread: LoopThread, sink: Sink, tmp_path: Path
) -> None:
    base = settings_for_sink(sink.port, spool=tmp_path / "spool")
    company = Company("acme", "ACME Inc.", "en", "audit", (SENDER,))
    relay = Relay(loop_thread, replace(base, companies=(company,))).start()
    try:
        with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as client:
            assert client.sendmail(SENDER, [CANDIDATE], REJECTION) == {}
        assert sink.received[0].data == REJECTION  # audit mode: forwarded unchanged
        store_url = relay.settings.store.url
        ledger = Ledger.open(store_url)
        try:
            store = AuditStore(ledger.engine, lambda: datetime.now(UTC))
            deadline = time.monotonic() + 20  # the recorder writes in the background, after the reply
            while not store.since("acme", datetime.now(UTC) - timedelta(days=1)):
                assert time.monotonic() < deadline, "the audited verdict was never recorded"
                time.sleep(0.05)
        finally:
            ledger.close()
    finally:
        relay.stop()

    result = audit_cli(store_url, tmp_path, "--company", "acme", "--since", "7d")
    assert result.returncode == 0, result.stderr
    assert "acme: 1 audited verdicts" in result.stdout
    assert "Your application ([address])" in result.stdout
    assert 'body: "decided not to move forward" +4' in result.stdout
    assert CANDIDATE not in result.stdout

    as_json = json.loads(audit_cli(store_url, tmp_path, "--company", "acme", "--json").stdout)
    assert [(r["company"], r["verdict"]) for r in as_json] == [("acme", "rejection")]
    assert as_json[0]["score"] >= 4 and any("unfortunately" in r for r in as_json[0]["reasons"])
    assert "0 audited verdicts" in audit_cli(store_url, tmp_path, "--company", "other").stdout
    assert audit_cli(store_url, tmp_path, "--company", "acme", "--since", "soon").returncode == 2


def test_audit_store_cuts_addresses_and_purges_after_retention(tmp_path: Path) -> None:
    now = [datetime(2026, 3, 1, tzinfo=UTC)]
    ledger = Ledger.open(f"sqlite:///{tmp_path}/s.db", upgrade=True)
    try:
        store = AuditStore(ledger.engine, lambda: now[0])
        row = AuditedVerdict("acme", now[0], "to a@b.example", 5, ('body: "x@y.example" +4',))
        store.record([row])
        [kept] = store.since("acme", now[0] - timedelta(days=1))
        assert kept.subject == "to [address]" and kept.reasons == ('body: "[address]" +4',)
        now[0] += timedelta(days=91)
        assert store.purge() == 1
    finally:
        ledger.close()


def test_audit_subject_decodes_and_never_raises() -> None:
    raw = b"Subject: =?UTF-8?B?6YG46ICD57WQ5p6c?= a@b.example\r\n\r\nbody"
    assert audit_subject(raw) == "選考結果 [address]"
    assert audit_subject(b"\xff\xfe garbage") == ""


@pytest.mark.parametrize(("value", "hours"), [("7d", 168), ("24h", 24), ("90m", 1.5)])
def test_since_accepts_durations(value: str, hours: float) -> None:
    now = datetime(2026, 3, 8, tzinfo=UTC)
    assert parse_since(value, now) == now - timedelta(hours=hours)
    assert parse_since("2026-03-01", now) == datetime(2026, 3, 1, tzinfo=UTC)
