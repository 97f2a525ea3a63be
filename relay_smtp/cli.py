"""The `relay-smtp` command: the stable surface operators, scripts and checks rely on.

Each subcommand is a small function that reads settings, calls into the package and turns the result
into an exit code: 0 for success, 2 for a bad configuration or bad usage, 1 for anything else.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import functools
import json
import logging
import os
import secrets
import smtplib
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from relay_smtp import __version__, logs, systemd
from relay_smtp.agency import outbox_policy
from relay_smtp.audit_report import parse_since, render_json, render_text
from relay_smtp.config import (
    Company,
    ConfigError,
    HostPort,
    Settings,
    load_settings,
    parse_host_port,
    with_listeners,
)
from relay_smtp.demo import sample_rejection, send_message
from relay_smtp.devsecrets import with_development_secrets
from relay_smtp.exitcodes import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK
from relay_smtp.init_command import add_init_command
from relay_smtp.links import LinkSigner, PersonalLink
from relay_smtp.mail.classify import Sender, classify
from relay_smtp.mail.dkim import (
    check_key,
    dns_record_name,
    generate_key,
    txt_strings,
    write_private_key,
)
from relay_smtp.mail.mime import parse_mime
from relay_smtp.pipeline import (
    Envelope,
    Outcome,
    PipelineConfig,
    find_company,
    from_address,
    process,
    recipients_of,
)
from relay_smtp.relay import pipeline_config
from relay_smtp.report import add_report_parser, cmd_report
from relay_smtp.service import RelayService
from relay_smtp.smtp.server import normalise_line_endings
from relay_smtp.store.audit import AuditStore
from relay_smtp.store.db import create_engine_for, current_version
from relay_smtp.store.db import upgrade as upgrade_schema
from relay_smtp.store.kpi_purge import purge_kpi_data
from relay_smtp.store.ledger import InsufficientCredits, Ledger, SchemaOutOfDate, utcnow
from relay_smtp.store.outbox import Outbox
from relay_smtp.supervisor import Supervisor, run_worker


def setup_logging(settings: Settings, log_format: str | None) -> None:
    logs.setup_logging(settings.log.level, log_format or settings.log.format)


def _load(path: Path | None) -> Settings | None:
    try:
        return load_settings(path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"relay-smtp: {problem}", file=sys.stderr)
        return None


def with_settings(
    command: Callable[[argparse.Namespace, Settings], int],
) -> Callable[[argparse.Namespace], int]:
    """A subcommand that needs valid settings: exit 2 with every problem named when they are not."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        settings = _load(args.config)
        return EXIT_CONFIG if settings is None else command(args, settings)

    return run


def with_ledger(
    command: Callable[[argparse.Namespace, Settings, Ledger], int],
) -> Callable[[argparse.Namespace], int]:
    """A subcommand that works on the store: opened (schema checked) and closed around it."""

    @with_settings
    @functools.wraps(command)
    def run(args: argparse.Namespace, settings: Settings) -> int:
        ledger = _open_ledger(settings)
        if ledger is None:
            return EXIT_FAILURE
        try:
            return command(args, settings, ledger)
        finally:
            ledger.close()

    return run


def _open_ledger(settings: Settings) -> Ledger | None:
    try:
        return Ledger.open(
            settings.store.url,
            registrations_per_credit=settings.credits.registrations_per_credit,
            # As `serve` does: SQLite is created or upgraded in place; a shared PostgreSQL store is
            # upgraded only by `relay-smtp db upgrade`, when its operator means to.
            upgrade=settings.store.url.startswith("sqlite"),
        )
    except SchemaOutOfDate as exc:
        print(f"relay-smtp: {exc} (run: relay-smtp db upgrade)", file=sys.stderr)
    except SQLAlchemyError as exc:
        print(f"relay-smtp: store.url: cannot open the store: {exc.__class__.__name__}", file=sys.stderr)
    return None


