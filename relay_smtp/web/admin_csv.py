"""The admin's CSV exports: funnel per month with rates, credit ledger, talent pool.

Why this module exists: HR staff open these in Excel and forward them, so every file is UTF-8 with a
BOM (Excel then reads Japanese names), has stable English column names that scripts can rely on, and
defuses cells a spreadsheet would run as a formula (CSV injection).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from starlette.responses import Response

from relay_smtp.store.kpi import FUNNEL_STEPS
from relay_smtp.store.ledger import LedgerEntry
from relay_smtp.store.talent_pool import PoolEntry
from relay_smtp.web.context import WebContext
from relay_smtp.web.dashboard import Dashboard

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
Table = tuple[list[str], Iterable[Sequence[Any]]]


def funnel_rows(board: Dashboard) -> Table:
    """One row per month and one for the whole period: each step's count and its rate to the step before."""
    header = ["company", "month"]
    for n, step in enumerate(FUNNEL_STEPS):
        header += [step] if n == 0 else [step, f"{step}_rate"]
    rows = []
    for funnel in (*board.months, board.period_funnel):
        row: list[Any] = [board.company, funnel.month]
        for n, (count, rate) in enumerate(zip(funnel.counts, funnel.rates(), strict=True)):
            row += [count] if n == 0 else [count, rate_cell(rate)]
        rows.append(row)
    return header, rows


def ledger_rows(ctx: WebContext, entries: Iterable[LedgerEntry]) -> Table:
    header = ["company", "company_name", "entry_id", "at", "kind", "amount", "credit_no", "reason"]
    rows = (
        [
            e.company,
            ctx.config.company_name(e.company),
            e.id,
            e.at.isoformat(),
            e.kind,
            e.amount,
            e.credit_no,
            e.reason,
        ]
        for e in entries
    )
    return header, rows


def pool_rows(pool: Iterable[PoolEntry]) -> Table:
    header = ["company", "name", "email", "job_type", "consent_version", "consent_at"]
    rows = (
        [p.company, p.name, p.email, p.job_type, p.consent_version, p.consent_at.isoformat()] for p in pool
    )
    return header, rows


def rate_cell(rate: float | None) -> str:
    """A funnel rate as CSV shows it: four decimals, empty when there is nothing to divide by."""
    return "" if rate is None else f"{rate:.4f}"


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """RFC 4180 text (CRLF line ends) of a header and rows, text cells that look like formulas defused.

    Every CSV relay-smtp writes (the admin's downloads and ``relay-smtp report --format csv``) goes
    through here, so none of them can carry a formula chosen by whoever named a company or a subject.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([_cell(value) for value in row] for row in rows)
    return out.getvalue()


def csv_response(filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Response:
    """UTF-8 with a BOM (so that Excel reads Japanese names), cells that look like formulas defused."""
    return Response(
        "\ufeff" + csv_text(header, rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _cell(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula gets a leading apostrophe; numbers stay numbers.

    Only ``str`` cells are defused: an int or a float such as a ledger's -3 is written as the number it
    is, which a spreadsheet reads as a number and never as a formula.
    """
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return "" if value is None else value
