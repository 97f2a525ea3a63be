"""Send what the pipeline produced and give the client one truthful answer for all of it.

Most messages go out as one copy on the transaction the client's RCPTs already opened at the next hop.
A rejection to several recipients becomes one personalised copy per recipient, each its own
transaction; the client still gets a single reply:

- every copy accepted: 250;
- no copy accepted: the next hop's answer, a 4xx if any copy was only deferred (the client retries
  the whole message, and nothing was delivered twice), else the 5xx;
- some accepted: 250, after the deferred copies are durably spooled for retry and the refused ones
  are bounced to the sender (a bounce the next hop defers is spooled too). If spooling fails the
  client gets 451 and will send again: a duplicate for the accepted recipients is better than a lost
  copy.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from relay_smtp.pipeline import Outcome, Outgoing
from relay_smtp.smtp.server import Message
from relay_smtp.smtp.spool import Spool, bounce, send_copy
from relay_smtp.smtp.upstream import NextHop, Reply

log = logging.getLogger(__name__)

SPOOL_FAILED = Reply(451, "4.3.0 could not queue deferred copies, try again later")


@dataclass(frozen=True)
class Sent:
    """What became of each copy."""

    accepted: tuple[Outgoing, ...]
    replies: tuple[tuple[Outgoing, Reply], ...]
    reply: Reply


class CopySender:
    def __init__(self, next_hop: NextHop, spool: Spool, reporting_mta: str) -> None:
        self.next_hop = next_hop
        self.spool = spool
        self.reporting_mta = reporting_mta

    async def send(self, message: Message, outcome: Outcome) -> Sent:
        copies = outcome.outgoing
        if len(copies) == 1 and copies[0].recipients == tuple(message.recipients):
            reply = await message.transaction.send(copies[0].data)
            return Sent(copies if reply.accepted else (), ((copies[0], reply),), reply)
        await message.transaction.abort()
        replies = []
        for copy in copies:
            [recipient] = copy.recipients
            replies.append((copy, await send_copy(self.next_hop, message.mail_from, recipient, copy.data)))
        accepted: tuple[Outgoing, ...] = tuple(copy for copy, reply in replies if reply.accepted)
        return Sent(accepted, tuple(replies), await self._answer(message, replies, accepted))

    async def _answer(
        self, message: Message, replies: list[tuple[Outgoing, Reply]], accepted: tuple[Outgoing, ...]
    ) -> Reply:
        failed = [(copy, reply) for copy, reply in replies if not reply.accepted]
        if not failed:
            return Reply(250, f"2.0.0 {len(accepted)} personalised copies accepted by next hop")
        if not accepted:
            temporary = [reply for _, reply in failed if reply.temporary]
            return temporary[0] if temporary else failed[0][1]
        deferred = [copy for copy, reply in failed if reply.temporary]
        refused = [(copy, reply) for copy, reply in failed if not reply.temporary]
        try:
            for copy in deferred:
                await asyncio.to_thread(
                    self.spool.put, message.mail_from, copy.recipients[0], copy.data, message.queue_id
                )
            for copy, reply in refused:
                args = (message.mail_from, copy.recipients[0], message.queue_id, copy.data, str(reply))
                await bounce(self.next_hop, self.spool, *args, self.reporting_mta)
        except OSError as exc:
            log.error("cannot spool deferred copies or bounces (%s); asking the client to retry", exc)
            return SPOOL_FAILED
        return Reply(
            250,
            f"2.0.0 {len(accepted)} copies accepted, {len(deferred)} queued for retry, "
            f"{len(refused)} bounced",
        )
