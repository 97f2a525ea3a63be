"""The ATS's rejection signal: ``POST /api/v1/companies/{company}/rejections``.

Why this module exists: an applicant tracking system knows a mail is a rejection before the relay
reads a word of it. It calls this route just before it sends the mail (or when it decides), with the
company's own bearer token (``[[companies]] ats_token``) and the candidate's address; the relay
hashes the address with the recipient key on arrival (``LinkSigner.recipient_hash``) and stores only
that hash and an expiry (``store/signals.py``). Mail from the company's recruiting senders to that
address within the window is then a rejection with the reason ``ats-signal`` (``relay_smtp/ats.py``).

Security: the token is compared in constant time; a wrong token, an unknown company and a company
without a token all answer the same 401, and repeated failures from one client are slowed down (429).
The address is never logged, echoed or stored in clear.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from relay_smtp.store.signals import SignalStore
from relay_smtp.web.auth import bearer_matches
from relay_smtp.web.context import WebContext, client_key
from relay_smtp.web.ratelimit import RateLimiter, refuse_if_blocked

log = logging.getLogger("relay_smtp.web")

MAX_WINDOW_HOURS = 24 * 30
FAILURES_PER_MINUTE = 10
# One address, as an ATS sends it: no display name, no spaces, one @, a dotted domain.
_ADDRESS = re.compile(r"[^@\s<>\"(),;:]+@[^@\s<>\"(),;:]+\.[^@\s<>\"(),;:]+")


class RejectionSignalIn(BaseModel):
    candidate: str = Field(min_length=3, max_length=320, description="The candidate's e-mail address")
    window_hours: int | None = Field(
        default=None,
        ge=1,
        le=MAX_WINDOW_HOURS,
        description="How long the signal holds (default: the company's ats_window_hours, 72)",
    )


class RejectionSignalOut(BaseModel):
    company: str
    window_hours: int
    expires_at: str = Field(description="ISO 8601, UTC")


class Problem(BaseModel):
    detail: str


def ats_routes(ctx: WebContext) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["ats"])
    store = SignalStore(ctx.ledger.engine, ctx.clock)
    failures = RateLimiter(FAILURES_PER_MINUTE, 60.0, ctx.now)

    @router.post(
        "/companies/{company}/rejections",
        status_code=202,
        response_model=RejectionSignalOut,
        responses={401: {"model": Problem}, 422: {"model": Problem}, 429: {"model": Problem}},
        summary="The company's ATS announces a rejection to a candidate (company token)",
    )
    async def rejection_signal(
        company: str,
        body: RejectionSignalIn,
        request: Request,
        authorization: Annotated[str | None, Header(description="Bearer <the company's ats_token>")] = None,
    ) -> RejectionSignalOut:
        key = client_key(request)
        refuse_if_blocked(failures, key)
        access = ctx.config.ats.get(company)
        expected = access.token if access else "\x00no token configured"
        allowed = bearer_matches(authorization, expected)
        if access is None or not allowed:
            failures.acquire(key)
            raise HTTPException(401, "company token required", headers={"WWW-Authenticate": "Bearer"})
        address = body.candidate.strip()
        if not _ADDRESS.fullmatch(address):
            raise HTTPException(422, "invalid request: candidate must be one e-mail address")
        hours = body.window_hours or access.window_hours
        expires = await run_in_threadpool(
            store.add, company, ctx.links.recipient_hash(address), timedelta(hours=hours)
        )
        log.info("ats rejection signal stored: company=%s window=%dh", company, hours)
        return RejectionSignalOut(company=company, window_hours=hours, expires_at=expires.isoformat())

    return router
