"""The HTTP half of a relay process: store, candidate pages, webhook, admin and /metrics.

It runs on the same event loop as the SMTP server (uvicorn embedded), shares the relay's link signer
(so the links it issues verify here, even with a development secret) and its store, sends
confirmation mail through the relay's own next hop, serves /healthz and /metrics (spool gauges).
In the primary worker only (worker 0, which always serves HTTP) it also runs the background loops
that must run once: the agency push, purging personal data past its retention, and the talent
pool's housekeeping (KPI purge, ATS webhook retries). Only processes that serve HTTP import it (see
``service.py``): it carries FastAPI and uvicorn.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import replace
from datetime import timedelta
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate, make_msgid
from urllib.parse import urlsplit

from fastapi import FastAPI, Request, Response

from relay_smtp.agency import PushSender, outbox_policy, push_periodically, push_target
from relay_smtp.config import Settings
from relay_smtp.links import LinkSigner
from relay_smtp.mail.dkim import DkimSigner
from relay_smtp.metrics import CallbackGauges, render
from relay_smtp.smtp.spool import Spool, send_copy
from relay_smtp.smtp.spool_health import spool_status
from relay_smtp.smtp.upstream import NextHop
from relay_smtp.store.audit import AuditStore
from relay_smtp.store.kpi_purge import purge_kpi_data
from relay_smtp.store.ledger import Ledger, utcnow
from relay_smtp.store.outbox import Outbox
from relay_smtp.store.signals import SignalStore
from relay_smtp.web.app import create_app
from relay_smtp.web.private import metrics_allowed
from relay_smtp.web.server import EmbeddedServer, make_server
from relay_smtp.web.settings import LiveConfig, reloaded, web_config
from relay_smtp.web.talent_pool import deliver_pending

log = logging.getLogger(__name__)

PURGE_INTERVAL = 6 * 3600.0


class WebSide:
    def __init__(
        self,
        settings: Settings,
        links: LinkSigner,
        next_hop: NextHop,
        signer: DkimSigner | None,
        spool: Spool,
        ledger: Ledger,
        *,
        primary: bool,
    ) -> None:
        self.settings = settings
        self.links = links
        self.next_hop = next_hop
        self.signer = signer
        self.spool = spool
        self.primary = primary
        self.ledger = ledger
        # The routes read the configuration through this holder; `reload` replaces what it holds.
        self.live = LiveConfig(web_config(settings))
        self.outbox = Outbox(ledger, outbox_policy(settings.agency))
        self.signals = SignalStore(ledger.engine, utcnow)  # the relay's lookups are the service's
        self.server: EmbeddedServer | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._push: asyncio.Task[None] | None = None

    @property
    def address(self) -> tuple[str, int]:
        assert self.server is not None and self.server.servers, "not started"
        host, port = self.server.servers[0].sockets[0].getsockname()[:2]
        return str(host), int(port)

    async def start(self, *, sock: socket.socket | None = None, port: int | None = None) -> None:
        app = create_app(self.live, self.ledger, self.links, send_mail=self.send_mail, health=self.health)
        self._add_metrics_route(app)
        listen = self.settings.web.listen
        self.server = make_server(
            app,
            listen.host,
            listen.port if port is None else port,
            forwarded_allow_ips=self.settings.web.trusted_proxies,
        )
        self._tasks.append(asyncio.create_task(self.server.serve(sockets=[sock] if sock else None)))
        while not self.server.started:
            if self._tasks[0].done():  # failed to bind: raise what uvicorn raised
                await self._tasks[0]
                raise OSError(f"web server could not listen on {listen}")
            await asyncio.sleep(0.01)
        if self.primary:
            self._tasks.append(asyncio.create_task(self._purge_periodically()))
            self._start_push()
        log.info("web listening on %s:%d (public %s)", *self.address, self.settings.web.public_url)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
        pushing = [self._push] if self._push is not None else []
        for task in [*self._tasks[1:], *pushing]:
            task.cancel()
        await asyncio.gather(*self._tasks, *pushing, return_exceptions=True)
        self._tasks.clear()
        self._push = None

    def reload(self, settings: Settings) -> None:
        """SIGHUP: serve `settings` from the next request on (companies and their names, locales,
        talent-pool webhooks and ATS tokens; admin token and users; the agency's names, secrets, pull
        token and push; the pages' texts and figures), but for what `FIXED_ON_RELOAD` keeps.

        Raises ValueError, having changed nothing, when the web side cannot take `settings`.
        """
        config, waiting = reloaded(self.live.current, web_config(settings))
        for key in waiting:
            log.warning("reload: %s changed; the web side keeps the old value until a restart", key)
        # What the web side was started with stays in its settings too (the confirmation mail's
        # default sender follows the public URL); links and store are the service's, never reloaded.
        old = self.settings.web
        web = replace(
            settings.web,
            listen=old.listen,
            public_url=old.public_url,
            trusted_proxies=old.trusted_proxies,
            every_worker=old.every_worker,
            form_secret=old.form_secret,
            link_rate_per_minute=old.link_rate_per_minute,
            register_rate_per_minute=old.register_rate_per_minute,
            scanner_window_seconds=old.scanner_window_seconds,
        )
        push_changed = settings.agency != self.settings.agency
        self.settings = replace(settings, web=web, links=self.settings.links, store=self.settings.store)
        self.live.current = config
        if push_changed:
            self.outbox = Outbox(self.ledger, outbox_policy(settings.agency))
            if self.primary and self.server is not None:
                self._start_push()

    def _start_push(self) -> None:
        """Hand confirmed registrations to the agency (every relay may: the outbox leases each one).

        On a reload that changed the agency's settings the old push stops and a new one starts. A round
        the old one has in a thread finishes there; its events stay leased to it, so the new sender
        (another owner) never sends one of them twice."""
        if self._push is not None:
            self._push.cancel()
            self._push = None
        target = push_target(self.settings.agency)
        if target is None:
            return
        sender = PushSender(self.outbox, target, lambda company: self.live.current.company_name(company))
        interval = self.settings.agency.push_interval_seconds
        self._push = asyncio.create_task(push_periodically(sender, interval))

    # ------------------------------------------------------------------ confirmation mail

    def _mail_from(self) -> str:
        if self.settings.web.mail_from:
            return self.settings.web.mail_from
        host = urlsplit(self.settings.web.public_url).hostname or "localhost"
        return f"noreply@{host}"

    async def send_mail(self, to: str, subject: str, body: str) -> bool:
        """A plain UTF-8 mail (the double opt-in confirmation) through the relay's next hop."""
        sender = self._mail_from()
        message = EmailMessage(policy=SMTP_POLICY)
        message["From"] = f"{self.settings.web.operator_name} <{sender}>"
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2])
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(body, charset="utf-8")
        data = message.as_bytes()
        if self.signer is not None:
            data = self.signer.sign(data).message
        reply = await send_copy(self.next_hop, sender, to, data)
        if not reply.accepted:
            log.warning("confirmation mail refused by the next hop: %s", reply)
        return reply.accepted

    # ------------------------------------------------------------------ metrics and housekeeping

    async def health(self) -> tuple[bool, dict[str, object]]:
        """/healthz: a stalled spool (acknowledged mail not moving) makes the relay unhealthy."""
        status = await asyncio.to_thread(spool_status, self.spool)
        return not status.stalled, {"spool": status.as_dict()}

    def _gauges(self) -> list[tuple[str, str, float]]:
        spool = spool_status(self.spool)
        gauges: list[tuple[str, str, float]] = [
            ("relay_smtp_spool_copies", "Deferred copies waiting in the spool", float(spool.copies)),
            ("relay_smtp_spool_oldest_age_seconds", "Age of the oldest spooled copy", spool.oldest_age),
            (
                "relay_smtp_spool_overdue_seconds",
                "How long the most overdue spooled copy has waited past its retry time",
                spool.overdue,
            ),
            ("relay_smtp_spool_stalled", "1 when the spool is not being retried", float(spool.stalled)),
        ]
        funnels = self.ledger.funnels()
        totals = {
            "clicks": "Link clicks recorded (all companies)",
            "suspected_bot_clicks": "Clicks flagged as mail scanners",
            "registrations": "Registrations received",
            "counted": "Registrations that counted toward credits",
            "earned": "Credits earned",
            "redeemed": "Credits redeemed",
            "balance": "Credits available",
        }
        for name, documentation in totals.items():
            value = sum(getattr(f, name) for f in funnels)
            gauges.append((f"relay_smtp_ledger_{name}", documentation, float(value)))
        handoffs = self.outbox.stats()
        gauges += [
            (
                "relay_smtp_agency_handoffs_pending",
                "Hand-offs to the agency not yet accepted",
                handoffs.pending,
            ),
            (
                "relay_smtp_agency_handoffs_flagged",
                "Hand-offs failing past push_max_age_hours",
                handoffs.flagged,
            ),
            ("relay_smtp_agency_handoffs_delivered", "Hand-offs the agency accepted", handoffs.delivered),
        ]
        return gauges

    def _add_metrics_route(self, app: FastAPI) -> None:
        async def metrics_endpoint(request: Request) -> Response:
            admin_token = self.live.current.admin_token  # as of now: a reload may change it
            # Open to Prometheus on the same host; from elsewhere only with the admin bearer token.
            client = request.client.host if request.client else ""
            bearer = request.headers.get("authorization", "")
            if not metrics_allowed(client, request.scope["headers"], bearer, admin_token or ""):
                return Response("forbidden\n", status_code=403, media_type="text/plain")
            # The gauges scan the spool directory and query the store: in a thread, so that a slow
            # disk or store delays this scrape only, never the SMTP sessions sharing the loop.
            body, content_type = await asyncio.to_thread(render, CallbackGauges(self._gauges))
            return Response(body, media_type=content_type)

        app.add_api_route("/metrics", metrics_endpoint, methods=["GET"], include_in_schema=False)

    async def _purge_periodically(self) -> None:
        while True:
            retention = timedelta(days=self.settings.web.personal_data_retention_days)
            try:
                removed = await asyncio.to_thread(self.ledger.purge_personal_data, retention)
                if removed:
                    log.info("purged personal data of %d registrations past retention", removed)
                await asyncio.to_thread(self.outbox.purge_expired_records)
                await asyncio.to_thread(self.signals.purge_expired)
                await asyncio.to_thread(AuditStore(self.ledger.engine, utcnow).purge)
            except Exception:
                log.exception("purging personal data failed; will try again")
            await self._talent_pool_housekeeping()
            await asyncio.sleep(PURGE_INTERVAL)

    async def _talent_pool_housekeeping(self) -> None:
        """Talent-pool entries and KPI rejections past their retention go; failed ATS webhooks are retried."""
        engine = self.ledger.engine
        try:
            await asyncio.to_thread(purge_kpi_data, engine, self.settings, utcnow())
            companies = self.live.current.companies
            await asyncio.to_thread(deliver_pending, engine, companies, utcnow)
        except Exception:
            log.exception("talent pool housekeeping failed; will try again")
