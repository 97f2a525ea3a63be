"""Configuration: a TOML file becomes validated, frozen settings.

Operators edit this file by hand, so every mistake must come back as a sentence that names the key
(`smtp.listen: port 99999 is out of range`), all mistakes at once, and unknown keys are errors rather
than silently ignored typos. Secret values may be written as ``"env:NAME"`` and are then read from the
environment, so the file itself can be world-readable.

Nothing here touches the network or starts anything; the settings are passed into the parts that do.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
TlsMode = Literal["none", "opportunistic", "required"]
CompanyMode = Literal["enforce", "audit", "off"]
Locale = Literal["ja", "en", "auto"]

T = TypeVar("T")


class ConfigError(Exception):
    """Raised with every problem found in a configuration, one per line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class HostPort:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class SmtpSettings:
    listen: HostPort = HostPort("127.0.0.1", 10025)
    hostname: str = ""  # empty: the machine's FQDN
    max_message_size: int = 26_214_400
    max_recipients: int = 1000
    # None: lines up to max_message_size, as Postfix takes them; a rejection never bounces for its shape
    max_line_length: int | None = None
    allowed_networks: tuple[IPNetwork, ...] = (
        ipaddress.ip_network("127.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    )
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    auth_users: Mapping[str, str] = field(default_factory=dict)
    auth_require_tls: bool = True
    idle_timeout: float = 300.0
    drain_timeout: float = 30.0
    max_bytes_in_flight: int = 8_388_608  # octets of mail a worker processes and sends at once


@dataclass(frozen=True)
class SmtpUpstream:
    host: str
    port: int
    tls: TlsMode = "opportunistic"
    implicit_tls: bool = False  # smtps://: TLS from the first byte


@dataclass(frozen=True)
class MaildirUpstream:
    path: Path


@dataclass(frozen=True)
class UpstreamSettings:
    target: SmtpUpstream | MaildirUpstream = MaildirUpstream(Path("outbox"))
    timeout: float = 60.0
    username: str | None = None
    password: str | None = None
    helo_name: str = ""
    pool_size: int = 8
    verify_certificates: bool = True


@dataclass(frozen=True)
class WebSettings:
    listen: HostPort = HostPort("127.0.0.1", 8025)
    public_url: str = "http://127.0.0.1:8025"
    landing: Literal["hosted", "redirect"] = "hosted"
    operator_name: str = "Career Relay"
    consent_version: str = "2026-01"
    personal_data_retention_days: int = 365
    privacy_contact: str | None = None
    scanner_window_seconds: int = 60
    link_rate_per_minute: int = 30
    register_rate_per_minute: int = 10
    confirm_ttl_hours: int = 48
    form_secret: str | None = None  # several workers or relays behind one address must share it
    trusted_proxies: str | None = None  # reverse proxies whose X-Forwarded-For is believed
    mail_from: str = ""  # sender of the confirmation mail; empty: noreply@<public_url host>
    every_worker: bool = False  # with --workers N > 1: HTTP in every worker, not only in worker 0


@dataclass(frozen=True)
class AgencySettings:
    name: str = ""
    url: str | None = None
    license: str | None = None
    form_url: str | None = None
    ref_param: str = "cr_ref"
    webhook_secret: str | None = None
    # Hosted mode: how confirmed registrations reach the agency (push, pull, or both) - see docs/agency.md.
    push_url: str | None = None
    push_secret: str | None = None
    push_timeout_seconds: float = 10.0
    push_retry_seconds: float = 30.0  # first wait after a failed push; doubles up to an hour
    push_max_age_hours: float = 72.0  # then a hand-off is flagged and waits for `agency retry`
    push_interval_seconds: float = 5.0  # how often a relay looks for hand-offs that are due
    pull_token: str | None = None
    provision_record_years: int = 3


@dataclass(frozen=True)
class AdminSettings:
    token: str | None = None
    users: Mapping[str, str] = field(default_factory=dict)  # name -> password
    #: name -> company id for company HR users; users not named here are operators (see all companies).
    user_companies: Mapping[str, str] = field(default_factory=dict)
    #: name -> IANA time zone for dates on the admin pages (default: Asia/Tokyo in ja, UTC in en).
    user_time_zones: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class KpiSettings:
    reapply_min_days: int = 14  # a later mail sooner than this after the rejection is not a re-application
    reapply_window_days: int = 365  # the re-application rate looks this far after a rejection


@dataclass(frozen=True)
class TalentPoolSettings:
    consent_version: str = "2026-01"  # of the talent-pool consent text, kept with every opt-in
    retention_days: int = 730  # pool entries older than this are purged


@dataclass(frozen=True)
class StoreSettings:
    url: str = "sqlite:///relay-smtp.db"


@dataclass(frozen=True)
class LinkSettings:
    secrets: tuple[str, ...] = ()  # empty: the installation's development secret (devsecrets.py)
    max_age_days: int = 180
    hash_secret: str | None = None  # keys recipient hashes; default: the last of `secrets`


@dataclass(frozen=True)
class CreditSettings:
    registrations_per_credit: int = 10


@dataclass(frozen=True)
class Company:
    id: str
    name: str
    locale: Locale = "auto"
    mode: CompanyMode = "audit"
    recruiting_senders: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    talent_pool_webhook: str | None = None  # the company's ATS: new pool entries are POSTed there, signed
    talent_pool_webhook_secret: str | None = None
    # The company's own classifier phrases (pattern, weight) and exclusions (see mail/phrasebook.py).
    rejection_phrases: tuple[tuple[str, int], ...] = ()
    exclusions: tuple[str, ...] = ()
    ats_token: str | None = None  # bearer token of the ATS rejection-signal API; unset: API off
    ats_window_hours: int = 72  # default window of an ATS rejection signal


@dataclass(frozen=True)
class DkimKey:
    domain: str
    selector: str
    key_file: Path
    algorithm: Literal["rsa-sha256", "ed25519-sha256"] = "rsa-sha256"


@dataclass(frozen=True)
class DkimSettings:
    keys: tuple[DkimKey, ...] = ()
    parent_domains: bool = False  # hr.acme.co.jp may use acme.co.jp's key
    sign_all_domains: tuple[str, ...] = ()  # also sign mail of these domains that was not changed
    self_check: bool = False  # verify our own signature before sending; on failure send the original


@dataclass(frozen=True)
class SpoolSettings:
    directory: Path = Path("spool")
    max_age_hours: float = 120.0  # then a deferred copy goes back to its sender as a bounce
    retry_interval: float = 60.0  # seconds before the first retry; doubles up to an hour


@dataclass(frozen=True)
class LogSettings:
    format: Literal["text", "json"] = "text"
    level: Literal["debug", "info", "warning", "error"] = "info"


@dataclass(frozen=True)
class Settings:
    smtp: SmtpSettings = SmtpSettings()
    upstream: UpstreamSettings = UpstreamSettings()
    web: WebSettings = WebSettings()
    agency: AgencySettings = AgencySettings()
    admin: AdminSettings = AdminSettings()
    store: StoreSettings = StoreSettings()
    links: LinkSettings = LinkSettings()
    credits: CreditSettings = CreditSettings()
    companies: tuple[Company, ...] = ()
    dkim: DkimSettings = DkimSettings()
    spool: SpoolSettings = SpoolSettings()
    log: LogSettings = LogSettings()
    source: Path | None = None  # the file these settings came from, if any
    kpi: KpiSettings = KpiSettings()
    talent_pool: TalentPoolSettings = TalentPoolSettings()
    demo: bool = False  # the embedded defaults' demo (see DEMO_COMPANY); a configuration file turns it off


# --------------------------------------------------------------------------- the demo

#: With no configuration file the relay runs this company in `enforce` mode, taking every sender as
#: recruiting ("*"), so that a rejection sent to it comes out with the block and a working link.  Safe
#: only because the embedded next hop is the local Maildir (nothing leaves the machine) and the SMTP
#: port takes mail from loopback alone.
DEMO_COMPANY = Company(
    id="demo",
    name="デモ株式会社",
    locale="auto",
    mode="enforce",
    recruiting_senders=("*",),
    domains=("demo.example",),
)
DEMO_AGENCY = "Example Recruitment Agency (demo)"


def _demo(settings: Settings) -> Settings:
    """The embedded defaults as a demo: a company in `enforce` mode and a named partner agency.

    The demo's one visitor opens the link seconds after sending it, which in production is what a
    mail scanner does; so the demo has no scanner window (user agents of known scanners still count
    as bots), and the click shows in the funnel as the person's."""
    web = replace(settings.web, scanner_window_seconds=0)
    return replace(
        settings, companies=(DEMO_COMPANY,), agency=AgencySettings(name=DEMO_AGENCY), web=web, demo=True
    )


def with_listeners(settings: Settings, smtp: HostPort | None, web: HostPort | None) -> Settings:
    """`serve --listen/--web-listen`: other addresses than the file's (or the defaults', when 8025 is
    taken).  Without a file the links follow the web listener, so the demo's links still open."""
    if smtp is not None:
        settings = replace(settings, smtp=replace(settings.smtp, listen=smtp))
    if web is not None:
        public_url = f"http://{web}" if settings.source is None else settings.web.public_url
        settings = replace(settings, web=replace(settings.web, listen=web, public_url=public_url))
    return settings


# --------------------------------------------------------------------------- reading


class _Table:
    """One TOML table being read: takes keys off it, records problems, reports leftovers."""

    def __init__(self, data: Mapping[str, Any], prefix: str, problems: list[str]) -> None:
        self._data = dict(data)
        self._prefix = prefix
        self._problems = problems

    def key(self, name: str) -> str:
        return f"{self._prefix}.{name}" if self._prefix else name

    def problem(self, name: str, message: str) -> None:
        self._problems.append(f"{self.key(name)}: {message}")

    def names(self) -> list[str]:
        return list(self._data)

    def holds_table(self, name: str) -> bool:
        return isinstance(self._data.get(name), dict)

    def get(self, name: str, default: T, convert: Callable[[Any], T]) -> T:
        """Take `name` off the table and convert it; on a bad value note it and keep the default."""
        if name not in self._data:
            return default
        raw = self._data.pop(name)
        try:
            return convert(raw)
        except (TypeError, ValueError) as exc:
            self.problem(name, str(exc))
            return default

    def table(self, name: str) -> _Table:
        raw = self._data.pop(name, {})
        if not isinstance(raw, dict):
            self.problem(name, "must be a table")
            raw = {}
        return _Table(raw, self.key(name), self._problems)

    def tables(self, name: str) -> list[_Table]:
        raw = self._data.pop(name, [])
        if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
            self.problem(name, "must be an array of tables ([[...]])")
            return []
        return [_Table(item, f"{self.key(name)}[{i}]", self._problems) for i, item in enumerate(raw)]

    def finish(self) -> None:
        for name in self._data:
            self.problem(name, "unknown key")


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"must be a string, not {_toml_type(value)}")
    return value


def _nonempty_string(value: Any) -> str:
    text = _string(value)
    if not text.strip():
        raise ValueError("must not be empty")
    return text


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"must be true or false, not {_toml_type(value)}")
    return value


