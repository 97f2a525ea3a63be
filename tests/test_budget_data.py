"""The byte budget while DATA is received (budget.py, smtp/protocol.py), over loopback sockets.

Large messages arriving at once under a small budget all get their 250 and arrive intact (when every
half-received message waits for more, one goes on beyond the cap, so they cannot wait for each other
forever); a session whose
DATA does not fit waits, unread, until another message gives its octets back; a session that waits
past its timeout hears 421; every way out of DATA (end, 552, a client that goes away) gives the
octets back exactly once.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import hashlib
import select
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from smtp_fixtures import LoopThread, Relay, Sink, settings_for_sink

from relay_smtp.budget import ByteBudget
from relay_smtp.smtp.protocol import BulkDataSMTP

DEADLINE = 30.0  # seconds any one wait below may take before the test fails


def business_mail(n: int, size: int) -> bytes:
    """A plain business message of about ``size`` octets whose body differs for every ``n``."""
    header = (
        f"From: Sales <sales{n}@example.com>\r\nTo: buyer@example.org\r\nSubject: Quotation {n}\r\n"
        f"Message-ID: <q{n}@example.com>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    ).encode()
    body = bytearray()
    block = 0
    while len(body) < (size - len(header)) * 57 // 78:  # base64: 76 characters and CRLF per 57 octets
        body += hashlib.sha512(f"{n}:{block}".encode()).digest()
        block += 1
    encoded = base64.encodebytes(bytes(body)).replace(b"\n", b"\r\n")
    return header + encoded


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting until {what}"
        time.sleep(0.005)


def open_data(port: int) -> socket.socket:
    """A session that has said DATA and heard 354."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
    reader = sock.makefile("rb")
    assert reader.readline().startswith(b"220")
    for command in (b"EHLO client.test", b"MAIL FROM:<sales@example.com>", b"RCPT TO:<buyer@example.org>"):
        sock.sendall(command + b"\r\n")
        while (line := reader.readline())[3:4] == b"-":
            pass
        assert line.startswith(b"250"), line
    sock.sendall(b"DATA\r\n")
    assert reader.readline().startswith(b"354")
    return sock


def reply(sock: socket.socket) -> bytes:
    return sock.makefile("rb").readline()


# --- the relay: all arrive, and growth waits for room ---------------------------------------------


def test_large_messages_at_once_under_a_small_budget_all_arrive_intact(
    loop_thread: LoopThread, sink: Sink
) -> None:
    """Eight 600 KB messages at once, a budget of 1 MB: two of them do not fit side by side, and
    half-received ones fill it."""
    relay = Relay(loop_thread, settings_for_sink(sink.port, max_bytes_in_flight=1_000_000)).start()
    assert relay.service is not None
    budget = relay.service.processor.budget
    messages = [business_mail(n, 600_000) for n in range(8)]
    sessions = [open_data(relay.port) for _ in messages]  # all in DATA before any octet of it is sent

    def send(sock: socket.socket, message: bytes) -> bytes:
        with sock:
            sock.sendall(message + b".\r\n")
            return reply(sock)

    try:
        with concurrent.futures.ThreadPoolExecutor(len(messages)) as pool:
            replies = list(pool.map(send, sessions, messages, timeout=4 * DEADLINE))
    finally:
        relay.stop()
    assert all(r.startswith(b"250 2.0.0") for r in replies), replies
    assert sorted(r.data for r in sink.received) == sorted(messages)
    assert budget.used == 0 and budget.waiting == 0
    assert budget.peak <= 2 * budget.limit  # the cap, and one message beyond it


