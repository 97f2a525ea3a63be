"""The `relay-smtp` command: the stable surface operators, scripts and checks rely on.

Each subcommand is a small function that reads settings, calls into the package and turns the result
into an exit code: 0 for success, 2 for a bad configuration or bad usage, 1 for anything else.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from relay_smtp import __version__
from relay_smtp.config import ConfigError, Settings, load_settings
from relay_smtp.service import RelayService

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2


class JsonFormatter(logging.Formatter):
    """One JSON object per line; transaction fields (queue_id, action, ...) become keys."""

    _STANDARD: ClassVar[frozenset[str]] = frozenset(vars(logging.makeLogRecord({})))

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry |= {k: v for k, v in vars(record).items() if k not in self._STANDARD}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def setup_logging(settings: Settings, log_format: str | None) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if (log_format or settings.log.format) == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log.level.upper())
    # aiosmtpd logs every command at INFO; the relay writes its own line per transaction.
    logging.getLogger("mail.log").setLevel(logging.WARNING)


def _load(path: Path | None) -> Settings | None:
    try:
        return load_settings(path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"relay-smtp: {problem}", file=sys.stderr)
        return None


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _load(args.config)
    if settings is None:
        return EXIT_CONFIG
    setup_logging(settings, args.log_format)
    if args.config is None:
        logging.getLogger(__name__).info("no --config given: running on the embedded defaults")

    async def run() -> None:
        await RelayService(settings).run_until_signalled()

    try:
        asyncio.run(run())
    except OSError as exc:
        print(f"relay-smtp: cannot start: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


def cmd_check_config(args: argparse.Namespace) -> int:
    settings = _load(args.config)
    if settings is None:
        return EXIT_CONFIG
    where = args.config or "embedded defaults"
    print(f"{where}: ok")
    return EXIT_OK


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
    serve.set_defaults(func=cmd_serve)

    check = sub.add_parser("check-config", help="validate a configuration file")
    config_option(check)
    check.set_defaults(func=cmd_check_config)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
