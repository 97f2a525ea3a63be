"""One rejection to many recipients: copies made and sent one at a time, other sessions served.

A 1 MB rejection to 500 recipients becomes 500 personalised copies. They are made one at a time in
a thread, within the worker's byte budget, and each is sent before the next is made: the peak memory
traced while the message is handled stays a small multiple of its size (not 500 times it), and
another client's 20 small messages all get their 250 before the big message does.
"""

from __future__ import annotations

import concurrent.futures
import smtplib
import threading
import tracemalloc
from dataclasses import replace

from aiosmtpd.smtp import SMTP, Envelope, Session
from smtp_fixtures import LoopThread, Received, Relay, Sink, settings_for_sink

from relay_smtp.budget import ByteBudget
from relay_smtp.smtp.delivery import COPY_OVERHEAD

RECIPIENTS = [f"cand{i:03d}@example.org" for i in range(500)]
FILLER_LINE = b"Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 140 + b"\r\n"  # 7982 octets
BIG = (
    b"From: ACME Recruiting <recruit@acme.example>\r\nTo: undisclosed-recipients:;\r\n"
    b"Subject: Your application\r\nMessage-ID: <big@acme.example>\r\nX-Career-Relay: rejection\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
    b"Dear candidate,\r\n\r\nWe regret to tell you that we will not move forward.\r\n\r\n"
    + FILLER_LINE
    * (1024 * 1024 // len(FILLER_LINE))
)
SMALL = b"From: hr@example.org\r\nTo: x@example.org\r\nSubject: hello\r\n\r\nhello\r\n"


def forgetful(sink: Sink, first_big_copy: threading.Event) -> list[int]:
    """The sink keeps what it got, but not the bytes of the big copies (500 MB in this process)."""
    sizes: list[int] = []
    original = sink.handler.handle_DATA

    async def handle_DATA(server: SMTP, session: Session, envelope: Envelope) -> str:
        reply = await original(server, session, envelope)
        got = sink.received[-1]
        if len(got.data) > 100_000:
            sizes.append(len(got.data))
            sink.received[-1] = Received(got.mail_from, got.recipients, b"")
            first_big_copy.set()
        return reply

    sink.handler.handle_DATA = handle_DATA  # type: ignore[method-assign]
    return sizes


def test_a_big_rejection_to_many_recipients_neither_stalls_others_nor_eats_memory(
    loop_thread: LoopThread, sink: Sink
) -> None:
    first_big_copy = threading.Event()
    sizes = forgetful(sink, first_big_copy)
    base = settings_for_sink(sink.port, timeout=60)
    settings = replace(base, links=replace(base.links, secrets=("many-recipients-secret-0123456789",)))
    relay = Relay(loop_thread, settings).start()
    finished: list[str] = []
    lock = threading.Lock()

    def big() -> int:
        with smtplib.SMTP("127.0.0.1", relay.port, timeout=600) as client:
            refused = client.sendmail("recruit@acme.example", RECIPIENTS, BIG)
        with lock:
            finished.append("big")
        return len(refused)

    def small() -> None:
        assert first_big_copy.wait(120)  # the big message is being sent now
        for i in range(20):
            with smtplib.SMTP("127.0.0.1", relay.port, timeout=60) as client:
                assert client.sendmail("hr@example.org", ["x@example.org"], SMALL) == {}
            with lock:
                finished.append(f"small{i}")

    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            big_done = pool.submit(big)
            small_done = pool.submit(small)
            small_done.result(600)
            assert big_done.result(600) == 0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        relay.stop()
    assert finished.index("big") == 20, finished  # every small message was answered first
    assert len(sizes) == 500 and min(sizes) > len(BIG)  # 500 personalised copies arrived
    assert sorted(r.recipients[0] for r in sink.received if r.recipients != ["x@example.org"]) == RECIPIENTS
    # Client, relay and sink share this process: the client's copy, aiosmtpd's lines on both ends,
    # the relay's copy being sent. Far below the 500 x 1 MB of copies made all at once.
    assert peak < 16 * len(BIG), f"peak {peak / 2**20:.1f} MiB for a {len(BIG) / 2**20:.1f} MiB message"


def test_copies_in_flight_stay_within_the_workers_byte_budget(loop_thread: LoopThread, sink: Sink) -> None:
    """Four clients at once, each a rejection to three recipients: each message holds room in the
    budget for itself while it is received, and for the one copy it makes at a time."""
    base = settings_for_sink(sink.port)
    settings = replace(base, links=replace(base.links, secrets=("many-recipients-secret-0123456789",)))
    relay = Relay(loop_thread, settings).start()
    assert relay.service is not None
    message = BIG[: BIG.index(FILLER_LINE)] + FILLER_LINE * 30  # ~240 KB
    one_copy = len(message) + COPY_OVERHEAD
    budget = relay.service.processor.budget = ByteBudget(2 * one_copy)

    def send(n: int) -> dict[str, tuple[int, bytes]]:
        with smtplib.SMTP("127.0.0.1", relay.port, timeout=60) as client:
            return client.sendmail(
                "recruit@acme.example", [f"c{n}-{i}@example.org" for i in range(3)], message
            )

    try:
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            assert list(pool.map(send, range(4))) == [{}] * 4
    finally:
        relay.stop()
    assert len(sink.received) == 12
    # Held while received, made and sent. When every message holding octets waits for more, one goes on
    # beyond the cap (so that they cannot wait for each other forever): twice the cap at most.
    assert one_copy <= budget.peak <= 2 * budget.limit
    assert budget.used == 0
