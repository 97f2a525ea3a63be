"""The admin's view of the hand-offs to the agency, and disclosure of a person's provision records.

Why this module exists: the operator must see when the agency is not getting candidates (hand-offs
pending or flagged after ``agency.push_max_age_hours``), must be able to export what was handed over,
and must answer a person who asks what was given to whom (個人情報保護法: disclosure of provision
records).  It adds to the admin page (`agency_api.summary` feeds a section of admin.html).

- ``GET /admin/handoffs.csv``: every hand-off event and its state (no personal data).
- ``POST /admin/records`` with the form field ``email``: that person's provision records as CSV.  A
  POST, so that the address stays out of URLs, logs and browser history; cross-site posts are refused.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from relay_smtp.store.records import ProvisionRecord, records_for_email
from relay_smtp.web.admin import admin_guard
from relay_smtp.web.admin_csv import csv_response
from relay_smtp.web.agency_api import handoff_outbox
from relay_smtp.web.api import refuse_cross_site
from relay_smtp.web.context import WebContext

RECORD_COLUMNS = [
    "kind",
    "at",
    "recipient",
    "channel",
    "registration_id",
    "company",
    "name",
    "email",
    "items",
    "consent_version",
    "consent_at",
    "keep_until",
]


def record_rows(records: list[ProvisionRecord]) -> list[list[object]]:
    return [
        [
            r.kind,
            r.at.isoformat(),
            r.recipient,
            r.channel,
            r.registration_id,
            r.company,
            r.person_name,
            r.person_email,
            " ".join(r.items),
            r.consent_version,
            r.consent_at.isoformat(),
            r.keep_until.date().isoformat(),
        ]
        for r in records
    ]


def agency_admin_routes(ctx: WebContext) -> APIRouter:
    guard = admin_guard(ctx)

    async def operator(request: Request) -> None:
        # Hand-offs and provision records span every company and hold personal data: operators only
        # (a company's HR user gets 404, as for another company's pages).
        if not (await guard(request)).operator:
            raise HTTPException(404, "not found")

    router = APIRouter(include_in_schema=False, dependencies=[Depends(operator)])

    @router.get("/admin/handoffs.csv")
    async def handoffs() -> Response:
        entries = await run_in_threadpool(handoff_outbox(ctx).entries)
        header = ["cursor", "registration_id", "event", "company", "status", "channel", "attempts"]
        header += ["created_at", "delivered_at", "last_error"]
        rows = (
            [
                e.cursor,
                e.registration_id,
                e.event,
                e.company,
                e.status,
                e.channel,
                e.attempts,
                e.created_at.isoformat(),
                e.delivered_at.isoformat() if e.delivered_at else "",
                e.last_error,
            ]
            for e in entries
        )
        return csv_response("career-relay-handoffs.csv", header, rows)

    @router.post("/admin/records")
    async def records(request: Request) -> Response:
        refuse_cross_site(ctx, request)
        async with request.form(max_files=0, max_fields=5) as posted:
            email = str(posted.get("email") or "").strip()
        if not email or "@" not in email or len(email) > 254:
            raise HTTPException(422, "email: an e-mail address is required")
        found = await run_in_threadpool(records_for_email, ctx.ledger.engine, email)
        return csv_response("career-relay-provision-records.csv", RECORD_COLUMNS, record_rows(found))

    return router