def _positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"must be an integer, not {_toml_type(value)}")
    if value <= 0:
        raise ValueError(f"must be positive, not {value}")
    return value


def _positive_seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"must be a number of seconds, not {_toml_type(value)}")
    if value <= 0:
        raise ValueError(f"must be positive, not {value}")
    return float(value)


def _strings(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise TypeError(f"must be an array of strings, not {_toml_type(value)}")
    return tuple(_string(item) for item in value)


def _choice(*allowed: str) -> Callable[[Any], Any]:
    def convert(value: Any) -> str:
        text = _string(value)
        if text not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}, not {text!r}")
        return text

    return convert


def _toml_type(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    names |= {list: "an array", dict: "a table"}
    return names.get(type(value), type(value).__name__)


def _host_port(value: Any) -> HostPort:
    text = _string(value)
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise ValueError(f"{text!r} is not host:port")
    host = host.removeprefix("[").removesuffix("]")
    if not port_text.isdigit():
        raise ValueError(f"port {port_text!r} is not a number")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} is out of range")
    return HostPort(host, port)


parse_host_port = _host_port


def _network(value: Any) -> IPNetwork:
    text = _string(value)
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError(f"{text!r} is not a network (e.g. 10.0.0.0/8)") from None


def _networks(value: Any) -> tuple[IPNetwork, ...]:
    return tuple(_network(item) for item in _strings(value))