def test_a_session_whose_data_does_not_fit_waits_until_another_message_is_done(
    loop_thread: LoopThread, sink: Sink
) -> None:
    """A budget smaller than two messages: the second message, sent whole while the first is half
    sent, is answered only after the first is done, and both arrive as sent."""
    first, second = business_mail(1, 400_000), business_mail(2, 400_000)
    relay = Relay(loop_thread, settings_for_sink(sink.port, max_bytes_in_flight=500_000)).start()
    assert relay.service is not None
    budget = relay.service.processor.budget
    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            a = open_data(relay.port)
            a.sendall(first[:300_000])
            wait_until(lambda: budget.used >= 250_000, "the first message holds its octets")
            b = open_data(relay.port)
            b_sent = pool.submit(b.sendall, second + b".\r\n")  # may block: b's data is not read
            wait_until(lambda: budget.waiting == 1, "the second session waits for room")
            assert sink.received == []
            assert select.select([b], [], [], 0)[0] == []  # no answer while it waits
            a.sendall(first[300_000:] + b".\r\n")
            assert reply(a).startswith(b"250 2.0.0")
            assert reply(b).startswith(b"250 2.0.0")
            b_sent.result(DEADLINE)
            a.close()
            b.close()
    finally:
        relay.stop()
    assert [r.data for r in sink.received] == [first, second]
    assert budget.used == 0


# --- the protocol alone: timeouts and every way out of DATA ---------------------------------------


@dataclass
class Recorder:
    messages: list[bytes] = field(default_factory=list)
    charges_held: list[int] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(server, BulkDataSMTP) and server.data_charge is not None
        assert isinstance(envelope.original_content, bytes)
        self.charges_held.append(server.data_charge.held)
        self.messages.append(envelope.original_content)
        return "250 2.0.0 got it"


@dataclass
class Server:
    port: int
    budget: ByteBudget
    recorder: Recorder


@pytest.fixture
def server(loop_thread: LoopThread) -> Iterator[Server]:
    """A bulk DATA server with a 200 KB budget, a 1 MB size limit, lines up to 100 KB and a session
    timeout of two seconds."""
    budget, recorder = ByteBudget(200_000), Recorder()

    async def start() -> asyncio.Server:
        def factory() -> SMTP:
            return BulkDataSMTP(
                recorder,
                line_length_limit=100_000,
                budget=budget,
                data_size_limit=1_000_000,
                decode_data=False,
                timeout=2.0,
            )

        return await asyncio.get_running_loop().create_server(factory, "127.0.0.1", 0)

    async def stop(listening: asyncio.Server) -> None:
        listening.close()

    listening = loop_thread.run(start())
    yield Server(listening.sockets[0].getsockname()[1], budget, recorder)
    # On the loop's own thread: asyncio.Server is not thread-safe, and a session ending on the loop
    # at the same moment raced a close() made from here.
    loop_thread.run(stop(listening))


def test_the_handler_holds_the_messages_charge_and_it_is_given_back_after(server: Server) -> None:
    message = business_mail(3, 150_000)
    with open_data(server.port) as sock:
        sock.sendall(message + b".\r\n")
        assert reply(sock).startswith(b"250 2.0.0 got it")
    assert server.recorder.messages == [message]
    assert server.recorder.charges_held == [len(message)]
    assert server.budget.used == 0


def test_a_session_that_waits_past_its_timeout_hears_421(loop_thread: LoopThread, server: Server) -> None:
    """Another message holds the whole budget and is older; the session waits its two seconds, then
    the client hears why it is cut off, and keeps its message to try again."""
    other = server.budget.charge()

    async def hold() -> bool:
        return other.try_grow(server.budget.limit)

    async def release() -> None:
        other.release()

    assert loop_thread.run(hold())
    try:
        with open_data(server.port) as sock:
            sock.sendall(business_mail(4, 100_000) + b".\r\n")
            assert reply(sock).startswith(b"421 4.3.1")
            assert sock.recv(1) == b""  # and the session is closed
    finally:
        loop_thread.run(release())
    assert server.recorder.messages == []
    assert server.budget.used == 0


@pytest.mark.parametrize("way_out", ["the client goes away", "552 too big", "500 line too long"])
def test_every_way_out_of_data_gives_the_octets_back(server: Server, way_out: str) -> None:
    with open_data(server.port) as sock:
        sock.sendall(business_mail(5, 150_000))
        wait_until(lambda: server.budget.used > 100_000, "the message holds its octets")
        if way_out == "the client goes away":
            sock.close()
        else:
            rest = b"x" * 120_000 + b"\r\n" if way_out == "500 line too long" else b"y\r\n" * 400_000
            sock.sendall(rest + b".\r\n")
            assert reply(sock)[:3] == way_out[:3].encode()
        wait_until(lambda: server.budget.used == 0, "the octets are given back")
    assert server.recorder.messages == []
