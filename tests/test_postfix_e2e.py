"""End to end with a real Postfix: the two recipes of docs/postfix.md, as a mail admin would set them up.

Why this exists: the relay's own tests talk to it directly, but in production it sits between two Postfix
services (after-queue `content_filter` with a reinjection `smtpd`, or a before-queue
`smtpd_proxy_filter`), and what matters there is what only a real Postfix shows: that the doc's
snippets work as written, that one recipient per delivery gives each candidate their own copy, that the
headers Postfix adds on the way do not break our DKIM signature, that mail which is not a rejection comes
out byte for byte, and that nothing is lost when the relay is down (Postfix keeps it queued, or the client
is told to retry).

Each test builds a private Postfix instance under its tmp directory from the doc's snippets (only the ports
changed), runs `relay-smtp serve` as a process, and checks what arrives at a recording sink that stands in
for the Internet. Postfix must be installed (`bash scripts/install-test-deps.sh`) and the tests run as root
(`postfix start` requires it); otherwise they are skipped. The machine's own Postfix and port 25 are never
touched.
"""

from __future__ import annotations

import os
import re
import smtplib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from postfix_fixtures import (
    PostfixInstance,
    RelayProcess,
    doc_blocks,
    free_port,
    master_service,
    postfix_root,
    postfix_version,
    send,
    wait_for,
    with_ports,
)
from smtp_fixtures import Received, Sink

from relay_smtp.config import HostPort, SmtpUpstream, load_settings
from relay_smtp.links import LinkSigner
from relay_smtp.mail.dkim import generate_key, verify_with_key

VERSION = postfix_version()
needs_postfix = pytest.mark.skipif(
    VERSION is None or VERSION < (3, 4),
    reason=(
        "Postfix is not installed: `bash scripts/install-test-deps.sh` installs it (Debian)"
        if VERSION is None
        else f"Postfix {'.'.join(map(str, VERSION))} is older than 3.4 (no maillog_file for the test's log)"
    ),
)
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="`postfix start` needs root; run the suite as root")

SECRET = "postfix-e2e-link-secret-0123456789"
PUBLIC_URL = "http://127.0.0.1:8025"
LINK = re.compile(re.escape(PUBLIC_URL).encode() + rb"/r/([A-Za-z0-9_\-.]+)")
RECRUITER = "recruit@acme.example"
CANDIDATES = ["alex@example.org", "sam@example.net"]

REJECTION = (
    b"From: ACME Recruiting <recruit@acme.example>\r\n"
    b"To: alex@example.org, sam@example.net\r\n"
    b"Subject: Your application for Data Analyst\r\n"
    b"Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n"
    b"Message-ID: <rejection-1@acme.example>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=us-ascii\r\n"
    b"\r\n"
    b"Dear candidate,\r\n\r\n"
    b"Thank you for interviewing for the Data Analyst position. After careful consideration\r\n"
    b"we have decided not to move forward with your application.\r\n\r\n"
    b"We wish you the best of luck in your job search.\r\n\r\n-- \r\nACME Recruiting\r\n"
)
BUSINESS = (
    b"From: Pat Buyer <pat@acme.example>\r\n"
    b"To: orders@supplier.example\r\n"
    b"Subject: Order 4711: delivery date\r\n"
    b"Date: Mon, 02 Mar 2026 11:00:00 +0000\r\n"
    b"Message-ID: <order-4711@acme.example>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=us-ascii\r\n"
    b"\r\n"
    b"Hello,\r\n\r\nplease confirm the delivery date for order 4711.\r\n\r\nRegards,\r\nPat\r\n"
)


@pytest.fixture(scope="module")
def dkim_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """An RSA key for acme.example, and the TXT record that would publish it."""
    pem, txt = generate_key("rsa")
    path = tmp_path_factory.mktemp("dkim") / "acme.example.pf2026.key"
    path.write_bytes(pem)
    return path, txt