def _proxies(value: Any) -> str:
    """Reverse proxies: addresses or networks, as a list or comma-separated; never "*".

    With "*" anyone could name their own address in X-Forwarded-For (the left-most entry would be
    believed): /metrics would open and per-client rate limits be evaded by rotating the header.
    """
    items = [i.strip() for i in value.split(",")] if isinstance(value, str) else list(_strings(value))
    if not items or any(not i for i in items):
        raise ValueError("must name at least one address or network")
    if "*" in items:
        raise ValueError('"*" is not allowed: name the proxies\' addresses or networks')
    return ",".join(str(_network(item)) for item in items)


def _readable_file(value: Any) -> Path:
    path = Path(_nonempty_string(value))
    if not path.is_file():
        raise ValueError(f"{str(path)!r} is not a readable file")
    return path


def _secret(env: Mapping[str, str]) -> Callable[[Any], str]:
    """A secret written inline or as ``env:NAME``; the value is never echoed in an error."""

    def convert(value: Any) -> str:
        text = _nonempty_string(value)
        if not text.startswith("env:"):
            return text
        name = text.removeprefix("env:")
        if name not in env or not env[name]:
            raise ValueError(f"environment variable {name} is not set")
        return env[name]

    return convert


def _upstream_target(value: Any) -> SmtpUpstream | MaildirUpstream:
    text = _string(value)
    if text.startswith("maildir:"):
        path = text.removeprefix("maildir:")
        if not path:
            raise ValueError("maildir: needs a directory, e.g. maildir:./outbox")
        return MaildirUpstream(Path(path))
    parts = urlsplit(text)
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError(f"{text!r} must start with smtp://, smtps:// or maildir:")
    if not parts.hostname:
        raise ValueError(f"{text!r} has no host")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{text!r} has a port out of range") from None
    implicit = parts.scheme == "smtps"
    default_port = 465 if implicit else 25
    return SmtpUpstream(parts.hostname, port or default_port, implicit_tls=implicit)


