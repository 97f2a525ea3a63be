"""The agency's pull API: confirmed registrations and withdrawals, for agencies that fetch them.

Why this module exists: some agencies cannot run an HTTPS endpoint for our pushes, or prefer to fetch
on their own schedule.  They list what is owed with a cursor and acknowledge what they took; an
acknowledgement is a hand-off exactly like a 2xx on a push (provision record, credit), and an event
acknowledged (or pushed) once is never listed or counted again, whichever channel came first.

- ``GET /api/v1/agency/registrations?after=CURSOR&limit=N``: events not yet handed over, in order,
  each with its ``cursor``; ``next_cursor`` is the ``after`` of the next page (null at the end).
- ``POST /api/v1/agency/registrations/ack`` with ``{"cursors": [...]}``: per cursor ``acknowledged``,
  ``already handed over`` or ``unknown``.

Authentication: ``Authorization: Bearer <agency.pull_token>``; repeated failures are slowed down like
the admin's.  Items are the very JSON objects a push carries (see `relay_smtp.agency.payload`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from relay_smtp.agency import payload
from relay_smtp.store.handoff_reports import FlaggedHandoff, OutboxStats
from relay_smtp.store.outbox import Outbox, OutboxPolicy
from relay_smtp.web.auth import bearer_matches
from relay_smtp.web.context import WebContext, client_key
from relay_smtp.web.ratelimit import refuse_if_blocked

MAX_PAGE = 500


class RegistrationsPage(BaseModel):
    items: list[dict[str, Any]] = Field(
        description="Events in order: each the JSON a push would carry, plus its `cursor`"
    )
    next_cursor: str | None = Field(description="Pass as `after` for the next page; null when this was all")


class AckIn(BaseModel):
    cursors: list[str] = Field(min_length=1, max_length=MAX_PAGE, description="Cursors of the items taken")


class AckOut(BaseModel):
    results: dict[str, str] = Field(description="Per cursor: acknowledged, already handed over, or unknown")


def handoff_outbox(ctx: WebContext) -> Outbox:
    """The outbox as the web side uses it (pull acknowledgements, withdrawals)."""
    policy = OutboxPolicy(
        recipient=ctx.config.partner_name or "partner agency", record_years=ctx.config.provision_record_years
    )
    return Outbox(ctx.ledger, policy)


@dataclass(frozen=True)
class AgencySummary:
    stats: OutboxStats
    flagged: list[FlaggedHandoff]


def summary(ctx: WebContext) -> AgencySummary:
    """Hand-off counts and the flagged ones, for the admin page (runs in a thread)."""
    outbox = handoff_outbox(ctx)
    return AgencySummary(outbox.stats(), outbox.flagged(limit=50))


def agency_guard(ctx: WebContext) -> Any:
    async def guard(request: Request) -> None:
        token = ctx.config.agency_pull_token
        if not token:
            raise HTTPException(503, "the pull API is not configured (set agency.pull_token)")
        key = client_key(request)
        refuse_if_blocked(ctx.admin_failures, key)
        if bearer_matches(request.headers.get("authorization"), token):
            return
        ctx.admin_failures.acquire(key)
        raise HTTPException(
            401, "agency credentials required", headers={"WWW-Authenticate": 'Bearer realm="agency"'}
        )

    return guard


def agency_api_routes(ctx: WebContext) -> APIRouter:
    router = APIRouter(prefix="/api/v1/agency", tags=["agency"], dependencies=[Depends(agency_guard(ctx))])

    @router.get(
        "/registrations",
        response_model=RegistrationsPage,
        summary="Confirmed registrations and withdrawals not yet handed over (agency)",
    )
    async def registrations(
        after: Annotated[
            str, Query(pattern=r"^[0-9]{1,18}$", description="Cursor of the last item seen")
        ] = "0",
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    ) -> RegistrationsPage:
        # The outbox per request: its policy names the agency, which a reload may rename.
        items = await run_in_threadpool(handoff_outbox(ctx).undelivered, int(after), limit)
        listed = [
            {"cursor": str(h.outbox_id), **payload(h, ctx.config.company_name(h.company))} for h in items
        ]
        return RegistrationsPage(
            items=listed, next_cursor=listed[-1]["cursor"] if len(items) == limit else None
        )

    @router.post(
        "/registrations/ack",
        response_model=AckOut,
        summary="Acknowledge items taken: this hands them over (record, credit), once",
    )
    async def acknowledge(body: AckIn) -> AckOut:
        ids = [int(c) for c in body.cursors if c.isdigit() and len(c) <= 18]
        answers = await run_in_threadpool(handoff_outbox(ctx).acknowledge, ids)
        results = {
            c: answers.get(int(c), "unknown") if c.isdigit() and len(c) <= 18 else "unknown"
            for c in body.cursors
        }
        return AckOut(results=results)

    return router
