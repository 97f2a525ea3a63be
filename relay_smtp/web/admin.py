"""The admin page: each company's funnel, credit ledger and last 90 days; CSV exports.

Why this module exists: the operator (and the company, through them) needs to see what the relay did:
how many rejections went out with a link, how many people clicked (and how many clicks were mail
scanners), registered and were counted, and the credits earned and spent.  Everything is rendered on
the server (the chart is inline SVG), so the page works under the strict Content-Security-Policy.

Authentication is ``Authorization: Bearer <token>`` or HTTP basic auth (see `auth`); repeated failures
from one address are slowed down with 429s.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import astuple, dataclass, fields
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from relay_smtp.store.ledger import Funnel, LedgerEntry
from relay_smtp.web.agency_api import summary as agency_summary
from relay_smtp.web.auth import AdminCredentials, admin_allowed, demo_admin_allowed
from relay_smtp.web.chart import daily_chart
from relay_smtp.web.context import WebContext, client_key
from relay_smtp.web.ratelimit import retry_after_header

CHART_DAYS = 90
ENTRIES_SHOWN = 50
FUNNEL_COLUMNS = [f.name for f in fields(Funnel)]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class CompanyReport:
    id: str
    name: str
    funnel: Funnel
    entries: list[LedgerEntry]  # newest first, at most ENTRIES_SHOWN
    more_entries: int
    chart: Markup


def admin_guard(ctx: WebContext) -> Callable[[Request], Awaitable[None]]:
    """A FastAPI dependency that lets admins through and answers everyone else 401 (or 429, or 503)."""
    config = ctx.config
    credentials = AdminCredentials(config.admin_token, config.admin_users, config.admin_open_on_loopback)

    async def guard(request: Request) -> None:
        if demo_admin_allowed(credentials, request.client.host if request.client else None):
            return
        if not credentials.configured:
            raise HTTPException(503, "admin access is not configured (set admin.token or admin.users)")
        key = client_key(request)
        wait = ctx.admin_failures.blocked(key)
        if wait > 0:
            raise HTTPException(
                429, "too many failed attempts", headers={"Retry-After": retry_after_header(wait)}
            )
        if admin_allowed(credentials, request.headers.get("authorization")):
            return
        ctx.admin_failures.acquire(key)
        challenge = ", ".join(credentials.challenges())
        raise HTTPException(401, "admin credentials required", headers={"WWW-Authenticate": challenge})

    return guard


def admin_routes(ctx: WebContext) -> APIRouter:
    router = APIRouter(include_in_schema=False, dependencies=[Depends(admin_guard(ctx))])

    @router.get("/admin")
    async def admin_page() -> Response:
        reports = await run_in_threadpool(company_reports, ctx)
        agency = await run_in_threadpool(agency_summary, ctx)
        return ctx.pages.html("admin.html", reports=reports, chart_days=CHART_DAYS, lang="en", agency=agency)

    @router.get("/admin/export.csv")
    async def export_entries() -> Response:
        entries = await run_in_threadpool(ctx.ledger.entries)
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
        return _csv_response("career-relay-ledger.csv", header, rows)

    @router.get("/admin/funnels.csv")
    async def export_funnels() -> Response:
        funnels = await run_in_threadpool(ctx.ledger.funnels)
        header = ["company", "company_name", *FUNNEL_COLUMNS[1:]]
        rows = ([f.company, ctx.config.company_name(f.company), *astuple(f)[1:]] for f in funnels)
        return _csv_response("career-relay-funnels.csv", header, rows)

    return router


def company_reports(ctx: WebContext) -> list[CompanyReport]:
    """Every configured company, then every other company the store has seen (runs in a thread)."""
    funnels = {f.company: f for f in ctx.ledger.funnels()}
    ids = [*ctx.config.companies, *sorted(c for c in funnels if c not in ctx.config.companies)]
    return [_company_report(ctx, company, funnels.get(company)) for company in ids]


def _company_report(ctx: WebContext, company: str, funnel: Funnel | None) -> CompanyReport:
    name = ctx.config.company_name(company)
    entries = list(reversed(ctx.ledger.entries(company)))
    days = ctx.ledger.daily(company, CHART_DAYS)
    chart = daily_chart(days, f"{name}: clicks, registrations and counted registrations per day")
    return CompanyReport(
        id=company,
        name=name,
        funnel=funnel or ctx.ledger.funnel(company),
        entries=entries[:ENTRIES_SHOWN],
        more_entries=max(0, len(entries) - ENTRIES_SHOWN),
        chart=chart,
    )


def _csv_response(filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Response:
    """UTF-8 with a BOM (so that Excel reads Japanese names), cells that look like formulas defused."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([_cell(value) for value in row] for row in rows)
    return Response(
        "\ufeff" + out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _cell(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula gets a leading apostrophe; numbers stay numbers."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return "" if value is None else value