def write_relay_config(tmp: Path, *, listen_port: int, reinject_port: int, key: Path) -> Path:
    config = tmp / "relay-smtp.toml"
    config.write_text(
        f"""
[smtp]
listen = "127.0.0.1:{listen_port}"
hostname = "relay.postfix-e2e.test"
drain_timeout = 5.0

[upstream]
url = "smtp://127.0.0.1:{reinject_port}"
tls = "none"
timeout = 30.0
helo_name = "relay.postfix-e2e.test"

[web]
listen = "127.0.0.1:{free_port()}"
public_url = "{PUBLIC_URL}"

[store]
url = "sqlite:///{tmp / "relay.db"}"

[links]
secrets = ["{SECRET}"]

[spool]
directory = "{tmp / "spool"}"

[[companies]]
id = "acme"
name = "ACME Inc."
locale = "en"
mode = "enforce"
recruiting_senders = ["{RECRUITER}"]
domains = ["acme.example"]

[[dkim.keys]]
domain = "acme.example"
selector = "pf2026"
key_file = "{key}"
algorithm = "rsa-sha256"
""",
        encoding="utf-8",
    )
    return config


@dataclass
class Setup:
    """Postfix with its entry smtpd on `entry_port`, the relay as its filter, the sink as the Internet."""

    postfix: PostfixInstance
    relay: RelayProcess
    sink: Sink
    entry_port: int

    def logs(self) -> str:
        return (
            f"--- postqueue -p\n{self.postfix.queue()}\n--- Postfix log\n{self.postfix.log()}\n"
            f"--- relay log\n{self.relay.log()}"
        )

    def wait_for_sink(self, count: int) -> list[Received]:
        wait_for(
            f"{count} message(s) at the sink", lambda: len(self.sink.received) >= count, detail=self.logs
        )
        return self.sink.received

    def wait_for_empty_queue(self) -> None:
        wait_for(
            "Postfix's queue to empty",
            lambda: "Mail queue is empty" in self.postfix.queue(),
            detail=self.logs,
        )


@pytest.fixture
def ports() -> dict[str, int]:
    return {"entry": free_port(), "filter": free_port(), "reinject": free_port()}


def running(postfix: PostfixInstance, relay: RelayProcess, sink: Sink, entry_port: int) -> Iterator[Setup]:
    try:
        postfix.start()
        relay.start()
        yield Setup(postfix, relay, sink, entry_port)
    finally:
        relay.stop()
        postfix.stop()
        postfix.remove()


@pytest.fixture
def after_queue(
    tmp_path: Path, sink: Sink, dkim_key: tuple[Path, str], ports: dict[str, int]
) -> Iterator[Setup]:
    """The after-queue recipe: main.cf and master.cf snippets as the doc has them, plus an entry smtpd
    on a loopback port standing in for port 25."""
    blocks = doc_blocks("After-queue")
    recipe_ports = {"filter_port": ports["filter"], "reinject_port": ports["reinject"]}
    main_cf = with_ports(blocks["# /etc/postfix/main.cf"], **recipe_ports)
    master_cf = f"127.0.0.1:{ports['entry']} inet n - n - - smtpd\n" + with_ports(
        blocks["# /etc/postfix/master.cf"], **recipe_ports
    )
    assert f"content_filter = relay-smtp:[127.0.0.1]:{ports['filter']}" in main_cf
    postfix = PostfixInstance(postfix_root(), relayhost_port=sink.port, main_cf=main_cf, master_cf=master_cf)
    config = write_relay_config(
        tmp_path, listen_port=ports["filter"], reinject_port=ports["reinject"], key=dkim_key[0]
    )
    relay = RelayProcess(config, ports["filter"], tmp_path / "relay.log")
    yield from running(postfix, relay, sink, ports["entry"])


