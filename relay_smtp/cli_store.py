"""The `relay-smtp db`, `credits` and `audit` commands: the store, its credit ledger and audit verdicts.

Why this module exists: these commands open the store (`with_ledger`) and report on or change what is
in it; kept out of `cli` so that module stays a readable list of commands.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from relay_smtp.agency import outbox_policy
from relay_smtp.audit_report import parse_since, render_json, render_text
from relay_smtp.cli_settings import ConfigOption, with_ledger, with_settings
from relay_smtp.config import Settings
from relay_smtp.exitcodes import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK
from relay_smtp.store.audit import AuditStore
from relay_smtp.store.db import create_engine_for, current_version
from relay_smtp.store.db import upgrade as upgrade_schema
from relay_smtp.store.kpi_purge import purge_kpi_data
from relay_smtp.store.ledger import InsufficientCredits, Ledger, utcnow
from relay_smtp.store.ledger_data import CLI_REDEEM_REASON
from relay_smtp.store.outbox import Outbox


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


def add_parsers(sub: Any, config_option: ConfigOption) -> None:
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
    redeem.add_argument("--reason", default=CLI_REDEEM_REASON)
    redeem.set_defaults(func=cmd_credits)


def add_audit_parser(sub: Any, config_option: ConfigOption) -> None:
    audit = sub.add_parser("audit", help="audited verdicts of a company: subject, score, reasons")
    config_option(audit)
    audit.add_argument("--company", required=True)
    audit.add_argument("--since", default="7d", help="7d, 24h, 90m or an ISO date (default 7d)")
    audit.add_argument("--json", action="store_true")
    audit.set_defaults(func=cmd_audit)
