"""`relay-smtp init`: from the demo to a production configuration in one sitting.

Why this module exists: the Career Relay promise is "one meeting, live the same day".  What a mail admin
needs for that is always the same: a configuration with fresh secrets (never the development ones), one
DKIM key per mail domain and the TXT record to publish for it, the company in ``audit`` mode to start
with, the Postfix lines to paste and the next steps.  This module writes exactly that and nothing else;
it never replaces a file that exists (a live key's TXT record would stop matching, a live secret would
kill every link issued).

The answers are plain values (`InitAnswers`), checked here with the same rules as `config.py` applies,
so what `init` writes is what `check-config` accepts; the command line turns options or prompts into
them.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from relay_smtp.config import ConfigError, load_settings, parse_host_port
from relay_smtp.mail.dkim import check_key, dns_record_name, generate_key, txt_strings, write_private_key

MAX_COMPANY_ID = 22  # keeps https://relay.example.co.jp/r/<token> under 120 characters (see links.py)
_COMPANY_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}$")
_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+$")


class InitError(ConfigError):
    """Answers that cannot make a valid configuration, or a file that must not be replaced.

    A ConfigError (every problem, one per line, in ``problems``) so that it is not a second copy of one.
    """


@dataclass(frozen=True)
class InitAnswers:
    company_name: str
    domains: tuple[str, ...]
    recruiting_senders: tuple[str, ...]
    next_hop: str  # smtp://host:port or smtps://host:port
    public_url: str  # https://… where candidates' links point
    company_id: str = ""  # default: from the first domain (acme.co.jp -> acme)
    agency_name: str = ""
    selector: str = ""  # default: relayYYYY
    algorithm: str = "rsa"  # rsa | ed25519
    smtp_listen: str = "127.0.0.1:10025"
    web_listen: str = "127.0.0.1:8025"


@dataclass(frozen=True)
class DkimRecord:
    domain: str
    selector: str
    key_file: Path
    txt: str  # the TXT record value

    @property
    def zone_line(self) -> str:
        strings = " ".join(f'"{part}"' for part in txt_strings(self.txt))
        return f"{dns_record_name(self.selector, self.domain)}. IN TXT ( {strings} )"


@dataclass(frozen=True)
class InitResult:
    config: Path
    company_id: str
    records: tuple[DkimRecord, ...]


def default_company_id(domains: tuple[str, ...], name: str) -> str:
    """acme.co.jp -> "acme"; else letters and digits of the name; else "company"."""
    for candidate in (domains[0].split(".")[0] if domains else "", name):
        slug = re.sub(r"[^a-z0-9]+", "-", candidate.lower()).strip("-")[:MAX_COMPANY_ID].strip("-")
        if slug:
            return slug
    return "company"


def normalised(answers: InitAnswers) -> InitAnswers:
    """The answers cleaned (lower-case domains, defaults filled in), or InitError naming every problem."""
    problems: list[str] = []
    domains = tuple(d.strip().lower().rstrip(".") for d in answers.domains if d.strip())
    senders = tuple(s.strip().lower() for s in answers.recruiting_senders if s.strip())
    if not answers.company_name.strip():
        problems.append("company name: must not be empty")
    if not domains:
        problems.append("domains: give at least one mail domain of the company (e.g. acme.co.jp)")
    problems += [f"domains: {d!r} is not a domain name" for d in domains if not _DOMAIN.match(d)]
    if not senders:
        problems.append("recruiting senders: give at least one address or @domain HR sends from")
    for sender in senders:
        if sender.startswith("@"):
            if not _DOMAIN.match(sender[1:]):
                problems.append(f"recruiting senders: {sender!r} is not an @domain")
        elif not _ADDRESS.match(sender):
            problems.append(f"recruiting senders: {sender!r} is not an address or @domain")
    company_id = answers.company_id.strip().lower() or default_company_id(domains, answers.company_name)
    if not _COMPANY_ID.match(company_id) or len(company_id) > MAX_COMPANY_ID:
        problems.append(f"company id: {company_id!r} must be 1 to {MAX_COMPANY_ID} of a-z, 0-9, '-' and '_'")
    if answers.algorithm not in ("rsa", "ed25519"):
        problems.append(f"algorithm: must be rsa or ed25519, not {answers.algorithm!r}")
    selector = answers.selector.strip() or f"relay{datetime.now(UTC):%Y}"
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]{0,62}", selector):
        problems.append(f"selector: {selector!r} must be letters, digits and '-'")
    for name, value in (("smtp listen", answers.smtp_listen), ("web listen", answers.web_listen)):
        try:
            parse_host_port(value)
        except (TypeError, ValueError) as exc:
            problems.append(f"{name}: {exc}")
    if not answers.next_hop.startswith(("smtp://", "smtps://")):
        problems.append(f"next hop: {answers.next_hop!r} must be smtp://host:port or smtps://host:port")
    if not answers.public_url.startswith(("https://", "http://")):
        problems.append(f"public URL: {answers.public_url!r} must be an https:// URL")
    if problems:
        raise InitError(problems)
    return InitAnswers(
        company_name=" ".join(answers.company_name.split()),
        domains=domains,
        recruiting_senders=senders,
        next_hop=answers.next_hop.strip(),
        public_url=answers.public_url.strip().rstrip("/"),
        company_id=company_id,
        agency_name=answers.agency_name.strip(),
        selector=selector,
        algorithm=answers.algorithm,
        smtp_listen=answers.smtp_listen,
        web_listen=answers.web_listen,
    )


def _toml(value: str | list[str]) -> str:
    """A TOML basic string (or array of them): JSON's escapes are a subset of TOML's."""
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def render_config(answers: InitAnswers, directory: Path, records: tuple[DkimRecord, ...]) -> str:
    """The configuration file's text; every path absolute, every secret fresh."""
    a = answers
    fresh = {name: secrets.token_urlsafe(32) for name in ("link", "hash", "form", "admin", "webhook")}
    lines = [
        f"# relay-smtp configuration for {a.company_name}, written by `relay-smtp init`",
        f"# on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Every key and its default: config.example.toml.",
        "# This file holds secrets: keep it mode 0600, owned by the user the relay runs as.",
        "",
        "[smtp]",
        f"listen = {_toml(a.smtp_listen)}",
        "",
        "[upstream]",
        "# Where the relay hands mail on: Postfix's reinjection smtpd (see the lines printed by init).",
        f"url = {_toml(a.next_hop)}",
        "",
        "[web]",
        f"listen = {_toml(a.web_listen)}",
        "# Candidates' links start with this URL: put your HTTPS proxy in front of web.listen.",
        f"public_url = {_toml(a.public_url)}",
        f"form_secret = {_toml(fresh['form'])}",
        "",
        "[agency]",
        "# The partner recruitment agency, as shown to candidates, and its webhook's shared secret.",
        f"name = {_toml(a.agency_name)}",
        f"webhook_secret = {_toml(fresh['webhook'])}",
        "",
        "[admin]",
        "# /admin: send it as `Authorization: Bearer <token>`.",
        f"token = {_toml(fresh['admin'])}",
        "",
        "[store]",
        f"url = {_toml('sqlite:///' + str(directory / 'relay-smtp.db'))}",
        "",
        "[links]",
        "# The first secret signs links; rotate by adding a new first one. Never lose them: links die.",
        f"secrets = {_toml([fresh['link']])}",
        f"hash_secret = {_toml(fresh['hash'])}",
        "",
        "[spool]",
        f"directory = {_toml(str(directory / 'spool'))}",
        "",
        "[[companies]]",
        f"id = {_toml(a.company_id)}",
        f"name = {_toml(a.company_name)}",
        'locale = "auto"',
        '# "audit" only logs verdict=... reasons=[...]; read the log, then switch to "enforce".',
        'mode = "audit"',
        f"recruiting_senders = {_toml(list(a.recruiting_senders))}",
        f"domains = {_toml(list(a.domains))}",
    ]
    if _needs_parent_keys(a):
        lines += [
            "",
            "[dkim]",
            "# HR sends from a subdomain of a domain with a key: sign its mail with the parent's key.",
            "parent_domains = true",
        ]
    algorithm = "ed25519-sha256" if a.algorithm == "ed25519" else "rsa-sha256"
    for record in records:
        lines += [
            "",
            f"# Publish: {record.zone_line}",
            "[[dkim.keys]]",
            f"domain = {_toml(record.domain)}",
            f"selector = {_toml(record.selector)}",
            f"key_file = {_toml(str(record.key_file))}",
            f"algorithm = {_toml(algorithm)}",
        ]
    return "\n".join(lines) + "\n"


