"""SIGTERM drains: open sessions get 421 for new transactions, the listener goes at once.

Postfix reuses connections, so a drain that only stopped accepting new connections would never see
its count of open transactions reach zero; and a supervisor that kept the listening socket open
would leave new clients waiting without a greeting.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import signal
import smtplib
import threading
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session
from smtp_fixtures import LoopThread, Relay, Sink, settings_for_sink
from test_workers import REJECTION, accepting, children, free_port, serve_two_workers, wait_for, write_config

MESSAGE = b"From: hr@example.org\r\nTo: cand@example.org\r\nSubject: hello\r\n\r\nhello\r\n"


class HeldNextHop:
    """The sink's DATA waits until the test releases it, so a transaction is in flight for sure."""

    def __init__(self, sink: Sink, loop_thread: LoopThread) -> None:
        self.entered = threading.Event()
        self._release = asyncio.Event()
        self._loop = loop_thread.loop
        original = sink.handler.handle_DATA

        async def handle_DATA(server: SMTP, session: Session, envelope: Envelope) -> str:
            self.entered.set()
            await self._release.wait()
            return await original(server, session, envelope)

        sink.handler.handle_DATA = handle_DATA  # type: ignore[method-assign]

    def release(self) -> None:
        self._loop.call_soon_threadsafe(self._release.set)


def send(port: int, data: bytes) -> tuple[int, bytes]:
    with smtplib.SMTP("127.0.0.1", port, timeout=20) as client:
        return client.data(data) if _envelope(client) else (0, b"")


def _envelope(client: smtplib.SMTP) -> bool:
    client.ehlo()
    return client.mail("hr@example.org")[0] == 250 and client.rcpt("cand@example.org")[0] == 250


def test_after_sigterm_open_sessions_get_421_and_no_transaction_is_cut(
    loop_thread: LoopThread, sink: Sink
) -> None:
    relay = Relay(loop_thread, settings_for_sink(sink.port)).start()
    assert relay.service is not None
    held = HeldNextHop(sink, loop_thread)
    idle = smtplib.SMTP("127.0.0.1", relay.port, timeout=20)  # an open, reused session
    idle.ehlo()
    busy = smtplib.SMTP("127.0.0.1", relay.port, timeout=20)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        assert _envelope(busy)
        in_flight = pool.submit(busy.data, MESSAGE)
        assert held.entered.wait(10)
        stopping = asyncio.run_coroutine_threadsafe(relay.service.stop(), loop_thread.loop)
        wait_for(lambda: relay.service is not None and relay.service.handler.draining)
        assert not accepting(relay.port)  # the listener went at once
        code, text = idle.mail("hr@example.org")
        assert code == 421 and text.startswith(b"4.3.2"), text
        held.release()
        code, text = in_flight.result(20)
        assert code == 250, text  # the transaction in flight was answered, not cut
        stopping.result(20)
    assert [r.recipients for r in sink.received] == [["cand@example.org"]]
    for client in (idle, busy):
        client.close()
    relay.service = None


def test_the_supervisor_closes_the_listening_socket_at_once_on_sigterm(
    loop_thread: LoopThread, sink: Sink, tmp_path: Path
) -> None:
    held = HeldNextHop(sink, loop_thread)
    port = free_port()
    config = tmp_path / "relay.toml"
    write_config(config, port, sink.port, "audit")
    with serve_two_workers(config) as proc:
        wait_for(lambda: accepting(port) and len(children(proc.pid)) == 2)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            in_flight = pool.submit(send, port, REJECTION)
            assert held.entered.wait(10)
            proc.send_signal(signal.SIGTERM)
            wait_for(lambda: not accepting(port))
            assert proc.poll() is None  # still draining the transaction in flight
            held.release()
            assert in_flight.result(20)[0] == 250
        _, log = proc.communicate(timeout=20)
        assert proc.returncode == 0, log
        assert "drain timed out" not in log
    assert len(sink.received) == 1