@with_settings
def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    settings = with_listeners(settings, args.listen, args.web_listen)
    setup_logging(settings, args.log_format)
    if settings.demo:
        _announce_demo(settings)
    workers = args.workers if args.workers is not None else (os.cpu_count() or 1)
    if workers < 1:
        print("relay-smtp: --workers must be at least 1", file=sys.stderr)
        return EXIT_CONFIG
    try:
        # Made once per installation and shared by every worker, so links open on any of them.
        settings = with_development_secrets(settings)
        if workers == 1:
            return _serve_in_process(settings, args.config)
        main = functools.partial(run_worker, settings, args.config)
        return Supervisor(settings, args.config, workers, main).run()
    except OSError as exc:
        print(f"relay-smtp: cannot start: {exc}", file=sys.stderr)
        return EXIT_FAILURE


def _announce_demo(settings: Settings) -> None:
    log = logging.getLogger(__name__)
    company = settings.companies[0]
    log.warning(
        "DEMO MODE (no --config): company %r (%s) in enforce mode takes every sender on %s as "
        "recruiting; mail is delivered into the local Maildir %s, nothing leaves this machine",
        company.id,
        company.name,
        settings.smtp.listen,
        getattr(settings.upstream.target, "path", "?"),
    )
    log.warning(
        "DEMO MODE: %s/admin opens from this machine without a token; "
        "`relay-smtp init` writes a production configuration",
        settings.web.public_url,
    )


def _serve_in_process(settings: Settings, config: Path | None) -> int:
    async def run() -> None:
        service = RelayService(settings, config_path=config)
        await service.run_until_signalled(on_ready=lambda: systemd.notify("READY=1"))
        systemd.notify("STOPPING=1")

    asyncio.run(run())
    return EXIT_OK


@with_settings
def cmd_check_config(args: argparse.Namespace, settings: Settings) -> int:
    problems = [
        f"dkim.keys[{i}].key_file: {problem}"
        for i, key in enumerate(settings.dkim.keys)
        if (problem := check_key(key)) is not None
    ]
    for problem in problems:
        print(f"relay-smtp: {problem}", file=sys.stderr)
    if problems:
        return EXIT_CONFIG
    where = args.config or "embedded defaults"
    print(f"{where}: ok")
    return EXIT_OK


def _read_input(path: str | None) -> bytes:
    if path is None or path == "-":
        return sys.stdin.buffer.read()
    return Path(path).read_bytes()


def _describe_verdict(outcome: Outcome) -> list[str]:
    lines = [f"action: {outcome.action} ({outcome.reason})"]
    if outcome.company:
        lines.append(f"company: {outcome.company}")
    verdict = outcome.verdict
    if verdict is not None:
        lines.append(f"verdict: {verdict.label} (score {verdict.score}, locale {verdict.locale})")
        lines.extend(f"  {reason}" for reason in verdict.reasons)
    return lines


def _offline_envelope(raw: bytes, recipient: str | None) -> Envelope:
    """As the relay sees a message for one recipient: --recipient, else the first To/Cc address."""
    recipients = recipients_of(raw)
    chosen = recipient or (recipients[0] if recipients else "candidate@example.invalid")
    return Envelope(from_address(raw, parse_mime(raw)), (chosen,))


def _offline_pipeline(settings: Settings, *, issues_links: bool) -> PipelineConfig:
    """The pipeline as the relay runs it, without the warnings that concern only a running relay.

    Links are signed with the installation's development secrets when a relay made them here (so
    the demo's web side opens them); never is a secrets file made by an offline command.
    """
    settings = with_development_secrets(settings, create=False)
    if settings.links.secrets:
        links = LinkSigner.from_settings(settings.links)
    else:
        if issues_links:
            print(
                "relay-smtp: links.secrets is not set and no relay has run here yet: the link in the "
                "output is signed with a throwaway secret and will not open",
                file=sys.stderr,
            )
        links = LinkSigner([secrets.token_urlsafe(32)], settings.links.max_age_days)
    return pipeline_config(settings, links, quiet=True)


@with_settings
def cmd_rewrite(args: argparse.Namespace, settings: Settings) -> int:
    raw = normalise_line_endings(_read_input(args.input))
    envelope = _offline_envelope(raw, args.recipient)
    outcome = process(raw, envelope, _offline_pipeline(settings, issues_links=True), force=args.force)
    for line in _describe_verdict(outcome):
        print(line, file=sys.stderr)
    if outcome.signing:
        print(f"dkim: {outcome.signing}", file=sys.stderr)
    data = outcome.outgoing[0].data
    if args.output and args.output != "-":
        Path(args.output).write_bytes(data)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    return EXIT_FAILURE if outcome.action == "failed" else EXIT_OK


