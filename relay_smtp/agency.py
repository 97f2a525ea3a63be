"""The push to the partner agency: signed POSTs of the outbox's events to ``agency.push_url``.

Why this module exists: the outbox (store/outbox.py) decides what is owed and marks what was accepted;
this is the edge that talks HTTP.  One round claims due events, POSTs each as JSON signed like the
inbound webhook (``X-CareerRelay-Timestamp`` and ``X-CareerRelay-Signature: sha256=<hex of
HMAC-SHA256(push_secret, timestamp + "." + body)>``), and reports each answer back to the outbox: a
2xx is a hand-off, anything else (another status, a timeout, a refused connection) is a failed attempt
retried later.  Redirects are not followed: personal data goes to the configured URL or nowhere.

The body is the same for every attempt of an event (only the timestamp header changes), and it is what
the pull API lists too (`payload`), so an agency sees one format whichever way it receives.  Nothing of
the body, the URL or the secret is logged; log lines name the event and the public registration id.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from relay_smtp.config import AgencySettings
from relay_smtp.store.outbox import Handoff, Outbox, OutboxPolicy
from relay_smtp.web.auth import signed_headers

log = logging.getLogger(__name__)
EVENT_HEADER = "X-CareerRelay-Event"
IDEMPOTENCY_HEADER = "Idempotency-Key"
USER_AGENT = "relay-smtp agency push"
ROUND_SIZE = 20


@dataclass(frozen=True)
class PushTarget:
    url: str
    secret: str
    timeout_seconds: float = 10.0


@dataclass(frozen=True)
class PushRound:
    sent: int = 0
    failed: int = 0
    flagged: int = 0


def payload(handoff: Handoff, company_name: str) -> dict[str, Any]:
    """The JSON object the agency receives for one event (push body, or one item of the pull API)."""
    body: dict[str, Any] = {
        "event": handoff.event,
        "registration_id": handoff.registration_id,
        "company": {"id": handoff.company, "name": company_name},
    }
    if handoff.event == "withdrawn" or handoff.person is None:
        body["withdrawn_at"] = handoff.at.isoformat()
        return body
    person = handoff.person
    body["registered_at"] = handoff.at.isoformat()
    body["consent"] = {"at": person.consent_at.isoformat(), "version": person.consent_version}
    body["candidate"] = {
        "name": person.name,
        "email": person.email,
        "phone": person.phone,
        "job_type": person.job_type,
        "locale": handoff.locale,
    }
    return body


def encode(body: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON with sorted keys: the same bytes for the same event on every attempt."""
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def idempotency_key(handoff: Handoff) -> str:
    return f"{handoff.registration_id}:{handoff.event}"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class PushSender:
    """Sends due events to the agency; several senders (relays) may run against one store."""

    def __init__(
        self,
        outbox: Outbox,
        target: PushTarget,
        company_name: Callable[[str], str],
        *,
        owner: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.outbox = outbox
        self.target = target
        self.company_name = company_name
        self.owner = owner or f"sender-{secrets.token_hex(6)}"
        self._clock = clock
        self._opener = urllib.request.build_opener(_NoRedirects())

    def run_once(self, limit: int = ROUND_SIZE) -> PushRound:
        """Claim up to ``limit`` due events and try each once (blocking: run it in a thread)."""
        sent = failed = flagged = 0
        for handoff in self.outbox.claim(self.owner, limit):
            error = self._post(handoff)
            if error is None:
                first = self.outbox.delivered(handoff.outbox_id, "push")
                sent += 1
                log.info(
                    "agency push %s registration=%s accepted%s",
                    handoff.event,
                    handoff.registration_id,
                    "" if first else " (already marked)",
                )
                continue
            failed += 1
            if self.outbox.failed(handoff.outbox_id, self.owner, error):
                flagged += 1
                log.warning(
                    "agency push %s registration=%s flagged after %d attempts: %s",
                    handoff.event,
                    handoff.registration_id,
                    handoff.attempts + 1,
                    error,
                )
            else:
                log.info(
                    "agency push %s registration=%s failed: %s", handoff.event, handoff.registration_id, error
                )
        return PushRound(sent, failed, flagged)

    def _post(self, handoff: Handoff) -> str | None:
        """None when the agency answered 2xx, else a short description of what went wrong."""
        body = encode(payload(handoff, self.company_name(handoff.company)))
        request = urllib.request.Request(
            self.target.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": USER_AGENT,
                **signed_headers(self.target.secret, body, self._clock()),
                EVENT_HEADER: handoff.event,
                IDEMPOTENCY_HEADER: idempotency_key(handoff),
            },
        )
        try:
            with self._opener.open(request, timeout=self.target.timeout_seconds) as response:
                status = int(response.status)
                response.read(65_536)
        except urllib.error.HTTPError as exc:
            exc.close()
            return f"HTTP {exc.code}"
        except urllib.error.URLError as exc:
            return f"connection failed: {type(exc.reason).__name__}"
        except (OSError, ValueError) as exc:
            return f"connection failed: {type(exc).__name__}"
        return None if 200 <= status < 300 else f"HTTP {status}"


# --------------------------------------------------------------------------- settings and the loop


def outbox_policy(agency: AgencySettings) -> OutboxPolicy:
    return OutboxPolicy(
        recipient=agency.name or "partner agency",
        record_years=agency.provision_record_years,
        max_age=timedelta(hours=agency.push_max_age_hours),
        retry_base=timedelta(seconds=agency.push_retry_seconds),
        # A lease outlasts an attempt by far, so one event is never sent by two relays at once.
        lease=timedelta(seconds=max(120.0, 4 * agency.push_timeout_seconds)),
    )


def push_target(agency: AgencySettings) -> PushTarget | None:
    if not agency.push_url or not agency.push_secret:
        return None
    return PushTarget(agency.push_url, agency.push_secret, agency.push_timeout_seconds)


async def push_periodically(sender: PushSender, interval: float) -> None:
    """Run rounds for ever: at once again after a full round, else after ``interval`` seconds."""
    while True:
        try:
            result = await asyncio.to_thread(sender.run_once)
        except Exception:
            log.exception("agency push round failed; will try again")
            result = PushRound()
        if result.sent + result.failed < ROUND_SIZE:
            await asyncio.sleep(interval)
