"""The candidate side of the talent pool: the opt-in from the form, its confirmation, the ATS webhook.

Why this module exists: the registration form carries a second, optional consent (the company itself may
keep name and address to contact the candidate about future openings).  These few steps hook it into
the registration flow of `candidate` without growing it: `opt_in` when the form is posted, `confirmed`
when the candidate confirms the address, and `deliver_pending` for companies whose ATS takes new pool
entries by webhook (``companies.talent_pool_webhook``), signed like the agency's webhook:
``X-CareerRelay-Timestamp`` and ``X-CareerRelay-Signature: sha256=HMAC(secret, timestamp + "." + body)``.
An entry the ATS has not accepted stays marked undelivered in the store and is tried again later, so
nothing owed lives only in memory.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from datetime import datetime

from sqlalchemy import Engine
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from relay_smtp.store import talent_pool
from relay_smtp.store.talent_pool import PoolEntry
from relay_smtp.web.auth import signed_headers
from relay_smtp.web.context import WebContext
from relay_smtp.web.forms import RegistrationInput
from relay_smtp.web.settings import CompanyPage

log = logging.getLogger("relay_smtp.web")
WEBHOOK_TIMEOUT = 10.0
_NO_PAGE = CompanyPage("")


async def opt_in(ctx: WebContext, company: str, registration_id: int, values: RegistrationInput) -> None:
    """Write the pool entry of a just-posted registration, if the candidate ticked the pool's box."""
    if not values.talent_pool:
        return
    entry = PoolEntry(
        registration_id,
        company,
        values.name,
        values.email,
        values.job_type,
        ctx.config.talent_pool_consent_version,
        ctx.clock(),
    )
    await run_in_threadpool(talent_pool.join, ctx.ledger.engine, entry)
    log.info(
        "talent pool opt-in company=%s registration=%d (awaiting confirmation)", company, registration_id
    )


async def confirmed(ctx: WebContext, registration_id: int) -> BackgroundTask | None:
    """The candidate confirmed the address: the pool entry, if any, becomes visible.

    Returns the delivery to the company's ATS as a task to run after the response, so that a slow or
    unreachable ATS never keeps the candidate waiting (what fails is retried by the housekeeping loop).
    """
    entry = await run_in_threadpool(talent_pool.confirm, ctx.ledger.engine, registration_id, ctx.clock())
    if entry is None or not ctx.config.companies.get(entry.company, _NO_PAGE).talent_pool_webhook:
        return None
    return BackgroundTask(deliver_pending, ctx.ledger.engine, ctx.config.companies, ctx.clock)


def deliver_pending(
    engine: Engine, companies: Mapping[str, CompanyPage], clock: Callable[[], datetime]
) -> int:
    """POST every confirmed, undelivered entry to its company's webhook (blocking); how many were accepted.

    Called after each confirmation and by the relay's housekeeping loop, which retries what failed.
    """
    hooks = {c: page for c, page in companies.items() if page.talent_pool_webhook}
    if not hooks:
        return 0
    delivered = 0
    for entry in talent_pool.undelivered(engine, list(hooks)):
        page = hooks[entry.company]
        body = json.dumps(_payload(entry), ensure_ascii=False).encode("utf-8")
        secret = page.talent_pool_webhook_secret or ""
        headers = {"Content-Type": "application/json", **signed_headers(secret, body, clock().timestamp())}
        problem = _post(str(page.talent_pool_webhook), body, headers)
        if problem:
            log.warning("talent pool webhook company=%s not delivered: %s", entry.company, problem)
            continue
        talent_pool.mark_delivered(engine, entry.registration_id, clock())
        delivered += 1
    return delivered


def _post(url: str, body: bytes, headers: dict[str, str]) -> str:
    """POST in a worker thread; "" when the ATS answered 2xx, else what went wrong (no body echoed)."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT) as response:
            return "" if 200 <= response.status < 300 else f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        exc.close()
        return f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        return type(exc).__name__


def _payload(entry: PoolEntry) -> dict[str, object]:
    return {
        "event": "talent_pool.joined",
        "company": entry.company,
        "entry_id": entry.registration_id,
        "name": entry.name,
        "email": entry.email,
        "job_type": entry.job_type,
        "consent_version": entry.consent_version,
        "consent_at": entry.consent_at.isoformat(),
    }