@with_settings
def cmd_preview(args: argparse.Namespace, settings: Settings) -> int:
    raw = normalise_line_endings(Path(args.file).read_bytes())
    envelope = _offline_envelope(raw, args.recipient)
    outcome = process(raw, envelope, _offline_pipeline(settings, issues_links=False), force=args.force)
    print("\n".join(_describe_verdict(outcome)))
    print(f"dkim: {outcome.signing or 'unchanged mail keeps its own signatures'}")
    print("parts:")
    notes = {report.path: report for report in outcome.parts}
    for part in parse_mime(raw).walk():
        depth = part.path.count(".") + (1 if part.path else 0)
        details = [part.content_type]
        if part.charset:
            details.append(f"charset={part.charset}")
        if not part.is_multipart:
            details.append(f"cte={part.cte}")
            details.append(f"{part.body_end - part.body_start} octets")
        report = notes.get(part.path or "1") if not part.is_multipart else None
        note = ""
        if report is not None:
            note = f"  -> block {report.note}" if report.changed else f"  -- left alone: {report.note}"
        print(f"{'  ' * depth}[{part.path or 'root'}] {' '.join(details)}{note}")
    return EXIT_OK


def _no_links(company: Company, recipient: str, message_id: str) -> PersonalLink:
    raise RuntimeError("`relay-smtp classify` issues no links")


@with_settings
def cmd_classify(args: argparse.Namespace, settings: Settings) -> int:
    """One verdict per file, as the relay would judge it (recruiting sender as configured)."""
    # No links, no keys: only the verdict (a link asked for here would be a bug).
    config = PipelineConfig(companies=settings.companies, link_for=_no_links)
    results = []
    for name in args.files:
        raw = normalise_line_endings(Path(name).read_bytes())
        envelope = _offline_envelope(raw, None)
        company, recruiting = find_company(config.companies, envelope.mail_from, envelope.mail_from)
        sender = Sender(
            is_recruiting=recruiting or not config.companies,
            company_domains=company.domains if company else (),
        )
        verdict = classify(raw, config.rules_for(company), sender, envelope.recipients)
        results.append((name, verdict))
    if args.json:
        print(json.dumps([{"file": n, **v.to_dict()} for n, v in results], ensure_ascii=False, indent=2))
        return EXIT_OK
    for name, verdict in results:
        print(f"{name}: {verdict.label} (score {verdict.score}, locale {verdict.locale})")
        for reason in verdict.reasons:
            print(f"  {reason}")
    return EXIT_OK


