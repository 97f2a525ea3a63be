"""The `relay-smtp agency` and `relay-smtp records` commands: hand-offs to the agency, provision records.

Why this module exists: an operator must be able to see and unblock the hand-offs (``agency status``,
``agency retry`` for those flagged after ``agency.push_max_age_hours``) and to answer a person's
disclosure request from the command line (``records --email ADDR``), without touching the rest of
`cli`, which only registers these parsers.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from relay_smtp.agency import PushSender, outbox_policy, push_target
from relay_smtp.cli_settings import with_ledger
from relay_smtp.config import Settings
from relay_smtp.exitcodes import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK
from relay_smtp.store.ledger import Ledger
from relay_smtp.store.outbox import Outbox
from relay_smtp.store.records import records_for_email


def _company_name(settings: Settings) -> Callable[[str], str]:
    names = {c.id: c.name for c in settings.companies}
    return lambda company: names.get(company, company)


@with_ledger
def cmd_agency(args: argparse.Namespace, settings: Settings, ledger: Ledger) -> int:
    outbox = Outbox(ledger, outbox_policy(settings.agency))
    if args.agency_command == "retry":
        reopened = outbox.retry_flagged()
        print(f"{reopened} flagged hand-off(s) are due again")
        target = push_target(settings.agency)
        if target is None:
            print("agency.push_url is not set: the agency pulls them (GET /api/v1/agency/registrations)")
            return EXIT_OK
        result = PushSender(outbox, target, _company_name(settings)).run_once(limit=max(reopened, 1))
        print(f"pushed now: {result.sent} accepted, {result.failed} failed, {result.flagged} flagged")
        return EXIT_OK if result.failed == 0 else EXIT_FAILURE
    stats = outbox.stats()
    if args.json:
        flagged = [dataclasses.asdict(f) for f in outbox.flagged()]
        print(json.dumps({**dataclasses.asdict(stats), "flagged_handoffs": flagged}, default=str, indent=2))
        return EXIT_OK
    print(
        f"handed over {stats.delivered}, pending {stats.pending}, "
        f"flagged {stats.flagged}, cancelled {stats.cancelled}"
    )
    for f in outbox.flagged():
        print(
            f"flagged {f.registration_id} {f.event} company={f.company} "
            f"attempts={f.attempts} last={f.last_error}"
        )
    return EXIT_OK


@with_ledger
def cmd_records(args: argparse.Namespace, settings: Settings, ledger: Ledger) -> int:
    if "@" not in args.email:
        print("relay-smtp: records --email needs an e-mail address", file=sys.stderr)
        return EXIT_CONFIG
    found = records_for_email(ledger.engine, args.email)
    rows: list[dict[str, Any]] = [dataclasses.asdict(r) for r in found]
    if args.json:
        print(json.dumps(rows, default=str, ensure_ascii=False, indent=2))
        return EXIT_OK
    if not found:
        print(f"no provision records for {args.email}")
    for r in found:
        print(
            f"{r.at.isoformat()} {r.kind:9} to={r.recipient} via={r.channel or '-'} "
            f"registration={r.registration_id} company={r.company} name={r.person_name} "
            f"items={','.join(r.items)} consent={r.consent_version}@{r.consent_at.isoformat()} "
            f"kept_until={r.keep_until.date().isoformat()}"
        )
    return EXIT_OK


def add_parsers(sub: Any, config_option: Callable[[argparse.ArgumentParser], None]) -> None:
    agency = sub.add_parser("agency", help="hand-offs of hosted registrations to the partner agency")
    config_option(agency)
    agency.add_argument("--json", action="store_true")
    agency.set_defaults(func=cmd_agency, agency_command="status")
    agency_sub = agency.add_subparsers(dest="agency_command")
    for name, text in (("status", "counts and flagged hand-offs"), ("retry", "retry flagged hand-offs now")):
        p = agency_sub.add_parser(name, help=text)
        # Either place works: `agency --config F retry` or `agency retry --config F`.
        p.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="TOML configuration file")
        p.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
        p.set_defaults(func=cmd_agency)

    records = sub.add_parser("records", help="a person's provision records (第三者提供記録), for disclosure")
    config_option(records)
    records.add_argument("--email", required=True, help="the address the person registered with")
    records.add_argument("--json", action="store_true")
    records.set_defaults(func=cmd_records)
