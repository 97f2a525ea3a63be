"""Real SMTP parts for tests: a recording sink and the relay, each on a free loopback port.

Both run on their own event loop in a background thread, so tests can talk to them with the blocking
`smtplib` exactly as a mail client would.
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from aiosmtpd.smtp import SMTP, Envelope, Session

from relay_smtp.config import HostPort, MaildirUpstream, Settings, SmtpUpstream, UpstreamSettings
from relay_smtp.service import RelayService

T = TypeVar("T")


class LoopThread:
    """An asyncio loop running in a daemon thread; `run` executes a coroutine on it and waits."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        async def cancel_leftovers() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.run(cancel_leftovers())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


@dataclass
class Received:
    mail_from: str
    recipients: list[str]
    data: bytes


@dataclass
class SinkBehaviour:
    """How the sink answers: data_reply None means 250; 'hang' and 'drop' are special."""

    data_reply: str | None = None
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    data_replies_by_rcpt: dict[str, str] = field(default_factory=dict)
    hang_seconds: float = 0.0
    drop_after_data: bool = False


class SinkHandler:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.behaviour = SinkBehaviour()
        self.connections = 0

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        reply = self.behaviour.rcpt_replies.get(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 ok"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.behaviour.hang_seconds:
            await asyncio.sleep(self.behaviour.hang_seconds)
        if self.behaviour.drop_after_data:
            server.transport.close()
            return "250 never sent"
        if self.behaviour.data_reply is not None:
            return self.behaviour.data_reply
        for rcpt in envelope.rcpt_tos:
            if rcpt in self.behaviour.data_replies_by_rcpt:
                return self.behaviour.data_replies_by_rcpt[rcpt]
        content = envelope.original_content
        assert isinstance(content, bytes)
        self.received.append(Received(envelope.mail_from or "", list(envelope.rcpt_tos), content))
        return "250 2.0.0 sink accepted"


class LongLineSMTP(SMTP):
    """Like Postfix, the sink takes lines longer than RFC 5321's 1000 octets."""

    line_length_limit = 65_536


class Sink:
    """An aiosmtpd server that records what it receives and can be told to misbehave."""

    def __init__(self, loop_thread: LoopThread) -> None:
        self._lt = loop_thread
        self.handler = SinkHandler()
        self._server: asyncio.Server | None = None
        self._protocols: list[SMTP] = []
        self.port = 0

    def drop_connections(self) -> None:
        """Close every open connection, as a next hop does when idle connections time out."""

        async def drop() -> None:
            for protocol in self._protocols:
                if protocol.transport is not None:
                    protocol.transport.close()
            await asyncio.sleep(0.05)

        self._lt.run(drop())

    def start(self) -> Sink:
        async def start() -> asyncio.Server:
            def factory() -> SMTP:
                self.handler.connections += 1
                protocol = LongLineSMTP(self.handler, decode_data=False, enable_SMTPUTF8=True)
                self._protocols.append(protocol)
                return protocol

            return await asyncio.get_running_loop().create_server(factory, "127.0.0.1", 0)

        self._server = self._lt.run(start())
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    @property
    def behaviour(self) -> SinkBehaviour:
        return self.handler.behaviour

    def stop(self) -> None:
        server = self._server
        if server is None:
            return

        async def stop() -> None:
            server.close()
            for protocol in self._protocols:
                if protocol.transport is not None:
                    protocol.transport.close()
            await asyncio.sleep(0.05)

        self._lt.run(stop())
        self._server = None


class Relay:
    """The relay service, started on a free loopback port."""

    def __init__(self, loop_thread: LoopThread, settings: Settings) -> None:
        self._lt = loop_thread
        self.settings = settings
        self.service: RelayService | None = None
        self.port = 0
        self.web_port = 0

    def start(self, host: str = "127.0.0.1") -> Relay:
        async def start() -> RelayService:
            service = RelayService(self.settings)
            await service.start(host=host, port=0, web_port=0)
            return service

        self.service = self._lt.run(start())
        self.port = self.service.smtp_address[1]
        assert self.service.web is not None
        self.web_port = self.service.web.address[1]
        return self

    def stop(self) -> None:
        if self.service is not None:
            self._lt.run(self.service.stop())
            self.service = None


def settings_for_sink(
    port: int, *, timeout: float = 5.0, spool: Path | None = None, **smtp_changes: Any
) -> Settings:
    base = Settings()
    upstream = UpstreamSettings(
        target=SmtpUpstream("127.0.0.1", port, tls="none"), timeout=timeout, helo_name="relay.test"
    )
    smtp = replace(base.smtp, listen=HostPort("127.0.0.1", 0), drain_timeout=5.0, **smtp_changes)
    state = spool.parent if spool else Path(tempfile.mkdtemp(prefix="relay-state-"))
    spool_settings = replace(base.spool, directory=spool or state / "spool")
    return replace(base, smtp=smtp, upstream=upstream, spool=spool_settings, **private_web_and_store(state))


def private_web_and_store(directory: Path) -> dict[str, Any]:
    """The web side on a free port and the store in `directory`, so tests never share either."""
    base = Settings()
    return {
        "web": replace(base.web, listen=HostPort("127.0.0.1", 0)),
        "store": replace(base.store, url=f"sqlite:///{directory / 'relay-smtp.db'}"),
    }


def settings_for_maildir(path: Path) -> Settings:
    base = Settings()
    spool = replace(base.spool, directory=path.parent / "spool")
    return replace(
        base,
        upstream=UpstreamSettings(target=MaildirUpstream(path)),
        spool=spool,
        **private_web_and_store(path.parent),
    )
