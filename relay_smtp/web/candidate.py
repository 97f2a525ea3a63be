"""The candidate's side: the link from the rejection mail, the hosted form, and the confirmation.

Why this module exists: this is what a person sees right after a rejection, so it must be polite, fast
and careful with their data.  The flow:

- ``GET|HEAD /r/<token>``: the signed link.  A click is recorded (with a suspicion of being a mail
  scanner, see `bots`), then either the hosted landing page with the registration form, or a 303 to
  the partner agency's own form with the token as a query parameter (redirect mode).
- ``GET /r/<token>/register``: the same form without counting a click (language switch, "back").
- ``POST /r/<token>/register``: checks the CSRF token and the fields, records a registration awaiting
  confirmation with the candidate's consent, mails a confirmation link, and redirects to ``/sent``.
- ``GET /confirm/<code>`` shows a button; ``POST /confirm/<code>`` confirms.  Confirming on GET would
  let the mail scanners that fetch every link in the candidate's inbox confirm for them.

Neither tokens nor personal data are logged; log lines name the company and what happened.
"""

from __future__ import annotations

import logging
import secrets
from functools import partial
from typing import cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from relay_smtp.links import ExpiredToken, LinkClaims, LinkError, _decode_claims
from relay_smtp.store.ledger import Profile, UnknownRegistration
from relay_smtp.web import csrf, talent_pool
from relay_smtp.web.context import WebContext, client_key
from relay_smtp.web.forms import JOB_TYPES, RegistrationInput, read_form, validate
from relay_smtp.web.pages import page_locales
from relay_smtp.web.ratelimit import RateLimiter, retry_after_header
from relay_smtp.web.settings import PageLocale
from relay_smtp.web.withdraw_links import registration_of, withdraw_token, withdraw_url

log = logging.getLogger("relay_smtp.web")
MAX_FORM_FIELDS = 20


def candidate_routes(ctx: WebContext) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.api_route("/r/{token}", methods=["GET", "HEAD"])
    async def landing(token: str, request: Request) -> Response:
        claims = admit(ctx, request, token, ctx.link_limiter, hosted_only=False)
        if isinstance(claims, Response):
            return claims
        await _record_click(ctx, request, claims)
        if ctx.config.landing == "redirect":
            return RedirectResponse(_partner_url(ctx, token), status_code=303)
        return _form_page(ctx, request, token, claims, RegistrationInput(), {}, 200)

    @router.get("/r/{token}/register")
    async def form(token: str, request: Request) -> Response:
        claims = admit(ctx, request, token, ctx.link_limiter, hosted_only=True)
        if isinstance(claims, Response):
            return claims
        return _form_page(ctx, request, token, claims, RegistrationInput(), {}, 200)

    @router.post("/r/{token}/register")
    async def register(token: str, request: Request) -> Response:
        claims = admit(ctx, request, token, ctx.register_limiter, hosted_only=True)
        if isinstance(claims, Response):
            return claims
        return await _register(ctx, request, token, claims)

    @router.get("/r/{token}/sent")
    async def sent(token: str, request: Request) -> Response:
        claims = admit(ctx, request, token, ctx.link_limiter, hosted_only=True)
        if isinstance(claims, Response):
            return claims
        locale = request_locales(ctx, request, claims.company)[0]
        sealed = request.query_params.get("w", "")
        withdraw = f"/w/{sealed}?lang={locale}" if registration_of(ctx, sealed) is not None else None
        name = ctx.config.company_name(claims.company)
        return ctx.pages.page("sent", locale, company_name=name, withdraw_url=withdraw)

    @router.get("/confirm/{code}")
    async def confirm_page(code: str, request: Request) -> Response:
        refused = limited(ctx, ctx.link_limiter, request)
        if refused is not None:
            return refused
        locale = request_locales(ctx, request, None)[0]
        return ctx.pages.page("confirm", locale, action=f"/confirm/{code}?lang={locale}")

    @router.post("/confirm/{code}")
    async def confirm(code: str, request: Request) -> Response:
        refused = limited(ctx, ctx.register_limiter, request)
        if refused is not None:
            return refused
        locale = request_locales(ctx, request, None)[0]
        try:
            outcome = await run_in_threadpool(partial(ctx.ledger.confirm, code, locale=locale))
        except UnknownRegistration:
            return ctx.pages.notice("confirm_unknown", [locale], 404)
        log.info("registration confirmed company=%s counted=%s", outcome.company, outcome.counted)
        name = ctx.config.company_name(outcome.company)
        response = ctx.pages.page("confirmed", locale, company_name=name)
        if not outcome.duplicate:  # the talent pool's entry, if any, is delivered after the response
            response.background = await talent_pool.confirmed(ctx, outcome.registration_id)
        return response

    return router


