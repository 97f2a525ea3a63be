"""A loopback SMTP sink of our own (aiosmtpd), for machines without Postfix's smtp-sink.

    python bench/sink.py PORT [--capture DIR] [--bulk]

Accepts every message with 250 and prints a running count as smtp-sink -c does ("mesg=N", one line
per message), so bench/run.py reads both the same way. With --capture every message is also written
to DIR (envelope sender and recipients as the first lines), for checking what the relay sent.
Runs in its own process so that its CPU time is not the load generator's or the relay's. With --bulk
it reads DATA as the relay does (relay_smtp.smtp.protocol), for bench/profile_stages.py.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session


class CountingSink:
    def __init__(self, capture: Path | None) -> None:
        self.count = 0
        self.capture = capture

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.count += 1
        if self.capture is not None:
            data = envelope.original_content or b""
            head = f"X-Bench-From: {envelope.mail_from}\r\nX-Bench-To: {','.join(envelope.rcpt_tos)}\r\n"
            (self.capture / f"{self.count:06d}.eml").write_bytes(head.encode() + data)
        sys.stdout.write(f"mesg={self.count}\n")
        sys.stdout.flush()
        return "250 2.0.0 Ok: queued"


async def serve(port: int, capture: Path | None, bulk: bool = False) -> None:
    handler = CountingSink(capture)
    loop = asyncio.get_running_loop()
    options: dict[str, Any] = {
        "decode_data": False,
        "enable_SMTPUTF8": True,
        "hostname": "bench-sink",
        "data_size_limit": 64 * 1024 * 1024,
    }
    protocol: Any = SMTP
    if bulk:
        from functools import partial

        from relay_smtp.smtp.protocol import BulkDataSMTP

        protocol = partial(BulkDataSMTP, line_length_limit=64 * 1024)
    server = await loop.create_server(lambda: protocol(handler, **options), "127.0.0.1", port, backlog=512)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    await stop.wait()
    server.close()


def main() -> int:
    parser = argparse.ArgumentParser(description="loopback SMTP sink that counts messages")
    parser.add_argument("port", type=int)
    parser.add_argument("--capture", type=Path)
    parser.add_argument("--bulk", action="store_true", help="read DATA as the relay does")
    args = parser.parse_args()
    if args.capture is not None:
        args.capture.mkdir(parents=True, exist_ok=True)
    asyncio.run(serve(args.port, args.capture, args.bulk))
    return 0


if __name__ == "__main__":
    sys.exit(main())
