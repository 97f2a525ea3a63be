"""The `relay-smtp` command: the stable surface operators, scripts and checks rely on.

Each subcommand is a small function that reads settings, calls into the package and turns the result
into an exit code: 0 for success, 2 for a bad configuration or bad usage, 1 for anything else.
This module holds the relay's own commands (serve, check-config, send-sample, dkim) and the parser;
groups of commands live in `cli_mail` (one message, offline), `cli_store` (the store and its ledger),
`cli_agency`, `init_command` and `report`, and how a command gets its settings in `cli_settings`.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import os
import smtplib
import sys
from collections.abc import Sequence
from pathlib import Path

from relay_smtp import __version__, cli_agency, cli_mail, cli_store, logs, systemd
from relay_smtp.cli_settings import with_ledger, with_settings
from relay_smtp.config import (
    HostPort,
    Settings,
    parse_host_port,
    with_listeners,
)
from relay_smtp.demo import sample_rejection, send_message
from relay_smtp.devsecrets import with_development_secrets
from relay_smtp.exitcodes import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK
from relay_smtp.init_command import add_init_command
from relay_smtp.mail.dkim import (
    check_key,
    dns_record_name,
    generate_key,
    txt_strings,
    write_private_key,
)
from relay_smtp.report import add_report_parser, cmd_report
from relay_smtp.service import RelayService
from relay_smtp.smtp.server import normalise_line_endings
from relay_smtp.supervisor import Supervisor, run_worker


def setup_logging(settings: Settings, log_format: str | None) -> None:
    logs.setup_logging(settings.log.level, log_format or settings.log.format)


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
            return _serve_in_process(settings, args.config, args.listen, args.web_listen)
        main = functools.partial(run_worker, args.config)
        supervisor = Supervisor(
            settings, args.config, workers, main, listen=args.listen, web_listen=args.web_listen
        )
        return supervisor.run()
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


def _serve_in_process(
    settings: Settings, config: Path | None, listen: HostPort | None, web_listen: HostPort | None
) -> int:
    async def run() -> None:
        service = RelayService(settings, config_path=config, listen=listen, web_listen=web_listen)
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

    cli_mail.add_parsers(sub, config_option)

    cli_store.add_parsers(sub, config_option)

    add_init_command(sub)

    sample = sub.add_parser("send-sample", help="send the shipped sample rejection to the relay")
    config_option(sample)
    sample.add_argument("--server", type=_host_port_arg, help="host:port (default: smtp.listen)")
    sample.add_argument("--to", action="append", help="envelope recipient (default: the To header)")
    sample.add_argument("file", nargs="?", help="another message to send (default: the sample)")
    sample.set_defaults(func=cmd_send_sample)

    cli_agency.add_parsers(sub, config_option)

    add_report_parser(sub, config_option, with_ledger(cmd_report))

    cli_store.add_audit_parser(sub, config_option)

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
