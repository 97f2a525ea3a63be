"""What the relay owes after it answered 250 is never dropped: bounces are spooled, the loop survives.

Real sockets throughout: the relay or the spool worker talk SMTP to a recording sink that defers or
refuses as told; spool failures are real OS errors (the spool directory replaced by a file).
"""

from __future__ import annotations

import asyncio
import json
import smtplib
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from smtp_fixtures import LoopThread, Relay, Sink, settings_for_sink

from relay_smtp.config import Settings, SmtpUpstream, UpstreamSettings
from relay_smtp.service import RelayService
from relay_smtp.smtp.spool import Spool, SpoolWorker
from relay_smtp.smtp.upstream import SmtpHop

COPY = b"From: hr@acme.example\r\nTo: cand@example.org\r\nSubject: Your application\r\n\r\nBody\r\n"
REJECTION = (
    b"From: ACME Recruiting <recruit@acme.example>\r\n"
    b"To: a@example.org, b@example.org\r\n"
    b"Subject: Your application\r\n"
    b"Message-ID: <r1@acme.example>\r\n"
    b"X-Career-Relay: rejection\r\n"
    b"\r\n"
    b"Dear candidate,\r\n\r\nWe regret to tell you that we will not move forward.\r\n"
)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def wait_until(condition: Callable[[], bool], seconds: float = 15.0) -> bool:
    """Poll a condition (a bound on waiting, not a timed assertion)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def hop_for(sink: Sink) -> SmtpHop:
    return SmtpHop(SmtpUpstream("127.0.0.1", sink.port, tls="none"), UpstreamSettings(timeout=5))


def test_expired_copy_whose_bounce_is_deferred_is_bounced_later(
    loop_thread: LoopThread, sink: Sink, tmp_path: Path
) -> None:
    clock = Clock()
    spool = Spool(tmp_path, backoff=(1.0,), max_age=100, clock=clock)
    spool.put("hr@acme.example", "cand@example.org", COPY, "QUEUEID")
    sink.behaviour.data_replies_by_rcpt = {"cand@example.org": "451 4.3.2 still busy"}
    sink.behaviour.rcpt_replies = {"hr@acme.example": "451 4.3.2 sender's mailbox busy"}
    worker = SpoolWorker(spool, hop_for(sink), "relay.test")
    clock.now += 200
    loop_thread.run(worker.run_once())
    assert sink.received == []
    [owed] = spool.entries()  # the copy is gone, its bounce is owed and kept
    assert (owed.mail_from, owed.recipient) == ("", "hr@acme.example")

    sink.behaviour.rcpt_replies = {}
    clock.now += 1
    loop_thread.run(worker.run_once())
    [dsn] = sink.received
    assert (dsn.mail_from, dsn.recipients) == ("<>", ["hr@acme.example"])
    assert b"Final-Recipient: rfc822; cand@example.org" in dsn.data
    assert len(spool) == 0


def relay_settings(sink: Sink, spool: Path) -> Settings:
    settings = settings_for_sink(sink.port, spool=spool)
    return replace(
        settings,
        links=replace(settings.links, secrets=("test-link-secret-0123456789abcdef",)),
        spool=replace(settings.spool, retry_interval=0.2),
    )


def test_refused_copy_whose_bounce_is_deferred_is_bounced_later(
    loop_thread: LoopThread, sink: Sink, tmp_path: Path
) -> None:
    sink.behaviour.data_replies_by_rcpt = {"b@example.org": "550 5.1.1 no such user"}
    sink.behaviour.rcpt_replies = {"recruit@acme.example": "451 4.3.2 sender's mailbox busy"}
    relay = Relay(loop_thread, relay_settings(sink, tmp_path / "spool")).start()
    try:
        with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as client:
            refused = client.sendmail("recruit@acme.example", ["a@example.org", "b@example.org"], REJECTION)
        assert refused == {}
        assert [r.recipients for r in sink.received] == [["a@example.org"]]
        sink.behaviour.rcpt_replies = {}
        assert wait_until(lambda: len(sink.received) == 2)
    finally:
        relay.stop()
    dsn = sink.received[1]
    assert (dsn.mail_from, dsn.recipients) == ("<>", ["recruit@acme.example"])
    assert b"Final-Recipient: rfc822; b@example.org" in dsn.data
    assert b"Status: 5.1.1" in dsn.data
    assert list((tmp_path / "spool").glob("*.json")) == []


def test_a_spool_write_that_fails_once_does_not_stop_later_retries(
    loop_thread: LoopThread, sink: Sink, tmp_path: Path
) -> None:
    directory = tmp_path / "spool"
    spool = Spool(directory, backoff=(0.01,))
    spool.put("hr@acme.example", "cand@example.org", COPY, "QUEUEID")
    time.sleep(0.02)  # due
    away = tmp_path / "spool.away"
    answers = ["451 4.3.2 busy"]
    original = sink.handler.handle_DATA

    async def defer_and_fill_the_disk(server, session, envelope):  # type: ignore[no-untyped-def]
        if answers:
            # While the worker waits for this 4xx, its spool stops being writable (a real ENOTDIR
            # when it rewrites the entry), as a full disk would.
            directory.rename(away)
            directory.write_bytes(b"not a directory")
            return answers.pop()
        return await original(server, session, envelope)

    sink.handler.handle_DATA = defer_and_fill_the_disk  # type: ignore[method-assign]
    worker = SpoolWorker(spool, hop_for(sink), "relay.test", interval=0.05)
    task = asyncio.run_coroutine_threadsafe(worker.run(), loop_thread.loop)
    try:
        assert wait_until(lambda: directory.is_file() and (task.done() or worker.failures > 0))
        assert not task.done(), "the retry loop died"
        directory.unlink()
        away.rename(directory)
        assert wait_until(lambda: len(sink.received) == 1)
    finally:
        worker.stop()
        task.result(10)
    assert sink.received[0].recipients == ["cand@example.org"]
    assert len(spool) == 0


def get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        body = err.read()
        err.close()
        return err.code, body


def test_healthz_and_metrics_show_a_stalled_spool(
    loop_thread: LoopThread, sink: Sink, tmp_path: Path
) -> None:
    settings = relay_settings(sink, tmp_path / "spool")
    # A worker that does not retry the spool itself (as workers 1..N) still sees that nobody does.
    service = RelayService(settings, run_spool=False)
    loop_thread.run(service.start(port=0, web_port=0))
    try:
        port = service.web.address[1]
        assert get(port, "/healthz")[0] == 200
        an_hour_ago = Clock()
        an_hour_ago.now = time.time() - 3600
        Spool(settings.spool.directory, backoff=(60.0,), clock=an_hour_ago).put(
            "hr@acme.example", "cand@example.org", COPY, "QUEUEID"
        )
        status, body = get(port, "/healthz")
        assert status == 503
        health = json.loads(body)
        assert health["status"] == "degraded"
        assert health["spool"]["copies"] == 1 and health["spool"]["state"] == "stalled"
        assert health["spool"]["oldest_age_seconds"] >= 3600
        status, text = get(port, "/metrics")
        assert status == 200
        samples = dict(line.rsplit(" ", 1) for line in text.decode().splitlines() if line and line[0] != "#")
        assert float(samples["relay_smtp_spool_overdue_seconds"]) > 3000
        assert float(samples["relay_smtp_spool_stalled"]) == 1.0
        assert "relay_smtp_spool_failures_total" in samples
    finally:
        loop_thread.run(service.stop())
