"""One relay process: the SMTP server and its next hop, started, drained and stopped together.

`RelayService` is what `relay-smtp serve` runs and what the tests start on a free loopback port. Stopping
is a drain: stop accepting, let the transactions in flight finish (bounded by `smtp.drain_timeout`), then
close what is left, so a SIGTERM from systemd never cuts a message off between the next hop's answer and
the client's.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import ssl
import time
import weakref
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from relay_smtp.ats import NO_SIGNALS, AtsSignals
from relay_smtp.config import Company, ConfigError, Settings, load_settings
from relay_smtp.links import LinkSigner, link
from relay_smtp.mail.dkim import DkimKeyError, DkimSigner
from relay_smtp.mail.own_block import own_link_check
from relay_smtp.metrics import metrics, reply_class
from relay_smtp.pipeline import Envelope, LinkFactory, Outcome, PipelineConfig, process_first
from relay_smtp.recontact import observed_mail
from relay_smtp.recorder import LinkRecorder, Rejection, audit_of
from relay_smtp.smtp.delivery import CopySender, Sent
from relay_smtp.smtp.server import Delivery, Message, RelayHandler, RelaySMTP, make_authenticator
from relay_smtp.smtp.spool import Spool, SpoolWorker, doubling_backoff
from relay_smtp.smtp.upstream import NextHop, open_next_hop
from relay_smtp.store.signals import AtsLookup
from relay_smtp.webside import WebSide

log = logging.getLogger(__name__)


INLINE_LIMIT = 256 * 1024  # octets


def _delivery_action(outcome: Outcome, code: int) -> str:
    if code >= 500:
        return "refused"
    if code >= 400:
        return "deferred"
    return {"injected": "injected", "audited": "audited"}.get(outcome.action, "forwarded")


class PipelineProcessor:
    """Run each message through the pipeline (off the event loop) and send what it produced."""

    def __init__(self, config: PipelineConfig, sender: CopySender) -> None:
        self.config = config
        self.sender = sender
        self.recorder: LinkRecorder | None = None
        self.ats_lookup: AtsLookup | None = None  # plugged in by the web side, which owns the store

    async def __call__(self, message: Message) -> Delivery:
        envelope = Envelope(message.mail_from, tuple(message.recipients))
        ats = await self._ats_signals(envelope)
        started = time.perf_counter()
        # A rejection to several recipients comes back with its first copy; the sender makes the
        # others one at a time, off the event loop (memory O(message), not O(recipients x message)).
        if len(message.data) <= INLINE_LIMIT:
            # A few milliseconds of CPU: handing them to a thread gains nothing under the GIL, and
            # measured with bench/run.py it cost ~40% more CPU per message in thread switches.
            outcome, more = process_first(message.data, envelope, self.config, ats)
        else:
            # Large mail takes tens of milliseconds; a thread lets other sessions interleave.
            outcome, more = await asyncio.to_thread(process_first, message.data, envelope, self.config, ats)
        added = time.perf_counter() - started
        self._log_verdict(message.queue_id, outcome)
        sent = await self.sender.send(message, outcome, more)
        self._count(outcome, sent, added)
        self._record(message.queue_id, outcome, sent, message)
        return Delivery(sent.reply, _delivery_action(outcome, sent.reply.code))

    async def _ats_signals(self, envelope: Envelope) -> AtsSignals:
        """The ATS signals for these recipients, read before the pure pipeline runs; only when some
        company has the ATS API on. A store failure only loses the signal: the text still decides."""
        companies = [c.id for c in self.config.companies if c.ats_token]
        if self.ats_lookup is None or not companies or not envelope.recipients:
            return NO_SIGNALS
        try:
            return await asyncio.to_thread(self.ats_lookup, companies, envelope.recipients)
        except Exception:
            log.exception("ATS signal lookup failed; classifying on the text alone")
            return NO_SIGNALS

    def _record(self, queue_id: str, outcome: Outcome, sent: Sent, message: Message) -> None:
        """Rejections and the links of accepted copies go to the store, after the next hop's answer."""
        if self.recorder is None:
            return
        try:  # for the re-application rate (see recontact.py); never at the cost of the reply
            accepted = [r for copy in sent.accepted for r in copy.recipients]
            mail = observed_mail(message.data, message.mail_from, accepted, outcome, self.recorder.clock())
            if mail is not None:
                self.recorder.record(mail)
        except Exception:
            log.exception("could not note a relayed message for the re-application rate")
        if outcome.company is None:
            return
        if outcome.action not in ("injected", "audited") or (
            outcome.action == "injected" and not sent.accepted
        ):
            return
        tokens = tuple(
            copy.link.rsplit("/r/", 1)[1] for copy in sent.accepted if copy.link and "/r/" in copy.link
        )
        audit = audit_of(outcome.verdict, message.data) if outcome.action == "audited" else None
        self.recorder.record(Rejection(outcome.company, queue_id, queue_id, outcome.action, tokens, audit))

    @staticmethod
    def _count(outcome: Outcome, sent: Sent, added: float) -> None:
        m = metrics()
        m.added_latency.observe(added)
        label = outcome.verdict.label if outcome.verdict else "none"
        m.messages.labels(verdict=label, action=outcome.action).inc()
        for _, reply in sent.replies:
            m.upstream_replies.labels(reply_class=reply_class(reply.code)).inc()
        if outcome.action == "injected":
            m.blocks.inc(len(sent.accepted))
            m.links.inc(sum(1 for copy in sent.accepted if copy.link))

    @staticmethod
    def _log_verdict(queue_id: str, outcome: Outcome) -> None:
        verdict = outcome.verdict
        reasons = "; ".join(str(r) for r in verdict.reasons) if verdict else ""
        label = verdict.label if verdict else "-"
        level = logging.WARNING if outcome.action == "failed" else logging.INFO
        log.log(
            level,
            "verdict=%s score=%s action=%s company=%s why=%s dkim=%s reasons=[%s]",
            label,
            verdict.score if verdict else "-",
            outcome.action,
            outcome.company or "-",
            outcome.reason,
            outcome.signing or "-",
            reasons,
            extra={"queue_id": queue_id, "verdict": label, "pipeline_action": outcome.action},
        )