def _public_url(value: Any) -> str:
    text = _nonempty_string(value).rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{text!r} must be an http:// or https:// URL")
    return text


def _store_url(value: Any) -> str:
    text = _nonempty_string(value)
    if not text.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
        raise ValueError(f"{text!r} must be a sqlite:/// or postgresql+psycopg:// URL")
    return text


def _smtp(t: _Table, env: Mapping[str, str]) -> SmtpSettings:
    d = SmtpSettings()
    users_table = t.table("auth_users")
    users = {name: users_table.get(name, "", _secret(env)) for name in users_table.names()}
    users_table.finish()
    settings = SmtpSettings(
        listen=t.get("listen", d.listen, _host_port),
        hostname=t.get("hostname", d.hostname, _string),
        max_message_size=t.get("max_message_size", d.max_message_size, _positive_int),
        max_recipients=t.get("max_recipients", d.max_recipients, _positive_int),
        max_line_length=t.get("max_line_length", d.max_line_length, _positive_int),
        allowed_networks=t.get("allowed_networks", d.allowed_networks, _networks),
        tls_cert_file=t.get("tls_cert_file", d.tls_cert_file, _readable_file),
        tls_key_file=t.get("tls_key_file", d.tls_key_file, _readable_file),
        auth_users=users,
        auth_require_tls=t.get("auth_require_tls", d.auth_require_tls, _bool),
        idle_timeout=t.get("idle_timeout", d.idle_timeout, _positive_seconds),
        drain_timeout=t.get("drain_timeout", d.drain_timeout, _positive_seconds),
        max_bytes_in_flight=t.get("max_bytes_in_flight", d.max_bytes_in_flight, _positive_int),
    )
    if (settings.tls_cert_file is None) != (settings.tls_key_file is None):
        t.problem("tls_cert_file", "tls_cert_file and tls_key_file must be set together")
    if settings.max_line_length is not None and settings.max_line_length < 1000:
        t.problem("max_line_length", "must be at least 1000 (RFC 5321 section 4.5.3.1.6)")
    if settings.auth_users and settings.auth_require_tls and settings.tls_cert_file is None:
        t.problem("auth_users", "AUTH needs STARTTLS: set tls_cert_file, or auth_require_tls = false")
    return settings