@pytest.fixture
def before_queue(
    tmp_path: Path, sink: Sink, dkim_key: tuple[Path, str], ports: dict[str, int]
) -> Iterator[Setup]:
    """The before-queue recipe: the doc's `smtpd_proxy_` options on an entry smtpd on a loopback port
    (standing in for submission, whose TLS and SASL options are the admin's own), the doc's reinjection
    service, and no content_filter."""
    recipe_ports = {"filter_port": ports["filter"], "reinject_port": ports["reinject"]}
    doc_master_cf = with_ports(doc_blocks("Before-queue")["# /etc/postfix/master.cf"], **recipe_ports)
    proxy_options = [line for line in master_service(doc_master_cf, "submission") if "smtpd_proxy_" in line]
    assert any(f"smtpd_proxy_filter=127.0.0.1:{ports['filter']}" in line for line in proxy_options)
    reinjection = master_service(doc_master_cf, f"127.0.0.1:{ports['reinject']}")
    master_cf = (
        "\n".join([f"127.0.0.1:{ports['entry']} inet n - n - 20 smtpd", *proxy_options, *reinjection]) + "\n"
    )
    postfix = PostfixInstance(postfix_root(), relayhost_port=sink.port, main_cf="", master_cf=master_cf)
    config = write_relay_config(
        tmp_path, listen_port=ports["filter"], reinject_port=ports["reinject"], key=dkim_key[0]
    )
    relay = RelayProcess(config, ports["filter"], tmp_path / "relay.log")
    yield from running(postfix, relay, sink, ports["entry"])


def assert_personal_signed_copies(received: list[Received], txt: str) -> None:
    """One copy per candidate, each with the block, its own valid link and a DKIM signature that
    verifies over the bytes as they arrived (Received headers added by Postfix included)."""
    assert sorted(r.recipients[0] for r in received) == sorted(CANDIDATES)
    assert all(len(r.recipients) == 1 for r in received)
    signer = LinkSigner([SECRET], 180)
    tokens = set()
    for copy in received:
        assert b"/r/" in copy.data
        assert b"X-Career-Relay: injected\r\n" in copy.data
        assert b"we have decided not to move forward with your application." in copy.data
        assert re.search(rb"^DKIM-Signature:[^\r]*", copy.data, re.MULTILINE), copy.data
        assert b"d=acme.example" in copy.data
        assert verify_with_key(copy.data, txt), copy.data.decode(errors="replace")
        assert copy.data.startswith(b"Received: "), "Postfix's reinjection adds its Received header on top"
        match = LINK.search(copy.data)
        assert match is not None, copy.data
        claims = signer.verify(match.group(1).decode())
        assert claims.recipient_hash == signer.recipient_hash(copy.recipients[0])
        tokens.add(match.group(1))
    assert len(tokens) == len(received)


def assert_untouched(data: bytes, original: bytes, *, received_headers: int) -> None:
    """`data` is `original` byte for byte with only Postfix's Received header fields put on top."""
    assert data.endswith(original), data.decode(errors="replace")
    added = data[: -len(original)]
    fields = re.split(rb"\r\n(?![ \t])", added.removesuffix(b"\r\n"))
    assert [f.split(b":", 1)[0] for f in fields] == [b"Received"] * received_headers, added.decode()


def queue_id(reply: str) -> str:
    match = re.search(r"queued as ([0-9A-Za-z]+)", reply)
    assert match is not None, reply
    return match.group(1)


def test_the_docs_relay_settings_load(tmp_path: Path) -> None:
    relay_toml = tmp_path / "relay-smtp.toml"
    relay_toml.write_text(doc_blocks("The relay's side")["# /etc/relay-smtp/relay-smtp.toml"])
    settings = load_settings(relay_toml)
    assert settings.smtp.listen == HostPort("127.0.0.1", 10025)
    assert settings.upstream.target == SmtpUpstream("127.0.0.1", 10026, tls="none")


