"""What the relay does with one client transaction: next hop, pipeline, records, in that order.

Why this module exists: the SMTP server (``smtp/server.py``) knows sessions and replies, the pipeline
(``pipeline.py``) knows bytes, ``smtp/delivery.py`` knows how copies reach the next hop, the recorder
knows the store. :class:`Relay` is the one place that runs them, and it owns the next-hop transaction
from start to end: :meth:`Relay.begin` opens it at the client's first RCPT (a
:class:`RelayTransaction`, through which every recipient is offered while the client waits at RCPT),
and at the end of DATA :meth:`Relay.handle` runs the pipeline (inline for ordinary sizes), hands the
outcome and the open transaction to the copy sender (which sends on it, or aborts it and sends
personal copies), counts, logs the verdict, and queues the store records of what the next hop
accepted (issued links, audited verdicts, and every relayed message's envelope for the
re-application rate). Whatever happens on the way, the transaction is finished (sent or aborted)
before the client gets its answer. The ATS's rejection signals for the recipients are read from the
store before the pure pipeline runs and passed in as data. ``service.py`` only builds it and starts
and stops things around it.

Links travel as data: the link factory returns each link's claims with its URL, and the recorder
stores those claims; nothing parses a URL or verifies a token the relay issued itself.
"""

from __future__ import annotations

import asyncio
import logging
import time

from relay_smtp.ats import NO_SIGNALS, AtsSignals
from relay_smtp.budget import ByteBudget
from relay_smtp.config import Company, Settings, SmtpSettings
from relay_smtp.links import LinkSigner, PersonalLink, link
from relay_smtp.mail.dkim import DkimSigner
from relay_smtp.mail.own_block import own_link_check
from relay_smtp.metrics import metrics, reply_class
from relay_smtp.pipeline import Envelope, LinkFactory, Outcome, PipelineConfig, process_first
from relay_smtp.recontact import observed_mail
from relay_smtp.recorder import LinkRecorder, Rejection, audit_of
from relay_smtp.smtp.delivery import COPY_OVERHEAD, CopySender, Sent
from relay_smtp.smtp.server import Delivery, Message
from relay_smtp.smtp.upstream import NextHop, Reply, Transaction
from relay_smtp.store.signals import AtsLookup

log = logging.getLogger(__name__)

INLINE_LIMIT = 256 * 1024  # octets


def link_factory(settings: Settings, signer: LinkSigner) -> LinkFactory:
    public_url = settings.web.public_url

    def link_for(company: Company, recipient: str, message_id: str) -> PersonalLink:
        mid = signer.short_message_id(message_id or f"{company.id}:{recipient}")  # keyed
        token, claims = signer.issue_with_claims(company.id, recipient, mid)
        return PersonalLink(link(public_url, token), claims)

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


def _octets_in_flight(message: Message) -> int:
    """What one message may hold at once: the received copy, and with several recipients also the
    one personalised copy being made and sent (see smtp/delivery.py). The message's charge from
    DATA grows to this before the pipeline runs (budget.py says why that cannot deadlock)."""
    size = len(message.data)
    return size if len(message.recipients) <= 1 else 2 * size + COPY_OVERHEAD


def _delivery_action(outcome: Outcome, code: int) -> str:
    if code >= 500:
        return "refused"
    if code >= 400:
        return "deferred"
    return {"injected": "injected", "audited": "audited"}.get(outcome.action, "forwarded")


class Relay:
    """Run each message through the pipeline and send what it produced; one truthful reply."""

    def __init__(
        self,
        config: PipelineConfig,
        next_hop: NextHop,
        sender: CopySender,
        recorder: LinkRecorder | None = None,
        *,
        budget: ByteBudget | None = None,
        ats_lookup: AtsLookup | None = None,
    ) -> None:
        self.config = config
        self.next_hop = next_hop
        self.sender = sender
        self.recorder = recorder
        self.budget = budget or ByteBudget(SmtpSettings().max_bytes_in_flight)
        self.ats_lookup = ats_lookup  # the store's ATS signals; None: the text alone decides

    def begin(self, mail_from: str, options: list[str]) -> RelayTransaction:
        """The transaction for one client transaction (``smtp.server.Begin``); nothing is sent to the
        next hop before its first recipient."""
        return RelayTransaction(self, self.next_hop.begin(mail_from, options))

    async def handle(self, message: Message, transaction: Transaction) -> Delivery:
        """Pipeline, send on (or abort) ``transaction``, record; it is finished when this returns."""
        try:
            async with self.budget.reserve(_octets_in_flight(message), message.charge):
                return await self._handle(message, transaction)
        finally:
            # Already sent or aborted on every ordinary path (then this does nothing); here for an
            # exception or a cancelled session, so that no next-hop connection is left mid-transaction.
            await transaction.abort()

    async def _handle(self, message: Message, transaction: Transaction) -> Delivery:
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
        sent = await self.sender.send(message, transaction, outcome, more)
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
        """Rejections and the links of accepted copies go to the store, after the next hop's answer;
        every relayed message's header and envelope too, for the re-application rate."""
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
        claims = tuple(copy.link.claims for copy in sent.accepted if copy.link and copy.link.claims)
        company = outcome.company
        audit = audit_of(company, outcome.verdict, message.data) if outcome.action == "audited" else None
        self.recorder.record(Rejection(company, queue_id, queue_id, outcome.action, claims, audit))

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
        level = logging.WARNING if outcome.action == "failed" else logging.INFO
        if not log.isEnabledFor(level):
            return  # the reasons are joined only for a line that is written
        verdict = outcome.verdict
        reasons = "; ".join(str(r) for r in verdict.reasons) if verdict else ""
        label = verdict.label if verdict else "-"
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


class RelayTransaction:
    """One client transaction's next-hop transaction, from the first RCPT to the answer after DATA.

    ``smtp.server`` holds it for the session (`ClientTransaction`) and aborts it on RSET, a new MAIL
    or a closed session; `deliver` hands it to `Relay.handle`, which finishes it.
    """

    def __init__(self, relay: Relay, transaction: Transaction) -> None:
        self._relay = relay
        self._transaction = transaction

    async def add_recipient(self, address: str, options: list[str]) -> Reply:
        return await self._transaction.add_recipient(address, options)

    async def deliver(self, message: Message) -> Delivery:
        return await self._relay.handle(message, self._transaction)

    async def abort(self) -> None:
        await self._transaction.abort()
