"""The relay path over real loopback sockets: fidelity, policy, and every failure of the next hop."""

from __future__ import annotations

import ipaddress
import re
import smtplib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from smtp_fixtures import LoopThread, Relay, Sink, settings_for_maildir, settings_for_sink

from relay_smtp.config import Settings

MESSAGE = (
    b"From: HR <recruit@acme.example>\r\n"
    b"To: cand@example.org\r\n"
    b"Subject: hello\r\n"
    b"\r\n"
    b"Body line one.\r\n"
    b".leading dot survives\r\n"
)


def wire_form(data: bytes) -> bytes:
    """What a client puts on the wire for `data`: CRLF line endings, ending in CRLF."""
    data = re.sub(rb"\r\n|\r|\n", b"\r\n", data)
    return data if data.endswith(b"\r\n") else data + b"\r\n"


def start_relay(loop_thread: LoopThread, settings: Settings) -> Relay:
    return Relay(loop_thread, settings).start()


@pytest.fixture
def relay(loop_thread: LoopThread, sink: Sink) -> Iterator[Relay]:
    r = start_relay(loop_thread, settings_for_sink(sink.port, timeout=2.0))
    yield r
    r.stop()


def client(relay: Relay) -> smtplib.SMTP:
    c = smtplib.SMTP("127.0.0.1", relay.port, timeout=10)
    c.ehlo()
    return c


def test_message_arrives_byte_identical_with_its_envelope(relay: Relay, sink: Sink) -> None:
    with client(relay) as c:
        refused = c.sendmail("recruit@acme.example", ["a@example.org", "b@example.org"], MESSAGE)
    assert refused == {}
    [got] = sink.received
    assert got.data == MESSAGE
    assert got.mail_from == "recruit@acme.example"
    assert got.recipients == ["a@example.org", "b@example.org"]


def test_reply_names_the_queue_id_and_the_next_hop(relay: Relay) -> None:
    with client(relay) as c:
        c.mail("recruit@acme.example")
        c.rcpt("a@example.org")
        code, text = c.data(MESSAGE)
    assert code == 250
    assert re.match(rb"2\.0\.0 [0-9A-F]{10} 250 2\.0\.0 sink accepted \(next hop\)$", text), text


def test_bare_lf_is_normalised_to_crlf(relay: Relay, sink: Sink) -> None:
    with client(relay) as c:
        c.mail("recruit@acme.example")
        c.rcpt("a@example.org")
        # smtplib sends bytes as given: the bare LFs reach the relay inside one CRLF line.
        c.data(b"Subject: lf\n\nline 1\nline 2\r\n")
    assert sink.received[0].data == b"Subject: lf\r\n\r\nline 1\r\nline 2\r\n"


@pytest.mark.corpus
def test_every_corpus_message_passes_through_byte_identical(
    loop_thread: LoopThread, sink: Sink, corpus: list[Path]
) -> None:
    mismatched = []
    relay = start_relay(loop_thread, settings_for_sink(sink.port, timeout=60.0))
    with client(relay) as c:
        for path in corpus:
            data = wire_form(path.read_bytes())
            before = len(sink.received)
            c.sendmail("sender@example.org", ["rcpt@example.org"], data)
            got = sink.received[before]
            if got.data != data or got.recipients != ["rcpt@example.org"]:
                mismatched.append(path.name)
    relay.stop()
    assert mismatched == []
    assert len(sink.received) == len(corpus)


def test_connections_to_the_next_hop_are_reused(relay: Relay, sink: Sink) -> None:
    for _ in range(3):
        with client(relay) as c:
            c.sendmail("recruit@acme.example", ["a@example.org"], MESSAGE)
    assert len(sink.received) == 3
    assert sink.handler.connections == 1


def test_a_pooled_connection_that_died_is_replaced(relay: Relay, sink: Sink) -> None:
    with client(relay) as c:
        c.sendmail("recruit@acme.example", ["a@example.org"], MESSAGE)
    sink.drop_connections()
    with client(relay) as c:
        assert c.sendmail("recruit@acme.example", ["a@example.org"], MESSAGE) == {}
    assert len(sink.received) == 2
    assert sink.handler.connections == 2


