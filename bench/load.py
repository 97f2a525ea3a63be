"""An asyncio SMTP load generator with smtp-source's options, plus per-message latency and a target rate.

    python bench/load.py -s SESSIONS -m MESSAGES -f FROM -t TO -F FILE [-R RATE] [--reconnect] HOST:PORT

Each of SESSIONS connections sends EHLO once, then MAIL, RCPT, DATA and the message (dot-stuffed,
CRLF) one message after another (no pipelining, as smtp-source), until MESSAGES were sent in all;
with --reconnect every message gets its own connection (QUIT and connect again). With -R the load is
paced: message i may start no earlier than i/RATE seconds after the start (open loop; a session that
falls behind sends at once). Latency is the time from writing the final "." to reading the reply.

Prints one JSON object: sent, failed, seconds, rate, latency percentiles in ms, first error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


class SmtpError(Exception):
    pass


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    sent: int = 0
    failed: int = 0
    first_error: str = ""


def wire_payload(data: bytes) -> bytes:
    """CRLF line endings, dot-stuffed, ending in CRLF, followed by the end-of-data line."""
    data = re.sub(rb"\r\n|\r|\n", b"\r\n", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    data = re.sub(rb"(?m)^\.", b"..", data)
    return data + b".\r\n"


async def read_reply(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    lines = []
    while True:
        line = await reader.readline()
        if not line:
            raise SmtpError("connection closed by server")
        lines.append(line)
        if len(line) < 4 or line[3:4] != b"-":
            break
    code = int(lines[-1][:3])
    return code, b"".join(lines)


async def command(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, line: bytes, want: int) -> None:
    writer.write(line)
    code, text = await read_reply(reader)
    if code != want:
        raise SmtpError(f"{line.split(b' ')[0].decode()} -> {text.decode(errors='replace').strip()}")


class Load:
    def __init__(self, args: argparse.Namespace, payload: bytes) -> None:
        self.args = args
        self.payload = payload
        self.host, _, port = args.target.rpartition(":")
        self.port = int(port)
        self.next_index = 0
        self.stats = Stats()
        self.start = 0.0

    def take(self) -> int | None:
        if self.next_index >= self.args.messages:
            return None
        index, self.next_index = self.next_index, self.next_index + 1
        return index

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection(self.host, self.port, limit=1 << 20)
        code, text = await read_reply(reader)
        if code != 220:
            raise SmtpError(f"greeting {text!r}")
        await command(reader, writer, b"EHLO bench.example\r\n", 250)
        return reader, writer

    async def one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        args = self.args
        await command(reader, writer, f"MAIL FROM:<{args.sender}>\r\n".encode(), 250)
        await command(reader, writer, f"RCPT TO:<{args.recipient}>\r\n".encode(), 250)
        await command(reader, writer, b"DATA\r\n", 354)
        writer.write(self.payload)
        started = time.perf_counter()
        await writer.drain()
        code, text = await read_reply(reader)
        latency = time.perf_counter() - started
        if code != 250:
            raise SmtpError(f"end of data -> {text.decode(errors='replace').strip()}")
        self.stats.latencies.append(latency)
        self.stats.sent += 1

    async def session(self) -> None:
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        try:
            while (index := self.take()) is not None:
                if self.args.rate:
                    delay = self.start + index / self.args.rate - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                try:
                    if writer is None:
                        reader, writer = await self.connect()
                    assert reader is not None
                    await self.one(reader, writer)
                except (SmtpError, OSError, ValueError) as exc:
                    self.stats.failed += 1
                    self.stats.first_error = self.stats.first_error or str(exc)
                    if writer is not None:
                        writer.close()
                    reader = writer = None
                    continue
                if self.args.reconnect:
                    await self.quit(reader, writer)
                    reader = writer = None
        finally:
            if writer is not None and reader is not None:
                await self.quit(reader, writer)

    @staticmethod
    async def quit(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(b"QUIT\r\n")
            await read_reply(reader)
        except (SmtpError, OSError):
            pass
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()

    async def run(self) -> dict[str, object]:
        self.start = time.perf_counter()
        await asyncio.gather(*(self.session() for _ in range(self.args.sessions)))
        seconds = time.perf_counter() - self.start
        return summary(self.stats, seconds)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of sorted values."""
    if not values:
        return float("nan")
    rank = max(0, min(len(values) - 1, math.ceil(q / 100 * len(values)) - 1))
    return values[rank]


def summary(stats: Stats, seconds: float) -> dict[str, object]:
    lat = sorted(x * 1000 for x in stats.latencies)
    return {
        "sent": stats.sent,
        "failed": stats.failed,
        "seconds": round(seconds, 4),
        "rate": round(stats.sent / seconds, 2) if seconds > 0 else 0.0,
        "p50_ms": round(percentile(lat, 50), 3),
        "p90_ms": round(percentile(lat, 90), 3),
        "p99_ms": round(percentile(lat, 99), 3),
        "max_ms": round(lat[-1], 3) if lat else float("nan"),
        "first_error": stats.first_error,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-s", dest="sessions", type=int, default=1, help="concurrent sessions")
    parser.add_argument("-m", dest="messages", type=int, default=1, help="messages in all")
    parser.add_argument("-f", dest="sender", default="bench@example.org", help="envelope sender")
    parser.add_argument("-t", dest="recipient", default="rcpt@example.org", help="envelope recipient")
    parser.add_argument("-F", dest="file", type=Path, required=True, help="message file (headers and body)")
    parser.add_argument(
        "-R", dest="rate", type=float, default=0.0, help="target messages/s (0: as fast as possible)"
    )
    parser.add_argument("--reconnect", action="store_true", help="a new connection for every message")
    parser.add_argument("target", help="HOST:PORT")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load = Load(args, wire_payload(args.file.read_bytes()))
    result = asyncio.run(load.run())
    print(json.dumps(result))
    return 0 if result["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