def _upstream(t: _Table, env: Mapping[str, str]) -> UpstreamSettings:
    d = UpstreamSettings()
    target = t.get("url", d.target, _upstream_target)
    tls: TlsMode = t.get("tls", "opportunistic", _choice("none", "opportunistic", "required"))
    if isinstance(target, SmtpUpstream):
        target = SmtpUpstream(target.host, target.port, tls, target.implicit_tls)
    settings = UpstreamSettings(
        target=target,
        timeout=t.get("timeout", d.timeout, _positive_seconds),
        username=t.get("username", d.username, _nonempty_string),
        password=t.get("password", d.password, _secret(env)),
        helo_name=t.get("helo_name", d.helo_name, _string),
        pool_size=t.get("pool_size", d.pool_size, _positive_int),
        verify_certificates=t.get("verify_certificates", d.verify_certificates, _bool),
    )
    if (settings.username is None) != (settings.password is None):
        t.problem("username", "username and password must be set together")
    return settings


def _web(t: _Table, env: Mapping[str, str]) -> WebSettings:
    d = WebSettings()
    return WebSettings(
        listen=t.get("listen", d.listen, _host_port),
        public_url=t.get("public_url", d.public_url, _public_url),
        landing=t.get("landing", d.landing, _choice("hosted", "redirect")),
        operator_name=t.get("operator_name", d.operator_name, _nonempty_string),
        consent_version=t.get("consent_version", d.consent_version, _nonempty_string),
        personal_data_retention_days=t.get(
            "personal_data_retention_days", d.personal_data_retention_days, _positive_int
        ),
        privacy_contact=t.get("privacy_contact", None, _nonempty_string),
        scanner_window_seconds=t.get("scanner_window_seconds", d.scanner_window_seconds, _positive_int),
        link_rate_per_minute=t.get("link_rate_per_minute", d.link_rate_per_minute, _positive_int),
        register_rate_per_minute=t.get("register_rate_per_minute", d.register_rate_per_minute, _positive_int),
        confirm_ttl_hours=t.get("confirm_ttl_hours", d.confirm_ttl_hours, _positive_int),
        form_secret=t.get("form_secret", None, _secret(env)),
        trusted_proxies=t.get("trusted_proxies", None, _proxies),
        mail_from=t.get("mail_from", "", _string),
        every_worker=t.get("every_worker", d.every_worker, _bool),
    )


def _time_zone(value: Any) -> str:
    text = _nonempty_string(value)
    try:
        zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{text!r} is not a time zone (e.g. Asia/Tokyo)") from None
    return text


def _admin(t: _Table, env: Mapping[str, str], company_ids: set[str]) -> AdminSettings:
    """``[admin.users]``: ``name = "password"`` (an operator) or ``name = { password, company, ... }``."""
    users_t = t.table("users")
    users: dict[str, str] = {}
    companies: dict[str, str] = {}
    zones: dict[str, str] = {}
    for name in users_t.names():
        if not users_t.holds_table(name):
            users[name] = users_t.get(name, "", _secret(env))
            continue
        user_t = users_t.table(name)
        users[name] = user_t.get("password", "", _secret(env))
        if not users[name]:
            user_t.problem("password", "is required")
        company = user_t.get("company", None, _nonempty_string)
        if company is not None:
            if company not in company_ids:
                user_t.problem("company", f"{company!r} is not the id of a [[companies]] entry")
            companies[name] = company
        zone = user_t.get("time_zone", None, _time_zone)
        if zone is not None:
            zones[name] = zone
        user_t.finish()
    users_t.finish()
    return AdminSettings(
        token=t.get("token", None, _secret(env)), users=users, user_companies=companies, user_time_zones=zones
    )


def _kpi(t: _Table) -> KpiSettings:
    d = KpiSettings()
    return KpiSettings(
        reapply_min_days=t.get("reapply_min_days", d.reapply_min_days, _positive_int),
        reapply_window_days=t.get("reapply_window_days", d.reapply_window_days, _positive_int),
    )


