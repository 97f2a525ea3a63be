"""Everything the web side can be told, in one frozen value: `WebConfig`.

Why this module exists: the HTTP app is built from plain values (no TOML, no environment), so tests and
the screenshot script can build it in two lines, and `relay_smtp/config.py` stays the only place that
reads operators' files.  Every knob has a default that is safe for a first run on a laptop; the ones an
operator must set for production (partner agency, secrets) are named in the report that goes with it.
A running web side holds its value in a `LiveConfig`, which a reload (SIGHUP) replaces, keeping what
`FIXED_ON_RELOAD` names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Literal

from relay_smtp.config import Settings

PageLocale = Literal["ja", "en"]
CompanyLocale = Literal["ja", "en", "auto"]
Landing = Literal["hosted", "redirect"]

#: Case-insensitive regular expressions matched against the User-Agent of a click.  Mail security
#: gateways and link previewers fetch every link of a message before (or instead of) the person does.
DEFAULT_BOT_USER_AGENTS: tuple[str, ...] = (
    r"safelinks",
    r"microsoft office",
    r"ms-office",
    r"msoffice",
    r"outlook-ios",
    r"proofpoint",
    r"mimecast",
    r"barracuda",
    r"ironport",
    r"cisco",
    r"trend ?micro",
    r"symantec",
    r"sophos",
    r"fireeye",
    r"forcepoint",
    r"zscaler",
    r"paloalto",
    r"googleimageproxy",
    r"yahoomailproxy",
    r"headlesschrome",
    r"phantomjs",
    r"curl/",
    r"wget",
    r"python-requests",
    r"python-urllib",
    r"python-httpx",
    r"aiohttp",
    r"go-http-client",
    r"okhttp",
    r"java/",
    r"apache-httpclient",
    r"libwww-perl",
    r"node-fetch",
    r"axios/",
    r"facebookexternalhit",
    r"whatsapp",
    r"skypeuripreview",
    r"preview",
    r"scanner",
    r"bot\b",
    r"bot/",
    r"crawler",
    r"spider",
    r"slurp",
)


@dataclass(frozen=True)
class CompanyPage:
    """How a company appears to candidates: its display name and the language of its pages."""

    name: str
    locale: CompanyLocale = "auto"
    #: The company's ATS, which receives new talent-pool entries (signed with the secret), if any.
    talent_pool_webhook: str | None = None
    talent_pool_webhook_secret: str | None = None


@dataclass(frozen=True)
class AtsAccess:
    """A company's ATS rejection-signal API: its bearer token and default window (web/ats_api.py)."""

    token: str
    window_hours: int = 72


