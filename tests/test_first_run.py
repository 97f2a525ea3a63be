"""The first five minutes: development secrets, the embedded demo, and the company name in the block."""

from __future__ import annotations

import email
import email.policy
import os
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from relay_smtp.company_name import company_name, domain_name, organisation_name
from relay_smtp.config import DEMO_COMPANY, Settings, load_settings
from relay_smtp.devsecrets import (
    DevSecretsError,
    load_or_create,
    secrets_path,
    with_development_secrets,
)
from relay_smtp.links import PersonalLink
from relay_smtp.pipeline import Envelope, PipelineConfig, process
from relay_smtp.web.auth import AdminCredentials, demo_admin_allowed
from relay_smtp.web.settings import web_config

# --------------------------------------------------------------------------- development secrets


def store_in(tmp_path: Path) -> Settings:
    base = Settings()
    return replace(base, store=replace(base.store, url=f"sqlite:///{tmp_path / 'relay-smtp.db'}"))


def test_secrets_file_lives_next_to_the_sqlite_store() -> None:
    assert secrets_path("sqlite:////var/lib/relay/relay-smtp.db") == Path("/var/lib/relay/relay-smtp.secrets")
    assert secrets_path("sqlite:///relay-smtp.db") == Path("relay-smtp.secrets")
    assert secrets_path("postgresql+psycopg://u@h/db") == Path("relay-smtp.secrets")


def test_development_secrets_are_made_once_0600_and_reused(tmp_path: Path) -> None:
    first = with_development_secrets(store_in(tmp_path))
    path = tmp_path / "relay-smtp.secrets"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = with_development_secrets(store_in(tmp_path))  # a restart, or another worker
    assert first.links == again.links and first.web.form_secret == again.web.form_secret
    assert first.links.secrets and first.links.hash_secret and first.web.form_secret
    assert len({first.links.secrets[0], first.links.hash_secret, first.web.form_secret}) == 3
    assert first.links.secrets[0] not in path.name


def test_configured_secrets_are_kept_and_their_hash_key_too(tmp_path: Path) -> None:
    settings = store_in(tmp_path)
    settings = replace(settings, links=replace(settings.links, secrets=("configured-secret-0123456789",)))
    filled = with_development_secrets(settings)
    assert filled.links == settings.links  # hash_secret stays derived from the configured secret
    assert filled.web.form_secret  # only what was unset is filled in
    full = replace(filled, web=replace(filled.web, form_secret="configured-form-secret"))
    (tmp_path / "relay-smtp.secrets").unlink()
    assert with_development_secrets(full) is full
    assert not (tmp_path / "relay-smtp.secrets").exists()


def test_offline_commands_never_make_the_file(tmp_path: Path) -> None:
    settings = store_in(tmp_path)
    assert with_development_secrets(settings, create=False) == settings
    assert not (tmp_path / "relay-smtp.secrets").exists()
    made = with_development_secrets(settings)
    assert with_development_secrets(settings, create=False) == made


def test_a_damaged_file_is_reported_not_replaced(tmp_path: Path) -> None:
    path = tmp_path / "relay-smtp.secrets"
    path.write_text("not json", encoding="utf-8")
    with pytest.raises(DevSecretsError, match="not a relay-smtp secrets file"):
        load_or_create(path)
    assert path.read_text(encoding="utf-8") == "not json"


def test_a_file_readable_by_others_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "relay-smtp.secrets"
    made = load_or_create(path)
    os.chmod(path, 0o644)
    assert load_or_create(path) == made
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


# --------------------------------------------------------------------------- the embedded demo


def test_embedded_defaults_run_the_demo_and_a_file_turns_it_off(tmp_path: Path) -> None:
    demo = load_settings(None, {})
    assert demo.demo and demo.companies == (DEMO_COMPANY,)
    assert DEMO_COMPANY.mode == "enforce" and DEMO_COMPANY.recruiting_senders == ("*",)
    assert demo.agency.name
    assert web_config(demo).admin_open_on_loopback
    # The demo's visitor clicks right after sending: no scanner window, so the click counts as human.
    assert demo.web.scanner_window_seconds == 0
    empty = tmp_path / "relay.toml"
    empty.write_text("", encoding="utf-8")
    configured = load_settings(empty, {})
    assert not configured.demo and configured.companies == ()
    assert not web_config(configured).admin_open_on_loopback
    assert configured.web.scanner_window_seconds == 60


