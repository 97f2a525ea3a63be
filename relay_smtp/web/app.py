"""The HTTP app of the relay: `create_app` puts the candidate pages, the API and the admin page together.

Why this module exists: the relay process serves HTTP on the same event loop as SMTP (see `server`),
and tests and scripts build the very same app around a ledger of their own.  Everything the app needs
comes in as arguments; it opens nothing itself.  Routes live by audience in `candidate`, `api` and
`admin`; `middleware` adds what every response needs (security headers, a token-free access log).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from relay_smtp.links import LinkSigner
from relay_smtp.store.ledger import Ledger, utcnow
from relay_smtp.web.admin import admin_routes
from relay_smtp.web.agency_admin import agency_admin_routes
from relay_smtp.web.agency_api import agency_api_routes
from relay_smtp.web.api import api_routes
from relay_smtp.web.ats_api import ats_routes
from relay_smtp.web.candidate import candidate_routes
from relay_smtp.web.context import SendMail, WebContext
from relay_smtp.web.middleware import WebGuard
from relay_smtp.web.pages import page_locales
from relay_smtp.web.satisfaction import satisfaction_routes
from relay_smtp.web.settings import CompanyPage, LiveConfig, WebConfig
from relay_smtp.web.withdraw import withdraw_routes

__all__ = ["CompanyPage", "SendMail", "WebConfig", "create_app", "utcnow"]

log = logging.getLogger("relay_smtp.web")
Health = Callable[[], Awaitable[tuple[bool, dict[str, object]]]]
STATIC_FILES = {"relay.css": "text/css; charset=utf-8", "favicon.svg": "image/svg+xml"}


def create_app(
    config: WebConfig | LiveConfig,
    ledger: Ledger,
    links: LinkSigner,
    *,
    send_mail: SendMail,
    clock: Callable[[], datetime] = utcnow,
    health: Health | None = None,
) -> FastAPI:
    """The web app.  `send_mail(to, subject, body)` sends the confirmation mail (True: accepted).

    `health()` (optional) says whether the relay is healthy and what to show on /healthz. Given a
    `LiveConfig`, the app serves whatever configuration the holder has when a request comes (a reload).
    """
    ctx = WebContext.build(config, ledger, links, send_mail, clock)
    app = FastAPI(
        title="relay-smtp Career Relay API",
        summary=("Registration webhook and pull API for the partner agency, credit redemption for the admin"),
        version="1",
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.add_middleware(WebGuard, https=ctx.https)
    app.include_router(candidate_routes(ctx))
    app.include_router(api_routes(ctx))
    app.include_router(ats_routes(ctx))
    app.include_router(admin_routes(ctx))
    app.include_router(withdraw_routes(ctx))
    app.include_router(agency_api_routes(ctx))
    app.include_router(agency_admin_routes(ctx))
    app.include_router(satisfaction_routes(ctx))
    _add_basics(app, ctx, health)
    _add_error_pages(app, ctx)
    _warn_about_missing_settings(ctx.config)
    return app


def _add_basics(app: FastAPI, ctx: WebContext, health: Health | None) -> None:
    static = {name: (ctx.pages.static(name), media) for name, media in STATIC_FILES.items()}

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> Response:
        if health is None:
            return JSONResponse({"status": "ok"})
        healthy, details = await health()
        body = {"status": "ok" if healthy else "degraded", **details}
        return JSONResponse(body, status_code=200 if healthy else 503)

    @app.get("/static/{name}", include_in_schema=False)
    async def static_file(name: str) -> Response:
        if name not in static:
            return Response(status_code=404)
        body, media = static[name]
        return Response(body, media_type=media, headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        body, media = static["favicon.svg"]
        return Response(body, media_type=media, headers={"Cache-Control": "public, max-age=86400"})


def _add_error_pages(app: FastAPI, ctx: WebContext) -> None:
    """Friendly HTML for people who mistype a URL; JSON stays JSON for the API and the admin routes."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        path = request.url.path
        if exc.status_code == 404 and not path.startswith(("/api/", "/admin")):
            locales = page_locales(
                None, request.headers.get("accept-language"), request.query_params.get("lang")
            )
            return ctx.pages.notice("not_found", locales, 404)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        # FastAPI's default echoes the input back; it may be personal data, so only say where.
        where = sorted({".".join(str(p) for p in e.get("loc", ())) for e in exc.errors()})
        return JSONResponse({"detail": f"invalid request: {', '.join(where)}"}, status_code=422)


def _warn_about_missing_settings(config: WebConfig) -> None:
    if not config.webhook_secret:
        log.warning("agency.webhook_secret is not set: the registration webhook answers 503")
    if not config.admin_token and not config.admin_users and not config.admin_open_on_loopback:
        log.warning("admin.token and admin.users are not set: the admin page answers 503")
    if config.landing == "hosted" and not config.partner_name:
        log.warning("agency.name is not set: the consent text cannot name the partner agency")
    if config.form_secret is None:
        log.debug("web.form_secret is not set: registration forms are signed with a per-process key")
