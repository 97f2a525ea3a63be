"""The JSON API: the partner agency's registration webhook and the admin's credit redemption.

Why this module exists: this is the part of the web app other systems program against, so it is the
part FastAPI documents (``/docs``, ``/openapi.json``).  The webhook's signature is checked on the raw
bytes before the body is parsed; a request that is not from the agency learns nothing but 401.

``POST /api/v1/registrations`` is idempotent by ``registration_id``: the agency may deliver it again
(after a timeout, say) and gets the first answer back with ``duplicate: true``.
"""

from __future__ import annotations

import json
import logging
from functools import partial
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from relay_smtp.links import ExpiredToken, LinkClaims, LinkError
from relay_smtp.store.ledger import InsufficientCredits, RegistrationOutcome
from relay_smtp.store.ledger_data import API_REDEEM_REASON
from relay_smtp.web.admin import admin_guard, require_company
from relay_smtp.web.auth import AdminPrincipal, WebhookRejected, check_webhook
from relay_smtp.web.context import WebContext

log = logging.getLogger("relay_smtp.web")


class RegistrationIn(BaseModel):
    registration_id: str = Field(min_length=1, max_length=128, description="The agency's own id of it")
    token: str = Field(min_length=1, max_length=512, description="The link token the candidate came with")


class RegistrationOut(BaseModel):
    registration_id: str
    counted: bool = Field(description="Whether this registration counts towards the company's credits")
    reason: str = Field(description="'counted', or why not (e.g. the candidate was counted before)")
    company: str
    company_counted: int = Field(description="Registrations counted for the company so far")
    balance: int = Field(description="The company's credits after this registration")
    duplicate: bool = Field(description="True when this registration_id was received before")


class RedeemIn(BaseModel):
    reason: str = Field(default=API_REDEEM_REASON, max_length=500)


class LedgerEntryOut(BaseModel):
    id: int
    company: str
    kind: str
    amount: int
    reason: str
    at: str
    credit_no: int | None
    balance: int


class Problem(BaseModel):
    detail: str


_WEBHOOK_BODY_SCHEMA: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": RegistrationIn.model_json_schema()}},
        "description": (
            "Signed: X-CareerRelay-Signature = sha256=hex(HMAC-SHA256(secret, timestamp + '.' + body))"
        ),
    }
}


def api_routes(ctx: WebContext) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["api"])
    signed_in = Depends(admin_guard(ctx))

    @router.post(
        "/registrations",
        response_model=RegistrationOut,
        openapi_extra=_WEBHOOK_BODY_SCHEMA,
        responses={401: {"model": Problem}, 422: {"model": Problem}, 503: {"model": Problem}},
        summary="A candidate registered with the partner agency",
    )
    async def registration_webhook(
        request: Request,
        x_careerrelay_timestamp: Annotated[str | None, Header(description="Unix seconds")] = None,
        x_careerrelay_signature: Annotated[str | None, Header(description="sha256=<hex>")] = None,
    ) -> RegistrationOut:
        body = await _signed_body(ctx, request, x_careerrelay_timestamp, x_careerrelay_signature)
        payload = _parse_registration(body)
        claims = _claims_of(ctx, payload.token)
        outcome = await run_in_threadpool(
            partial(
                ctx.ledger.register,
                source="agency",
                external_id=payload.registration_id,
                company=claims.company,
                recipient_hash=claims.recipient_hash,
                message_id=claims.message_id,
                confirmed=True,
            )
        )
        _log_outcome(outcome)
        return _registration_out(payload.registration_id, outcome)

    @router.post(
        "/companies/{company}/redeem",
        response_model=LedgerEntryOut,
        responses={
            401: {"model": Problem},
            403: {"model": Problem},
            404: {"model": Problem},
            409: {"model": Problem},
        },
        summary="Spend one of the company's free hire referral credits (admin of that company, or operator)",
    )
    async def redeem(
        company: str,
        request: Request,
        body: RedeemIn | None = None,
        principal: AdminPrincipal = signed_in,
    ) -> LedgerEntryOut:
        require_company(principal, company)
        refuse_cross_site(ctx, request)
        reason = (body or RedeemIn()).reason
        try:
            entry = await run_in_threadpool(ctx.ledger.redeem, company, reason)
        except InsufficientCredits:
            raise HTTPException(409, f"{company} has no credit to redeem") from None
        balance = await run_in_threadpool(ctx.ledger.balance, company)
        return LedgerEntryOut(
            id=entry.id,
            company=entry.company,
            kind=entry.kind,
            amount=entry.amount,
            reason=entry.reason,
            at=entry.at.isoformat(),
            credit_no=entry.credit_no,
            balance=balance,
        )

    return router


