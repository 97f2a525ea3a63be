"""Reading DATA in bulk instead of line by line, with the same end-of-data and smuggling rules.

Why this module exists: aiosmtpd reads a message one line at a time (one ``readuntil`` and a few list
operations per line: about 1.7 ms for a 20 KB message, the largest single cost of the SMTP side in
``bench/``). :class:`BulkDataSMTP` replaces only its DATA command; everything else is aiosmtpd's.

The rules it keeps (RFC 5321 section 4.1.1.4, and the SMTP smuggling lessons of 2023):

* the data ends only at CRLF "." CRLF. A bare LF or bare CR around a dot ("\\n.\\n", "\\r.\\r",
  "\\n.\\r\\n") is message content, never an end, so a second message cannot be hidden in the first;
* whatever the client sends after the end of data (pipelined commands) stays unread for the command
  loop;
* a line that starts with "." loses that dot (transparency, section 4.5.2); line breaks are not
  touched here (``server.normalise_line_endings`` makes bare CR and LF into CRLF later);
* over ``data_size_limit`` octets: 552 after the whole message was read; a line longer than the line
  limit: 500. When a message breaks both limits, 552 is the answer.

With a byte budget (``budget.py``), the octets kept so far are charged before they are kept: when the
worker's budget has no room, the session stops reading (the stream reader pauses the socket past
twice its limit, so the client's data waits in the kernel) until it has, or until the session's
timeout, which then ends the session with 421 rather than in silence. The charge goes with the message
to the handler (``data_charge``) and is given back when the handler has answered, or at once when the
message is refused (552, 500) or the client goes away.

How: ``readuntil(".\\r\\n")`` finds every candidate end in C; a candidate is the end only when the two
octets before its dot are CRLF (counting the CRLF of the DATA command itself, so that an empty
message ends at once). A stretch longer than the stream reader's limit with no candidate is taken in
limit-sized pieces, which keeps the reader's flow control (it pauses reading past twice its limit).
That limit is :data:`READ_CHUNK`, not the line limit (which may be as large as a message): a piece is
then never more than a few hundred kilobytes, each piece is unstuffed as it comes, and the end of DATA
makes one copy of the message (the join), not several.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from aiosmtpd.smtp import MISSING, SMTP

from relay_smtp.budget import ByteBudget, Charge

log = logging.getLogger(__name__)

_CANDIDATE = b".\r\n"
_END = b"\r\n.\r\n"
# The stream reader's limit in bulk DATA: pieces of at most about twice this (plus one socket read of
# 256 KiB) are read before they are charged. Commands are far shorter (aiosmtpd: 512 octets and more
# for extensions), so they are read as before.
READ_CHUNK = 64 * 1024
# aiosmtpd's own wording for these two, so that its replies and ours read (and map) the same.
TOO_MUCH_DATA = "552 Error: Too much mail data"
LINE_TOO_LONG = "500 Line too long (see RFC5321 4.5.3.1.6)"
# RFC 5321 section 3.8: a server that must end a session mid-transaction says 421 and closes; the
# client keeps the message and tries again later.
NO_ROOM = "421 4.3.1 too much mail in progress, try again later"


@dataclass(frozen=True)
class DataRead:
    """The message as received (dots unstuffed), or the error reply to give after reading it all."""

    content: bytes
    error: str | None = None


class Room(Protocol):
    """Where the octets kept so far are charged (a :class:`~relay_smtp.budget.Charge`, or one that
    also keeps the session's timeout)."""

    async def grow(self, size: int) -> None: ...

    def release(self) -> None: ...


class NoRoom(Exception):
    """The budget had no room for the message before the session's timeout."""


async def read_data(
    reader: asyncio.StreamReader, size_limit: int | None, line_limit: int, room: Room | None = None
) -> DataRead:
    """Read one message body up to and including the end-of-data line; see the module docstring.

    Raises ``asyncio.IncompleteReadError`` when the client goes away before the end, and whatever
    ``room.grow`` raises.
    """
    chunks: list[bytes] = []
    size = 0  # octets as sent (dot-stuffed), for the size limit
    kept = 0  # octets kept (unstuffed), charged to ``room``
    too_much = False
    tail = b"\r\n"  # the last two octets read so far: the DATA command ended with CRLF
    # A line can only be too long in a message that is not too big.
    lines = None if size_limit and line_limit - 2 >= size_limit else _LineMeter()
    while True:
        try:
            piece = await reader.readuntil(_CANDIDATE)
        except asyncio.LimitOverrunError as overrun:
            # No candidate end within the reader's limit: what is buffered up to ``consumed`` holds
            # no complete candidate, so it is plain content.
            piece = await reader.read(overrun.consumed)
            ended = False
        else:
            ended = (piece[-5:] if len(piece) >= 5 else tail + piece).endswith(_END)
        content = piece[: -len(_CANDIDATE)] if ended else piece
        size += len(content)
        if size_limit and size > size_limit:
            if not too_much and room is not None:
                room.release()  # keep reading to the end, but not the data
            too_much = True
            chunks.clear()
        elif not too_much:
            if lines is not None:
                lines.feed(content)
            content = _unstuff(content, tail)
            kept += len(content)
            if room is not None:
                await room.grow(kept)
            chunks.append(content)
        tail = (tail + piece[-2:])[-2:]
        if ended:
            break
    if too_much:
        return DataRead(b"", TOO_MUCH_DATA)
    if lines is not None and lines.longest() + 2 > line_limit:
        return DataRead(b"", LINE_TOO_LONG)
    data = b"".join(chunks)
    chunks.clear()
    return DataRead(data)


class _LineMeter:
    """The longest line (CRLF not counted) of data fed in pieces, which may split a CRLF."""

    def __init__(self) -> None:
        self._longest = 0  # of the lines ended so far
        self._current = 0  # the unfinished last line so far
        self._cr = False  # the last octet fed was CR

    def feed(self, piece: bytes) -> None:
        if self._cr and piece.startswith(b"\n"):  # the previous piece's CR ended its line
            self._longest = max(self._longest, self._current - 1)
            self._current = 0
            piece = piece[1:]
        if not piece:
            self._cr = False
            return
        lines = piece.split(b"\r\n")
        if len(lines) == 1:
            self._current += len(piece)
        else:
            self._longest = max(self._longest, self._current + len(lines[0]), *map(len, lines[1:-1]))
            self._current = len(lines[-1])
        self._cr = piece.endswith(b"\r")

    def longest(self) -> int:
        return max(self._longest, self._current)


def _unstuff(piece: bytes, before: bytes) -> bytes:
    """Remove the transparency dot at the start of every line (lines end with CRLF only) of a piece
    that follows the two octets ``before`` (a line may start, or its CRLF end, across the seam)."""
    if before == b"\r\n" and piece.startswith(b"."):
        piece = piece[1:]
    elif before.endswith(b"\r") and piece.startswith(b"\n."):
        piece = b"\n" + piece[2:]
    # "\r\n." cannot overlap itself, so replacing in each piece is replacing in the whole.
    return piece.replace(b"\r\n.", b"\r\n") if b"\r\n." in piece else piece


class _SessionRoom:
    """A session's charge, waiting for room no longer than the session's own timeout."""

    def __init__(self, protocol: BulkDataSMTP, charge: Charge) -> None:
        self._protocol = protocol
        self._charge = charge

    async def grow(self, size: int) -> None:
        if self._charge.try_grow(size):
            return
        # aiosmtpd's timer would close the session in silence when it runs out: while the session
        # waits here, the same deadline ends the wait, and the client hears why.
        protocol, loop = self._protocol, asyncio.get_running_loop()
        timer = protocol._timeout_handle
        deadline = timer.when() if timer is not None else loop.time() + protocol._timeout_duration
        if timer is not None:
            timer.cancel()
        try:
            async with asyncio.timeout_at(deadline):
                await self._charge.grow(size)
        except TimeoutError:
            raise NoRoom from None
        protocol._reset_timeout(max(deadline - loop.time(), 0.001))  # the rest of the same time

    def release(self) -> None:
        self._charge.release()


class BulkDataSMTP(SMTP):
    """aiosmtpd's SMTP protocol with DATA read by :func:`read_data`.

    ``line_length_limit`` is the longest line (CRLF included) a message may have. ``budget``: the
    worker's byte budget, charged while DATA is read; the handler finds the message's charge in
    ``data_charge`` while its DATA hook runs (and may release it earlier itself).
    """

    def __init__(
        self, handler: Any, *, line_length_limit: int, budget: ByteBudget | None = None, **kwargs: Any
    ) -> None:
        # Text mode and the old handler API keep aiosmtpd's own DATA, whose line limit is the stream
        # reader's; aiosmtpd sizes the reader from this attribute in __init__.
        self._bulk = not kwargs.get("decode_data", False) and hasattr(handler, "handle_DATA")
        self.line_length_limit = min(line_length_limit, READ_CHUNK) if self._bulk else line_length_limit
        super().__init__(handler, **kwargs)
        self.line_length_limit = line_length_limit
        self.budget = budget
        self.data_charge: Charge | None = None

    async def smtp_DATA(self, arg: str) -> None:
        if not self._bulk:
            await super().smtp_DATA(arg)
            return
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        charge = self.budget.charge() if self.budget is not None else None
        try:
            status = await self._receive(charge)
        finally:
            self.data_charge = None
            if charge is not None:
                charge.release()  # the message is done (or gone) before the client hears so
        if status is not None:
            await self.push(status)
        if status == NO_ROOM:
            self._writer.close()

    async def _receive(self, charge: Charge | None) -> str | None:
        """Read the message and hand it to the DATA hook; the reply to give, None for none."""
        assert self.envelope is not None
        room = _SessionRoom(self, charge) if charge is not None else None
        try:
            received = await read_data(self._reader, self.data_size_limit, self.line_length_limit, room)
        except asyncio.CancelledError:
            log.info("connection lost during DATA")
            self._writer.close()
            raise
        except asyncio.IncompleteReadError:
            log.info("connection closed during DATA")
            self._writer.close()
            return None
        except NoRoom:
            log.warning("no room in the byte budget before the session timeout; closing")
            return NO_ROOM
        if received.error is not None:
            self._set_post_data_state()  # type: ignore[no-untyped-call]
            return received.error
        self.envelope.content = received.content
        self.envelope.original_content = received.content
        self.data_charge = charge
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()  # type: ignore[no-untyped-call]
        return "250 OK" if status is MISSING else str(status)
