"""Record issued links and rejections in the store without holding up the SMTP reply.

The relay may record a link only after the next hop accepted the copy that carries it, and the client
is waiting for its reply at that moment. So the records go into an in-memory queue (microseconds) and
a background task writes them in batches from a thread, gathering for a moment (``linger``) so that
under load one transaction (one commit: rejections, links, audited verdicts and the re-application
rows together) carries many messages. The links' claims come with the records, as the
link factory made them; nothing is parsed or verified again here. If the store is briefly down the
batch is kept and retried with backoff, and the log says so; on shutdown what is left is written
(bounded).

The same queue carries `recontact.OutgoingMail` records (relayed messages' headers and envelopes, for
the re-application rate); the writer hands those to ``contacts``.  Only those ``contacts`` wants are
queued: none without it, and only rejections while no company names recruiting senders.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Connection

from relay_smtp.links import LinkClaims
from relay_smtp.mail.classify import Verdict
from relay_smtp.recontact import ContactWriter, OutgoingMail
from relay_smtp.store.audit import AuditedVerdict, audit_subject, insert_audited
from relay_smtp.store.ledger import IssuedLink, Ledger, SeenRejection, utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rejection:
    company: str
    message_id: str
    queue_id: str
    action: str  # "injected" | "audited"
    links: tuple[LinkClaims, ...] = ()  # the links of the copies the next hop accepted
    audit: AuditedVerdict | None = None  # audit mode: what `relay-smtp audit` shows (no addresses)


def audit_of(company: str, verdict: Verdict | None, raw: bytes) -> AuditedVerdict | None:
    """What is kept of an audited verdict: subject (addresses cut out), score and reasons."""
    if verdict is None:
        return None
    reasons = tuple(str(reason) for reason in verdict.reasons)
    return AuditedVerdict(company, datetime.now(UTC), audit_subject(raw), verdict.score, reasons)


@dataclass
class LinkRecorder:
    ledger: Ledger
    retry_first: float = 1.0
    retry_max: float = 60.0
    # After the first record of a batch, wait this long for more: under load one store transaction
    # then carries many messages instead of one each (the store's CPU per message shrinks with it).
    linger: float = 0.2
    max_batch: int = 500
    #: Writes a batch of relayed mail for the re-application rate (see `recontact.ContactWriter`).
    contacts: ContactWriter | None = None
    #: Dates the relayed mail; tests pass theirs.
    clock: Callable[[], datetime] = utcnow
    _queue: asyncio.Queue[Rejection | OutgoingMail] = field(default_factory=asyncio.Queue)
    _task: asyncio.Task[None] | None = None

    def record(self, rejection: Rejection | OutgoingMail) -> None:
        """Non-blocking: queue the record for the writer task (relayed mail only if it could count)."""
        if isinstance(rejection, OutgoingMail) and (
            self.contacts is None or not self.contacts.wants(rejection)
        ):
            return
        self._queue.put_nowait(rejection)

    async def flush(self) -> None:
        """Wait until everything queued so far is written."""
        await self._queue.join()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self, timeout: float = 10.0) -> None:
        if self._task is None:
            return
        try:
            await asyncio.wait_for(self._queue.join(), timeout)
        except TimeoutError:
            log.error("store unreachable at shutdown: %d link records not written", self._queue.qsize())
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            if self.linger > 0:
                await asyncio.sleep(self.linger)
            while not self._queue.empty() and len(batch) < self.max_batch:
                batch.append(self._queue.get_nowait())
            await self._write_with_retry(batch)
            for _ in batch:
                self._queue.task_done()

    async def _write_with_retry(self, batch: list[Rejection | OutgoingMail]) -> None:
        delay = self.retry_first
        while True:
            try:
                await asyncio.to_thread(self._write, batch)
                return
            except Exception as exc:  # the store's own errors vary by backend; keep the batch
                log.warning(
                    "store write failed (%s); %d records kept, retry in %.0fs", exc, len(batch), delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max)

    def _write(self, batch: list[Rejection | OutgoingMail]) -> None:
        """The whole batch in one store transaction: one commit however many messages it holds."""
        contacts = self.contacts
        mails = [item for item in batch if isinstance(item, OutgoingMail)]
        observed = contacts.observe_all(mails) if mails and contacts is not None else []
        rejections = [item for item in batch if isinstance(item, Rejection)]
        seen = [SeenRejection(r.company, r.message_id, r.queue_id, r.action) for r in rejections]
        issued = [
            IssuedLink(claims.company, claims.recipient_hash, claims.message_id, _issued_at(claims))
            for rejection in rejections
            for claims in rejection.links
        ]
        audited = [r.audit for r in rejections if r.audit is not None]

        def also(connection: Connection) -> None:
            if observed and contacts is not None:
                contacts.write(connection, observed)
            insert_audited(connection, audited)

        self.ledger.record_relayed(seen, issued, also)


def _issued_at(claims: LinkClaims) -> datetime:
    return datetime.fromtimestamp(claims.issued_at, UTC)