@pytest.mark.parametrize(
    ("sink_reply", "expected_code", "expected_status"),
    [
        ("554 5.7.1 policy says no", 554, b"5.7.1 policy says no (next hop)"),
        ("452 4.3.1 insufficient storage", 452, b"4.3.1 insufficient storage (next hop)"),
    ],
)
def test_next_hop_refusal_at_data_goes_back_to_the_client(
    relay: Relay, sink: Sink, sink_reply: str, expected_code: int, expected_status: bytes
) -> None:
    sink.behaviour.data_reply = sink_reply
    with client(relay) as c, pytest.raises(smtplib.SMTPDataError) as err:
        c.sendmail("recruit@acme.example", ["a@example.org"], MESSAGE)
    assert err.value.smtp_code == expected_code
    assert err.value.smtp_error.startswith(expected_status)


def test_next_hop_timeout_becomes_451(relay: Relay, sink: Sink) -> None:
    sink.behaviour.hang_seconds = 4.0  # the relay's next-hop timeout is 2 s
    with client(relay) as c, pytest.raises(smtplib.SMTPDataError) as err:
        c.sendmail("recruit@acme.example", ["a@example.org"], MESSAGE)
    assert err.value.smtp_code == 451
    assert err.value.smtp_error.startswith(b"4.4.2 next hop timed out")


def test_connection_dropped_after_data_becomes_451(relay: Relay, sink: Sink) -> None:
    sink.behaviour.drop_after_data = True
    with client(relay) as c, pytest.raises(smtplib.SMTPDataError) as err:
        c.sendmail("recruit@acme.example", ["a@example.org"], MESSAGE)
    assert err.value.smtp_code == 451
    assert err.value.smtp_error.startswith(b"4.4.2 next hop dropped the connection")


def test_unreachable_next_hop_becomes_451_at_rcpt(loop_thread: LoopThread, sink: Sink) -> None:
    port = sink.port
    sink.stop()
    relay = start_relay(loop_thread, settings_for_sink(port, timeout=2.0))
    try:
        with client(relay) as c:
            c.mail("recruit@acme.example")
            code, text = c.rcpt("a@example.org")
    finally:
        relay.stop()
    assert code == 451
    assert text.startswith(b"4.4.1 next hop unreachable")


def test_recipients_refused_by_the_next_hop_are_refused_to_the_client(relay: Relay, sink: Sink) -> None:
    sink.behaviour.rcpt_replies = {
        "gone@example.org": "550 5.1.1 no such user",
        "full@example.org": "452 4.2.2 mailbox full",
    }
    rcpts = ["a@example.org", "gone@example.org", "full@example.org", "b@example.org"]
    with client(relay) as c:
        refused = c.sendmail("recruit@acme.example", rcpts, MESSAGE)
    assert refused == {
        "gone@example.org": (550, b"5.1.1 no such user (next hop)"),
        "full@example.org": (452, b"4.2.2 mailbox full (next hop)"),
    }
    [got] = sink.received
    assert got.recipients == ["a@example.org", "b@example.org"]


def test_rset_aborts_the_transaction_at_the_next_hop(relay: Relay, sink: Sink) -> None:
    with client(relay) as c:
        c.mail("recruit@acme.example")
        c.rcpt("a@example.org")
        c.rset()
        assert c.sendmail("other@acme.example", ["b@example.org"], MESSAGE) == {}
    [got] = sink.received
    assert (got.mail_from, got.recipients) == ("other@acme.example", ["b@example.org"])


def test_client_outside_allowed_networks_is_refused(loop_thread: LoopThread, sink: Sink) -> None:
    settings = settings_for_sink(sink.port, allowed_networks=(ipaddress.ip_network("192.0.2.0/24"),))
    relay = start_relay(loop_thread, settings)
    try:
        with client(relay) as c:
            c.mail("spammer@example.net")
            code, text = c.rcpt("victim@example.org")
    finally:
        relay.stop()
    assert code == 554
    assert text.startswith(b"5.7.1 relaying denied")
    assert sink.received == []