def link_factory(settings: Settings, signer: LinkSigner) -> LinkFactory:
    public_url = settings.web.public_url

    def link_for(company: Company, recipient: str, message_id: str) -> str:
        mid = signer.short_message_id(message_id or f"{company.id}:{recipient}")  # keyed
        return link(public_url, signer.issue(company.id, recipient, mid))

    return link_for


def pipeline_config(
    settings: Settings, links: LinkSigner | None = None, *, quiet: bool = False
) -> PipelineConfig:
    """The pipeline's view of the settings; loads DKIM keys and templates once.

    `quiet`: offline commands that report signing themselves (`preview`) need no warning about it.
    """
    dkim = settings.dkim
    signer = DkimSigner(dkim.keys, parent_domains=dkim.parent_domains) if dkim.keys else None
    if signer is None and not quiet:
        # The demo signs nothing on purpose: a key no DNS publishes would not help.
        log.log(
            logging.INFO if settings.demo else logging.WARNING,
            "no DKIM keys configured: changed mail goes out without a DKIM signature",
        )
    links = links or LinkSigner.from_settings(settings.links)
    return PipelineConfig(
        companies=settings.companies,
        link_for=link_factory(settings, links),
        own_link=own_link_check(links),
        signer=signer,
        sign_all_domains=dkim.sign_all_domains,
        self_check=dkim.self_check,
    )


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
    ) -> None:
        self.settings = settings
        self.config_path = config_path
        self.run_spool = run_spool
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
        self.processor = PipelineProcessor(pipeline_config(settings, self.links), sender)
        self.handler = RelayHandler(settings.smtp, self.next_hop, self.processor)
        self.web = WebSide(
            settings, self.links, self.next_hop, self.processor.config.signer, self.spool, primary=run_spool
        )
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
        protocol = RelaySMTP(self.handler, **options)
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
        await self.web.start(sock=web_sock, port=web_port)
        self.processor.recorder = self.web.recorder
        self.processor.ats_lookup = self.web.ats_lookup
        listen = self.settings.smtp.listen
        options = self._protocol_options()
        loop = asyncio.get_running_loop()
        factory = lambda: self._make_protocol(options)  # noqa: E731
        if sock is not None:
            self._server = await loop.create_server(factory, sock=sock)
        else:
            host = host if host is not None else listen.host
            port = port if port is not None else listen.port
            self._server = await loop.create_server(factory, host, port, reuse_address=True)
        host_, port_ = self.smtp_address
        log.info("relay-smtp listening on %s:%d, next hop %s", host_, port_, self.next_hop.describe())
        if self.run_spool:
            if len(self.spool):
                log.info("spool holds %d deferred copies; retrying them", len(self.spool))
            self._spool_task = asyncio.create_task(self.spool_worker.run())

    def reload(self) -> bool:
        """SIGHUP: read the configuration again and swap in new companies, rules, templates and keys.

        Connections and transactions in flight are not touched; a message already in the pipeline
        finishes with the configuration it started with. A bad configuration keeps the old one.
        """
        try:
            settings = load_settings(self.config_path)
            config = pipeline_config(settings, self.links)  # the links' key never changes on reload
        except (ConfigError, DkimKeyError, OSError) as exc:
            log.error("reload refused, configuration unchanged: %s", exc)
            return False
        self.processor.config = replace(config, link_for=self.processor.config.link_for)
        self.settings = replace(self.settings, companies=settings.companies, dkim=settings.dkim)
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
        await self.web.stop()
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
        if on_ready is not None:
            on_ready()
        await self._stopping.wait()
        log.info("stopping: draining transactions in flight")
        await self.stop()
