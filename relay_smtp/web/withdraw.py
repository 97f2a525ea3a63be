"""The candidate's withdrawal link (利用停止): ``/w/<token>`` asks, and a POST to it withdraws.

Why this module exists: a candidate may stop the use and provision of their data at any time, and must
be able to without writing to anybody.  The confirmation mail and the "sent" page carry a personal
link; its token is the registration's public id signed with the link secrets (no personal data, no
expiry: the right does not expire).  GET only shows a page with a button, because mail scanners fetch
every link in a mailbox and must not withdraw anybody; the POST does it, at once, through
`relay_smtp.store.withdrawal.withdraw_registration` (profile deleted, agency notified through the
outbox, withdrawal recorded).
"""

from __future__ import annotations

import logging
from functools import partial

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from relay_smtp.store import talent_pool
from relay_smtp.store.withdrawal import withdraw_registration
from relay_smtp.web.candidate import limited, request_locales
from relay_smtp.web.context import WebContext
from relay_smtp.web.withdraw_links import registration_of

log = logging.getLogger("relay_smtp.web")


def withdraw_routes(ctx: WebContext) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/w/{token}")
    async def ask(token: str, request: Request) -> Response:
        locale = request_locales(ctx, request, None)[0]
        if (refused := limited(ctx, ctx.link_limiter, request)) is not None:
            return refused
        if registration_of(ctx, token) is None:
            return ctx.pages.notice("invalid_link", [locale], 404)
        return ctx.pages.page("withdraw", locale, action=f"/w/{token}?lang={locale}")

    @router.post("/w/{token}")
    async def withdraw(token: str, request: Request) -> Response:
        locale = request_locales(ctx, request, None)[0]
        if (refused := limited(ctx, ctx.register_limiter, request)) is not None:
            return refused
        public_id = registration_of(ctx, token)
        if public_id is None:
            return ctx.pages.notice("invalid_link", [locale], 404)
        work = partial(
            withdraw_registration,
            ctx.ledger,
            public_id,
            recipient=ctx.config.partner_name or "partner agency",
            keep_years=ctx.config.provision_record_years,
            # The talent pool entry (the company's own opt-in) goes in the same transaction.
            also=(talent_pool.withdraw_step,),
        )
        done = await run_in_threadpool(work)
        if done is None:
            return ctx.pages.notice("invalid_link", [locale], 404)
        log.info("withdrawal company=%s already=%s notice=%s", done.company, done.already, done.notice_queued)
        return ctx.pages.page("withdrawn", locale, already=done.already)

    return router