def _needs_parent_keys(answers: InitAnswers) -> bool:
    """A recruiting sender's domain is a subdomain of a key's domain but has no key of its own."""
    sender_domains = {s.rpartition("@")[2] for s in answers.recruiting_senders}
    return any(
        d not in answers.domains and any(d.endswith("." + parent) for parent in answers.domains)
        for d in sender_domains
    )


def initialise(answers: InitAnswers, config_path: Path) -> InitResult:
    """Write the configuration (0600) and one DKIM key per domain; never replaces an existing file."""
    answers = normalised(answers)
    config_path = config_path.absolute()
    directory = config_path.parent
    key_dir = directory / "dkim"
    keys = [key_dir / f"{domain}.{answers.selector}.key" for domain in answers.domains]
    existing = [p for p in (config_path, *keys) if p.exists()]
    if existing:
        raise InitError([f"{p}: exists; init never replaces a file (move it away first)" for p in existing])
    directory.mkdir(parents=True, exist_ok=True)
    records = []
    for domain, key_file in zip(answers.domains, keys, strict=True):
        pem, txt = generate_key("ed25519" if answers.algorithm == "ed25519" else "rsa")
        write_private_key(key_file, pem)
        records.append(DkimRecord(domain, answers.selector, key_file, txt))
    text = render_config(answers, directory, tuple(records))
    _write_new(config_path, text)
    _check(config_path)
    return InitResult(config_path, answers.company_id, tuple(records))


