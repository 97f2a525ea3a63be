"""The SMTP side clients talk to: who may send, how big, and a truthful answer after the next hop's.

This is an aiosmtpd handler plus a thin subclass of aiosmtpd's protocol. The handler decides policy
(allowed networks or SMTP AUTH, else `554 5.7.1` at RCPT: never an open relay) and keeps the SMTP
session's state; what happens at the next hop belongs to the `ClientTransaction` it opens at the first
recipient (``relay.py``): each recipient is offered there while the client is still at RCPT (so a
recipient the next hop refuses is refused to the client, which then retries or bounces that one
recipient itself), and at the end of DATA the message is delivered through it, and the client gets
what the next hop answered.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, AnyStr, Protocol

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from relay_smtp.budget import Charge
from relay_smtp.config import IPNetwork, SmtpSettings
from relay_smtp.logs import current_queue_id
from relay_smtp.smtp.protocol import LINE_TOO_LONG, TOO_MUCH_DATA, BulkDataSMTP
from relay_smtp.smtp.upstream import Reply
from relay_smtp.web.ratelimit import RateLimiter

log = logging.getLogger("relay_smtp.transaction")

RELAY_DENIED = Reply(554, "5.7.1 relaying denied: client not in allowed networks and not authenticated")
TOO_MANY_RECIPIENTS = Reply(452, "4.5.3 too many recipients")
SHUTTING_DOWN = Reply(421, "4.3.2 service shutting down, try again later")
BAD_SENDER = Reply(553, "5.1.7 sender address or MAIL parameter holds a control character")
BAD_RECIPIENT = Reply(553, "5.1.3 recipient address or RCPT parameter holds a control character")

# C0 and C1 controls and DEL: no mailbox (RFC 5321, RFC 6531) holds one, and a NUL or CR/LF passed
# on would be a smuggling or log-forging vector; refuse before any next-hop work.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def has_control_character(address: str, options: list[str]) -> bool:
    return _CONTROL.search(address) is not None or any(_CONTROL.search(o) for o in options)


# aiosmtpd's own replies carry no enhanced status code (RFC 3463); mail admins grep for them.
_ENHANCED = {
    TOO_MUCH_DATA: "552 5.3.4 message too big",
    "552 Error: message size exceeds fixed maximum message size": "552 5.3.4 message too big",
    LINE_TOO_LONG: "500 5.5.2 line too long",
}


@dataclass(frozen=True)
class Delivery:
    """What the relay did with one message, for the transaction log line."""

    reply: Reply
    action: str


@dataclass
class Message:
    """One received message and its envelope."""

    queue_id: str
    mail_from: str
    mail_options: list[str]
    recipients: list[str]
    data: bytes
    peer: str
    # Its octets in the worker's byte budget since DATA began; whoever finishes with it releases it.
    charge: Charge | None = None


class ClientTransaction(Protocol):
    """One client transaction from its first recipient to the answer after DATA, or an abort."""

    async def add_recipient(self, address: str, options: list[str]) -> Reply: ...

    async def deliver(self, message: Message) -> Delivery: ...

    async def abort(self) -> None: ...


#: Opens the transaction for a reverse path and its MAIL parameters (``relay.Relay.begin``).
Begin = Callable[[str, list[str]], ClientTransaction]


_BARE_CR_OR_LF = re.compile(rb"\r(?!\n)|(?<!\r)\n")


def normalise_line_endings(data: bytes) -> bytes:
    """Bare LF (and bare CR) become CRLF, SMTP's only line ending (RFC 5321 section 2.3.8).

    aiosmtplib does the same on the way out; doing it here too means a Maildir next hop and an SMTP
    next hop receive the same bytes.
    """
    crlf = data.count(b"\r\n")
    if data.count(b"\n") == crlf and data.count(b"\r") == crlf:  # three C scans beat a lookbehind regex
        return data
    return _BARE_CR_OR_LF.sub(b"\r\n", data)


def reverse_path(envelope: Envelope) -> str:
    """The sender address, "" for the null sender (aiosmtpd keeps it as "<>")."""
    address = envelope.mail_from or ""
    return "" if address == "<>" else address


def new_queue_id() -> str:
    return secrets.token_hex(5).upper()


def _peer_address(peer: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(peer[0] if isinstance(peer, tuple) else peer)
    except (ValueError, TypeError, IndexError):
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def peer_allowed(peer: Any, networks: tuple[IPNetwork, ...]) -> bool:
    address = _peer_address(peer)
    return address is not None and any(address in network for network in networks)


@dataclass
class _SessionState:
    transaction: ClientTransaction | None = None
    started: float = field(default_factory=time.monotonic)
    queue_id: str = "-"


class RelayHandler:
    """aiosmtpd handler hooks: MAIL opens nothing, the first RCPT opens the transaction, each RCPT is
    offered to it, DATA delivers through it."""

    def __init__(self, settings: SmtpSettings, begin: Begin) -> None:
        self.settings = settings
        self.begin = begin
        self._sessions: dict[int, _SessionState] = {}
        self.in_flight = 0
        # Set when the service drains (SIGTERM): new transactions get 421 and their session closes,
        # so the count of open transactions reaches zero and clients go to another relay.
        self.draining = False

    @property
    def open_transactions(self) -> int:
        """Transactions a drain waits for: data being processed, or recipients already offered."""
        opened = sum(1 for state in self._sessions.values() if state.transaction is not None)
        return self.in_flight + opened

    def _state(self, session: Session) -> _SessionState:
        return self._sessions.setdefault(id(session), _SessionState())

    async def _abort(self, session: Session) -> None:
        state = self._sessions.get(id(session))
        if state is not None and state.transaction is not None:
            transaction, state.transaction = state.transaction, None
            await transaction.abort()

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        await self._abort(session)
        if self.draining:
            return str(SHUTTING_DOWN)
        if has_control_character(address, options):
            return str(BAD_SENDER)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        state = self._state(session)
        state.started = time.monotonic()
        state.queue_id = new_queue_id()
        current_queue_id.set(state.queue_id)  # every later line of this session's task carries it
        return "250 2.1.0 ok"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if not (session.authenticated or peer_allowed(session.peer, self.settings.allowed_networks)):
            log.warning("refused relaying for %s from %s", address, session.peer)
            return str(RELAY_DENIED)
        if has_control_character(address, options):
            return str(BAD_RECIPIENT)
        if len(envelope.rcpt_tos) >= self.settings.max_recipients:
            return str(TOO_MANY_RECIPIENTS)
        state = self._state(session)
        if state.transaction is None:
            state.transaction = self.begin(reverse_path(envelope), envelope.mail_options)
        reply = await state.transaction.add_recipient(address, options)
        if reply.accepted:
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(options)
            return "250 2.1.5 ok"
        return str(reply)

    async def handle_RSET(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        await self._abort(session)
        return "250 2.0.0 ok"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        state = self._state(session)
        transaction, state.transaction = state.transaction, None
        assert transaction is not None  # aiosmtpd refuses DATA without an accepted RCPT
        raw = envelope.original_content
        assert isinstance(raw, bytes)
        message = Message(
            queue_id=state.queue_id,
            mail_from=reverse_path(envelope),
            mail_options=list(envelope.mail_options),
            recipients=list(envelope.rcpt_tos),
            data=normalise_line_endings(raw),
            peer=str(session.peer[0]) if isinstance(session.peer, tuple) else str(session.peer),
            charge=server.data_charge if isinstance(server, BulkDataSMTP) else None,
        )
        self.in_flight += 1
        started = time.monotonic()
        try:
            delivery = await transaction.deliver(message)
        finally:
            self.in_flight -= 1
        self._log(message, delivery, time.monotonic() - started)
        reply = delivery.reply
        if reply.accepted:
            return f"250 2.0.0 {message.queue_id} {reply}"
        return f"{reply.code} {reply.text} [{message.queue_id}]"

    def _log(self, message: Message, delivery: Delivery, seconds: float) -> None:
        if not log.isEnabledFor(logging.INFO):
            return  # the line's fields are made only for a line that is written
        log.info(
            "from=<%s> rcpts=%d size=%d action=%s reply=%r ms=%.1f",
            message.mail_from,
            len(message.recipients),
            len(message.data),
            delivery.action,
            str(delivery.reply),
            seconds * 1000,
            extra={
                "queue_id": message.queue_id,
                "mail_from": message.mail_from,
                "rcpts": len(message.recipients),
                "size": len(message.data),
                "action": delivery.action,
                "reply": str(delivery.reply),
                "ms": round(seconds * 1000, 1),
            },
        )

    async def session_closed(self, session: Session) -> None:
        await self._abort(session)
        self._sessions.pop(id(session), None)


# aiosmtpd takes every MAIL and RCPT address apart with the email package's header parser (about
# 45 us a call, defining a class each time). The plain form every MTA sends, <dot-atom@domain>
# followed by nothing or by one space and a parameter, is read with one expression to the same
# result; everything else (comments, quoted local parts, address literals, odd spacing) goes to
# aiosmtpd's parser as before.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_ADDRESS = re.compile(
    rf"<({_ATEXT}(?:\.{_ATEXT})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>(?:\Z| (?=[!-'*-~]))"
)


class RelaySMTP(BulkDataSMTP):
    """aiosmtpd's protocol (DATA read in bulk) with enhanced status codes and a hook when the
    client goes away."""

    def __init__(self, handler: RelayHandler, *, line_length_limit: int | None, **kwargs: Any) -> None:
        # Real mail has lines longer than RFC 5321's 1000 octets; like Postfix, the relay passes
        # them on rather than refuse them. None: a line may be as long as the whole message may
        # be; a longer one is a message too big (552), not a line too long.
        self._lines_up_to_size = line_length_limit is None
        size = kwargs.get("data_size_limit") or 0
        limit = line_length_limit or (size + 2 if size else 2**31)  # + CRLF
        super().__init__(handler, line_length_limit=limit, **kwargs)
        self._relay_handler = handler

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        plain = _PLAIN_ADDRESS.match(arg)
        if plain is None or (self.local_part_limit and plain.group(1).index("@") > self.local_part_limit):
            return super()._getaddr(arg)
        return plain.group(1), arg[plain.end() :]

    async def push(self, status: AnyStr) -> None:
        if isinstance(status, str):
            if status == LINE_TOO_LONG and self._lines_up_to_size:
                status = TOO_MUCH_DATA
            await super().push(_ENHANCED.get(status, status))
            if status.startswith("421") and self.transport is not None:
                self.transport.close()  # RFC 5321 section 3.8: 421 closes the channel
        else:
            await super().push(status)

    async def smtp_DATA(self, arg: str) -> None:
        await super().smtp_DATA(arg)
        if self._relay_handler.draining and self.transport is not None:
            self.transport.close()  # the transaction is answered (close flushes it); no new one here

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if self._relay_handler.draining:  # accepted just before the listener closed
            assert isinstance(transport, asyncio.WriteTransport)
            transport.write(f"{SHUTTING_DOWN}\r\n".encode())
            transport.close()

    def connection_lost(self, error: Exception | None) -> None:
        session = self.session
        super().connection_lost(error)
        if session is not None:
            asyncio.get_running_loop().create_task(self._relay_handler.session_closed(session))


# SMTP AUTH failures a client address may have in a minute before AUTH answers 454 for a while.
AUTH_FAILURES_PER_MINUTE = 5
AUTH_THROTTLED = "454 4.7.0 too many failed authentications, try again later"


def make_authenticator(
    users: Mapping[str, str], *, failures_per_minute: int = AUTH_FAILURES_PER_MINUTE
) -> Callable[..., AuthResult]:
    """Check PLAIN/LOGIN credentials against the configured users in constant time.

    Failures are counted per client address; past the limit every AUTH from that address gets 454,
    the right password included (else the throttle would still answer a guesser "yes" at once).
    """
    import hmac

    failures = RateLimiter(failures_per_minute, 60.0, time.monotonic)

    def authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        client = str(_peer_address(session.peer) or session.peer)
        user = auth_data.login.decode("utf-8", "replace")
        if failures.blocked(client) > 0:
            log.warning("AUTH %s throttled for user %r from %s", mechanism, user, client)
            return AuthResult(success=False, handled=False, message=AUTH_THROTTLED)
        expected = users.get(user)
        given = auth_data.password
        ok = expected is not None and hmac.compare_digest(given, expected.encode("utf-8"))
        if not ok:
            failures.acquire(client)
            log.warning("AUTH %s failed for user %r from %s", mechanism, user, client)
        return AuthResult(success=ok, handled=False, auth_data=user if ok else None)

    return authenticate
