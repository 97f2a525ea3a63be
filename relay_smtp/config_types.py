"""The settings as the rest of the relay sees them: frozen dataclasses, one per TOML table.

Why this module exists: every part of the relay reads these types, while only `config` and its
readers (`config_values`, `config_sections`) build them; kept apart so the readers can import the
types without importing `config`. Import them from `relay_smtp.config`, which re-exports them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

__all__ = [
    "AdminSettings",
    "AgencySettings",
    "Company",
    "CompanyMode",
    "ConfigError",
    "CreditSettings",
    "DkimKey",
    "DkimSettings",
    "HostPort",
    "IPNetwork",
    "KpiSettings",
    "LinkSettings",
    "Locale",
    "LogSettings",
    "MaildirUpstream",
    "Settings",
    "SmtpSettings",
    "SmtpUpstream",
    "SpoolSettings",
    "StoreSettings",
    "TalentPoolSettings",
    "TlsMode",
    "UpstreamSettings",
    "WebSettings",
]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
TlsMode = Literal["none", "opportunistic", "required"]
CompanyMode = Literal["enforce", "audit", "off"]
Locale = Literal["ja", "en", "auto"]


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
