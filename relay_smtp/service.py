"""One relay process: the SMTP server, its next hop, the store and (optionally) the web side,
started, drained and stopped together. What happens to each message is ``relay.py``'s business.

`RelayService` is what `relay-smtp serve` runs and what the tests start on a free loopback port. Stopping
is a drain: stop accepting, let the transactions in flight finish (bounded by `smtp.drain_timeout`), then
close what is left, so a SIGTERM from systemd never cuts a message off between the next hop's answer and
the client's.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import socket
import ssl
import time
import weakref
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from relay_smtp.budget import ByteBudget
from relay_smtp.config import ConfigError, HostPort, Settings, load_settings, with_listeners
from relay_smtp.links import LinkSigner
from relay_smtp.mail.dkim import DkimKeyError
from relay_smtp.recontact import ContactWriter
from relay_smtp.recorder import LinkRecorder
from relay_smtp.relay import Relay, pipeline_config
from relay_smtp.smtp.delivery import CopySender
from relay_smtp.smtp.server import RelayHandler, RelaySMTP, make_authenticator
from relay_smtp.smtp.spool import Spool, SpoolWorker, doubling_backoff
from relay_smtp.smtp.upstream import NextHop, open_next_hop
from relay_smtp.store.ledger import Ledger, utcnow
from relay_smtp.store.signals import SignalStore
from relay_smtp.supervisor import warn_of_moved_listeners

if TYPE_CHECKING:  # imported only where the web side runs: it carries FastAPI and uvicorn
    from relay_smtp.webside import WebSide

log = logging.getLogger(__name__)


def _freeze_long_lived() -> None:
    """What start-up made (settings, templates, the classifier's tables, the web app, the store's
    metadata: some 130,000 objects) lives as long as the process. Out of the collector's sight, a full
    collection scans only what the messages leave behind: measured under load, each full collection
    otherwise stalled the worker, and every session on it, for 50-140 ms."""
    gc.collect()
    gc.freeze()


def reporting_mta(settings: Settings) -> str:
    return settings.smtp.hostname or socket.getfqdn()


class RelayService:
    def __init__(
        self,
        settings: Settings,
        next_hop: NextHop | None = None,
        *,
        config_path: Path | None = None,
        run_spool: bool = True,
        serve_web: bool = True,
        listen: HostPort | None = None,
        web_listen: HostPort | None = None,
    ) -> None:
        self.settings = settings
        self.config_path = config_path
        # `serve --listen/--web-listen`: a restart applies them again, so a reload does too.
        self.listen, self.web_listen = listen, web_listen
        # Where this process bound its listeners by its settings alone (`serve --workers 1`); None
        # when they came from the supervisor (which warns for its workers) or from the caller.
        self._listening_on: tuple[HostPort, HostPort | None] | None = None
        self.run_spool = run_spool
        self.serve_web = serve_web
        self.next_hop = next_hop or open_next_hop(settings.upstream)
        self.spool = Spool(
            settings.spool.directory,
            backoff=doubling_backoff(settings.spool.retry_interval),
            max_age=settings.spool.max_age_hours * 3600,
        )
        self.spool_worker = SpoolWorker(
            self.spool,
            self.next_hop,
            reporting_mta(settings),
            interval=min(5.0, settings.spool.retry_interval),
        )
        sender = CopySender(self.next_hop, self.spool, reporting_mta(settings))
        self.links = LinkSigner.from_settings(settings.links)
        budget = ByteBudget(settings.smtp.max_bytes_in_flight)
        self.processor = Relay(pipeline_config(settings, self.links), self.next_hop, sender, budget=budget)
        self.handler = RelayHandler(settings.smtp, self.processor.begin)
        self.ledger: Ledger | None = None
        self.recorder: LinkRecorder | None = None
        self.web: WebSide | None = None
        self._spool_task: asyncio.Task[None] | None = None
        self._server: asyncio.Server | None = None
        self._protocols: weakref.WeakSet[RelaySMTP] = weakref.WeakSet()
        self._stopping = asyncio.Event()

    @property
    def smtp_address(self) -> tuple[str, int]:
        assert self._server is not None, "not started"
        host, port = self._server.sockets[0].getsockname()[:2]
        return str(host), int(port)

    def _tls_context(self) -> ssl.SSLContext | None:
        smtp = self.settings.smtp
        if smtp.tls_cert_file is None or smtp.tls_key_file is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(smtp.tls_cert_file, smtp.tls_key_file)
        return context

    def _protocol_options(self) -> dict[str, Any]:
        smtp = self.settings.smtp
        options: dict[str, Any] = {
            "data_size_limit": smtp.max_message_size,
            "enable_SMTPUTF8": True,
            "decode_data": False,
            "ident": "relay-smtp",
            "timeout": smtp.idle_timeout,
            "tls_context": self._tls_context(),
            "auth_required": False,
            "auth_require_tls": smtp.auth_require_tls,
            # None: one line may be as long as the whole message may be (a 2 MB single-line HTML or
            # base64 body is real mail); commands stay short by aiosmtpd's own command size limit.
            "line_length_limit": smtp.max_line_length,
        }
        if smtp.hostname:
            options["hostname"] = smtp.hostname
        if smtp.auth_users:
            options["authenticator"] = make_authenticator(smtp.auth_users)
            options["auth_exclude_mechanism"] = ["CRAM-MD5"]
        return options

    def _make_protocol(self, options: dict[str, Any]) -> RelaySMTP:
        protocol = RelaySMTP(self.handler, budget=self.processor.budget, **options)
        self._protocols.add(protocol)
        return protocol

    async def start(
        self,
        *,
        host: str | None = None,
        port: int | None = None,
        sock: socket.socket | None = None,
        web_port: int | None = None,
        web_sock: socket.socket | None = None,
    ) -> None:
        """Listen where configured, on host/port if given, or on inherited sockets."""
        store = self.settings.store.url
        self.ledger = await asyncio.to_thread(
            Ledger.open,
            store,
            registrations_per_credit=self.settings.credits.registrations_per_credit,
            # SQLite upgrades itself; a shared PostgreSQL store is upgraded by `relay-smtp db upgrade`.
            upgrade=store.startswith("sqlite"),
        )
        # Every worker relays mail, so every worker records it and reads the ATS signals; the web
        # side (worker 0, or all with web.every_worker) only serves HTTP and runs its loops.
        self.recorder = LinkRecorder(self.ledger, contacts=self._contact_writer(self.settings))
        self.recorder.start()
        self.processor.recorder = self.recorder
        signals, hasher = SignalStore(self.ledger.engine, utcnow), self.links.recipient_hash
        self.processor.ats_lookup = lambda companies, recipients: signals.lookup(
            companies, recipients, hasher
        )
        if self.serve_web:
            from relay_smtp.webside import WebSide

            signer = self.processor.config.signer
            self.web = WebSide(
                self.settings,
                self.links,
                self.next_hop,
                signer,
                self.spool,
                self.ledger,
                primary=self.run_spool,
            )
            await self.web.start(sock=web_sock, port=web_port)
        listen = self.settings.smtp.listen
        options = self._protocol_options()
        loop = asyncio.get_running_loop()
        factory = lambda: self._make_protocol(options)  # noqa: E731
        if sock is not None:
            self._server = await loop.create_server(factory, sock=sock)
        else:
            if host is None and port is None:
                own_web = web_sock is None and web_port is None and self.web is not None
                self._listening_on = (listen, self.settings.web.listen if own_web else None)
            host = host if host is not None else listen.host
            port = port if port is not None else listen.port
            self._server = await loop.create_server(factory, host, port, reuse_address=True)
        host_, port_ = self.smtp_address
        log.info("relay-smtp listening on %s:%d, next hop %s", host_, port_, self.next_hop.describe())
        if self.run_spool:
            if len(self.spool):
                log.info("spool holds %d deferred copies; retrying them", len(self.spool))
            self._spool_task = asyncio.create_task(self.spool_worker.run())

    def _contact_writer(self, settings: Settings) -> ContactWriter:
        return ContactWriter(self.links, settings.companies, settings.kpi)

    def reload(self) -> bool:
        """SIGHUP: read the configuration again and swap in new companies, rules, templates and keys,
        and the re-application rate's companies and windows; the web side, if this process serves it,
        takes its companies, tokens, users, agency settings and texts (see `WebSide.reload`).

        Connections and transactions in flight are not touched; a message already in the pipeline
        finishes with the configuration it started with. A bad configuration keeps the old one.
        """
        try:
            settings = load_settings(self.config_path)
            config = pipeline_config(settings, self.links)  # the links' key never changes on reload
            if self.web is not None:  # last: it swaps when it cannot fail any more, as what follows
                self.web.reload(with_listeners(settings, self.listen, self.web_listen))
        except (ConfigError, DkimKeyError, OSError, ValueError) as exc:
            log.error("reload refused, configuration unchanged: %s", exc)
            return False
        if self._listening_on is not None:
            warn_of_moved_listeners(
                with_listeners(settings, self.listen, self.web_listen), *self._listening_on
            )
        self.processor.config = replace(config, link_for=self.processor.config.link_for)
        if self.recorder is not None:
            # Swapped whole, never changed in place: the writer thread reads `recorder.contacts` once
            # per attempt at a batch, so each attempt is read and written by one writer, and every
            # attempt from now on, at what is queued now too, by the new one (a queued contact of a
            # company this reload removed is no longer counted). The queue itself is untouched.
            self.recorder.contacts = self._contact_writer(settings)
        self.settings = replace(
            self.settings, companies=settings.companies, dkim=settings.dkim, kpi=settings.kpi
        )
        if gc.get_freeze_count():  # a serving worker: the old configuration may go, the new one stays
            gc.unfreeze()
            _freeze_long_lived()
        log.info("configuration reloaded from %s", self.config_path or "embedded defaults")
        return True

    async def stop(self) -> None:
        """Stop accepting, let transactions in flight finish (bounded), close the rest."""
        if self._server is None:
            return
        self.handler.draining = True  # new transactions on open sessions get 421 from now on
        self._server.close()  # and the listening socket goes at once, so clients go elsewhere
        deadline = time.monotonic() + self.settings.smtp.drain_timeout
        while self.handler.open_transactions and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self.handler.open_transactions:
            log.warning("drain timed out with %d transactions open", self.handler.open_transactions)
        for protocol in list(self._protocols):
            if protocol.transport is not None:
                protocol.transport.close()
        await asyncio.sleep(0)  # let connection_lost callbacks abort next-hop transactions
        if self.web is not None:
            await self.web.stop()
        if self.recorder is not None:
            await self.recorder.stop()
        if self.ledger is not None:
            self.ledger.close()
        self.spool_worker.stop()
        if self._spool_task is not None:
            await self._spool_task
            self._spool_task = None
        await self.next_hop.close()
        self._server = None
        log.info("relay-smtp stopped")

    def request_stop(self) -> None:
        self._stopping.set()

    async def run_until_signalled(
        self,
        *,
        sock: socket.socket | None = None,
        web_sock: socket.socket | None = None,
        on_ready: Callable[[], object] | None = None,
    ) -> None:
        """`relay-smtp serve`: run until SIGTERM or SIGINT, then drain and return; SIGHUP reloads."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        await self.start(sock=sock, web_sock=web_sock)
        _freeze_long_lived()
        if on_ready is not None:
            on_ready()
        await self._stopping.wait()
        log.info("stopping: draining transactions in flight")
        await self.stop()