def test_authenticated_user_may_relay_from_anywhere(loop_thread: LoopThread, sink: Sink) -> None:
    settings = settings_for_sink(
        sink.port, allowed_networks=(), auth_users={"ats": "s3cret"}, auth_require_tls=False
    )
    relay = start_relay(loop_thread, settings)
    try:
        with client(relay) as c:
            c.ehlo()
            with pytest.raises(smtplib.SMTPAuthenticationError):
                c.login("ats", "wrong")
            c.mail("recruit@acme.example")
            assert c.rcpt("a@example.org")[0] == 554
            c.rset()
            c.login("ats", "s3cret")
            assert c.sendmail("recruit@acme.example", ["a@example.org"], MESSAGE) == {}
    finally:
        relay.stop()
    assert len(sink.received) == 1


def test_oversize_message_is_refused_with_552(loop_thread: LoopThread, sink: Sink) -> None:
    relay = start_relay(loop_thread, settings_for_sink(sink.port, max_message_size=1000))
    try:
        with client(relay) as c:
            assert b"SIZE 1000" in c.ehlo()[1]
            with pytest.raises(smtplib.SMTPSenderRefused) as declared:
                c.sendmail("r@acme.example", ["a@example.org"], MESSAGE, ["SIZE=5000"])
            assert declared.value.smtp_code == 552
            assert declared.value.smtp_error.startswith(b"5.3.4")
            c.rset()
            c.mail("r@acme.example")  # no SIZE declared: the limit bites during DATA
            c.rcpt("a@example.org")
            code, text = c.data(MESSAGE + b"x" * 2000)
            assert (code, text) == (552, b"5.3.4 message too big")
    finally:
        relay.stop()
    assert sink.received == []


def test_ehlo_advertises_the_extensions(relay: Relay) -> None:
    with client(relay) as c:
        features = c.ehlo()[1].split(b"\n")
    assert {b"8BITMIME", b"SMTPUTF8"} <= set(features)
    assert any(f.startswith(b"SIZE ") for f in features)
    assert b"STARTTLS" not in features  # no certificate configured


def test_maildir_delivery_is_atomic_and_byte_identical(loop_thread: LoopThread, tmp_path: Path) -> None:
    settings = settings_for_maildir(tmp_path / "outbox")
    settings = replace(settings, smtp=replace(settings.smtp, listen=settings.smtp.listen))
    relay = start_relay(loop_thread, settings)
    try:
        with client(relay) as c:
            c.sendmail("recruit@acme.example", ["a@example.org"], MESSAGE)
    finally:
        relay.stop()
    [delivered] = (tmp_path / "outbox" / "new").iterdir()
    assert delivered.read_bytes() == MESSAGE
    assert list((tmp_path / "outbox" / "tmp").iterdir()) == []


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "relay.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "relay.crt", directory / "relay.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_starttls_is_offered_with_a_certificate_and_auth_only_after_it(
    loop_thread: LoopThread, sink: Sink, tmp_path: Path
) -> None:
    import ssl

    cert_file, key_file = self_signed_certificate(tmp_path)
    settings = settings_for_sink(
        sink.port,
        allowed_networks=(),
        tls_cert_file=cert_file,
        tls_key_file=key_file,
        auth_users={"ats": "s3cret"},
    )
    relay = start_relay(loop_thread, settings)
    context = ssl.create_default_context(cafile=str(cert_file))
    context.check_hostname = False
    try:
        with client(relay) as c:
            assert c.has_extn("starttls")
            assert not c.has_extn("auth")  # no AUTH in the clear
            c.starttls(context=context)
            c.ehlo()
            assert "PLAIN" in c.esmtp_features["auth"]
            c.login("ats", "s3cret")
            assert c.sendmail("recruit@acme.example", ["a@example.org"], MESSAGE) == {}
    finally:
        relay.stop()
    assert sink.received[0].data == MESSAGE
