"""The retry spool: durable entries, backoff, and the bounce when a copy cannot be delivered."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

from smtp_fixtures import LoopThread, Sink

from relay_smtp.config import SmtpUpstream, UpstreamSettings
from relay_smtp.smtp.spool import Spool, SpoolWorker, doubling_backoff
from relay_smtp.smtp.upstream import Reply, SmtpHop

COPY = b"From: hr@acme.example\r\nTo: cand@example.org\r\nSubject: Your application\r\n\r\nBody\r\n"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def worker_for(sink: Sink, spool: Spool) -> SpoolWorker:
    hop = SmtpHop(SmtpUpstream("127.0.0.1", sink.port, tls="none"), UpstreamSettings(timeout=5))
    return SpoolWorker(spool, hop, "relay.test")


def test_doubling_backoff() -> None:
    assert doubling_backoff(60) == (60, 120, 240, 480, 960, 1920, 3600)


def test_entries_survive_a_new_spool_object_and_keep_their_schedule(tmp_path: Path) -> None:
    clock = Clock()
    spool = Spool(tmp_path, backoff=(10.0, 20.0), clock=clock)
    entry = spool.put("hr@acme.example", "cand@example.org", COPY, "QUEUEID")
    reopened = Spool(tmp_path, backoff=(10.0, 20.0), clock=clock)
    assert reopened.entries() == [entry]
    assert reopened.data(entry) == COPY
    assert reopened.due() == []
    clock.now += 10
    assert reopened.due() == [entry]
    later = reopened.reschedule(entry, Reply(451, "4.3.2 busy"))
    assert (later.attempts, later.next_attempt, later.last_reply) == (1, clock.now + 20, "451 4.3.2 busy")
    assert Spool(tmp_path, clock=clock).entries() == [later]


def test_half_written_entries_are_ignored(tmp_path: Path) -> None:
    (tmp_path / "123-abc.eml").write_bytes(COPY)  # data without its meta file: never picked up
    (tmp_path / ".123-abc.json.tmp").write_text("{", encoding="utf-8")
    assert Spool(tmp_path).entries() == []


def test_worker_delivers_a_due_entry(loop_thread: LoopThread, sink: Sink, tmp_path: Path) -> None:
    clock = Clock()
    spool = Spool(tmp_path, backoff=(1.0,), clock=clock)
    spool.put("hr@acme.example", "cand@example.org", COPY, "QUEUEID")
    clock.now += 1
    assert loop_thread.run(worker_for(sink, spool).run_once()) == 1
    [got] = sink.received
    assert (got.mail_from, got.recipients, got.data) == ("hr@acme.example", ["cand@example.org"], COPY)
    assert len(spool) == 0


def test_expired_entry_bounces_to_the_sender(loop_thread: LoopThread, sink: Sink, tmp_path: Path) -> None:
    clock = Clock()
    spool = Spool(tmp_path, backoff=(1.0,), max_age=100, clock=clock)
    spool.put("hr@acme.example", "cand@example.org", COPY, "QUEUEID")
    sink.behaviour.data_replies_by_rcpt = {"cand@example.org": "451 4.3.2 still busy"}
    clock.now += 1
    assert loop_thread.run(worker_for(sink, spool).run_once()) == 0  # deferred again, kept
    assert len(spool) == 1
    clock.now += 200
    assert loop_thread.run(worker_for(sink, spool).run_once()) == 1
    [dsn] = sink.received
    assert (dsn.mail_from, dsn.recipients) == ("<>", ["hr@acme.example"])  # the null sender
    report = email.message_from_bytes(dsn.data, policy=email.policy.default)
    assert report.get_content_type() == "multipart/report"
    assert b"Final-Recipient: rfc822; cand@example.org" in dsn.data
    assert b"Status: 5.3.2" in dsn.data
    assert b"Subject: Your application" in dsn.data  # the original's headers come back
    assert len(spool) == 0


def test_permanent_refusal_bounces_at_once(loop_thread: LoopThread, sink: Sink, tmp_path: Path) -> None:
    clock = Clock()
    spool = Spool(tmp_path, backoff=(1.0,), clock=clock)
    spool.put("hr@acme.example", "gone@example.org", COPY, "QUEUEID")
    sink.behaviour.rcpt_replies = {"gone@example.org": "550 5.1.1 no such user"}
    clock.now += 1
    loop_thread.run(worker_for(sink, spool).run_once())
    [dsn] = sink.received
    assert dsn.recipients == ["hr@acme.example"]
    assert b"Status: 5.1.1" in dsn.data