# --------------------------------------------------------------------------- checks


def admit(
    ctx: WebContext, request: Request, token: str, limiter: RateLimiter, *, hosted_only: bool
) -> LinkClaims | Response:
    """The link's claims if the request may go on; else the page that says why not (429, 404, 410)."""
    refused = limited(ctx, limiter, request) or (_hosted_only(ctx, request) if hosted_only else None)
    return refused if refused is not None else _verified(ctx, token, request)


def limited(ctx: WebContext, limiter: RateLimiter, request: Request) -> Response | None:
    wait = limiter.acquire(client_key(request))
    if wait <= 0:
        return None
    return _rate_limited(ctx, request, wait)


def _rate_limited(ctx: WebContext, request: Request, wait: float) -> Response:
    locales = request_locales(ctx, request, None)
    response = ctx.pages.notice("rate_limited", locales, 429)
    response.headers["Retry-After"] = retry_after_header(wait)
    return response


def _hosted_only(ctx: WebContext, request: Request) -> Response | None:
    if ctx.config.landing == "hosted":
        return None
    locales = request_locales(ctx, request, None)
    return ctx.pages.notice("not_found", locales, 404)


def _verified(ctx: WebContext, token: str, request: Request) -> LinkClaims | Response:
    """The token's claims, or the friendly page that explains why the link does not work."""
    try:
        return ctx.links.verify(token)
    except ExpiredToken:
        kind, status = "expired_link", 410
    except LinkError:
        kind, status = "invalid_link", 404
    company = _unverified_company(token)
    known = ctx.config.companies.get(company) if company else None
    locales = request_locales(ctx, request, company if known else None)
    log.info("link refused: %s", kind)
    days = ctx.links.max_age_seconds // 86_400
    name = known.name if known else None
    return ctx.pages.notice(kind, locales, status, company_name=name, max_age_days=days)


def _unverified_company(token: str) -> str | None:
    """The company a token claims, read WITHOUT checking it: only used to pick the error page's language."""
    try:
        return _decode_claims(token.partition(".")[0]).company
    except LinkError:
        return None


def request_locales(ctx: WebContext, request: Request, company: str | None) -> list[PageLocale]:
    page = ctx.config.companies.get(company) if company else None
    company_locale = page.locale if page else ("auto" if company else None)
    override = request.query_params.get("lang")
    return page_locales(company_locale, request.headers.get("accept-language"), override)


# --------------------------------------------------------------------------- actions


async def _record_click(ctx: WebContext, request: Request, claims: LinkClaims) -> None:
    user_agent = request.headers.get("user-agent")
    verdict = ctx.bots.judge(request.method, user_agent, claims.issued_at, ctx.now())
    record = partial(
        ctx.ledger.record_click,
        claims.company,
        claims.recipient_hash,
        claims.message_id,
        user_agent=user_agent,
        suspected_bot=verdict.suspected_bot,
        bot_reason=verdict.reason,
    )
    await run_in_threadpool(record)
    log.info(
        "click company=%s suspected_bot=%s reason=%s",
        claims.company,
        verdict.suspected_bot,
        verdict.reason or "-",
    )


