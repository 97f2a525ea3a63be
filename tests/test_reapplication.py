"""The re-application rate, measured from the mail stream that goes through the relay's real SMTP path.

A rejection to A, then 20 days later an interview invitation from the same company's recruiting sender
to A: counted.  A reply in the rejection's own thread (2 days later, or 20): not counted.  A mail from
another company to A: not counted.  A new mail only 5 days after a rejection: not counted
(kpi.reapply_min_days is 14).  The recorder's clock is the test's; the store keeps hashes and dates only.
"""

from __future__ import annotations

import re
import smtplib
import urllib.request
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path

import pytest
from smtp_fixtures import LoopThread, Relay, Sink, settings_for_sink
from sqlalchemy import select

from relay_smtp.config import AdminSettings, Company, Settings
from relay_smtp.pipeline import Outcome
from relay_smtp.recontact import (
    THREAD_FIELDS,
    ContactWriter,
    ObservedMail,
    OutgoingMail,
    message_ids,
    observed_mail,
    scanned_fields,
    thread_fields,
)
from relay_smtp.store.kpi_tables import kpi_rejections

T0 = datetime(2026, 10, 5, 1, 0, tzinfo=UTC)
ADMIN_TOKEN = "reapply-admin-token-0123456789"
LINK = re.compile(rb"/r/([A-Za-z0-9_\-.]+)")


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def settings(sink: Sink) -> Settings:
    base = settings_for_sink(sink.port)
    acme = Company("acme", "ACME Inc.", "en", "enforce", ("recruit@acme.example",))
    globex = Company("globex", "Globex", "en", "enforce", ("jobs@globex.example",))
    return replace(
        base,
        companies=(acme, globex),
        links=replace(base.links, secrets=("reapply-link-secret-0123456789",)),
        admin=AdminSettings(token=ADMIN_TOKEN),
    )


def mail(sender: str, to: str, message_id: str, body: str, *, reply_to: str | None = None) -> bytes:
    thread = f"In-Reply-To: <{reply_to}>\r\nReferences: <{reply_to}>\r\n" if reply_to else ""
    return (
        f"From: Recruiting <{sender}>\r\nTo: {to}\r\nSubject: Your application\r\n"
        f"Message-ID: <{message_id}>\r\n{thread}\r\n{body}\r\n"
    ).encode()


REJECTION = (
    "Dear candidate,\r\n\r\nThank you for interviewing for the analyst position. Unfortunately we\r\n"
    "have decided not to move forward with your application.\r\n\r\nBest of luck in your job search.\r\n"
)
INVITATION = "Dear candidate,\r\n\r\nWe would like to invite you to an interview for our new opening.\r\n"
REPLY = "Dear candidate,\r\n\r\nThank you for your message; we wish you all the best.\r\n"


