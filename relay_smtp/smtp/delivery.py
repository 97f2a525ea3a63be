"""Send what the pipeline produced and give the client one truthful answer for all of it.

Most messages go out as one copy on the next-hop transaction the client's RCPTs already opened (the
relay passes it in; see relay.py).
A rejection to several recipients becomes one personalised copy per recipient, each its own
transaction; the client still gets a single reply:

- every copy accepted: 250;
- no copy accepted: the next hop's answer, a 4xx if any copy was only deferred (the client retries
  the whole message, and nothing was delivered twice), else the 5xx;
- some accepted: 250, after the deferred copies are durably spooled for retry and the refused ones
  are bounced to the sender (a bounce the next hop defers is spooled too). If spooling fails the
  client gets 451 and will send again: a duplicate for the accepted recipients is better than a lost
  copy.

Copies are made one at a time, in a thread, and sent before the next is made (``relay.py`` holds
room for the message and one copy in the worker's byte budget, budget.py): a rejection to N
recipients costs O(message) memory, and the event loop keeps serving other sessions meanwhile. A
deferred copy is spooled when it is deferred (and taken out again if in the end no copy was
accepted); of a refused one only its header section is kept, for the bounce.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field, replace

from relay_smtp.pipeline import Outcome, Outgoing, Personaliser
from relay_smtp.smtp.server import Message
from relay_smtp.smtp.spool import Spool, SpoolEntry, bounce, header_section, send_copy
from relay_smtp.smtp.upstream import NextHop, Reply, Transaction

log = logging.getLogger(__name__)

SPOOL_FAILED = Reply(451, "4.3.0 could not queue deferred copies, try again later")
COPY_OVERHEAD = 4096  # octets a personalised copy may add to the original (block, DKIM-Signature)


@dataclass(frozen=True)
class Sent:
    """What became of each copy (the copies' bytes are not kept: only recipients and links)."""

    accepted: tuple[Outgoing, ...]
    replies: tuple[tuple[Outgoing, Reply], ...]
    reply: Reply


@dataclass
class _Tally:
    replies: list[tuple[Outgoing, Reply]] = field(default_factory=list)
    deferred: list[SpoolEntry] = field(default_factory=list)
    refused: list[tuple[str, bytes, Reply]] = field(default_factory=list)  # recipient, headers, reply
    spool_error: OSError | None = None

    @property
    def accepted(self) -> tuple[Outgoing, ...]:
        return tuple(copy for copy, reply in self.replies if reply.accepted)


class CopySender:
    def __init__(self, next_hop: NextHop, spool: Spool, reporting_mta: str) -> None:
        self.next_hop = next_hop
        self.spool = spool
        self.reporting_mta = reporting_mta

    async def send(
        self,
        message: Message,
        transaction: Transaction,
        outcome: Outcome,
        more: Personaliser | None = None,
    ) -> Sent:
        """Send on ``transaction`` (the one the client's recipients were offered on), or abort it and
        send personal copies; either way ``transaction`` is finished when this returns."""
        copies = outcome.outgoing
        if more is None and len(copies) == 1 and copies[0].recipients == tuple(message.recipients):
            reply = await transaction.send(copies[0].data)
            return Sent(copies if reply.accepted else (), ((copies[0], reply),), reply)
        await transaction.abort()
        tally = _Tally()
        for copy in copies:
            await self._send_one(message, copy, tally)
        if more is not None:  # the pipeline made the first recipient's copy; the rest are made here
            for recipient in message.recipients[len(copies) :]:
                copy = await asyncio.to_thread(self._copy_for, more, message, recipient)
                await self._send_one(message, copy, tally)
        return Sent(tally.accepted, tuple(tally.replies), await self._answer(message, tally))

    @staticmethod
    def _copy_for(more: Personaliser, message: Message, recipient: str) -> Outgoing:
        try:
            made = more.copy_for(recipient)
        except Exception:
            log.exception("personalising the copy for one recipient failed; it gets the original")
            return Outgoing((recipient,), message.data)
        return made.outgoing

    async def _send_one(self, message: Message, copy: Outgoing, tally: _Tally) -> None:
        [recipient] = copy.recipients
        reply = await send_copy(self.next_hop, message.mail_from, recipient, copy.data)
        tally.replies.append((replace(copy, data=b""), reply))
        if reply.accepted:
            return
        if not reply.temporary:
            tally.refused.append((recipient, header_section(copy.data), reply))
            return
        if tally.spool_error is not None:
            return
        try:
            entry = await asyncio.to_thread(
                self.spool.put, message.mail_from, recipient, copy.data, message.queue_id
            )
        except OSError as exc:
            tally.spool_error = exc
            return
        tally.deferred.append(entry)

    async def _unspool(self, tally: _Tally) -> None:
        for entry in tally.deferred:
            await asyncio.to_thread(self.spool.remove, entry)

    async def _answer(self, message: Message, tally: _Tally) -> Reply:
        accepted = tally.accepted
        failed = [reply for _, reply in tally.replies if not reply.accepted]
        if not failed:
            return Reply(250, f"2.0.0 {len(accepted)} personalised copies accepted by next hop")
        if not accepted:
            await self._unspool(tally)  # the client retries the whole message
            temporary = [reply for reply in failed if reply.temporary]
            return temporary[0] if temporary else failed[0]
        try:
            if tally.spool_error is not None:
                raise tally.spool_error
            for recipient, headers, reply in tally.refused:
                args = (message.mail_from, recipient, message.queue_id, headers, str(reply))
                await bounce(self.next_hop, self.spool, *args, self.reporting_mta)
        except OSError as exc:
            log.error("cannot spool deferred copies or bounces (%s); asking the client to retry", exc)
            await self._unspool(tally)
            return SPOOL_FAILED
        return Reply(
            250,
            f"2.0.0 {len(accepted)} copies accepted, {len(tally.deferred)} queued for retry, "
            f"{len(tally.refused)} bounced",
        )
