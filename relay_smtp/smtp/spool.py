"""A durable retry spool for copies the next hop deferred after the client was already answered.

When a rejection to several recipients becomes one personalised copy per recipient, the client gets
one reply for all of them. If the next hop takes some copies and defers others, the relay answers 250
only after writing the deferred copies here: a directory of files written with fsync, so an
acknowledged message survives a crash. A worker retries them with backoff, also after a restart, and
after `max_age` hands a copy back to its sender as a delivery status notification (RFC 3464). That
bounce is owed too: if the next hop defers it, it becomes a spool entry of its own, and the failed
copy's entry is removed only after its bounce was handed over or spooled.

Each entry is two files: `<id>.eml` (the exact bytes to send) and `<id>.json` (envelope and retry
state). The JSON is written last, with rename, so a half-written entry is never picked up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from email.utils import formatdate, make_msgid
from pathlib import Path

from relay_smtp.durable import write_durably
from relay_smtp.logs import current_queue_id
from relay_smtp.metrics import metrics
from relay_smtp.smtp.upstream import NextHop, Reply

log = logging.getLogger(__name__)


def doubling_backoff(first: float, cap: float = 3600.0) -> tuple[float, ...]:
    """Waits between attempts: first, twice that, ... up to cap (60, 120, 240, ..., 3600)."""
    waits = [first]
    while waits[-1] < cap:
        waits.append(min(waits[-1] * 2, cap))
    return tuple(waits)


DEFAULT_BACKOFF = doubling_backoff(60.0)


@dataclass(frozen=True)
class SpoolEntry:
    """One spooled copy. Copies are personalised, so each has exactly one recipient."""

    id: str
    mail_from: str
    recipient: str
    queue_id: str
    created: float
    next_attempt: float
    attempts: int = 0
    last_reply: str = ""


class Spool:
    """The directory itself: put, list, reschedule, remove. Synchronous; callers use a thread."""

    def __init__(
        self,
        directory: Path,
        *,
        backoff: Sequence[float] = DEFAULT_BACKOFF,
        max_age: float = 5 * 86400.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = directory
        self.backoff = tuple(backoff)
        self.max_age = max_age
        self.clock = clock
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    def put(self, mail_from: str, recipient: str, data: bytes, queue_id: str) -> SpoolEntry:
        now = self.clock()
        entry = SpoolEntry(
            id=f"{int(now)}-{secrets.token_hex(6)}",
            mail_from=mail_from,
            recipient=recipient,
            queue_id=queue_id,
            created=now,
            next_attempt=now + self.backoff[0],
        )
        write_durably(self.directory / f"{entry.id}.eml", data)
        self._write_meta(entry)
        return entry

    def _write_meta(self, entry: SpoolEntry) -> None:
        meta = json.dumps(asdict(entry), ensure_ascii=False).encode("utf-8")
        write_durably(self.directory / f"{entry.id}.json", meta)

    def entries(self) -> list[SpoolEntry]:
        found = []
        for meta in sorted(self.directory.glob("*.json")):
            try:
                found.append(SpoolEntry(**json.loads(meta.read_text(encoding="utf-8"))))
            except (OSError, ValueError, TypeError, KeyError) as exc:
                log.error("spool entry %s is unreadable and left in place: %s", meta.name, exc)
        return found

    def due(self) -> list[SpoolEntry]:
        now = self.clock()
        return [e for e in self.entries() if e.next_attempt <= now]

    def data(self, entry: SpoolEntry) -> bytes:
        return (self.directory / f"{entry.id}.eml").read_bytes()

    def expired(self, entry: SpoolEntry) -> bool:
        return self.clock() - entry.created >= self.max_age

    def reschedule(self, entry: SpoolEntry, reply: Reply) -> SpoolEntry:
        attempts = entry.attempts + 1
        delay = self.backoff[min(attempts, len(self.backoff) - 1)]
        updated = replace(entry, attempts=attempts, next_attempt=self.clock() + delay, last_reply=str(reply))
        self._write_meta(updated)
        return updated

    def remove(self, entry: SpoolEntry) -> None:
        # The meta file goes first: without it the entry is no longer picked up.
        for suffix in (".json", ".eml"):
            with contextlib.suppress(FileNotFoundError):
                (self.directory / f"{entry.id}{suffix}").unlink()

    def __len__(self) -> int:
        return sum(1 for _ in self.directory.glob("*.json"))


def header_section(data: bytes) -> bytes:
    """The header fields of a message (up to and with the last field's CRLF, without the empty line):
    what a bounce returns of the copy, and all a refused copy needs to keep for it."""
    end = data.find(b"\r\n\r\n")
    return data[: end + 2] if end >= 0 else data


def delivery_status_notification(
    mail_from: str,
    recipient: str,
    queue_id: str,
    original: bytes,
    reply: str,
    reporting_mta: str,
    *,
    now: float | None = None,
) -> bytes:
    """An RFC 3464 bounce for one copy that could not be delivered, with the original's headers."""
    boundary = f"relay-smtp-dsn-{secrets.token_hex(8)}"
    original_headers = header_section(original)
    status = (
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\n"
        f"Status: {_status_of(reply)}\r\nDiagnostic-Code: smtp; {reply}\r\n"
    )
    text = (
        "This is the relay-smtp mail system.\r\n\r\n"
        "Your message could not be delivered to the recipient below. The next hop\r\n"
        f"answered: {reply}\r\nand the relay has stopped trying.\r\n\r\n"
        f"    {recipient}\r\n"
    )
    head = (
        f"From: Mail Delivery System <MAILER-DAEMON@{reporting_mta}>\r\n"
        f"To: {mail_from}\r\n"
        f"Subject: Undelivered Mail Returned to Sender\r\n"
        f"Date: {formatdate(now, localtime=False)}\r\n"
        f"Message-ID: {make_msgid(domain=reporting_mta)}\r\n"
        f"Auto-Submitted: auto-replied\r\n"
        f"MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n'
        f"\r\n"
    )
    body = (
        f"--{boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n{text}\r\n"
        f"--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
        f"Reporting-MTA: dns; {reporting_mta}\r\nX-Relay-Smtp-Queue-ID: {queue_id}\r\n\r\n"
        f"{status}\r\n"
        f"--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n"
    )
    return (head + body).encode("utf-8") + original_headers + f"\r\n--{boundary}--\r\n".encode()


async def send_copy(next_hop: NextHop, mail_from: str, recipient: str, data: bytes) -> Reply:
    """One complete transaction at the next hop for one copy."""
    # Each option goes on only where the next hop advertises it; a UTF-8 address needs SMTPUTF8.
    utf8 = [] if mail_from.isascii() and recipient.isascii() else ["SMTPUTF8"]
    transaction = next_hop.begin(mail_from, ["BODY=8BITMIME", *utf8])
    reply = await transaction.add_recipient(recipient, [])
    if not reply.accepted:
        await transaction.abort()
        return reply
    return await transaction.send(data)


async def bounce(
    next_hop: NextHop,
    spool: Spool,
    mail_from: str,
    recipient: str,
    queue_id: str,
    data: bytes,
    reply: str,
    reporting_mta: str,
) -> None:
    """Hand a copy that failed for good back to its sender (never to the null sender).

    The bounce is owed as much as the copy was: if the next hop defers it, it is spooled (from the
    null sender, so it can never bounce in turn) and retried like any copy. Raises OSError only when
    it could neither be handed over nor spooled; the caller must then keep what it owes.
    """
    if not mail_from:
        log.warning("copy to %s failed (%s); null sender: no bounce", recipient, reply)
        return
    dsn = delivery_status_notification(mail_from, recipient, queue_id, data, reply, reporting_mta)
    result = await send_copy(next_hop, "", mail_from, dsn)
    if result.accepted:
        log.warning("copy to %s failed (%s); bounce to <%s>: %s", recipient, reply, mail_from, result)
    elif result.temporary:
        entry = await asyncio.to_thread(spool.put, "", mail_from, dsn, queue_id)
        log.warning(
            "copy to %s failed (%s); bounce to <%s> deferred (%s), spooled as %s",
            recipient,
            reply,
            mail_from,
            result,
            entry.id,
        )
    else:
        # RFC 5321 section 6.1 would send a double bounce to the postmaster; the log line is ours.
        log.error(
            "copy to %s failed (%s); bounce to <%s> refused for good (%s): dropped",
            recipient,
            reply,
            mail_from,
            result,
        )


def _status_of(reply: str) -> str:
    parts = reply.split()
    if len(parts) > 1 and parts[1][:1] in "45" and parts[1].count(".") == 2:
        return "5" + parts[1][1:]  # the copy has failed for good now
    return "5.4.7"  # delivery time expired


class SpoolWorker:
    """Retries due entries through the next hop; bounces the expired and the permanently refused.

    The loop must outlive any error (a full disk while rewriting an entry, an unreadable directory):
    it logs the error, counts it, waits longer (doubling up to `MAX_ERROR_WAIT`) and goes on. An
    entry whose pass failed keeps its old schedule, so the next pass tries it again.
    """

    MAX_ERROR_WAIT = 300.0

    def __init__(self, spool: Spool, next_hop: NextHop, reporting_mta: str, interval: float = 5.0) -> None:
        self.spool = spool
        self.next_hop = next_hop
        self.reporting_mta = reporting_mta
        self.interval = interval
        self.failures = 0  # errors since start, for tests and /healthz
        self.consecutive_failures = 0
        self._stop = asyncio.Event()

    async def run(self) -> None:
        while not self._stop.is_set():
            try:
                failed = await self.run_once() < 0
            except Exception:
                log.exception("spool pass failed; retrying later")
                self._count_failure()
                failed = True
            self.consecutive_failures = self.consecutive_failures + 1 if failed else 0
            wait = self.interval
            if self.consecutive_failures:
                backed_off = self.interval * 2 ** min(self.consecutive_failures, 16)
                wait = max(self.interval, min(backed_off, self.MAX_ERROR_WAIT))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), wait)

    def stop(self) -> None:
        self._stop.set()

    async def run_once(self) -> int:
        """Try every due entry once; return how many left the spool, or -1 if every attempt failed.

        One broken entry does not slow the others down; only a pass in which every attempt failed
        with an error (a full disk) makes the loop wait longer.
        """
        done, attempted, errors = 0, 0, 0
        for entry in await asyncio.to_thread(self.spool.due):
            if self._stop.is_set():
                break
            attempted += 1
            try:
                if await self._attempt(entry):
                    done += 1
            except Exception:
                log.exception("spooled copy %s: attempt failed; it stays spooled", entry.id)
                self._count_failure()
                errors += 1
        return -1 if errors and errors == attempted else done

    def _count_failure(self) -> None:
        self.failures += 1
        metrics().spool_failures.inc()

    async def _attempt(self, entry: SpoolEntry) -> bool:
        current_queue_id.set(entry.queue_id)
        data = await asyncio.to_thread(self.spool.data, entry)
        reply = await send_copy(self.next_hop, entry.mail_from, entry.recipient, data)
        if reply.accepted:
            log.info("spooled copy %s delivered: %s", entry.id, reply)
        elif reply.temporary and not self.spool.expired(entry):
            await asyncio.to_thread(self.spool.reschedule, entry, reply)
            log.info("spooled copy %s deferred again: %s", entry.id, reply)
            return False
        else:
            args = (entry.mail_from, entry.recipient, entry.queue_id, data, str(reply), self.reporting_mta)
            await bounce(self.next_hop, self.spool, *args)  # delivered or spooled before we remove
        await asyncio.to_thread(self.spool.remove, entry)
        return True