def _partner_url(ctx: WebContext, token: str) -> str:
    """The agency's form with the link token appended, so that its webhook can hand it back."""
    parts = urlsplit(cast(str, ctx.config.partner_form_url))
    query = [*parse_qsl(parts.query, keep_blank_values=True), (ctx.config.partner_ref_param, token)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _form_page(
    ctx: WebContext,
    request: Request,
    token: str,
    claims: LinkClaims,
    values: RegistrationInput,
    errors: dict[str, str],
    status: int,
) -> Response:
    locale = request_locales(ctx, request, claims.company)[0]
    other: PageLocale = "en" if locale == "ja" else "ja"
    form_token = ctx.forms.issue(token, request.cookies.get(csrf.COOKIE_NAME))
    response = ctx.pages.page(
        "landing",
        locale,
        status,
        company_name=ctx.config.company_name(claims.company),
        action=f"/r/{token}/register?lang={locale}",
        switch_url=f"/r/{token}/register?lang={other}",
        satisfaction_action=f"/r/{token}/satisfaction?lang={locale}",
        csrf_field=csrf.FIELD_NAME,
        csrf_value=form_token.field,
        values=values,
        errors=errors,
        job_types=[(key, ja if locale == "ja" else en) for key, ja, en in JOB_TYPES],
    )
    response.set_cookie(
        csrf.COOKIE_NAME,
        form_token.cookie,
        max_age=ctx.config.form_max_age_seconds,
        path="/r/",
        secure=ctx.https,
        httponly=True,
        samesite="strict",
    )
    return response


async def _register(ctx: WebContext, request: Request, token: str, claims: LinkClaims) -> Response:
    async with request.form(max_files=0, max_fields=MAX_FORM_FIELDS) as posted:
        fields = {key: value for key, value in posted.items() if isinstance(value, str)}
    locale = request_locales(ctx, request, claims.company)[0]
    if not ctx.forms.accepts(token, fields.get(csrf.FIELD_NAME), request.cookies.get(csrf.COOKIE_NAME)):
        log.info("registration form refused: CSRF check failed company=%s", claims.company)
        back = f"/r/{token}/register?lang={locale}"
        return ctx.pages.notice("form_expired", [locale], 403, back_url=back)
    checked = validate(read_form(fields))
    if not checked.ok:
        return _form_page(ctx, request, token, claims, checked.values, dict(checked.errors), 422)
    link_key = f"{claims.company}:{claims.recipient_hash}:{claims.message_id}"
    wait = ctx.mail_throttle.acquire(link_key, checked.values.email)
    if wait > 0:  # no more confirmation mails for this link or to this address for now
        log.info("registration refused: confirmation mail rate limit company=%s", claims.company)
        return _rate_limited(ctx, request, wait)
    code = secrets.token_urlsafe(24)
    # The public id the agency will know the registration by; random, so it says nothing about anybody.
    public_id = f"hosted-{secrets.token_urlsafe(12)}"
    await _store_registration(ctx, claims, checked.values, code, public_id)
    if not await _send_confirmation(ctx, checked.values, code, locale, claims.company, public_id):
        return ctx.pages.notice("mail_failed", [locale], 503, back_url=f"/r/{token}/register?lang={locale}")
    sealed = withdraw_token(ctx, public_id)
    return RedirectResponse(f"/r/{token}/sent?lang={locale}&w={sealed}", status_code=303)


async def _store_registration(
    ctx: WebContext, claims: LinkClaims, values: RegistrationInput, code: str, public_id: str
) -> None:
    profile = Profile(
        name=values.name,
        email=values.email,
        phone=values.phone or None,
        job_type=values.job_type,
        consent_version=ctx.config.consent_version,
    )
    register = partial(
        ctx.ledger.register,
        source="hosted",
        external_id=public_id,
        company=claims.company,
        recipient_hash=claims.recipient_hash,
        message_id=claims.message_id,
        confirmed=False,
        profile=profile,
        confirmation_token=code,
        confirm_ttl=ctx.config.confirm_ttl,
    )
    outcome = await run_in_threadpool(register)
    await talent_pool.opt_in(ctx, claims.company, outcome.registration_id, values)
    log.info(
        "hosted registration company=%s id=%s awaiting confirmation", outcome.company, outcome.registration_id
    )


async def _send_confirmation(
    ctx: WebContext, values: RegistrationInput, code: str, locale: PageLocale, company: str, public_id: str
) -> bool:
    url = f"{ctx.config.public_base}/confirm/{code}?lang={locale}"
    mail = ctx.pages.mail(
        "confirm_mail",
        locale,
        name=values.name,
        confirm_url=url,
        withdraw_url=withdraw_url(ctx, public_id, locale),
        company_name=ctx.config.company_name(company),
    )
    try:
        sent = await ctx.send_mail(values.email, mail.subject, mail.body)
    except Exception as exc:  # the mailer's failure must not become a 500 with the address in it
        log.warning("confirmation mail failed company=%s: %s", company, type(exc).__name__)
        return False
    if not sent:
        log.warning("confirmation mail refused by the next hop company=%s", company)
    return sent
