"""A link from a mail without Message-ID: nothing in it can be checked against a guessed address."""

from __future__ import annotations

import base64
import hashlib
import re
import smtplib
from dataclasses import replace

from smtp_fixtures import LoopThread, Relay, Sink, settings_for_sink

from relay_smtp.links import LinkSigner

SECRET = "token-privacy-secret-0123456789"
LINK = re.compile(rb"/r/([A-Za-z0-9_\-.]+)")
NO_MESSAGE_ID = (
    b"From: ACME Recruiting <recruit@acme.example>\r\nTo: cand@example.org\r\n"
    b"Subject: Your application\r\nX-Career-Relay: rejection\r\n\r\n"
    b"Dear candidate,\r\n\r\nWe regret to tell you that we will not move forward.\r\n"
)


def test_the_message_field_of_a_link_is_keyed(loop_thread: LoopThread, sink: Sink) -> None:
    base = settings_for_sink(sink.port)
    relay = Relay(loop_thread, replace(base, links=replace(base.links, secrets=(SECRET,)))).start()
    try:
        with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as client:
            assert client.sendmail("recruit@acme.example", ["cand@example.org"], NO_MESSAGE_ID) == {}
    finally:
        relay.stop()
    [received] = sink.received
    match = LINK.search(received.data)
    assert match is not None
    claims = LinkSigner([SECRET]).verify(match.group(1).decode())
    # What someone holding the link could compute for a guessed address, without the secret:
    for guess in (f"{claims.company}:cand@example.org", "cand@example.org"):
        unkeyed = hashlib.sha256(guess.encode()).digest()[:6]
        assert claims.message_id != base64.urlsafe_b64encode(unkeyed).rstrip(b"=").decode()
    assert claims.message_id == LinkSigner([SECRET]).short_message_id(f"{claims.company}:cand@example.org")
