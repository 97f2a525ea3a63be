"""The landing page's one optional question: how did the company handle your application? (1–5)

Why this module exists: candidate satisfaction (候補者満足度) is one of the KPIs the company manages,
and the only honest source is the candidate, once, anonymously.  So:

- the answer is a POST from the landing page's own form (CSRF-checked like the registration form);
  a GET or HEAD of the answer URL is refused (405), so the link scanners that fetch every URL they see
  never answer;
- a POST whose User-Agent (or timing) looks like a scanner (`bots`) is thanked and not counted;
- nothing personal is kept: the answer becomes +1 in the company's count for the month and score
  (`store.satisfaction`), and the link is remembered only as a hash so it cannot answer twice.
"""

from __future__ import annotations

import logging
from functools import partial

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from relay_smtp.store import satisfaction
from relay_smtp.web import csrf
from relay_smtp.web.candidate import admit, request_locales
from relay_smtp.web.context import WebContext

log = logging.getLogger("relay_smtp.web")
FIELD = "satisfaction"


def satisfaction_routes(ctx: WebContext) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.post("/r/{token}/satisfaction")
    async def answer(token: str, request: Request) -> Response:
        claims = admit(ctx, request, token, ctx.register_limiter, hosted_only=True)
        if isinstance(claims, Response):
            return claims
        locale = request_locales(ctx, request, claims.company)[0]
        async with request.form(max_files=0, max_fields=5) as posted:
            fields = {key: value for key, value in posted.items() if isinstance(value, str)}
        back = f"/r/{token}/register?lang={locale}"
        if not ctx.forms.accepts(token, fields.get(csrf.FIELD_NAME), request.cookies.get(csrf.COOKIE_NAME)):
            return ctx.pages.notice("form_expired", [locale], 403, back_url=back)
        score = _score(fields.get(FIELD))
        if score is None:
            return ctx.pages.page("satisfaction", locale, 422, back_url=back, counted=False, missing=True)
        verdict = ctx.bots.judge("POST", request.headers.get("user-agent"), claims.issued_at, ctx.now())
        counted = False
        if not verdict.suspected_bot:
            voter = satisfaction.voter_hash(claims.recipient_hash, claims.message_id)
            record = partial(satisfaction.record_answer, ctx.ledger.engine, claims.company, voter, score)
            counted = await run_in_threadpool(record, ctx.clock())
        log.info("satisfaction answer company=%s counted=%s", claims.company, counted)
        return ctx.pages.page("satisfaction", locale, back_url=back, counted=counted, missing=False)

    return router


def _score(value: str | None) -> int | None:
    text = (value or "").strip()
    return int(text) if text in ("1", "2", "3", "4", "5") else None
