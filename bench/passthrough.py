"""The baseline: a minimal before-queue pass-through proxy, aiosmtpd in, aiosmtplib out, nothing else.

    python bench/passthrough.py LISTEN_PORT NEXT_HOP_PORT

At the end of DATA it sends the message as received (MAIL, RCPT, DATA) to the next hop over one
connection kept for the client's session, and answers the client with the next hop's reply. No
parsing, no policy, no logging per message: what any Python proxy in this place must at least do.
It uses the same libraries and the same event loop as the relay, so the ratio between the two is
the cost of what the relay does on top.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import Any

import aiosmtplib
from aiosmtpd.smtp import SMTP, Envelope, Session


class Forwarder:
    def __init__(self, next_hop_port: int) -> None:
        self.next_hop_port = next_hop_port

    async def upstream(self, session: Session) -> aiosmtplib.SMTP:
        client: aiosmtplib.SMTP | None = getattr(session, "upstream", None)
        if client is None or not client.is_connected:
            client = aiosmtplib.SMTP(
                hostname="127.0.0.1", port=self.next_hop_port, start_tls=False, timeout=60
            )
            await client.connect()
            session.upstream = client
        return client

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        try:
            client = await self.upstream(session)
            await client.mail(envelope.mail_from or "")
            for address in envelope.rcpt_tos:
                await client.rcpt(address)
            reply = await client.data(envelope.original_content or b"")
        except aiosmtplib.SMTPResponseException as exc:
            await reset(session)
            return f"{exc.code} {exc.message}"
        except (aiosmtplib.SMTPException, OSError) as exc:
            close(session)
            return f"451 4.4.2 next hop failed: {exc}"
        return f"{reply.code} {reply.message}"


async def reset(session: Session) -> None:
    client: aiosmtplib.SMTP | None = getattr(session, "upstream", None)
    if client is not None and client.is_connected:
        try:
            await client.rset()
        except (aiosmtplib.SMTPException, OSError):
            close(session)


def close(session: Session) -> None:
    client: aiosmtplib.SMTP | None = getattr(session, "upstream", None)
    session.upstream = None
    if client is not None:
        client.close()


class ProxySMTP(SMTP):  # type: ignore[misc]
    """Close the session's next-hop connection when the client goes away."""

    def connection_lost(self, error: Exception | None) -> None:
        session = self.session
        super().connection_lost(error)
        if session is not None:
            close(session)


async def serve(port: int, next_hop_port: int) -> None:
    handler = Forwarder(next_hop_port)
    loop = asyncio.get_running_loop()
    options: dict[str, Any] = {
        "decode_data": False,
        "enable_SMTPUTF8": True,
        "data_size_limit": 64 * 1024 * 1024,
    }
    server = await loop.create_server(lambda: ProxySMTP(handler, **options), "127.0.0.1", port, backlog=512)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    await stop.wait()
    server.close()


def main() -> int:
    parser = argparse.ArgumentParser(description="minimal aiosmtpd -> aiosmtplib pass-through proxy")
    parser.add_argument("port", type=int)
    parser.add_argument("next_hop_port", type=int)
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.next_hop_port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