def test_reapplication_is_measured_from_the_mail_stream(
    loop_thread: LoopThread, sink: Sink, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    relay = Relay(loop_thread, settings(sink)).start()
    assert relay.service is not None
    recorder = relay.service.recorder  # the service owns the recorder (issue 15)
    assert recorder is not None
    clock = Clock()
    recorder.clock = clock

    def send(at: timedelta, sender: str, to: str, data: bytes) -> None:
        clock.now = T0 + at
        with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as client:
            assert client.sendmail(sender, [to], data) == {}

    try:
        for person in ("a", "b", "c"):
            to = f"{person}@example.org"
            send(
                timedelta(0),
                "recruit@acme.example",
                to,
                mail("recruit@acme.example", to, f"rej-{person}@acme.example", REJECTION),
            )
        assert len(sink.received) == 3 and all(b"/r/" in r.data for r in sink.received)
        token_a = LINK.search(sink.received[0].data).group(1).decode()  # type: ignore[union-attr]

        # A reply in the rejection's thread, 2 days and 20 days later: not a new selection process.
        send(
            timedelta(days=2),
            "recruit@acme.example",
            "a@example.org",
            mail(
                "recruit@acme.example",
                "a@example.org",
                "re1@acme.example",
                REPLY,
                reply_to="rej-a@acme.example",
            ),
        )
        send(
            timedelta(days=20),
            "recruit@acme.example",
            "b@example.org",
            mail(
                "recruit@acme.example",
                "b@example.org",
                "re2@acme.example",
                REPLY,
                reply_to="rej-b@acme.example",
            ),
        )
        # Another company writes to A: not acme's re-application.
        send(
            timedelta(days=20),
            "jobs@globex.example",
            "a@example.org",
            mail("jobs@globex.example", "a@example.org", "g1@globex.example", INVITATION),
        )
        # Too soon after the rejection to be a new process.
        send(
            timedelta(days=5),
            "recruit@acme.example",
            "c@example.org",
            mail("recruit@acme.example", "c@example.org", "early@acme.example", INVITATION),
        )
        loop_thread.run(recorder.flush())
        assert came_back(relay) == set()

        # The interview invitation 20 days later, new thread: counted.
        send(
            timedelta(days=20),
            "recruit@acme.example",
            "a@example.org",
            mail("recruit@acme.example", "a@example.org", "inv1@acme.example", INVITATION),
        )
        loop_thread.run(recorder.flush())
        assert came_back(relay) == {relay.service.links.recipient_hash("a@example.org")}

        # A registered through Career Relay; the dashboard shows 1 of 3 rejected came back, 1 registered.
        ledger = relay.service.ledger
        assert ledger is not None
        claims = relay.service.links.verify(token_a)
        ledger.register(
            source="agency",
            external_id="agency-a",
            company="acme",
            recipient_hash=claims.recipient_hash,
            message_id=claims.message_id,
            confirmed=True,
        )
        request = urllib.request.Request(
            f"http://127.0.0.1:{relay.web_port}/admin/companies/acme?lang=en&from=2026-10&to=2026-10",
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            page = response.read().decode()
        row = re.search(
            r"<tr class=\"total\"><th scope=\"row\">Period total</th>(.*?)</tr>",
            page.split("Re-application rate</h2>")[1],
        )
        assert row is not None
        assert re.findall(r">([^<]+)</td>", row.group(1)) == ["3", "1", "33.3%", "1"]

        with ledger.engine.connect() as connection:
            stored = connection.execute(select(kpi_rejections)).all()
        text = repr(stored)
        assert "example.org" not in text and "acme.example" not in text  # only hashes and dates
        assert "housekeeping failed" not in caplog.text and "store write failed" not in caplog.text
    finally:
        relay.stop()


def came_back(relay: Relay) -> set[str]:
    assert relay.service is not None and relay.service.ledger is not None
    with relay.service.ledger.engine.connect() as connection:
        rows = connection.execute(
            select(kpi_rejections.c.recipient_hash).where(kpi_rejections.c.recontacted_at.is_not(None))
        )
        return {str(r.recipient_hash) for r in rows}


class NotingWriter(ContactWriter):
    """The service's writer, noting every relayed message that reaches it."""

    seen: list[OutgoingMail]

    def observe_all(self, batch: Sequence[OutgoingMail]) -> list[ObservedMail]:
        self.seen.extend(batch)
        return super().observe_all(batch)


def test_without_recruiting_senders_only_rejections_are_queued(loop_thread: LoopThread, sink: Sink) -> None:
    base = settings(sink)
    # ACME is known by its domain only: its mail can be a rejection, never a recruiting sender's contact.
    acme = Company("acme", "ACME Inc.", "en", "enforce", (), ("acme.example",))
    relay = Relay(loop_thread, replace(base, companies=(acme,))).start()
    assert relay.service is not None and relay.service.recorder is not None
    recorder, ledger = relay.service.recorder, relay.service.ledger
    assert ledger is not None
    writer = NotingWriter(relay.service.links, (acme,), base.kpi)
    writer.seen = []
    recorder.contacts = writer
    try:
        with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as client:
            for n, body in enumerate((INVITATION, REPLY)):
                data = mail("hr@acme.example", "a@example.org", f"m{n}@acme.example", body)
                assert client.sendmail("hr@acme.example", ["a@example.org"], data) == {}
            # Not a recruiting sender, so the rejection is marked as one (as an ATS template would).
            marked = b"X-Career-Relay: rejection\r\n" + mail(
                "hr@acme.example", "a@example.org", "r@acme.example", REJECTION
            )
            assert client.sendmail("hr@acme.example", ["a@example.org"], marked) == {}
            other = mail("news@shop.example", "b@example.org", "n1@shop.example", INVITATION)
            assert client.sendmail("news@shop.example", ["b@example.org"], other) == {}
        loop_thread.run(recorder.flush())
        assert len(sink.received) == 4
        assert [m.rejection_company for m in writer.seen] == ["acme"]  # the rejection, and nothing else
        with ledger.engine.connect() as connection:
            assert len(connection.execute(select(kpi_rejections)).all()) == 1
    finally:
        relay.stop()


def test_message_ids_are_read_from_thread_fields() -> None:
    assert message_ids("<a@x> <b@y>\r\n <c@z>") == ["a@x", "b@y", "c@z"]
    assert message_ids("not an id") == []
    assert message_ids(None) == []


# Sections the scan must read as the parser does, or leave to it.
ODD_HEADERS = (
    b"From: A <a@x>\r\nReferences: <r1@x>\r\n\t<r2@x>\r\n <r3@x>\r\nMessage-ID:<m@x>\r\n\r\nbody",
    b"message-id: <m1@x>\nMESSAGE-ID: <m2@x>\nin-reply-to:   \t<p@x>  \n\n",
    b"Message-ID:\r\n <m@x>\r\nReferences:\r\n\r\n",
    b"Subject: cut short\r\nMessage-ID: <m@x>\r\nReferences: <r@x",
    b"From someone@x Mon Jan  1 00:00:00 2026\nFrom: a@x\nMessage-ID: <m@x>\n\n",
    b" leading continuation\r\nMessage-ID: <m@x>\r\n\r\n",
    b"Message-ID: <m@x>\r\nnot a field\r\nReferences: <r@x>\r\n\r\n",
    b"Message-ID: <m@x>\rReferences: <r@x>\r\n\r\n",
    b"From: =?utf-8?q?A?= <a@x>\r\nSubject: \xe6\x97\xa5\r\nMessage-ID: <m\xe6@x>\r\n\r\n",
    b": no name\r\nMessage-ID: <m@x>\r\n\r\n",
    b"X: 1\r\nFrom : a@x\r\nMessage-ID: <m@x>\r\n\r\n",
    b"X: 1\nnot a field\n\nMessage-ID: <m@x>\n\n",
    b"Message-ID: <m@x>\r\n\r\nReferences: <body@x>\r\n",
    b"References: <a@x>\r\n\t<b@x>",
    b"References:\t  \n <a@x>\n\n",
    b"",
)


def parsed_fields(header: bytes) -> dict[str, str]:
    parsed = BytesHeaderParser(policy=compat32).parsebytes(header)
    return {name: str(parsed.get(name, "")) for name in THREAD_FIELDS}


def test_thread_fields_are_read_as_the_email_package_reads_them(corpus: list[Path]) -> None:
    """The scan gives the compat32 parser's values for every message of the corpus it reads."""
    outcome = Outcome("injected", "rejection", (), None, "acme")
    headers = list(ODD_HEADERS)
    for path in corpus:
        mail = observed_mail(path.read_bytes(), "a@x", ["b@y"], outcome, T0)
        assert mail is not None
        headers.append(mail.header)
    scanned = 0
    for header in headers:
        expected = parsed_fields(header)
        fields = scanned_fields(header)
        if fields is not None:
            scanned += 1
            assert fields == expected, header[:300]
        assert thread_fields(header) == expected
    assert scanned > len(headers) // 2  # the scan, not the parser, reads most mail
