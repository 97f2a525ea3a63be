"""Configuration: defaults, validation that names the key, secrets from the environment, the CLI."""

from __future__ import annotations

import ipaddress
import os
import signal
import smtplib
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from relay_smtp.cli import main
from relay_smtp.config import (
    ConfigError,
    HostPort,
    MaildirUpstream,
    SmtpUpstream,
    load_settings,
)

REPO = Path(__file__).resolve().parents[1]


def load_text(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> object:
    path = tmp_path / "relay.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path, env or {})


def problems(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load_text(tmp_path, text, env)
    return err.value.problems


def test_embedded_defaults_match_the_design() -> None:
    settings = load_settings(None, {})
    assert settings.smtp.listen == HostPort("127.0.0.1", 10025)
    assert settings.web.listen == HostPort("127.0.0.1", 8025)
    assert settings.upstream.target == MaildirUpstream(Path("outbox"))
    assert settings.store.url == "sqlite:///relay-smtp.db"
    assert settings.smtp.allowed_networks == (
        ipaddress.ip_network("127.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    )


def test_example_config_is_valid_and_equals_the_defaults() -> None:
    example = load_settings(REPO / "config.example.toml", {})
    defaults = load_settings(None, {})
    assert example.smtp == defaults.smtp
    assert example.upstream == defaults.upstream
    # The demo (no file) alone drops the scanner window; see config._demo.
    assert example.web == replace(defaults.web, scanner_window_seconds=example.web.scanner_window_seconds)
    assert (example.links, example.credits, example.log) == (
        defaults.links,
        defaults.credits,
        defaults.log,
    )


def test_port_out_of_range_names_the_key(tmp_path: Path) -> None:
    assert problems(tmp_path, '[smtp]\nlisten = "x:99999"\n') == ["smtp.listen: port 99999 is out of range"]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        colour = "blue"
        [smtp]
        listen = "nohost"
        max_message_size = -1
        allowed_networks = ["10.0.0.0/8", "not-a-net"]
        [upstream]
        url = "http://example.org"
        tls = "maybe"
        [[companies]]
        name = "ACME"
        mode = "loud"
        lisen = 1
        """,
    )
    assert found == [
        "smtp.listen: 'nohost' is not host:port",
        "smtp.max_message_size: must be positive, not -1",
        "smtp.allowed_networks: 'not-a-net' is not a network (e.g. 10.0.0.0/8)",
        "upstream.url: 'http://example.org' must start with smtp://, smtps:// or maildir:",
        "upstream.tls: must be one of none, opportunistic, required, not 'maybe'",
        "companies[0].mode: must be one of enforce, audit, off, not 'loud'",
        "companies[0].id: is required",
        "companies[0].lisen: unknown key",
        "colour: unknown key",
    ]


def test_types_are_checked(tmp_path: Path) -> None:
    assert problems(tmp_path, "[smtp]\nmax_message_size = '10'\nauth_require_tls = 1\n") == [
        "smtp.max_message_size: must be an integer, not a string",
        "smtp.auth_require_tls: must be true or false, not an integer",
    ]


def test_upstream_url_forms(tmp_path: Path) -> None:
    settings = load_settings(None, {})
    assert settings.upstream.target == MaildirUpstream(Path("outbox"))
    s = load_text(tmp_path, '[upstream]\nurl = "smtp://mx.example:2525"\ntls = "required"\n')
    assert s.upstream.target == SmtpUpstream("mx.example", 2525, "required")  # type: ignore[attr-defined]
    s = load_text(tmp_path, '[upstream]\nurl = "smtps://mx.example"\n')
    assert s.upstream.target == SmtpUpstream("mx.example", 465, implicit_tls=True)  # type: ignore[attr-defined]


def test_secrets_come_from_the_environment_and_are_never_echoed(tmp_path: Path) -> None:
    text = '[links]\nsecrets = ["env:LINK_SECRET"]\n'
    s = load_text(tmp_path, text, {"LINK_SECRET": "hunter2hunter2"})
    assert s.links.secrets == ("hunter2hunter2",)  # type: ignore[attr-defined]
    assert problems(tmp_path, text) == ["links.secrets: environment variable LINK_SECRET is not set"]


def test_invalid_toml_is_reported_with_its_position(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, "[smtp\nlisten = 1\n")
    assert "not valid TOML" in problem
    assert "line 1" in problem


def test_check_config_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "--config", str(REPO / "config.example.toml")]) == 0
    bad = tmp_path / "bad.toml"
    bad.write_text('[smtp]\nlisten = "x:99999"\n', encoding="utf-8")
    assert main(["check-config", "--config", str(bad)]) == 2
    assert "smtp.listen: port 99999 is out of range" in capsys.readouterr().err


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def test_serve_on_embedded_defaults_delivers_into_outbox_and_drains_on_sigterm(
    tmp_path: Path,
) -> None:
    if not (_port_free(10025) and _port_free(8025)):
        pytest.skip("127.0.0.1:10025 or 127.0.0.1:8025 is in use on this machine")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAY_SMTP")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "relay_smtp.cli", "serve"],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        # The supervisor reserves the port before its workers listen on it (SO_REUSEPORT, see
        # reuseport.py): wait until a connection is accepted, not merely until the port is taken.
        while not _accepts(10025):
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "relay did not start listening"
            time.sleep(0.05)
        message = b"From: a@example.org\r\nSubject: quickstart\r\n\r\nhello\r\n"
        with smtplib.SMTP("127.0.0.1", 10025, timeout=10) as c:
            c.sendmail("a@example.org", ["b@example.org"], message)
        proc.send_signal(signal.SIGTERM)
        _, log = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
    [delivered] = (tmp_path / "outbox" / "new").iterdir()
    assert delivered.read_bytes() == message
    assert "action=forwarded" in log
    assert "relay-smtp stopped" in log


def _dataclass_keys(prefix: str, value: object) -> set[str]:
    import dataclasses

    keys = set()
    for f in dataclasses.fields(value):  # type: ignore[arg-type]
        keys.add(f"{prefix}.{f.name}")
    return keys


def test_every_key_is_documented_in_the_example_config() -> None:
    from relay_smtp.config import Settings

    text = (REPO / "config.example.toml").read_text(encoding="utf-8")
    settings = Settings()
    documented_sections = {
        "smtp": settings.smtp,
        "web": settings.web,
        "agency": settings.agency,
        "admin": settings.admin,
        "store": settings.store,
        "links": settings.links,
        "credits": settings.credits,
        "spool": settings.spool,
        "log": settings.log,
        "kpi": settings.kpi,
        "talent_pool": settings.talent_pool,
    }
    missing = []
    for section, value in documented_sections.items():
        assert f"[{section}]" in text, section
        for key in _dataclass_keys(section, value):
            name = key.split(".", 1)[1]
            # Tables of their own, documented as such (user_* are read from [admin.users] entries).
            if name in ("auth_users", "users", "user_companies", "user_time_zones"):
                continue
            if f"\n{name} =" not in text and f"\n# {name} =" not in text:
                missing.append(key)
    assert missing == []


def test_admin_users_may_belong_to_a_company(tmp_path: Path) -> None:
    text = """
        [admin.users]
        ops = "ops-pw"
        tanaka = { password = "env:TANAKA_PW", company = "acme", time_zone = "Asia/Tokyo" }
        [kpi]
        reapply_min_days = 21
        [[companies]]
        id = "acme"
        name = "ACME"
        talent_pool_webhook = "https://ats.example/hook"
        talent_pool_webhook_secret = "env:HOOK"
    """
    settings = load_text(tmp_path, text, {"TANAKA_PW": "secret", "HOOK": "hook-secret"})
    assert settings.admin.users == {"ops": "ops-pw", "tanaka": "secret"}
    assert settings.admin.user_companies == {"tanaka": "acme"}
    assert settings.admin.user_time_zones == {"tanaka": "Asia/Tokyo"}
    assert settings.kpi.reapply_min_days == 21 and settings.kpi.reapply_window_days == 365
    assert settings.companies[0].talent_pool_webhook_secret == "hook-secret"
    found = problems(
        tmp_path,
        """
        [admin.users]
        sato = { password = "pw", company = "globex", time_zone = "Mars/Olympus", colour = "red" }
        nopw = { company = "acme" }
        [[companies]]
        id = "acme"
        name = "ACME"
        talent_pool_webhook = "https://ats.example/hook"
        """,
    )
    assert sorted(found) == [
        "admin.users.nopw.password: is required",
        "admin.users.sato.colour: unknown key",
        "admin.users.sato.company: 'globex' is not the id of a [[companies]] entry",
        "admin.users.sato.time_zone: 'Mars/Olympus' is not a time zone (e.g. Asia/Tokyo)",
        "companies[0].talent_pool_webhook: needs talent_pool_webhook_secret to sign what it sends",
    ]
