"""The relay owns the next-hop transaction from the client's first RCPT to its answer after DATA.

Whatever happens in between, the transaction is finished: sent, or aborted with RSET so that the
pooled next-hop connection serves the next message (a transaction left open would hold a next-hop
connection, and the next hop's smtpd slot, until it timed out).
"""

from __future__ import annotations

import smtplib
from collections.abc import Iterator

import pytest
from smtp_fixtures import LoopThread, Relay, Sink, settings_for_sink

from relay_smtp.pipeline import Outcome, Personaliser
from relay_smtp.smtp.delivery import Sent
from relay_smtp.smtp.server import Message
from relay_smtp.smtp.upstream import Transaction

MESSAGE = b"From: HR <recruit@acme.example>\r\nTo: cand@example.org\r\nSubject: hello\r\n\r\nHello.\r\n"


@pytest.fixture
def relay(loop_thread: LoopThread, sink: Sink) -> Iterator[Relay]:
    r = Relay(loop_thread, settings_for_sink(sink.port)).start()
    yield r
    r.stop()


def send(relay: Relay) -> tuple[int, bytes]:
    with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as client:
        client.ehlo()
        assert client.mail("recruit@acme.example")[0] == 250
        assert client.rcpt("cand@example.org")[0] == 250  # offered to the next hop: its transaction is open
        return client.data(MESSAGE)


def test_a_failure_before_sending_aborts_the_open_next_hop_transaction(relay: Relay, sink: Sink) -> None:
    assert relay.service is not None
    sender = relay.service.processor.sender
    send_copies = sender.send

    async def broken(
        message: Message, transaction: Transaction, outcome: Outcome, more: Personaliser | None = None
    ) -> Sent:
        sender.send = send_copies  # type: ignore[method-assign]  # once: a bug on this message only
        raise RuntimeError("a bug of the relay's, after the recipients were offered")

    sender.send = broken  # type: ignore[method-assign]
    code, _ = send(relay)
    assert code >= 400  # no 250 for a message that did not reach the next hop
    assert sink.received == []
    assert send(relay)[0] == 250
    assert len(sink.received) == 1
    assert sink.handler.connections == 1  # the first transaction was aborted and its connection reused