def _talent_pool(t: _Table) -> TalentPoolSettings:
    d = TalentPoolSettings()
    return TalentPoolSettings(
        consent_version=t.get("consent_version", d.consent_version, _nonempty_string),
        retention_days=t.get("retention_days", d.retention_days, _positive_int),
    )


def _company_phrases(value: Any) -> tuple[tuple[str, int], ...]:
    """A list of patterns (weight 4) or {pattern, weight} tables; every ``re:`` pattern compiles."""
    if not isinstance(value, list):
        raise ValueError(f"must be a list, not {_toml_type(value)}")
    out = []
    for item in value:
        if isinstance(item, str):
            pattern, weight = item, 4
        elif isinstance(item, dict) and set(item) <= {"pattern", "weight"} and "pattern" in item:
            pattern, weight = item["pattern"], item.get("weight", 4)
        else:
            raise ValueError("each entry must be a string or a table {pattern, weight}")
        if not isinstance(pattern, str) or not pattern.strip():
            raise ValueError("a pattern must be a non-empty string")
        if not isinstance(weight, int) or isinstance(weight, bool) or weight == 0:
            raise ValueError(f"{pattern!r}: weight must be a non-zero integer")
        out.append((_pattern(pattern), weight))
    return tuple(out)


def _pattern(value: Any) -> str:
    pattern = _nonempty_string(value)
    if pattern.startswith("re:"):
        try:
            re.compile(pattern[3:])
        except re.error as exc:
            raise ValueError(f"{pattern!r}: bad regular expression: {exc}") from None
    return pattern


def _company(t: _Table, env: Mapping[str, str]) -> Company:
    company = Company(
        id=t.get("id", "", _nonempty_string),
        name=t.get("name", "", _nonempty_string),
        locale=t.get("locale", "auto", _choice("ja", "en", "auto")),
        mode=t.get("mode", "audit", _choice("enforce", "audit", "off")),
        recruiting_senders=t.get("recruiting_senders", (), _strings),
        domains=t.get("domains", (), _strings),
        talent_pool_webhook=t.get("talent_pool_webhook", None, _public_url),
        talent_pool_webhook_secret=t.get("talent_pool_webhook_secret", None, _secret(env)),
        rejection_phrases=t.get("rejection_phrases", (), _company_phrases),
        exclusions=t.get("exclusions", (), lambda v: tuple(map(_pattern, _strings(v)))),
        ats_token=t.get("ats_token", None, _secret(env)),
        ats_window_hours=t.get("ats_window_hours", 72, _positive_int),
    )
    if company.talent_pool_webhook and not company.talent_pool_webhook_secret:
        t.problem("talent_pool_webhook", "needs talent_pool_webhook_secret to sign what it sends")
    for name in ("id", "name"):
        if not getattr(company, name):
            t.problem(name, "is required")
    t.finish()
    return company


def _dkim_key(t: _Table) -> DkimKey:
    key = DkimKey(
        domain=t.get("domain", "", _nonempty_string).lower(),
        selector=t.get("selector", "", _nonempty_string),
        key_file=t.get("key_file", Path(), _readable_file),
        algorithm=t.get("algorithm", "rsa-sha256", _choice("rsa-sha256", "ed25519-sha256")),
    )
    for name, value in (("domain", key.domain), ("selector", key.selector)):
        if not value:
            t.problem(name, "is required")
    if key.key_file == Path():
        t.problem("key_file", "is required")
    t.finish()
    return key


