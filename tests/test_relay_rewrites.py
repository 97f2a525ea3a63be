"""Through `relay-smtp serve`: which mail gets the block, and which passes byte-identical."""

from __future__ import annotations

import logging
import smtplib
from dataclasses import replace
from pathlib import Path

import pytest
from smtp_fixtures import LoopThread, Relay, Sink, settings_for_sink

from relay_smtp.config import Company, CompanyMode, Settings

REJECTION_TEXT = (
    b"Subject: Your application for Data Analyst\r\n"
    b"Message-ID: <r2@acme.example>\r\n"
    b"Content-Type: text/plain; charset=us-ascii\r\n"
    b"\r\n"
    b"Dear Alex,\r\n\r\n"
    b"Thank you for interviewing for the Data Analyst position. After careful consideration\r\n"
    b"we have decided not to move forward with your application.\r\n\r\n"
    b"We wish you the best of luck in your job search.\r\n\r\n-- \r\nACME Recruiting\r\n"
)
OFFER_TEXT = (
    b"Subject: Offer of employment\r\n"
    b"\r\n"
    b"Dear Alex,\r\n\r\nWe are pleased to offer you the position of Data Analyst.\r\n"
    b"Please find the offer letter attached.\r\n"
)


def message(sender: str, text: bytes, extra_headers: bytes = b"") -> bytes:
    return f"From: Recruiting <{sender}>\r\nTo: alex@example.org\r\n".encode() + extra_headers + text


def settings_with_company(sink: Sink, tmp_path: Path, mode: CompanyMode) -> Settings:
    settings = settings_for_sink(sink.port, spool=tmp_path / "spool")
    company = Company(
        id="acme",
        name="ACME Inc.",
        locale="auto",
        mode=mode,
        recruiting_senders=("recruit@acme.example",),
        domains=("acme.example",),
    )
    return replace(settings, companies=(company,), links=replace(settings.links, secrets=("s" * 32,)))


def relay_one(loop_thread: LoopThread, settings: Settings, data: bytes, sender: str) -> None:
    relay = Relay(loop_thread, settings).start()
    try:
        with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as c:
            assert c.sendmail(sender, ["alex@example.org"], data) == {}
    finally:
        relay.stop()


def test_header_marked_rejection_gets_the_block_unmarked_mail_passes_untouched(
    loop_thread: LoopThread, sink: Sink, tmp_path: Path
) -> None:
    settings = settings_for_sink(sink.port, spool=tmp_path / "spool")
    marked = message("hr@other.example", REJECTION_TEXT, b"X-Career-Relay: rejection\r\n")
    unmarked = message("hr@other.example", REJECTION_TEXT)
    relay_one(loop_thread, settings, marked, "hr@other.example")
    relay_one(loop_thread, settings, unmarked, "hr@other.example")
    injected, untouched = sink.received
    assert b"X-Career-Relay: injected\r\n" in injected.data
    assert b"/r/" in injected.data and b"[career-relay" not in injected.data  # no visible machine tag
    assert untouched.data == unmarked


def test_recruiting_sender_rejection_is_injected_without_any_header(
    loop_thread: LoopThread, sink: Sink, tmp_path: Path
) -> None:
    data = message("recruit@acme.example", REJECTION_TEXT)
    relay_one(loop_thread, settings_with_company(sink, tmp_path, "enforce"), data, "recruit@acme.example")
    [got] = sink.received
    assert b"ACME Inc. has partnered with Career Relay." in got.data
    assert got.data.index(b"/r/") < got.data.index(b"-- \r\nACME Recruiting")


@pytest.mark.parametrize(
    ("sender", "text"),
    [("someone@elsewhere.example", REJECTION_TEXT), ("recruit@acme.example", OFFER_TEXT)],
    ids=["unconfigured sender", "offer from the recruiting sender"],
)
def test_other_mail_passes_byte_identical(
    loop_thread: LoopThread, sink: Sink, tmp_path: Path, sender: str, text: bytes
) -> None:
    data = message(sender, text)
    relay_one(loop_thread, settings_with_company(sink, tmp_path, "enforce"), data, sender)
    assert sink.received[0].data == data


def test_audit_mode_changes_nothing_and_logs_the_verdict(
    loop_thread: LoopThread, sink: Sink, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = message("recruit@acme.example", REJECTION_TEXT)
    with caplog.at_level(logging.INFO, logger="relay_smtp"):
        relay_one(loop_thread, settings_with_company(sink, tmp_path, "audit"), data, "recruit@acme.example")
    assert sink.received[0].data == data
    [line] = [r.getMessage() for r in caplog.records if "verdict=" in r.getMessage()]
    assert "verdict=rejection" in line
    assert "action=audited" in line
    assert "company=acme" in line
    assert "decided not to" in line  # the reasons an admin tunes rules with