@needs_postfix
def test_every_postfix_setting_in_the_doc_is_one_postfix_knows() -> None:
    """A misspelt `-o` option is ignored by Postfix at run time; `postconf` names it."""
    after, before = doc_blocks("After-queue"), doc_blocks("Before-queue")
    master_cf = after["# /etc/postfix/master.cf"] + "\n".join(
        master_service(before["# /etc/postfix/master.cf"], "submission")
    )
    postfix = PostfixInstance(
        postfix_root(), relayhost_port=10099, main_cf=after["# /etc/postfix/main.cf"], master_cf=master_cf
    )
    try:
        postfix.write()
        assert postfix.config_warnings() == []
    finally:
        postfix.remove()


@needs_postfix
@needs_root
def test_after_queue_rejection_gets_a_signed_copy_per_candidate_and_other_mail_passes_untouched(
    after_queue: Setup, dkim_key: tuple[Path, str]
) -> None:
    send(after_queue.entry_port, RECRUITER, CANDIDATES, REJECTION)
    received = after_queue.wait_for_sink(2)
    assert_personal_signed_copies(received, dkim_key[1])

    send(after_queue.entry_port, "pat@acme.example", ["orders@supplier.example"], BUSINESS)
    received = after_queue.wait_for_sink(3)
    [business] = [r for r in received if r.recipients == ["orders@supplier.example"]]
    # Received by the entry smtpd (before the relay) and by the reinjection smtpd (after it): nothing else.
    assert_untouched(business.data, BUSINESS, received_headers=2)
    after_queue.wait_for_empty_queue()
    # One recipient per delivery to the filter: Postfix's log shows a delivery to the relay per candidate.
    relay_deliveries = re.findall(
        rf"relay=127\.0\.0\.1\[127\.0\.0\.1\]:{after_queue.relay.port},.*status=sent",
        after_queue.postfix.log(),
    )
    assert len(relay_deliveries) == 3, after_queue.logs()


@needs_postfix
@needs_root
def test_after_queue_relay_down_mail_stays_queued_and_is_delivered_when_the_relay_is_back(
    after_queue: Setup,
) -> None:
    after_queue.relay.stop()
    qid = queue_id(send(after_queue.entry_port, "pat@acme.example", ["orders@supplier.example"], BUSINESS))

    refused = f"connect to 127.0.0.1[127.0.0.1]:{after_queue.relay.port}: Connection refused"
    wait_for(
        "Postfix to defer the delivery to the stopped relay",
        lambda: refused in after_queue.postfix.queue(),
        detail=after_queue.logs,
    )
    assert qid in after_queue.postfix.queue()
    assert after_queue.sink.received == []

    after_queue.relay.start()
    after_queue.postfix.flush()
    [delivered] = after_queue.wait_for_sink(1)
    assert delivered.recipients == ["orders@supplier.example"]
    assert_untouched(delivered.data, BUSINESS, received_headers=2)
    after_queue.wait_for_empty_queue()


@needs_postfix
@needs_root
def test_before_queue_rejection_gets_a_signed_copy_per_candidate_and_a_stopped_relay_gives_the_client_4xx(
    before_queue: Setup, dkim_key: tuple[Path, str]
) -> None:
    send(before_queue.entry_port, RECRUITER, CANDIDATES, REJECTION)
    received = before_queue.wait_for_sink(2)
    assert_personal_signed_copies(received, dkim_key[1])
    before_queue.wait_for_empty_queue()

    # The relay stopped: the client is told to retry, and Postfix has accepted nothing.
    before_queue.relay.stop()
    with smtplib.SMTP("127.0.0.1", before_queue.entry_port, timeout=60) as client:
        client.ehlo("client.test")
        code, reply = client.mail("pat@acme.example")
        if code == 250:
            code, reply = client.rcpt("orders@supplier.example")
        if code == 250:
            code, reply = client.data(BUSINESS)
    assert 400 <= code < 500, (code, reply)
    # Postfix mails the postmaster a transcript of the failed session (notify_classes); that is all it
    # queues: the client's message was never accepted, so it is neither queued nor delivered.
    assert "orders@supplier.example" not in before_queue.postfix.queue()
    before_queue.wait_for_empty_queue()
    assert not [r for r in before_queue.sink.received if "orders@supplier.example" in r.recipients]
