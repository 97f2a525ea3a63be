"""A rejection whose header section verifiers would read differently is forwarded untouched.

Real relay, real sink, a real DKIM key for the company: a message is changed only when the changed
copy is signed for its From domain, and never when the header section is malformed (an mbox "From "
line, a line that is neither a field nor a continuation, no From or several From fields).
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from smtp_fixtures import LoopThread, Relay, Sink, settings_for_sink

from relay_smtp.config import Company, DkimKey
from relay_smtp.mail.dkim import generate_key, verify_with_key

BODY = b"\r\nDear candidate,\r\n\r\nWe regret to tell you that we will not move forward.\r\n"
FIELDS = b"To: cand@example.org\r\nSubject: Your application\r\nX-Career-Relay: rejection\r\n"
GOOD_FROM = b"From: ACME Recruiting <recruit@acme.example>\r\n"


@pytest.fixture
def dkim_txt(tmp_path: Path) -> tuple[Path, str]:
    pem, txt = generate_key("ed25519")
    path = tmp_path / "acme.key"
    path.write_bytes(pem)
    return path, txt


@pytest.fixture
def relay(loop_thread: LoopThread, sink: Sink, dkim_txt: tuple[Path, str]) -> Iterator[Relay]:
    base = settings_for_sink(sink.port)
    company = Company("acme", "ACME Inc.", "en", "enforce", ("recruit@acme.example",), ("acme.example",))
    key = DkimKey("acme.example", "s1", dkim_txt[0], "ed25519-sha256")
    settings = replace(
        base,
        companies=(company,),
        dkim=replace(base.dkim, keys=(key,)),
        links=replace(base.links, secrets=("header-section-secret-0123456789",)),
    )
    r = Relay(loop_thread, settings).start()
    yield r
    r.stop()


def relay_one(relay: Relay, sink: Sink, message: bytes) -> bytes:
    with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as client:
        assert client.sendmail("recruit@acme.example", ["cand@example.org"], message) == {}
    return sink.received[-1].data


def test_a_sound_rejection_is_changed_and_signed(
    relay: Relay, sink: Sink, dkim_txt: tuple[Path, str]
) -> None:
    sent = relay_one(relay, sink, GOOD_FROM + FIELDS + BODY)
    assert b"/r/" in sent
    assert verify_with_key(sent, dkim_txt[1])


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (b"From recruit@acme.example Mon Nov 30 09:00:00 2026\r\n" + GOOD_FROM + FIELDS + BODY, "mbox"),
        (GOOD_FROM + b"From recruit@acme.example Mon Nov 30 09:00:00 2026\r\n" + FIELDS + BODY, "mbox"),
        (GOOD_FROM + FIELDS + b"this line is no field\r\n" + BODY, "no blank line"),
        (GOOD_FROM + b"From: Other <other@acme.example>\r\n" + FIELDS + BODY, "2 From fields"),
        (FIELDS + BODY, "no From field"),
        (b"From: ACME Recruiting\r\n" + FIELDS + BODY, "no address"),
        (b"From: HR <hr@elsewhere.example>\r\n" + FIELDS + BODY, "could not be signed"),
    ],
    ids=["mbox-top", "mbox-among", "stray-line", "two-froms", "no-from", "from-no-address", "unsignable"],
)
def test_what_cannot_be_changed_and_signed_alike_is_forwarded_untouched(
    relay: Relay, sink: Sink, caplog: pytest.LogCaptureFixture, message: bytes, reason: str
) -> None:
    with caplog.at_level(logging.INFO, logger="relay_smtp"):
        sent = relay_one(relay, sink, message)
    assert sent == message
    assert b"unknown" not in sent and b"/r/" not in sent
    verdicts = [r.getMessage() for r in caplog.records if r.getMessage().startswith("verdict=")]
    assert any(reason in line and "action=passed" in line for line in verdicts), verdicts