async def _signed_body(
    ctx: WebContext, request: Request, timestamp: str | None, signature: str | None
) -> bytes:
    secret = ctx.config.webhook_secret
    if not secret:
        raise HTTPException(503, "the registration webhook is not configured (no webhook secret)")
    body = await _bounded_body(request, ctx.config.webhook_max_body_bytes)
    try:
        check_webhook(
            secret,
            timestamp,
            signature,
            body,
            now=ctx.now(),
            tolerance_seconds=ctx.config.webhook_tolerance_seconds,
        )
    except WebhookRejected as exc:
        log.warning("webhook refused: %s", exc)
        raise HTTPException(
            401, str(exc), headers={"WWW-Authenticate": 'CareerRelay-HMAC realm="webhook"'}
        ) from None
    return body


async def _bounded_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"the body is larger than {limit} bytes")
    chunks = bytearray()
    async for chunk in request.stream():
        chunks += chunk
        if len(chunks) > limit:
            raise HTTPException(413, f"the body is larger than {limit} bytes")
    return bytes(chunks)


def _parse_registration(body: bytes) -> RegistrationIn:
    try:
        return RegistrationIn.model_validate(json.loads(body))
    except (ValueError, ValidationError) as exc:
        detail = "; ".join(_describe(e) for e in exc.errors()) if isinstance(exc, ValidationError) else None
        raise HTTPException(422, detail or "the body must be JSON: {registration_id, token}") from None


def _describe(error: Any) -> str:
    where = ".".join(str(part) for part in error.get("loc", ())) or "body"
    return f"{where}: {error.get('msg', 'invalid')}"


def _claims_of(ctx: WebContext, token: str) -> LinkClaims:
    try:
        return ctx.links.verify(token)
    except ExpiredToken:
        raise HTTPException(422, "token: the link has expired") from None
    except LinkError:
        raise HTTPException(422, "token: not a valid Career Relay link token") from None


def _registration_out(registration_id: str, outcome: RegistrationOutcome) -> RegistrationOut:
    return RegistrationOut(
        registration_id=registration_id,
        counted=outcome.counted,
        reason=outcome.reason,
        company=outcome.company,
        company_counted=outcome.company_counted,
        balance=outcome.balance,
        duplicate=outcome.duplicate,
    )


def _log_outcome(outcome: RegistrationOutcome) -> None:
    log.info(
        "agency registration company=%s counted=%s duplicate=%s earned_now=%s balance=%d",
        outcome.company,
        outcome.counted,
        outcome.duplicate,
        outcome.earned_now,
        outcome.balance,
    )


def refuse_cross_site(ctx: WebContext, request: Request) -> None:
    """Browsers send basic-auth credentials to cross-site form posts too: refuse posts from other origins."""
    origin = request.headers.get("origin")
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site in ("cross-site", "same-site") or (origin and origin.rstrip("/") != _origin(ctx)):
        raise HTTPException(403, "cross-site requests are refused")


def _origin(ctx: WebContext) -> str:
    parts = urlsplit(ctx.config.public_url)
    return f"{parts.scheme}://{parts.netloc}"
