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
import ssl
import time
import weakref
from typing import Any

from relay_smtp.config import Settings
from relay_smtp.smtp.server import Delivery, Message, RelayHandler, RelaySMTP, make_authenticator
from relay_smtp.smtp.upstream import NextHop, open_next_hop

log = logging.getLogger(__name__)


async def forward_unchanged(message: Message) -> Delivery:
    """Send the message as received, to the recipients the next hop already accepted."""
    reply = await message.transaction.send(message.data)
    return Delivery(reply, _action(reply.code))


def _action(code: int) -> str:
    if code < 300:
        return "forwarded"
    return "deferred" if code < 500 else "refused"


class RelayService:
    def __init__(self, settings: Settings, next_hop: NextHop | None = None) -> None:
        self.settings = settings
        self.next_hop = next_hop or open_next_hop(settings.upstream)
        self.handler = RelayHandler(settings.smtp, self.next_hop, forward_unchanged)
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

    async def start(self, *, host: str | None = None, port: int | None = None) -> None:
        listen = self.settings.smtp.listen
        options = self._protocol_options()
        self._server = await asyncio.get_running_loop().create_server(
            lambda: self._make_protocol(options),
            host if host is not None else listen.host,
            port if port is not None else listen.port,
            reuse_address=True,
        )
        host_, port_ = self.smtp_address
        log.info("relay-smtp listening on %s:%d, next hop %s", host_, port_, self.next_hop.describe())

    async def stop(self) -> None:
        """Stop accepting, let transactions in flight finish (bounded), close the rest."""
        if self._server is None:
            return
        self._server.close()
        deadline = time.monotonic() + self.settings.smtp.drain_timeout
        while self.handler.in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self.handler.in_flight:
            log.warning("drain timed out with %d transactions in flight", self.handler.in_flight)
        for protocol in list(self._protocols):
            if protocol.transport is not None:
                protocol.transport.close()
        await asyncio.sleep(0)  # let connection_lost callbacks abort next-hop transactions
        await self.next_hop.close()
        self._server = None
        log.info("relay-smtp stopped")

    def request_stop(self) -> None:
        self._stopping.set()

    async def run_until_signalled(self) -> None:
        """`relay-smtp serve`: run until SIGTERM or SIGINT, then drain and return."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        await self.start()
        await self._stopping.wait()
        log.info("stopping: draining transactions in flight")
        await self.stop()
