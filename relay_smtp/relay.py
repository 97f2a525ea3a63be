"""What the relay does with one received message: pipeline, next hop, records, in that order.

Why this module exists: the SMTP server (``smtp/server.py``) knows sessions and replies, the pipeline
(``pipeline.py``) knows bytes, ``smtp/delivery.py`` knows how copies reach the next hop, the recorder
knows the store. :class:`Relay` is the one place that runs them for a message, from the end of DATA
to the reply the client gets: it runs the pipeline (inline for ordinary sizes), hands the outcome to
the copy sender (which sends on the transaction the client's RCPTs opened, or aborts it and sends
personal copies), counts, logs the verdict, and queues the store records of what the next hop
accepted. ``service.py`` only builds it and starts and stops things around it.

Links travel as data: the link factory returns each link's claims with its URL, and the recorder
stores those claims; nothing parses a URL or verifies a token the relay issued itself.
"""

from __future__ import annotations

import asyncio
import logging
import time

from relay_smtp.budget import ByteBudget
from relay_smtp.config import Company, Settings, SmtpSettings
from relay_smtp.links import LinkSigner, PersonalLink, link, short_message_id
from relay_smtp.mail.dkim import DkimSigner
from relay_smtp.metrics import metrics, reply_class
from relay_smtp.pipeline import Envelope, LinkFactory, Outcome, PipelineConfig, process
from relay_smtp.recorder import LinkRecorder, Rejection
from relay_smtp.smtp.delivery import CopySender, Sent
from relay_smtp.smtp.server import Delivery, Message

log = logging.getLogger(__name__)

INLINE_LIMIT = 256 * 1024  # octets


def link_factory(settings: Settings, signer: LinkSigner) -> LinkFactory:
    public_url = settings.web.public_url

    def link_for(company: Company, recipient: str, message_id: str) -> PersonalLink:
        mid = short_message_id(message_id or f"{company.id}:{recipient}")
        token, claims = signer.issue_with_claims(company.id, recipient, mid)
        return PersonalLink(link(public_url, token), claims)

    return link_for


def pipeline_config(settings: Settings, links: LinkSigner | None = None) -> PipelineConfig:
    """The pipeline's view of the settings; loads DKIM keys and templates once."""
    dkim = settings.dkim
    signer = DkimSigner(dkim.keys, parent_domains=dkim.parent_domains) if dkim.keys else None
    if signer is None:
        log.warning("no DKIM keys configured: changed mail goes out without a DKIM signature")
    return PipelineConfig(
        companies=settings.companies,
        link_for=link_factory(settings, links or LinkSigner.from_settings(settings.links)),
        signer=signer,
        sign_all_domains=dkim.sign_all_domains,
        self_check=dkim.self_check,
    )


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
        sender: CopySender,
        recorder: LinkRecorder | None = None,
        *,
        budget: ByteBudget | None = None,
    ) -> None:
        self.config = config
        self.sender = sender
        self.recorder = recorder
        self.budget = budget or ByteBudget(SmtpSettings().max_bytes_in_flight)

    async def __call__(self, message: Message) -> Delivery:
        return await self.handle(message)

    async def handle(self, message: Message) -> Delivery:
        async with self.budget.reserve(len(message.data)):
            return await self._handle(message)

    async def _handle(self, message: Message) -> Delivery:
        envelope = Envelope(message.mail_from, tuple(message.recipients))
        started = time.perf_counter()
        if len(message.data) <= INLINE_LIMIT:
            # A few milliseconds of CPU: handing them to a thread gains nothing under the GIL, and
            # measured with bench/run.py it cost ~40% more CPU per message in thread switches.
            outcome = process(message.data, envelope, self.config)
        else:
            # Large mail takes tens of milliseconds; a thread lets other sessions interleave.
            outcome = await asyncio.to_thread(process, message.data, envelope, self.config)
        added = time.perf_counter() - started
        self._log_verdict(message.queue_id, outcome)
        sent = await self.sender.send(message, outcome)
        self._count(outcome, sent, added)
        self._record(message.queue_id, outcome, sent)
        return Delivery(sent.reply, _delivery_action(outcome, sent.reply.code))

    def _record(self, queue_id: str, outcome: Outcome, sent: Sent) -> None:
        """Rejections and the links of accepted copies go to the store, after the next hop's answer."""
        if self.recorder is None or outcome.company is None:
            return
        if outcome.action not in ("injected", "audited") or (
            outcome.action == "injected" and not sent.accepted
        ):
            return
        claims = tuple(copy.link.claims for copy in sent.accepted if copy.link and copy.link.claims)
        self.recorder.record(Rejection(outcome.company, queue_id, queue_id, outcome.action, claims))

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