@with_settings
def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    engine = create_engine_for(settings.store.url)
    try:
        applied = upgrade_schema(engine)
        version = current_version(engine)
    except SQLAlchemyError as exc:
        print(f"relay-smtp: store.url: cannot upgrade: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    finally:
        engine.dispose()
    for step in applied:
        print(f"applied: {step}")
    print(f"schema version {version}")
    return EXIT_OK


@with_ledger
def cmd_db_purge(args: argparse.Namespace, settings: Settings, ledger: Ledger) -> int:
    days = args.older_than_days or settings.web.personal_data_retention_days
    removed = ledger.purge_personal_data(timedelta(days=days))
    print(f"removed personal data of {removed} registrations older than {days} days")
    expired = Outbox(ledger, outbox_policy(settings.agency)).purge_expired_records()
    print(f"removed {expired} provision records past agency.provision_record_years")
    pool = purge_kpi_data(ledger.engine, settings, utcnow())
    print(f"removed {pool} talent pool entries past talent_pool.retention_days or never confirmed")
    return EXIT_OK


@with_ledger
def cmd_credits(args: argparse.Namespace, settings: Settings, ledger: Ledger) -> int:
    if args.credits_command == "redeem":
        return _redeem(ledger, args.company, args.reason)
    funnels = [ledger.funnel(args.company)] if args.company else ledger.funnels()
    if args.json:
        print(json.dumps([dataclasses.asdict(f) for f in funnels], ensure_ascii=False, indent=2))
        return EXIT_OK
    columns = ("links", "clicks", "regs", "counted", "earned", "redeemed", "balance")
    print(f"{'company':20} " + " ".join(f"{c:>8}" for c in columns))
    for f in funnels:
        values = (f.links_issued, f.clicks, f.registrations, f.counted, f.earned, f.redeemed, f.balance)
        print(f"{f.company:20} " + " ".join(f"{v:8}" for v in values))
    return EXIT_OK


def _redeem(ledger: Ledger, company: str | None, reason: str) -> int:
    if not company:
        print("relay-smtp: credits redeem needs --company", file=sys.stderr)
        return EXIT_CONFIG
    try:
        entry = ledger.redeem(company, reason)
    except InsufficientCredits:
        print(f"relay-smtp: {company} has no credit to redeem (balance 0)", file=sys.stderr)
        return EXIT_FAILURE
    print(f"redeemed 1 credit of {company} (entry {entry.id}); balance {ledger.balance(company)}")
    return EXIT_OK


@with_settings
def cmd_send_sample(args: argparse.Namespace, settings: Settings) -> int:
    """Send the shipped sample rejection (or FILE) to the relay, as HR's mail client would."""
    message = Path(args.file).read_bytes() if args.file else sample_rejection()
    server = args.server or settings.smtp.listen
    try:
        sent = send_message(normalise_line_endings(message), server, tuple(args.to or ()))
    except (OSError, smtplib.SMTPException, ValueError) as exc:
        print(f"relay-smtp: {server}: not sent: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    print(f"sent from <{sent.sender}> to {', '.join(sent.recipients)}: {sent.reply}")
    return EXIT_OK


@with_ledger
def cmd_audit(args: argparse.Namespace, settings: Settings, ledger: Ledger) -> int:
    """The verdicts of audit mode for one company, for a person to confirm (see audit_report.py)."""
    now = datetime.now(UTC)
    try:
        since = parse_since(args.since, now)
    except ValueError as exc:
        print(f"relay-smtp: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    rows = AuditStore(ledger.engine, lambda: now).since(args.company, since)
    print(render_json(rows) if args.json else render_text(args.company, since, rows))
    return EXIT_OK


def cmd_dkim_keygen(args: argparse.Namespace) -> int:
    if args.algorithm == "rsa" and args.bits < 2048:
        print("relay-smtp: --bits: RSA keys must have at least 2048 bits", file=sys.stderr)
        return EXIT_CONFIG
    pem, txt = generate_key("ed25519" if args.algorithm == "ed25519" else "rsa", bits=args.bits)
    path = args.output or Path(f"{args.domain}.{args.selector}.key")
    try:
        write_private_key(path, pem)
    except (OSError, ValueError) as exc:
        print(f"relay-smtp: cannot write {path}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    name = dns_record_name(args.selector, args.domain)
    strings = " ".join(f'"{part}"' for part in txt_strings(txt))
    print(f"# private key written to {path} (mode 0600)", file=sys.stderr)
    print("# publish this TXT record, then add the key to [[dkim.keys]]:", file=sys.stderr)
    print(f"{name}. IN TXT ( {strings} )")
    return EXIT_OK


def _host_port_arg(text: str) -> HostPort:
    try:
        return parse_host_port(text)
    except (TypeError, ValueError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="relay-smtp", description="Career Relay SMTP relay for rejection mail."
    )
    parser.add_argument("--version", action="version", version=f"relay-smtp {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def config_option(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", type=Path, help="TOML configuration file (default: embedded)")

    serve = sub.add_parser("serve", help="run the relay")
    config_option(serve)
    serve.add_argument("--log-format", choices=("text", "json"), help="overrides log.format")
    serve.add_argument(
        "--workers", type=int, help="worker processes sharing the port (default: the number of CPUs)"
    )
    serve.add_argument("--listen", type=_host_port_arg, help="SMTP host:port (overrides smtp.listen)")
    serve.add_argument("--web-listen", type=_host_port_arg, help="HTTP host:port (overrides web.listen)")
    serve.set_defaults(func=cmd_serve)

    check = sub.add_parser("check-config", help="validate a configuration file")
    config_option(check)
    check.set_defaults(func=cmd_check_config)

    rewrite = sub.add_parser("rewrite", help="run the pipeline on one message, offline")
    config_option(rewrite)
    rewrite.add_argument("--force", action="store_true", help="treat the message as a rejection")
    rewrite.add_argument("--recipient", help="personalise for this address (default: To and Cc)")
    rewrite.add_argument("input", nargs="?", help="message file (default: standard input)")
    rewrite.add_argument("-o", "--output", help="where to write the result (default: standard output)")
    rewrite.set_defaults(func=cmd_rewrite)

    preview = sub.add_parser("preview", help="show what the relay would do with a message")
    config_option(preview)
    preview.add_argument("--force", action="store_true", help="treat the message as a rejection")
    preview.add_argument("--recipient", help="personalise for this address")
    preview.add_argument("file", help="message file")
    preview.set_defaults(func=cmd_preview)

    classify_ = sub.add_parser("classify", help="say whether messages are rejections, and why")
    config_option(classify_)
    classify_.add_argument("--json", action="store_true", help="one JSON array of verdicts")
    classify_.add_argument("files", nargs="+", help="message files")
    classify_.set_defaults(func=cmd_classify)

    db = sub.add_parser("db", help="the store").add_subparsers(dest="db_command", required=True)
    db_upgrade = db.add_parser("upgrade", help="create or upgrade the store's schema")
    config_option(db_upgrade)
    db_upgrade.set_defaults(func=cmd_db_upgrade)
    db_purge = db.add_parser("purge", help="delete candidates' personal data past its retention")
    config_option(db_purge)
    db_purge.add_argument("--older-than-days", type=int, help="default: web.personal_data_retention_days")
    db_purge.set_defaults(func=cmd_db_purge)

    credits = sub.add_parser("credits", help="the credit ledger: funnel and balance per company")
    config_option(credits)
    credits.add_argument("--company", help="only this company")
    credits.add_argument("--json", action="store_true")
    credits.set_defaults(func=cmd_credits, credits_command=None)
    credits_sub = credits.add_subparsers(dest="credits_command")
    redeem = credits_sub.add_parser("redeem", help="redeem one credit for a hire the agency introduced")
    # Either place works: `credits --config F redeem` or `credits redeem --config F`.
    redeem.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="TOML configuration file")
    redeem.add_argument("--company", required=True)
    redeem.add_argument("--reason", default="hire introduced by the partner agency")
    redeem.set_defaults(func=cmd_credits)

    add_init_command(sub)

    sample = sub.add_parser("send-sample", help="send the shipped sample rejection to the relay")
    config_option(sample)
    sample.add_argument("--server", type=_host_port_arg, help="host:port (default: smtp.listen)")
    sample.add_argument("--to", action="append", help="envelope recipient (default: the To header)")
    sample.add_argument("file", nargs="?", help="another message to send (default: the sample)")
    sample.set_defaults(func=cmd_send_sample)

    from relay_smtp import cli_agency  # it imports this module's helpers

    cli_agency.add_parsers(sub, config_option)

    add_report_parser(sub, config_option, with_ledger(cmd_report))

    audit = sub.add_parser("audit", help="audited verdicts of a company: subject, score, reasons")
    config_option(audit)
    audit.add_argument("--company", required=True)
    audit.add_argument("--since", default="7d", help="7d, 24h, 90m or an ISO date (default 7d)")
    audit.add_argument("--json", action="store_true")
    audit.set_defaults(func=cmd_audit)

    dkim = sub.add_parser("dkim", help="DKIM keys").add_subparsers(dest="dkim_command", required=True)
    keygen = dkim.add_parser("keygen", help="write a private key and print its DNS TXT record")
    keygen.add_argument("--domain", required=True, help="signing domain, e.g. acme.co.jp")
    keygen.add_argument("--selector", required=True, help="selector, e.g. relay2026")
    keygen.add_argument("--algorithm", choices=("rsa", "ed25519"), default="rsa")
    keygen.add_argument("--bits", type=int, default=2048, help="RSA key size (at least 2048)")
    keygen.add_argument("-o", "--output", type=Path, help="key file (default: DOMAIN.SELECTOR.key)")
    keygen.set_defaults(func=cmd_dkim_keygen)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
