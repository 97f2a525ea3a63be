"""`relay-smtp init` on the command line: options, or prompts for what was not given.

The work (answers checked, files written, next steps) is `relay_smtp.init`; this is the glue between
it and a person at a terminal, kept out of `cli.py` so that module stays a readable list of commands.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from relay_smtp.exitcodes import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK
from relay_smtp.init import InitAnswers, InitError, initialise, next_steps, normalised


def _ask(label: str, given: str | None, *, default: str = "") -> str:
    """An option's value, or the answer to a prompt when it was not given and someone is there."""
    if given is not None:
        return given
    if not sys.stdin.isatty():
        return default
    suffix = f" [{default}]" if default else ""
    answer = input(f"{label}{suffix}: ").strip()
    return answer or default


def _ask_list(label: str, given: list[str] | None) -> tuple[str, ...]:
    values = given if given is not None else [_ask(label + " (comma-separated)", None)]
    return tuple(item.strip() for value in values for item in value.split(",") if item.strip())


def cmd_init(args: argparse.Namespace) -> int:
    path: Path = args.config or Path("relay-smtp.toml")
    if path.exists():  # before any question: init never replaces a file
        print(f"relay-smtp: {path}: exists; init never replaces a file (move it away first)", file=sys.stderr)
        return EXIT_FAILURE
    answers = InitAnswers(
        company_name=_ask("Company name as candidates read it (e.g. 株式会社ACME)", args.company_name),
        domains=_ask_list("Mail domains of the company", args.domain),
        recruiting_senders=_ask_list("Recruiting senders (addresses or @domains)", args.recruiting_sender),
        next_hop=_ask("Next hop", args.next_hop, default="smtp://127.0.0.1:10026"),
        public_url=_ask("Public URL of the candidate pages (https://...)", args.public_url),
        company_id=args.company_id or "",
        agency_name=_ask("Partner agency name (may stay empty for now)", args.agency_name),
        selector=args.selector or "",
        algorithm=args.algorithm,
        smtp_listen=args.listen,
        web_listen=args.web_listen,
    )
    try:
        result = initialise(answers, path)
    except InitError as exc:
        for problem in exc.problems:
            print(f"relay-smtp: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    except OSError as exc:
        print(f"relay-smtp: cannot write the configuration: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    print(next_steps(result, normalised(answers)), end="")
    return EXIT_OK


def add_init_command(sub: Any) -> None:
    """Register `init` on the `relay-smtp` subcommand parser (argparse's _SubParsersAction)."""
    init = sub.add_parser("init", help="write a production configuration, DKIM keys and next steps")
    init.add_argument("--config", type=Path, help="file to write (default: ./relay-smtp.toml)")
    init.add_argument("--company-name", help="the company as candidates read it, e.g. 株式会社ACME")
    init.add_argument("--company-id", help="short id in links and the ledger (default: from the domain)")
    init.add_argument("--domain", action="append", help="a mail domain of the company (repeat, or a,b)")
    init.add_argument("--recruiting-sender", action="append", help="address or @domain HR sends from")
    init.add_argument("--next-hop", help="smtp://host:port the relay hands mail to")
    init.add_argument("--public-url", help="https:// URL candidates' links start with")
    init.add_argument("--agency-name", help="the partner recruitment agency")
    init.add_argument("--selector", help="DKIM selector (default: relayYYYY)")
    init.add_argument("--algorithm", choices=("rsa", "ed25519"), default="rsa", help="DKIM key type")
    init.add_argument("--listen", default="127.0.0.1:10025", help="the relay's SMTP host:port")
    init.add_argument("--web-listen", default="127.0.0.1:8025", help="the candidate pages' host:port")
    init.set_defaults(func=cmd_init)
