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
