"""How a `relay-smtp` subcommand gets its settings and its store, and fails cleanly when it cannot.

Why this module exists: every group of subcommands (`cli`, `cli_mail`, `cli_store`, `cli_agency`)
wraps its commands in the same two decorators; kept apart so those modules need not import `cli`,
which imports them to build its parser.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from relay_smtp.config import ConfigError, Settings, load_settings
from relay_smtp.exitcodes import EXIT_CONFIG, EXIT_FAILURE
from relay_smtp.store.ledger import Ledger, SchemaOutOfDate

#: Adds the usual --config option to a subcommand's parser (made by `cli.build_parser`).
ConfigOption = Callable[[argparse.ArgumentParser], None]


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
