"""The admin pages: each company's dashboard (funnel with rates, KPIs, talent pool, credits) and CSVs.

Why this module exists: a company's HR staff (and the operator, for all companies) need to see what the
relay did for them and hand the figures on.  Access is company-scoped: an HR user's requests for another
company's pages, exports or credits answer 404, exactly as for a company that does not exist, so the
pages do not even tell which other companies there are.  Operators see the overview of all companies.

Pages are Japanese or English (``?lang=``, else ``Accept-Language``; see `admin_i18n`), dated in the
reader's time zone; the period is ``?from=YYYY-MM&to=YYYY-MM`` (see `period`).  Everything is rendered on
the server (charts are inline SVG), so the pages work under the strict Content-Security-Policy.

Authentication is ``Authorization: Bearer <token>`` (an operator) or HTTP basic auth (see `auth`);
repeated failures from one address are slowed down with 429s.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import astuple, dataclass, fields
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Request
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from relay_smtp.store import kpi, talent_pool
from relay_smtp.store.kpi import FUNNEL_STEPS, MonthFunnel
from relay_smtp.store.ledger import Funnel
from relay_smtp.web.admin_csv import csv_response, funnel_rows, ledger_rows, pool_rows
from relay_smtp.web.admin_i18n import AdminLocale, admin_locale
from relay_smtp.web.agency_api import summary as agency_summary
from relay_smtp.web.auth import AdminCredentials, AdminPrincipal, admin_principal, demo_admin_allowed
from relay_smtp.web.chart import daily_chart
from relay_smtp.web.context import WebContext, client_key
from relay_smtp.web.dashboard import Dashboard, gather
from relay_smtp.web.pages import load_catalogue
from relay_smtp.web.period import BadPeriod, Period, period
from relay_smtp.web.ratelimit import refuse_if_blocked

CHART_DAYS = 90
ENTRIES_SHOWN = 50
POOL_SHOWN = 100
FUNNEL_COLUMNS = [f.name for f in fields(Funnel)]
CATALOGUE_FILE = "admin_text.toml"

AdminGuard = Callable[[Request], Awaitable[AdminPrincipal]]


@dataclass(frozen=True)
class Overview:
    """One row of the operators' overview: a company's funnel over the period."""

    id: str
    name: str
    funnel: MonthFunnel
    balance: int


def admin_credentials(ctx: WebContext) -> AdminCredentials:
    config = ctx.config
    return AdminCredentials(
        config.admin_token,
        config.admin_users,
        config.admin_user_companies,
        config.admin_user_time_zones,
        open_on_loopback=config.admin_open_on_loopback,
    )


def admin_guard(ctx: WebContext) -> AdminGuard:
    """A FastAPI dependency: the admin principal, or 401 (or 429, or 503) for everyone else."""

    async def guard(request: Request) -> AdminPrincipal:
        credentials = admin_credentials(ctx)  # per request: a reload may add, change or remove users
        if demo_admin_allowed(credentials, request.client.host if request.client else None):
            return AdminPrincipal("demo")
        if not credentials.configured:
            raise HTTPException(503, "admin access is not configured (set admin.token or admin.users)")
        key = client_key(request)
        refuse_if_blocked(ctx.admin_failures, key)
        principal = admin_principal(credentials, request.headers.get("authorization"))
        if principal is not None:
            return principal
        ctx.admin_failures.acquire(key)
        challenge = ", ".join(credentials.challenges())
        raise HTTPException(401, "admin credentials required", headers={"WWW-Authenticate": challenge})

    return guard


def require_company(principal: AdminPrincipal, company: str) -> None:
    """Company scoping for routes: another company's data is "not found", as a company that is not."""
    if not principal.may_see(company):
        raise HTTPException(404, "no such company")