def _example_link(company: object, recipient: str, message_id: str) -> PersonalLink:
    return PersonalLink("https://relay.example.org/r/example-token")


def test_the_demo_takes_any_sender_as_recruiting() -> None:
    raw = (
        b"From: someone@anywhere.example\r\nTo: cand@example.org\r\nSubject: Your application\r\n\r\n"
        b"Dear Sam,\r\n\r\nThank you for interviewing with us. Unfortunately we have decided not to\r\n"
        b"move forward with your application.\r\n\r\nWe wish you the best of luck.\r\n"
    )
    envelope = Envelope("someone@anywhere.example", ("cand@example.org",))
    outcome = process(raw, envelope, PipelineConfig(companies=(DEMO_COMPANY,), link_for=_example_link))
    assert (outcome.action, outcome.company) == ("injected", "demo"), outcome.reason
    assert (
        process(raw, envelope, PipelineConfig(link_for=_example_link)).action == "passed"
    )  # no demo: no company


@pytest.mark.parametrize(
    ("peer", "allowed"),
    [
        *[("127.0.0.1", True), ("127.8.9.1", True), ("::1", True), ("::ffff:127.0.0.1", True)],
        *[("192.168.1.5", False), ("::ffff:10.0.0.1", False), ("testclient", False), (None, False)],
    ],
)
def test_demo_admin_opens_to_loopback_only(peer: str | None, allowed: bool) -> None:
    assert demo_admin_allowed(AdminCredentials(None, {}, open_on_loopback=True), peer) is allowed
    assert not demo_admin_allowed(AdminCredentials("token", {}, open_on_loopback=False), peer)


# --------------------------------------------------------------------------- company name


@pytest.mark.parametrize(
    ("display", "expected"),
    [
        ("株式会社サンプル", "株式会社サンプル"),
        ("株式会社サンプル 人事部 採用担当", "株式会社サンプル"),
        ("サンプル株式会社採用担当", "サンプル株式会社"),
        ("(株)サンプル 採用チーム", "(株)サンプル"),
        ("ACME Inc. Recruiting", "ACME Inc."),
        ("Talent Team at ACME Corp", "ACME Corp"),
        ("Recruiting | Globex Corporation", "Globex Corporation"),
        ("ACME Co., Ltd. 採用担当", "ACME Co., Ltd."),
    ],
)
def test_organisation_names_are_taken_from_the_display_name(display: str, expected: str) -> None:
    assert organisation_name(display) == expected


@pytest.mark.parametrize(
    "display",
    [
        "採用担当",
        "人事部 採用担当",
        "HR Team",
        "Recruiting",
        "Jane Doe",
        "山田 太郎",
        "株式会社",
        "Co-op Team",
        "",
    ],
)
def test_roles_people_and_bare_forms_are_not_company_names(display: str) -> None:
    assert organisation_name(display) is None


def test_otherwise_the_name_comes_from_the_domain() -> None:
    assert company_name("採用担当", "recruit.acme.co.jp") == "acme.co.jp"
    assert company_name("HR Team", "mail.hr.acme.com") == "acme.com"
    assert company_name("株式会社サンプル 採用担当", "sample.co.jp") == "株式会社サンプル"
    assert domain_name("acme.example") == "acme.example"


def test_the_block_never_names_a_role() -> None:
    raw = (
        b"From: =?UTF-8?B?5o6h55So5ouF5b2T?= <saiyo@recruit.acme.co.jp>\r\nTo: cand@example.org\r\n"
        b"Subject: [CR] x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        + "山田様\r\n\r\n今回は採用を見送らせていただくことになりました。\r\n".encode()
    )
    outcome = process(
        raw,
        Envelope("saiyo@recruit.acme.co.jp", ("cand@example.org",)),
        PipelineConfig(link_for=_example_link),
    )
    assert outcome.action == "injected", outcome.reason
    message = email.message_from_bytes(outcome.outgoing[0].data, policy=email.policy.default)
    text = message.get_content()
    assert "なお、acme.co.jpは「Career Relay」と提携しております" in text
    assert "採用担当は" not in text
