"""The envelope as the next hop sees it: SMTPUTF8 and 8BITMIME passed on, control characters refused.

The next-hop client knows the next hop's EHLO extensions before its MAIL step encodes anything, so a
fresh connection behaves like a pooled one; a failure after a next-hop connect never leaves that
connection open (a client could otherwise exhaust the next hop's smtpd slots).
"""

from __future__ import annotations

import asyncio
import smtplib
import time
from collections.abc import Callable, Iterator

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from smtp_fixtures import LoopThread, Relay, Sink, SinkHandler, settings_for_sink

MESSAGE = "From: tarō@例え.jp\r\nTo: cand@example.org\r\nSubject: ご応募\r\n\r\nありがとうございました。\r\n"


def wait_until(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def record_mail_options(sink: Sink) -> list[list[str]]:
    """What MAIL parameters reached the sink, per accepted message."""
    seen: list[list[str]] = []
    original = sink.handler.handle_DATA

    async def handle_DATA(server: SMTP, session: Session, envelope: Envelope) -> str:
        seen.append([o.upper() for o in envelope.mail_options])
        return await original(server, session, envelope)

    sink.handler.handle_DATA = handle_DATA  # type: ignore[method-assign]
    return seen


@pytest.fixture
def relay(loop_thread: LoopThread, sink: Sink) -> Iterator[Relay]:
    r = Relay(loop_thread, settings_for_sink(sink.port)).start()
    yield r
    r.stop()


def send_utf8(relay: Relay) -> tuple[int, bytes]:
    with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as client:
        client.ehlo()
        code, text = client.mail("tarō@例え.jp", ["SMTPUTF8", "BODY=8BITMIME"])
        assert code == 250, text
        code, text = client.rcpt("候補者@example.org")
        assert code == 250, text
        return client.data(MESSAGE.encode("utf-8"))


def test_smtputf8_and_8bitmime_reach_the_next_hop_on_fresh_and_pooled_connections(
    relay: Relay, sink: Sink
) -> None:
    options = record_mail_options(sink)
    assert send_utf8(relay)[0] == 250  # a fresh next-hop connection
    assert sink.handler.connections == 1
    assert send_utf8(relay)[0] == 250  # the same connection, from the pool
    assert sink.handler.connections == 1
    assert [(r.mail_from, r.recipients) for r in sink.received] == [
        ("tarō@例え.jp", ["候補者@example.org"])
    ] * 2
    assert all(r.data == MESSAGE.encode("utf-8") for r in sink.received)
    assert options == [["SMTPUTF8", "BODY=8BITMIME"]] * 2


def open_connections(handler_protocols: list[SMTP]) -> int:
    return sum(1 for p in handler_protocols if p.transport is not None and not p.transport.is_closing())


@pytest.mark.parametrize("sender", ["a\x00b@example.org", "a\x01b@example.org", "a\x7f@example.org"])
def test_control_characters_in_mail_from_are_refused_before_any_next_hop_work(
    relay: Relay, sink: Sink, sender: str
) -> None:
    with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as client:
        client.ehlo()
        for _ in range(3):
            code, text = client.docmd(f"MAIL FROM:<{sender}>")
            assert code == 553 and text.startswith(b"5.1.7"), text
            assert client.rcpt("cand@example.org")[0] == 503  # no transaction was opened
        assert client.mail("hr@example.org")[0] == 250
        assert client.docmd("RCPT TO:<c\x00d@example.org>")[0] == 553
    assert sink.handler.connections == 0


class PlainSink:
    """A next hop without SMTPUTF8, counting the connections it still holds open."""

    def __init__(self, loop_thread: LoopThread) -> None:
        self.handler = SinkHandler()
        self.protocols: list[SMTP] = []

        async def start() -> asyncio.Server:
            def factory() -> SMTP:
                protocol = SMTP(self.handler, decode_data=False, enable_SMTPUTF8=False)
                self.protocols.append(protocol)
                return protocol

            return await asyncio.get_running_loop().create_server(factory, "127.0.0.1", 0)

        self.server = loop_thread.run(start())
        self.port = self.server.sockets[0].getsockname()[1]

    def open_connections(self) -> int:
        return open_connections(self.protocols)


def test_a_utf8_sender_the_next_hop_cannot_take_gets_a_clear_5xx_and_no_connection_stays_open(
    loop_thread: LoopThread,
) -> None:
    plain = PlainSink(loop_thread)
    relay = Relay(loop_thread, settings_for_sink(plain.port)).start()
    try:
        for _ in range(3):
            with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as client:
                client.ehlo()
                assert client.mail("tarō@例え.jp", ["SMTPUTF8"])[0] == 250
                code, text = client.rcpt("cand@example.org")
                assert code == 553 and b"5.6.7" in text, text
        assert wait_until(lambda: plain.open_connections() == 0)
        # An ASCII sender with a UTF-8 recipient: refused at that RCPT, the transaction goes on.
        with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as client:
            client.ehlo()
            assert client.mail("hr@example.org", ["SMTPUTF8"])[0] == 250
            assert client.rcpt("候補者@example.org")[0] == 553
            assert client.rcpt("cand@example.org")[0] == 250
            assert client.data(b"Subject: hi\r\n\r\nhello\r\n")[0] == 250
        assert [r.recipients for r in plain.handler.received] == [["cand@example.org"]]
    finally:
        relay.stop()
        loop_thread.run(_close(plain))


async def _close(plain: PlainSink) -> None:
    plain.server.close()
    for protocol in plain.protocols:
        if protocol.transport is not None:
            protocol.transport.close()
    await asyncio.sleep(0.05)
