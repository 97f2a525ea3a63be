"""Personal links per recipient, the retry spool, and DKIM on what the relay sends."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from smtp_fixtures import LoopThread, Relay, Sink, settings_for_sink

from relay_smtp.config import DkimKey, Settings
from relay_smtp.links import LinkSigner, PersonalLink
from relay_smtp.mail.dkim import DkimSigner, generate_key, load_key, verify_with_key
from relay_smtp.mail.mime import parse_mime
from relay_smtp.pipeline import Envelope, PipelineConfig, from_address, process
from relay_smtp.smtp.server import normalise_line_endings

REPO = Path(__file__).resolve().parents[1]
SECRET = "test-link-secret-0123456789abcdef"
REJECTION = (
    b"From: ACME Recruiting <recruit@acme.example>\r\n"
    b"To: a@example.org, b@example.org, c@example.org\r\n"
    b"Subject: Your application\r\n"
    b"Message-ID: <r1@acme.example>\r\n"
    b"X-Career-Relay: rejection\r\n"
    b"\r\n"
    b"Dear candidate,\r\n\r\nWe regret to tell you that we will not move forward.\r\n"
)
RECIPIENTS = ["a@example.org", "b@example.org", "c@example.org"]
LINK = re.compile(rb"http://127\.0\.0\.1:8025/r/([A-Za-z0-9_\-.]+)")


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    directory = tmp_path_factory.mktemp("dkim")
    made = {}
    for algorithm in ("rsa", "ed25519"):
        pem, txt = generate_key(algorithm)  # type: ignore[arg-type]
        path = directory / f"{algorithm}.key"
        path.write_bytes(pem)
        made[algorithm] = (path, txt)
    return made


def relay_settings(sink: Sink, spool: Path, **spool_changes: float) -> Settings:
    settings = settings_for_sink(sink.port, spool=spool)
    return replace(
        settings,
        links=replace(settings.links, secrets=(SECRET,)),
        spool=replace(settings.spool, **spool_changes),
    )


def send(relay: Relay, data: bytes, recipients: list[str]) -> tuple[int, bytes]:
    import smtplib

    with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as c:
        c.ehlo()
        c.mail("recruit@acme.example")
        for rcpt in recipients:
            assert c.rcpt(rcpt)[0] == 250
        return c.data(data)


def test_three_recipients_get_three_copies_with_three_links(
    loop_thread: LoopThread, sink: Sink, tmp_path: Path
) -> None:
    relay = Relay(loop_thread, relay_settings(sink, tmp_path / "spool")).start()
    try:
        code, text = send(relay, REJECTION, RECIPIENTS)
    finally:
        relay.stop()
    assert code == 250, text
    assert sorted(r.recipients[0] for r in sink.received) == RECIPIENTS
    assert all(len(r.recipients) == 1 for r in sink.received)
    tokens = [LINK.search(r.data).group(1).decode() for r in sink.received]  # type: ignore[union-attr]
    assert len(set(tokens)) == 3
    signer = LinkSigner([SECRET], 180)
    for received, token in zip(sink.received, tokens, strict=True):
        claims = signer.verify(token)
        assert claims.company == "acme.example"
        assert claims.recipient_hash == signer.recipient_hash(received.recipients[0])
        assert received.recipients[0].encode() not in token.encode()
        # Headers stay as HR wrote them: every copy still shows all three addressees.
        assert b"To: a@example.org, b@example.org, c@example.org\r\n" in received.data


def test_a_copy_deferred_by_the_next_hop_is_spooled_and_delivered_after_a_restart(
    loop_thread: LoopThread, sink: Sink, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    sink.behaviour.data_replies_by_rcpt = {"b@example.org": "451 4.3.2 try later"}
    relay = Relay(loop_thread, relay_settings(sink, spool, retry_interval=0.3)).start()
    try:
        code, text = send(relay, REJECTION, RECIPIENTS)
    finally:
        relay.stop()
    assert code == 250
    assert b"2 copies accepted, 1 queued for retry" in text
    assert sorted(r.recipients[0] for r in sink.received) == ["a@example.org", "c@example.org"]
    assert len(list(spool.glob("*.eml"))) == 1

    sink.behaviour.data_replies_by_rcpt = {}
    restarted = Relay(loop_thread, relay_settings(sink, spool, retry_interval=0.3)).start()
    try:
        # The entry keeps its schedule across the restart; the new worker sends it when it falls due.
        deadline = time.monotonic() + 10
        while len(sink.received) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        restarted.stop()
    assert sorted(r.recipients[0] for r in sink.received) == RECIPIENTS
    assert list(spool.glob("*.eml")) == []


def test_no_copy_accepted_gives_the_client_the_next_hops_answer(
    loop_thread: LoopThread, sink: Sink, tmp_path: Path
) -> None:
    sink.behaviour.data_reply = "452 4.3.1 insufficient storage"
    relay = Relay(loop_thread, relay_settings(sink, tmp_path / "spool")).start()
    try:
        code, _ = send(relay, REJECTION, RECIPIENTS[:2])
    finally:
        relay.stop()
    assert code == 452
    assert list((tmp_path / "spool").glob("*.eml")) == []


def write_config(tmp_path: Path, domain: str, keys: dict[str, tuple[Path, str]]) -> Path:
    config = tmp_path / "relay.toml"
    config.write_text(
        f'[links]\nsecrets = ["{SECRET}"]\n'
        + "".join(
            f'[[dkim.keys]]\ndomain = "{domain}"\nselector = "{name}"\nkey_file = "{path}"\n'
            f'algorithm = "{"rsa-sha256" if name == "rsa" else "ed25519-sha256"}"\n'
            for name, (path, _) in keys.items()
        ),
        encoding="utf-8",
    )
    return config


def test_rewrite_cli_output_verifies_with_the_published_keys(
    tmp_path: Path, keys: dict[str, tuple[Path, str]]
) -> None:
    config = write_config(tmp_path, "acme.example", keys)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "relay_smtp.cli",
            "rewrite",
            "--config",
            str(config),
            "--force",
            "--recipient",
            "cand@example.org",
        ],
        input=REJECTION,
        capture_output=True,
        check=True,
    )
    assert b"dkim: signed d=acme.example" in result.stderr
    out = result.stdout
    assert out.count(b"DKIM-Signature:") == 2
    for _, txt in keys.values():
        assert verify_with_key(out, txt)
    tampered = out.replace(b"We regret", b"We do not regret")
    assert not any(verify_with_key(tampered, txt) for _, txt in keys.values())


def test_check_config_names_a_bad_key_file(tmp_path: Path, keys: dict[str, tuple[Path, str]]) -> None:
    bad = tmp_path / "bad.key"
    bad.write_text("not a key\n", encoding="utf-8")
    config = write_config(tmp_path, "acme.example", {"rsa": (bad, "")})
    result = subprocess.run(
        [sys.executable, "-m", "relay_smtp.cli", "check-config", "--config", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "dkim.keys[0].key_file:" in result.stderr


@pytest.mark.corpus
def test_every_rewritten_corpus_message_verifies(
    corpus: list[Path], keys: dict[str, tuple[Path, str]]
) -> None:
    loaded = {
        name: load_key(
            DkimKey("placeholder.example", name, path, "rsa-sha256" if name == "rsa" else "ed25519-sha256")
        )
        for name, (path, _) in keys.items()
    }
    links = LinkSigner([SECRET], 180)
    base = PipelineConfig(
        link_for=lambda company, recipient, mid: PersonalLink(
            f"https://r.example/r/{links.issue(company.id[:20], recipient, 'm')}"
        )
    )
    envelope = Envelope("hr@example.org", ("cand@example.org",))
    failures, signed, skipped = [], 0, 0
    for path in corpus:
        raw = normalise_line_endings(path.read_bytes())
        domain = from_address(raw, parse_mime(raw)).rpartition("@")[2].lower()
        if not domain:
            skipped += 1
            continue
        per_domain = [replace(key, domain=domain) for key in loaded.values()]
        config = replace(base, signer=DkimSigner.from_keys(per_domain))
        outcome = process(raw, envelope, config, force=True)
        out = outcome.outgoing[0].data
        if not outcome.signing.startswith("signed"):
            skipped += 1
            continue
        signed += 1
        for name, (_, txt) in keys.items():
            if not verify_with_key(out, txt):
                failures.append(f"{path} ({name}): {outcome.action} {outcome.signing}")
    assert failures == []
    assert signed > len(corpus) // 2
