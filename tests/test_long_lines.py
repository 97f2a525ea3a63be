"""A line over 1000 octets is real mail (single-line HTML, unwrapped base64): passed on, never bounced."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator

import pytest
import smtp_fixtures
from smtp_fixtures import LoopThread, Relay, Sink, settings_for_sink

TWO_MB = 2 * 1024 * 1024


@pytest.fixture
def roomy_sink(loop_thread: LoopThread, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sink]:
    """A next hop that, like Postfix, takes a line of any length."""
    monkeypatch.setattr(smtp_fixtures.LongLineSMTP, "line_length_limit", 8 * TWO_MB)
    sink = Sink(loop_thread).start()
    yield sink
    sink.stop()


def test_a_two_megabyte_single_line_message_is_delivered_byte_for_byte(
    loop_thread: LoopThread, roomy_sink: Sink
) -> None:
    html = b"<html><body>" + b"<p>x</p>" * (TWO_MB // 8) + b"</body></html>"
    message = (
        b"From: hr@example.org\r\nTo: cand@example.org\r\nSubject: newsletter\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n" + html + b"\r\n"
    )
    relay = Relay(loop_thread, settings_for_sink(roomy_sink.port)).start()
    try:
        with smtplib.SMTP("127.0.0.1", relay.port, timeout=30) as client:
            assert client.sendmail("hr@example.org", ["cand@example.org"], message) == {}
    finally:
        relay.stop()
    [received] = roomy_sink.received
    assert received.data == message


def test_max_line_length_still_refuses_when_an_operator_sets_it(loop_thread: LoopThread, sink: Sink) -> None:
    settings = settings_for_sink(sink.port, max_line_length=1000)
    relay = Relay(loop_thread, settings).start()
    try:
        with smtplib.SMTP("127.0.0.1", relay.port, timeout=30) as client:
            client.ehlo()
            client.mail("hr@example.org")
            client.rcpt("cand@example.org")
            code, text = client.data(b"Subject: x\r\n\r\n" + b"y" * 5000 + b"\r\n")
    finally:
        relay.stop()
    assert (code, text[:5]) == (500, b"5.5.2")
    assert sink.received == []


def test_a_single_line_html_rejection_gets_the_block_on_lines_of_its_own(
    loop_thread: LoopThread, roomy_sink: Sink
) -> None:
    html = (
        b"<html><body><p>We regret to inform you that we will not move forward with your application.</p>"
        + b"<p>x</p>" * (TWO_MB // 8)
        + b"<p>Best regards</p></body></html>"
    )
    message = (
        b"From: HR <hr@acme.example>\r\nTo: cand@example.org\r\nSubject: Your application\r\n"
        b"X-Career-Relay: rejection\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n"
        + html
        + b"\r\n"
    )
    relay = Relay(loop_thread, settings_for_sink(roomy_sink.port)).start()
    try:
        with smtplib.SMTP("127.0.0.1", relay.port, timeout=30) as client:
            assert client.sendmail("hr@acme.example", ["cand@example.org"], message) == {}
    finally:
        relay.stop()
    [received] = roomy_sink.received
    assert b"career-relay:v1" in received.data
    original_lines = set(message.split(b"\r\n"))
    written = [line for line in received.data.split(b"\r\n") if line not in original_lines]
    # A long line that goes out is the original's bytes, cut where the block goes in; every line the
    # relay wrote itself is within 998 octets.
    long_lines = [line for line in written if len(line) > 998]
    assert len(long_lines) == 1 and long_lines[0] in html and len(long_lines[0]) > TWO_MB
    assert max(len(line) for line in written if line not in long_lines) <= 998
