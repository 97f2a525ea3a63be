"""`relay-smtp init`: a production configuration that check-config accepts and a relay signs with.

Also the other first-run commands on a fresh directory: `credits` opens a store nobody made yet as
`serve` does, and the offline commands say nothing about what does not concern them.
"""

from __future__ import annotations

import re
import smtplib
import stat
from pathlib import Path

import pytest
from smtp_fixtures import LoopThread, Relay, Sink

from relay_smtp.cli import main
from relay_smtp.config import load_settings
from relay_smtp.mail.dkim import verify_with_key

REJECTION = (
    "From: 株式会社ACME 採用担当 <recruit@acme.co.jp>\r\nTo: cand@example.org\r\n"
    "Subject: 選考結果のご連絡\r\nMessage-ID: <init-1@acme.co.jp>\r\n"
    "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    "山田様\r\n\r\nこのたびはご応募いただき、誠にありがとうございました。\r\n"
    "慎重に選考を重ねました結果、誠に残念ながら、今回は採用を見送らせていただくことになりました。\r\n"
    "今後のご活躍を心よりお祈り申し上げます。\r\n"
).encode()
SAMPLE = Path(__file__).resolve().parents[1] / "examples" / "rejection.ja.eml"


def init_options(config: Path, next_hop: str) -> list[str]:
    return [
        "init",
        "--config",
        str(config),
        "--company-name",
        "株式会社ACME",
        "--domain",
        "acme.co.jp",
        "--recruiting-sender",
        "recruit@acme.co.jp",
        "--next-hop",
        next_hop,
        "--public-url",
        "https://relay.acme.co.jp",
        "--agency-name",
        "Example Agency",
    ]


def txt_records(printed: str) -> dict[str, str]:
    """Record name -> TXT value, from the zone lines init prints."""
    records = {}
    for name, strings in re.findall(r"^\s*(\S+)\. IN TXT \( (.*) \)$", printed, re.MULTILINE):
        records[name] = "".join(re.findall(r'"([^"]*)"', strings))
    return records


def test_init_writes_a_configuration_check_config_accepts_and_a_relay_signs_with(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], loop_thread: LoopThread, sink: Sink
) -> None:
    config = tmp_path / "etc" / "relay-smtp.toml"
    assert main([*init_options(config, f"smtp://127.0.0.1:{sink.port}"), "--selector", "s2026"]) == 0
    printed = capsys.readouterr().out
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    key = tmp_path / "etc" / "dkim" / "acme.co.jp.s2026.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert 'mode = "audit"' in config.read_text(encoding="utf-8")
    for line in (
        "content_filter = relay-smtp:[127.0.0.1]:10025",
        "relay-smtp_destination_recipient_limit = 1",
    ):
        assert line in printed
    assert f"relay-smtp check-config --config {config}" in printed
    records = txt_records(printed)
    assert list(records) == ["s2026._domainkey.acme.co.jp"]

    assert main(["check-config", "--config", str(config)]) == 0
    assert capsys.readouterr().out == f"{config}: ok\n"
    settings = load_settings(config)
    assert settings.links.secrets and settings.admin.token and settings.web.form_secret
    assert not settings.demo and settings.companies[0].mode == "audit"

    # The printed next step: after the audit, switch to enforce.
    config.write_text(config.read_text(encoding="utf-8").replace('mode = "audit"', 'mode = "enforce"'))
    relay = Relay(loop_thread, load_settings(config)).start()
    try:
        with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as client:
            client.sendmail("recruit@acme.co.jp", ["cand@example.org"], REJECTION)
    finally:
        relay.stop()
    [received] = sink.received
    assert b"X-Career-Relay: injected" in received.data
    assert b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=acme.co.jp; s=s2026" in received.data
    assert verify_with_key(received.data, records["s2026._domainkey.acme.co.jp"])


def test_a_recruiting_subdomain_without_a_key_of_its_own_signs_with_the_parents(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "r.toml"
    options = init_options(config, "smtp://127.0.0.1:10026")
    options[options.index("recruit@acme.co.jp")] = "@hr.acme.co.jp"
    assert main(options) == 0
    settings = load_settings(config)
    assert settings.dkim.parent_domains
    assert [k.domain for k in settings.dkim.keys] == ["acme.co.jp"]
    assert main(["check-config", "--config", str(config)]) == 0


def test_init_never_replaces_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "relay-smtp.toml"
    config.write_text("# mine\n", encoding="utf-8")
    assert main(init_options(config, "smtp://127.0.0.1:10026")) == 1
    assert config.read_text(encoding="utf-8") == "# mine\n"
    assert "never replaces" in capsys.readouterr().err
    key = tmp_path / "other" / "dkim" / "acme.co.jp.s1.key"
    key.parent.mkdir(parents=True)
    key.write_text("live key", encoding="utf-8")
    assert (
        main([*init_options(tmp_path / "other" / "r.toml", "smtp://127.0.0.1:10026"), "--selector", "s1"])
        == 2
    )
    assert key.read_text(encoding="utf-8") == "live key"
    assert not (tmp_path / "other" / "r.toml").exists()


def test_init_names_every_bad_answer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    options = init_options(tmp_path / "r.toml", "http://mx.example")
    options[options.index("acme.co.jp")] = "not a domain"
    options[options.index("recruit@acme.co.jp")] = "recruit"
    assert main(options) == 2
    err = capsys.readouterr().err
    assert "domains: 'not a domain' is not a domain name" in err
    assert "recruiting senders: 'recruit' is not an address or @domain" in err
    assert "next hop: 'http://mx.example' must be smtp://host:port" in err
    assert not (tmp_path / "r.toml").exists()


def test_store_commands_treat_a_fresh_sqlite_file_as_serve_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["credits", "--json"]) == 0
    assert capsys.readouterr().out.strip() == "[]"
    assert main(["db", "purge"]) == 0
    assert (tmp_path / "relay-smtp.db").exists()


def test_offline_commands_warn_only_about_what_concerns_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["classify", str(SAMPLE)]) == 0
    assert capsys.readouterr().err == ""
    assert main(["preview", str(SAMPLE)]) == 0
    out, err = capsys.readouterr()
    assert err == "" and "dkim: not signed: no DKIM keys configured" in out
    assert main(["rewrite", str(SAMPLE), "-o", str(tmp_path / "out.eml")]) == 0
    err = capsys.readouterr().err
    assert "throwaway secret" in err  # the link it wrote will not open: that concerns rewrite
    assert "DKIM" not in err.split("dkim:")[0]  # said once, as the result, not as a warning
    assert not (tmp_path / "relay-smtp.secrets").exists()  # offline commands make no secrets
