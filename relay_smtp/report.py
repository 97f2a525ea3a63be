"""``relay-smtp report --company ID --month 2026-11``: one company's month, for HR to forward.

Why this module exists: the monthly figures a company manages (the funnel with its rates, the credits
and referral hires, candidate satisfaction, the re-application rate, the talent pool's size) are on
the admin dashboard, but HR also sends them on by mail and keeps them in spreadsheets.  This prints
the same numbers (gathered by `web.dashboard`, worded by the admin pages' catalogue) as text in
Japanese or English, or as CSV with stable English names.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime

from relay_smtp.config import Settings
from relay_smtp.store.kpi import FUNNEL_STEPS
from relay_smtp.store.ledger import Ledger
from relay_smtp.web.admin_csv import csv_text, rate_cell
from relay_smtp.web.admin_i18n import AdminLocale, admin_locale
from relay_smtp.web.dashboard import Dashboard, gather
from relay_smtp.web.pages import default_templates_dir, load_catalogue
from relay_smtp.web.period import BadPeriod, parse_month, period

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def add_report_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    config_option: Callable[[argparse.ArgumentParser], None],
    run: Callable[..., int],
) -> None:
    report = sub.add_parser("report", help="one company's monthly summary (text or CSV)")
    config_option(report)
    report.add_argument("--company", required=True, help="the company's id")
    report.add_argument("--month", required=True, help="the month, YYYY-MM")
    report.add_argument("--format", choices=("text", "csv"), default="text")
    report.add_argument("--lang", choices=("ja", "en"), help="default: the company's locale, else ja")
    report.add_argument("--time-zone", help="IANA name; default Asia/Tokyo for ja, UTC for en")
    report.set_defaults(func=run)


def cmd_report(args: argparse.Namespace, settings: Settings, ledger: Ledger) -> int:
    company = next((c for c in settings.companies if c.id == args.company), None)
    if company is None:
        print(f"relay-smtp: no [[companies]] entry has id {args.company!r}", file=sys.stderr)
        return EXIT_USAGE
    lang = args.lang or (company.locale if company.locale in ("ja", "en") else "ja")
    loc = admin_locale(
        load_catalogue(default_templates_dir() / "admin_text.toml"), None, lang, args.time_zone
    )
    try:
        parse_month(args.month)
        chosen = period(args.month, args.month, datetime.now(UTC), loc.zone)
    except BadPeriod as exc:
        print(f"relay-smtp: --month: {exc}", file=sys.stderr)
        return EXIT_USAGE
    board = gather(ledger, company.id, company.name, chosen, window_days=settings.kpi.reapply_window_days)
    sys.stdout.write(report_csv(board) if args.format == "csv" else report_text(board, loc))
    return EXIT_OK


def report_text(board: Dashboard, loc: AdminLocale) -> str:
    f = board.period_funnel
    sat = board.satisfaction_total
    re = board.reapplication_total
    lines = [
        f"{board.name} ({board.company}) · {loc.t('dashboard_title')}",
        f"{loc.t('period')}: {loc.month(board.period.first)} ({loc.zone_label})",
        "",
        loc.t("funnel_title"),
    ]
    for step, count, rate in zip(FUNNEL_STEPS, f.counts, f.rates(), strict=True):
        share = "" if step == FUNNEL_STEPS[0] else loc.percent(rate)
        lines.append(f"  {_pad(loc.t('step_' + step), 28)} {loc.number(count):>8} {share:>8}".rstrip())
    lines += [
        "",
        f"{loc.t('balance')}: {loc.number(board.totals.balance)}"
        f" ({loc.t('credits_earned_total')}: {loc.number(board.totals.earned)})",
        f"{loc.t('satisfaction_title')}: {loc.t('average')} {loc.decimal(sat.average)}"
        f" ({loc.t('answers')}: {loc.number(sat.answers)}) "
        + " ".join(f"{n}:{loc.number(c)}" for n, c in enumerate(sat.distribution, start=1)),
        f"{loc.t('reapply_rate')}: {loc.percent(re.rate)}"
        f" ({loc.t('came_back')} {loc.number(re.came_back)}"
        f" / {loc.t('rejected_people')} {loc.number(re.rejected)};"
        f" {loc.t('registered_of_those')} {loc.number(re.registered)})",
        f"{loc.t('pool_title')}: {loc.number(len(board.pool))}",
        "",
    ]
    return "\n".join(lines)


def report_csv(board: Dashboard) -> str:
    """metric,value rows: stable English names, numbers as numbers, rates as fractions."""
    f = board.period_funnel
    sat = board.satisfaction_total
    re = board.reapplication_total
    rows: list[tuple[str, object]] = [("company", board.company), ("month", board.period.first)]
    for step, count, rate in zip(FUNNEL_STEPS, f.counts, f.rates(), strict=True):
        rows.append((step, count))
        if step != FUNNEL_STEPS[0]:
            rows.append((f"{step}_rate", rate_cell(rate)))
    rows += [
        ("credit_balance", board.totals.balance),
        ("credits_earned_all_time", board.totals.earned),
        ("satisfaction_answers", sat.answers),
        ("satisfaction_average", "" if sat.average is None else f"{sat.average:.2f}"),
        *((f"satisfaction_score_{n}", c) for n, c in enumerate(sat.distribution, start=1)),
        ("rejected_candidates", re.rejected),
        ("reapplied_candidates", re.came_back),
        ("reapplication_rate", rate_cell(re.rate)),
        ("reapplied_and_registered", re.registered),
        ("talent_pool_size", len(board.pool)),
    ]
    return csv_text(["metric", "value"], rows)


def _pad(text: str, width: int) -> str:
    """Left-justify by display width: a Japanese character takes two columns in a terminal."""
    used = sum(2 if ord(c) > 0x2E7F else 1 for c in text)
    return text + " " * max(0, width - used)