def _read(data: Mapping[str, Any], env: Mapping[str, str], source: Path | None) -> Settings:
    problems: list[str] = []
    top = _Table(data, "", problems)
    smtp = _smtp(top.table("smtp"), env)
    upstream = _upstream(top.table("upstream"), env)
    web_t = top.table("web")
    web = _web(web_t, env)
    agency_t = top.table("agency")
    agency = AgencySettings(
        name=agency_t.get("name", "", _string),
        url=agency_t.get("url", None, _public_url),
        license=agency_t.get("license", None, _nonempty_string),
        form_url=agency_t.get("form_url", None, _public_url),
        ref_param=agency_t.get("ref_param", "cr_ref", _nonempty_string),
        webhook_secret=agency_t.get("webhook_secret", None, _secret(env)),
        push_url=agency_t.get("push_url", None, _public_url),
        push_secret=agency_t.get("push_secret", None, _secret(env)),
        push_timeout_seconds=agency_t.get("push_timeout_seconds", 10.0, _positive_seconds),
        push_retry_seconds=agency_t.get("push_retry_seconds", 30.0, _positive_seconds),
        push_max_age_hours=agency_t.get("push_max_age_hours", 72.0, _positive_seconds),
        push_interval_seconds=agency_t.get("push_interval_seconds", 5.0, _positive_seconds),
        pull_token=agency_t.get("pull_token", None, _secret(env)),
        provision_record_years=agency_t.get("provision_record_years", 3, _positive_int),
    )
    if agency.push_url and not agency.push_secret:
        problems.append("agency.push_url: needs agency.push_secret (the pushes are signed)")
    companies = tuple(_company(c, env) for c in top.tables("companies"))
    admin_t = top.table("admin")
    admin = _admin(admin_t, env, {c.id for c in companies})
    kpi_t = top.table("kpi")
    kpi = _kpi(kpi_t)
    pool_t = top.table("talent_pool")
    talent_pool = _talent_pool(pool_t)
    if web.landing == "redirect" and not agency.form_url:
        problems.append("web.landing: 'redirect' needs agency.form_url")
    store_t = top.table("store")
    store = StoreSettings(url=store_t.get("url", StoreSettings.url, _store_url))
    links_t = top.table("links")
    links = LinkSettings(
        secrets=links_t.get("secrets", (), lambda v: tuple(map(_secret(env), _strings(v)))),
        max_age_days=links_t.get("max_age_days", LinkSettings.max_age_days, _positive_int),
        hash_secret=links_t.get("hash_secret", None, _secret(env)),
    )
    credits_t = top.table("credits")
    credits = CreditSettings(
        registrations_per_credit=credits_t.get("registrations_per_credit", 10, _positive_int)
    )
    dkim_t = top.table("dkim")
    dkim = DkimSettings(
        keys=tuple(_dkim_key(k) for k in dkim_t.tables("keys")),
        parent_domains=dkim_t.get("parent_domains", False, _bool),
        sign_all_domains=dkim_t.get("sign_all_domains", (), lambda v: tuple(d.lower() for d in _strings(v))),
        self_check=dkim_t.get("self_check", False, _bool),
    )
    spool_t = top.table("spool")
    spool = SpoolSettings(
        directory=spool_t.get("directory", SpoolSettings.directory, lambda v: Path(_nonempty_string(v))),
        max_age_hours=spool_t.get("max_age_hours", SpoolSettings.max_age_hours, _positive_seconds),
        retry_interval=spool_t.get("retry_interval", SpoolSettings.retry_interval, _positive_seconds),
    )
    log_t = top.table("log")
    log = LogSettings(
        format=log_t.get("format", "text", _choice("text", "json")),
        level=log_t.get("level", "info", _choice("debug", "info", "warning", "error")),
    )
    tables = (web_t, agency_t, admin_t, kpi_t, pool_t, store_t, links_t, credits_t, dkim_t, spool_t, log_t)
    for table in (*tables, top):
        table.finish()
    _check_unique([c.id for c in companies], "companies", "id", problems)
    if problems:
        raise ConfigError(problems)
    return Settings(
        smtp,
        upstream,
        web,
        agency,
        admin,
        store,
        links,
        credits,
        companies,
        dkim,
        spool,
        log,
        source,
        kpi=kpi,
        talent_pool=talent_pool,
    )


def _check_unique(values: list[str], table: str, key: str, problems: list[str]) -> None:
    seen: set[str] = set()
    for i, value in enumerate(values):
        if value in seen:
            problems.append(f"{table}[{i}].{key}: {value!r} is used twice")
        seen.add(value)


def load_settings(path: Path | None, env: Mapping[str, str] | None = None) -> Settings:
    """Read `path` (or the embedded defaults when None) into Settings, or raise ConfigError."""
    environ = os.environ if env is None else env
    if path is None:
        return _demo(_read({}, environ, None))
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{path}: is not UTF-8"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None
    # Relative paths in the file (key files, maildir) are taken relative to the working directory,
    # as every other mail daemon does; operators are told to use absolute paths in production.
    return _read(data, environ, path)