@dataclass(frozen=True)
class WebConfig:
    """Settings of the candidate pages, the agency webhook and the admin page.

    Proposed configuration keys (see the report): ``[web]`` public_url, landing, operator_name,
    consent_version, personal_data_retention_days, privacy_contact, scanner_window_seconds,
    bot_user_agents, link_rate_per_minute, register_rate_per_minute, confirm_ttl_hours, form_secret;
    ``[agency]`` name, url, license, form_url, ref_param, webhook_secret; ``[admin]`` token, users.
    """

    public_url: str = "http://127.0.0.1:8025"
    companies: Mapping[str, CompanyPage] = field(default_factory=dict)
    landing: Landing = "hosted"
    #: Who runs the Career Relay service (shown on the pages and in the confirmation mail).
    operator_name: str = "Career Relay"
    #: The partner recruitment agency that receives the candidate's data.
    partner_name: str = ""
    #: The agency's home page or privacy policy, linked from the consent text.
    partner_url: str | None = None
    #: The agency's licence number for fee-charging employment placement (有料職業紹介事業許可番号).
    partner_license: str | None = None
    #: Redirect mode: the agency's own registration form; the link token is appended as `partner_ref_param`.
    partner_form_url: str | None = None
    partner_ref_param: str = "cr_ref"
    #: Admin authentication: a bearer token, and/or users for HTTP basic auth (name -> password).
    admin_token: str | None = None
    admin_users: Mapping[str, str] = field(default_factory=dict)
    #: The embedded demo only (no configuration file): /admin opens without credentials from loopback.
    admin_open_on_loopback: bool = False
    #: Company HR users (name -> company id; the others are operators) and their time zones.
    admin_user_companies: Mapping[str, str] = field(default_factory=dict)
    admin_user_time_zones: Mapping[str, str] = field(default_factory=dict)
    #: The re-application rate: a later mail counts from this many days after the rejection, for this
    #: many days (kpi.reapply_min_days, kpi.reapply_window_days).
    reapply_min_days: int = 14
    reapply_window_days: int = 365
    #: The talent-pool opt-in: its consent text's version and how long entries are kept.
    talent_pool_consent_version: str = "2026-01"
    talent_pool_retention_days: int = 730
    #: Shared secret of the agency webhook; without it the webhook answers 503.
    webhook_secret: str | None = None
    webhook_tolerance_seconds: int = 300
    webhook_max_body_bytes: int = 65_536
    #: Recorded with every hosted registration: the version of the consent text the candidate agreed to.
    consent_version: str = "2026-01"
    personal_data_retention_days: int = 365
    #: Where candidates withdraw consent or ask about their data (an e-mail address or URL).
    privacy_contact: str | None = None
    bot_user_agents: tuple[str, ...] = DEFAULT_BOT_USER_AGENTS
    #: Clicks this soon after the link was issued are mail scanners, not people.
    scanner_window_seconds: int = 60
    link_rate_per_minute: int = 30
    register_rate_per_minute: int = 10
    admin_failures_per_minute: int = 10
    confirm_ttl: timedelta = timedelta(days=2)
    #: Signs the registration form's CSRF token; random per process when unset (several processes
    #: behind one address must share it).
    form_secret: str | None = None
    form_max_age_seconds: int = 12 * 3600
    #: Bearer token of the agency's pull API (``/api/v1/agency/...``); without it the pull API answers 503.
    agency_pull_token: str | None = None
    #: Years a provision record (第三者提供記録) is kept.
    provision_record_years: int = 3
    #: Companies whose ATS may announce rejections, by company id.
    ats: Mapping[str, AtsAccess] = field(default_factory=dict)
    #: Directory of the web templates; by default the repository's ``templates/web``.
    templates_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.landing == "redirect" and not self.partner_form_url:
            raise ValueError("landing = 'redirect' needs partner_form_url")
        if self.landing not in ("hosted", "redirect"):
            raise ValueError(f"landing must be 'hosted' or 'redirect', not {self.landing!r}")
        for name in ("link_rate_per_minute", "register_rate_per_minute", "admin_failures_per_minute"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")

    @property
    def public_base(self) -> str:
        return self.public_url.rstrip("/")

    def company_name(self, company: str) -> str:
        page = self.companies.get(company)
        return page.name if page else company


def web_config(settings: Settings) -> WebConfig:
    """The web side's view of the operator's configuration."""
    web, agency, admin = settings.web, settings.agency, settings.admin
    return WebConfig(
        public_url=web.public_url,
        companies={
            c.id: CompanyPage(c.name, c.locale, c.talent_pool_webhook, c.talent_pool_webhook_secret)
            for c in settings.companies
        },
        landing=web.landing,
        operator_name=web.operator_name,
        partner_name=agency.name,
        partner_url=agency.url,
        partner_license=agency.license,
        partner_form_url=agency.form_url,
        partner_ref_param=agency.ref_param,
        admin_token=admin.token,
        admin_users=dict(admin.users),
        admin_open_on_loopback=settings.demo,
        admin_user_companies=dict(admin.user_companies),
        admin_user_time_zones=dict(admin.user_time_zones),
        reapply_min_days=settings.kpi.reapply_min_days,
        reapply_window_days=settings.kpi.reapply_window_days,
        talent_pool_consent_version=settings.talent_pool.consent_version,
        talent_pool_retention_days=settings.talent_pool.retention_days,
        webhook_secret=agency.webhook_secret,
        consent_version=web.consent_version,
        personal_data_retention_days=web.personal_data_retention_days,
        privacy_contact=web.privacy_contact,
        scanner_window_seconds=web.scanner_window_seconds,
        link_rate_per_minute=web.link_rate_per_minute,
        register_rate_per_minute=web.register_rate_per_minute,
        confirm_ttl=timedelta(hours=web.confirm_ttl_hours),
        form_secret=web.form_secret,
        agency_pull_token=agency.pull_token,
        provision_record_years=agency.provision_record_years,
        ats={c.id: AtsAccess(c.ats_token, c.ats_window_hours) for c in settings.companies if c.ats_token},
    )


#: What a reload (SIGHUP) leaves as the process started with, by WebConfig field and configuration key.
#: Each built something that lives as long as the process: the public URL is the links' address (the
#: SMTP side keeps issuing links to it) and decides HSTS and secure cookies; the form secret signs the
#: registration forms already in candidates' browsers; the rates, the scanner window and the bot
#: patterns are built into the rate limiters (which hold the counts so far) and the click judge; the
#: demo's open /admin follows from running without a file, which a reload cannot change. Listen address,
#: proxies, link keys and the store are not WebConfig's at all: the sockets are bound, the store open.
#: (None: no configuration key sets it.)
FIXED_ON_RELOAD: Mapping[str, str | None] = {
    "public_url": "web.public_url",
    "form_secret": "web.form_secret",
    "link_rate_per_minute": "web.link_rate_per_minute",
    "register_rate_per_minute": "web.register_rate_per_minute",
    "scanner_window_seconds": "web.scanner_window_seconds",
    "admin_failures_per_minute": None,
    "bot_user_agents": None,
    "form_max_age_seconds": None,
    "admin_open_on_loopback": None,
    "templates_dir": None,
}


def reloaded(running: WebConfig, new: WebConfig) -> tuple[WebConfig, list[str]]:
    """`new` with the fields a reload cannot change kept as `running` has them, and the configuration
    keys whose new values wait for a restart (to warn of)."""
    kept = {name: getattr(running, name) for name in FIXED_ON_RELOAD}
    # An unset value (the form secret) is not a change: the process made or read one at start.
    waiting = [
        key for name, key in FIXED_ON_RELOAD.items() if key and getattr(new, name) not in (kept[name], None)
    ]
    return replace(new, **kept), waiting


class LiveConfig:
    """The web side's current `WebConfig`, which a reload replaces whole.

    The routes read ``ctx.config`` (this holder's `current`) when a request comes, so a company, token
    or name a reload brought is served from the next request on. One attribute store swaps it: a
    request sees the old configuration or the new one, never a mixture, as long as it reads
    ``ctx.config`` once for the settings that must agree.
    """

    def __init__(self, config: WebConfig) -> None:
        self.current = config