def admin_routes(ctx: WebContext) -> APIRouter:
    guard = admin_guard(ctx)
    router = APIRouter(include_in_schema=False)
    catalogue = load_catalogue(ctx.pages.root / CATALOGUE_FILE)
    signed_in = Depends(guard)

    def locale(request: Request, principal: AdminPrincipal) -> AdminLocale:
        accept, override = request.headers.get("accept-language"), request.query_params.get("lang")
        return admin_locale(catalogue, accept, override, principal.time_zone)

    def refused(request: Request, principal: AdminPrincipal, exc: HTTPException) -> Response:
        """A page the reader cannot have, said in the reader's language (the API and CSVs keep JSON)."""
        if exc.status_code not in (404, 422):
            raise exc
        loc = locale(request, principal)
        key = "error_not_found" if exc.status_code == 404 else "error_period"
        return ctx.pages.html(
            "admin_error.html",
            exc.status_code,
            lang=loc.lang,
            loc=loc,
            message=loc.t(key),
            principal=principal,
        )

    def view(request: Request, principal: AdminPrincipal) -> tuple[AdminLocale, Period]:
        loc = locale(request, principal)
        try:
            chosen = period(
                request.query_params.get("from") or None,
                request.query_params.get("to") or None,
                ctx.clock(),
                loc.zone,
            )
        except BadPeriod as exc:
            raise HTTPException(422, str(exc)) from None
        return loc, chosen

    @router.get("/admin")
    async def admin_page(request: Request, principal: AdminPrincipal = signed_in) -> Response:
        try:
            if principal.company is not None:
                return await _dashboard_page(ctx, request, principal, principal.company, view)
            loc, chosen = view(request, principal)
        except HTTPException as exc:
            return refused(request, principal, exc)
        rows = await run_in_threadpool(_overview, ctx, chosen)
        agency = await run_in_threadpool(agency_summary, ctx)
        return ctx.pages.html(
            "admin.html",
            lang=loc.lang,
            loc=loc,
            rows=rows,
            period=chosen,
            steps=FUNNEL_STEPS,
            principal=principal,
            switch_url=_switch_url(request, loc),
            agency=agency,
        )

    @router.get("/admin/companies/{company}")
    async def company_page(company: str, request: Request, principal: AdminPrincipal = signed_in) -> Response:
        try:
            return await _dashboard_page(ctx, request, principal, company, view)
        except HTTPException as exc:
            return refused(request, principal, exc)

    @router.get("/admin/companies/{company}/funnel.csv")
    async def funnel_csv(company: str, request: Request, principal: AdminPrincipal = signed_in) -> Response:
        _known(ctx, principal, company)
        _, chosen = view(request, principal)
        board = await run_in_threadpool(_gather, ctx, company, chosen)
        return csv_response(f"career-relay-funnel-{company}.csv", *funnel_rows(board))

    @router.get("/admin/companies/{company}/ledger.csv")
    async def company_ledger_csv(
        company: str, request: Request, principal: AdminPrincipal = signed_in
    ) -> Response:
        _known(ctx, principal, company)
        entries = await run_in_threadpool(ctx.ledger.entries, company)
        return csv_response(f"career-relay-ledger-{company}.csv", *ledger_rows(ctx, entries))

    @router.get("/admin/companies/{company}/talent-pool.csv")
    async def pool_csv(company: str, request: Request, principal: AdminPrincipal = signed_in) -> Response:
        _known(ctx, principal, company)
        pool = await run_in_threadpool(talent_pool.entries, ctx.ledger.engine, company)
        return csv_response(f"career-relay-talent-pool-{company}.csv", *pool_rows(pool))

    @router.get("/admin/export.csv")
    async def export_entries(principal: AdminPrincipal = signed_in) -> Response:
        entries = await run_in_threadpool(ctx.ledger.entries, principal.company)
        return csv_response("career-relay-ledger.csv", *ledger_rows(ctx, entries))

    @router.get("/admin/funnels.csv")
    async def export_funnels(principal: AdminPrincipal = signed_in) -> Response:
        funnels = await run_in_threadpool(ctx.ledger.funnels)
        mine = [f for f in funnels if principal.may_see(f.company)]
        header = ["company", "company_name", *FUNNEL_COLUMNS[1:]]
        rows = ([f.company, ctx.config.company_name(f.company), *astuple(f)[1:]] for f in mine)
        return csv_response("career-relay-funnels.csv", header, rows)

    return router


async def _dashboard_page(
    ctx: WebContext,
    request: Request,
    principal: AdminPrincipal,
    company: str,
    view: Callable[[Request, AdminPrincipal], tuple[AdminLocale, Period]],
) -> Response:
    _known(ctx, principal, company)
    loc, chosen = view(request, principal)
    board = await run_in_threadpool(_gather, ctx, company, chosen)
    days = await run_in_threadpool(ctx.ledger.daily, company, CHART_DAYS)
    chart = daily_chart(
        days, loc.t("chart_label", company=board.name, days=CHART_DAYS), loc.texts["chart_day"]
    )
    query = {"from": chosen.first, "to": chosen.last}
    return ctx.pages.html(
        "admin_company.html",
        lang=loc.lang,
        loc=loc,
        d=board,
        chart=Markup(chart),
        chart_days=CHART_DAYS,
        entries_shown=ENTRIES_SHOWN,
        pool_shown=POOL_SHOWN,
        pool_retention_days=ctx.config.talent_pool_retention_days,
        reapply_min_days=ctx.config.reapply_min_days,
        reapply_window_days=ctx.config.reapply_window_days,
        steps=FUNNEL_STEPS,
        principal=principal,
        base=f"/admin/companies/{company}",
        period_query=urlencode(query),
        switch_url=_switch_url(request, loc),
    )


def _switch_url(request: Request, loc: AdminLocale) -> str:
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    return f"{request.url.path}?{urlencode([*query, ('lang', loc.other)])}"


def _known(ctx: WebContext, principal: AdminPrincipal, company: str) -> None:
    """The principal may see ``company`` (`require_company`), and it has a dashboard: configured
    companies, and for operators also those only the store knows (a sender marked as a rejection by its
    ATS without a [[companies]] entry)."""
    require_company(principal, company)
    if company not in ctx.config.companies and not principal.operator:
        raise HTTPException(404, "no such company")


def _gather(ctx: WebContext, company: str, chosen: Period) -> Dashboard:
    return gather(
        ctx.ledger,
        company,
        ctx.config.company_name(company),
        chosen,
        window_days=ctx.config.reapply_window_days,
    )


def _overview(ctx: WebContext, chosen: Period) -> list[Overview]:
    """Every configured company, then every other company the store has seen (runs in a thread)."""
    totals = {f.company: f for f in ctx.ledger.funnels()}
    ids = [*ctx.config.companies, *sorted(c for c in totals if c not in ctx.config.companies)]
    rows = []
    for company in ids:
        funnel = kpi.monthly_funnel(ctx.ledger.engine, company, [chosen.whole])[0]
        balance = totals[company].balance if company in totals else 0
        rows.append(Overview(company, ctx.config.company_name(company), funnel, balance))
    return rows
