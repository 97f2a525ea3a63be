"""Reading the configuration's tables into settings: one reader per section, and the whole file.

Why this module exists: it is the long, plain part of configuration (every key, its default and its
check); kept apart from `config`, which says what a configuration is and how it is loaded.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from relay_smtp.config_types import (
    AdminSettings,
    AgencySettings,
    Company,
    ConfigError,
    CreditSettings,
    DkimKey,
    DkimSettings,
    KpiSettings,
    LinkSettings,
    LogSettings,
    Settings,
    SmtpSettings,
    SmtpUpstream,
    SpoolSettings,
    StoreSettings,
    TalentPoolSettings,
    TlsMode,
    UpstreamSettings,
    WebSettings,
)
from relay_smtp.config_values import (
    Table,
    as_bool,
    as_string,
    choice,
    host_port,
    networks,
    nonempty_string,
    positive_int,
    positive_seconds,
    proxies,
    public_url,
    readable_file,
    secret,
    store_url,
    strings,
    toml_type,
    upstream_target,
)


def _smtp(t: Table, env: Mapping[str, str]) -> SmtpSettings:
    d = SmtpSettings()
    users_table = t.table("auth_users")
    users = {name: users_table.get(name, "", secret(env)) for name in users_table.names()}
    users_table.finish()
    settings = SmtpSettings(
        listen=t.get("listen", d.listen, host_port),
        hostname=t.get("hostname", d.hostname, as_string),
        max_message_size=t.get("max_message_size", d.max_message_size, positive_int),
        max_recipients=t.get("max_recipients", d.max_recipients, positive_int),
        max_line_length=t.get("max_line_length", d.max_line_length, positive_int),
        allowed_networks=t.get("allowed_networks", d.allowed_networks, networks),
        tls_cert_file=t.get("tls_cert_file", d.tls_cert_file, readable_file),
        tls_key_file=t.get("tls_key_file", d.tls_key_file, readable_file),
        auth_users=users,
        auth_require_tls=t.get("auth_require_tls", d.auth_require_tls, as_bool),
        idle_timeout=t.get("idle_timeout", d.idle_timeout, positive_seconds),
        drain_timeout=t.get("drain_timeout", d.drain_timeout, positive_seconds),
        max_bytes_in_flight=t.get("max_bytes_in_flight", d.max_bytes_in_flight, positive_int),
    )
    if (settings.tls_cert_file is None) != (settings.tls_key_file is None):
        t.problem("tls_cert_file", "tls_cert_file and tls_key_file must be set together")
    if settings.max_line_length is not None and settings.max_line_length < 1000:
        t.problem("max_line_length", "must be at least 1000 (RFC 5321 section 4.5.3.1.6)")
    if settings.auth_users and settings.auth_require_tls and settings.tls_cert_file is None:
        t.problem("auth_users", "AUTH needs STARTTLS: set tls_cert_file, or auth_require_tls = false")
    return settings


def _upstream(t: Table, env: Mapping[str, str]) -> UpstreamSettings:
    d = UpstreamSettings()
    target = t.get("url", d.target, upstream_target)
    tls: TlsMode = t.get("tls", "opportunistic", choice("none", "opportunistic", "required"))
    if isinstance(target, SmtpUpstream):
        target = SmtpUpstream(target.host, target.port, tls, target.implicit_tls)
    settings = UpstreamSettings(
        target=target,
        timeout=t.get("timeout", d.timeout, positive_seconds),
        username=t.get("username", d.username, nonempty_string),
        password=t.get("password", d.password, secret(env)),
        helo_name=t.get("helo_name", d.helo_name, as_string),
        pool_size=t.get("pool_size", d.pool_size, positive_int),
        verify_certificates=t.get("verify_certificates", d.verify_certificates, as_bool),
    )
    if (settings.username is None) != (settings.password is None):
        t.problem("username", "username and password must be set together")
    return settings


def _web(t: Table, env: Mapping[str, str]) -> WebSettings:
    d = WebSettings()
    return WebSettings(
        listen=t.get("listen", d.listen, host_port),
        public_url=t.get("public_url", d.public_url, public_url),
        landing=t.get("landing", d.landing, choice("hosted", "redirect")),
        operator_name=t.get("operator_name", d.operator_name, nonempty_string),
        consent_version=t.get("consent_version", d.consent_version, nonempty_string),
        personal_data_retention_days=t.get(
            "personal_data_retention_days", d.personal_data_retention_days, positive_int
        ),
        privacy_contact=t.get("privacy_contact", None, nonempty_string),
        scanner_window_seconds=t.get("scanner_window_seconds", d.scanner_window_seconds, positive_int),
        link_rate_per_minute=t.get("link_rate_per_minute", d.link_rate_per_minute, positive_int),
        register_rate_per_minute=t.get("register_rate_per_minute", d.register_rate_per_minute, positive_int),
        confirm_ttl_hours=t.get("confirm_ttl_hours", d.confirm_ttl_hours, positive_int),
        form_secret=t.get("form_secret", None, secret(env)),
        trusted_proxies=t.get("trusted_proxies", None, proxies),
        mail_from=t.get("mail_from", "", as_string),
        every_worker=t.get("every_worker", d.every_worker, as_bool),
    )


def _time_zone(value: Any) -> str:
    text = nonempty_string(value)
    try:
        zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{text!r} is not a time zone (e.g. Asia/Tokyo)") from None
    return text


def _admin(t: Table, env: Mapping[str, str], company_ids: set[str]) -> AdminSettings:
    """``[admin.users]``: ``name = "password"`` (an operator) or ``name = { password, company, ... }``."""
    users_t = t.table("users")
    users: dict[str, str] = {}
    companies: dict[str, str] = {}
    zones: dict[str, str] = {}
    for name in users_t.names():
        if not users_t.holds_table(name):
            users[name] = users_t.get(name, "", secret(env))
            continue
        user_t = users_t.table(name)
        users[name] = user_t.get("password", "", secret(env))
        if not users[name]:
            user_t.problem("password", "is required")
        company = user_t.get("company", None, nonempty_string)
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
        token=t.get("token", None, secret(env)), users=users, user_companies=companies, user_time_zones=zones
    )


def _kpi(t: Table) -> KpiSettings:
    d = KpiSettings()
    return KpiSettings(
        reapply_min_days=t.get("reapply_min_days", d.reapply_min_days, positive_int),
        reapply_window_days=t.get("reapply_window_days", d.reapply_window_days, positive_int),
    )


def _talent_pool(t: Table) -> TalentPoolSettings:
    d = TalentPoolSettings()
    return TalentPoolSettings(
        consent_version=t.get("consent_version", d.consent_version, nonempty_string),
        retention_days=t.get("retention_days", d.retention_days, positive_int),
    )


def _company_phrases(value: Any) -> tuple[tuple[str, int], ...]:
    """A list of patterns (weight 4) or {pattern, weight} tables; every ``re:`` pattern compiles."""
    if not isinstance(value, list):
        raise ValueError(f"must be a list, not {toml_type(value)}")
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
    pattern = nonempty_string(value)
    if pattern.startswith("re:"):
        try:
            re.compile(pattern[3:])
        except re.error as exc:
            raise ValueError(f"{pattern!r}: bad regular expression: {exc}") from None
    return pattern


def _company(t: Table, env: Mapping[str, str]) -> Company:
    company = Company(
        id=t.get("id", "", nonempty_string),
        name=t.get("name", "", nonempty_string),
        locale=t.get("locale", "auto", choice("ja", "en", "auto")),
        mode=t.get("mode", "audit", choice("enforce", "audit", "off")),
        recruiting_senders=t.get("recruiting_senders", (), strings),
        domains=t.get("domains", (), strings),
        talent_pool_webhook=t.get("talent_pool_webhook", None, public_url),
        talent_pool_webhook_secret=t.get("talent_pool_webhook_secret", None, secret(env)),
        rejection_phrases=t.get("rejection_phrases", (), _company_phrases),
        exclusions=t.get("exclusions", (), lambda v: tuple(map(_pattern, strings(v)))),
        ats_token=t.get("ats_token", None, secret(env)),
        ats_window_hours=t.get("ats_window_hours", 72, positive_int),
    )
    if company.talent_pool_webhook and not company.talent_pool_webhook_secret:
        t.problem("talent_pool_webhook", "needs talent_pool_webhook_secret to sign what it sends")
    for name in ("id", "name"):
        if not getattr(company, name):
            t.problem(name, "is required")
    t.finish()
    return company


def _dkim_key(t: Table) -> DkimKey:
    key = DkimKey(
        domain=t.get("domain", "", nonempty_string).lower(),
        selector=t.get("selector", "", nonempty_string),
        key_file=t.get("key_file", Path(), readable_file),
        algorithm=t.get("algorithm", "rsa-sha256", choice("rsa-sha256", "ed25519-sha256")),
    )
    for name, value in (("domain", key.domain), ("selector", key.selector)):
        if not value:
            t.problem(name, "is required")
    if key.key_file == Path():
        t.problem("key_file", "is required")
    t.finish()
    return key


def read_settings(data: Mapping[str, Any], env: Mapping[str, str], source: Path | None) -> Settings:
    problems: list[str] = []
    top = Table(data, "", problems)
    smtp = _smtp(top.table("smtp"), env)
    upstream = _upstream(top.table("upstream"), env)
    web_t = top.table("web")
    web = _web(web_t, env)
    agency_t = top.table("agency")
    agency = AgencySettings(
        name=agency_t.get("name", "", as_string),
        url=agency_t.get("url", None, public_url),
        license=agency_t.get("license", None, nonempty_string),
        form_url=agency_t.get("form_url", None, public_url),
        ref_param=agency_t.get("ref_param", "cr_ref", nonempty_string),
        webhook_secret=agency_t.get("webhook_secret", None, secret(env)),
        push_url=agency_t.get("push_url", None, public_url),
        push_secret=agency_t.get("push_secret", None, secret(env)),
        push_timeout_seconds=agency_t.get("push_timeout_seconds", 10.0, positive_seconds),
        push_retry_seconds=agency_t.get("push_retry_seconds", 30.0, positive_seconds),
        push_max_age_hours=agency_t.get("push_max_age_hours", 72.0, positive_seconds),
        push_interval_seconds=agency_t.get("push_interval_seconds", 5.0, positive_seconds),
        pull_token=agency_t.get("pull_token", None, secret(env)),
        provision_record_years=agency_t.get("provision_record_years", 3, positive_int),
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
    store = StoreSettings(url=store_t.get("url", StoreSettings.url, store_url))
    links_t = top.table("links")
    links = LinkSettings(
        secrets=links_t.get("secrets", (), lambda v: tuple(map(secret(env), strings(v)))),
        max_age_days=links_t.get("max_age_days", LinkSettings.max_age_days, positive_int),
        hash_secret=links_t.get("hash_secret", None, secret(env)),
    )
    credits_t = top.table("credits")
    credits = CreditSettings(
        registrations_per_credit=credits_t.get("registrations_per_credit", 10, positive_int)
    )
    dkim_t = top.table("dkim")
    dkim = DkimSettings(
        keys=tuple(_dkim_key(k) for k in dkim_t.tables("keys")),
        parent_domains=dkim_t.get("parent_domains", False, as_bool),
        sign_all_domains=dkim_t.get("sign_all_domains", (), lambda v: tuple(d.lower() for d in strings(v))),
        self_check=dkim_t.get("self_check", False, as_bool),
    )
    spool_t = top.table("spool")
    spool = SpoolSettings(
        directory=spool_t.get("directory", SpoolSettings.directory, lambda v: Path(nonempty_string(v))),
        max_age_hours=spool_t.get("max_age_hours", SpoolSettings.max_age_hours, positive_seconds),
        retry_interval=spool_t.get("retry_interval", SpoolSettings.retry_interval, positive_seconds),
    )
    log_t = top.table("log")
    log = LogSettings(
        format=log_t.get("format", "text", choice("text", "json")),
        level=log_t.get("level", "info", choice("debug", "info", "warning", "error")),
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