def _write_new(path: Path, text: str) -> None:
    """Created 0600 with O_EXCL: a file that appeared meanwhile is not replaced either."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        os.fchmod(out.fileno(), 0o600)
        out.write(text)
        out.flush()
        os.fsync(out.fileno())


def _check(path: Path) -> None:
    """What init wrote must pass `check-config`; a failure here is a bug of init, said plainly."""
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        raise InitError(
            [f"{path}: written, but not valid (a bug of init): {p}" for p in exc.problems]
        ) from None
    problems = [p for key in settings.dkim.keys if (p := check_key(key)) is not None]
    if problems:
        raise InitError([f"{path}: {p}" for p in problems])


def next_steps(result: InitResult, answers: InitAnswers) -> str:
    """What to do now, for the person at the terminal: DNS, check, Postfix, start, audit, enforce."""
    config = result.config
    smtp = parse_host_port(answers.smtp_listen)
    hop = answers.next_hop.removeprefix("smtps://").removeprefix("smtp://").rstrip("/")
    hop_port = hop.rpartition(":")[2] if ":" in hop else "25"
    records = "\n".join(f"   {r.zone_line}" for r in result.records)
    return f"""\
Wrote {config} (mode 0600, fresh secrets) and {len(result.records)} DKIM key(s) in {config.parent / "dkim"}.
Company {result.company_id!r} starts in mode "audit": mail is logged with its verdict, never changed.

1. Publish the DKIM TXT record(s) in DNS:
{records}

2. Check the configuration:
   relay-smtp check-config --config {config}

3. Put the relay in Postfix's outgoing path (main.cf, then master.cf; `postfix reload`):
   content_filter = relay-smtp:[{smtp.host}]:{smtp.port}
   relay-smtp_destination_recipient_limit = 1

   relay-smtp unix  -       -       n       -       4       smtp
       -o disable_dns_lookups=yes
   127.0.0.1:{hop_port} inet n  -       n       -       -       smtpd
       -o content_filter=
       -o receive_override_options=no_unknown_recipient_checks,no_header_body_checks,no_milters
       -o smtpd_recipient_restrictions=permit_mynetworks,reject
       -o mynetworks=127.0.0.0/8

4. Start it (systemd/relay-smtp.service runs the same command):
   relay-smtp serve --config {config}

5. Let HR send as usual for a few days and read the log lines `verdict=... reasons=[...]`.
   When the rejections are the ones you expect, set mode = "enforce" in {config.name}
   and reload (systemctl reload relay-smtp, or SIGHUP): rejections then get the block.
"""
