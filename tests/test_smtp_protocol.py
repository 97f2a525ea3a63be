"""The fast SMTP edges over real loopback sockets: the bulk DATA reader (smtp/protocol.py) against
stock aiosmtpd, and the one-pass DATA payload (smtp/wire.py) against aiosmtplib's.

Every test sends the same raw bytes to a server with aiosmtpd's own line-by-line DATA and to one with
the bulk reader, and checks both got the same message and gave the same replies: the end-of-data
rule (CRLF "." CRLF only, so bare CR/LF dots smuggle nothing), dot transparency, pipelined commands
after the end, the size and line limits, and data split across TCP segments at every point.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import aiosmtplib
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from smtp_fixtures import LoopThread

from relay_smtp.smtp.protocol import LINE_TOO_LONG, BulkDataSMTP, DataRead, read_data
from relay_smtp.smtp.wire import send_data, wire_form

LINE_LIMIT = 200
SIZE_LIMIT = 5000


@dataclass
class Recorder:
    messages: list[bytes] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.original_content, bytes)
        self.messages.append(envelope.original_content)
        return "250 2.0.0 got it"


class StockSMTP(SMTP):
    line_length_limit = LINE_LIMIT


@dataclass
class Server:
    recorder: Recorder
    port: int
    server: asyncio.Server


@pytest.fixture(scope="module")
def loop_thread() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.close()


def _start(loop_thread: LoopThread, bulk: bool) -> Server:
    recorder = Recorder()

    async def start() -> asyncio.Server:
        def factory() -> SMTP:
            options: dict[str, Any] = {
                "data_size_limit": SIZE_LIMIT,
                "enable_SMTPUTF8": True,
                "decode_data": False,
            }
            if bulk:
                return BulkDataSMTP(recorder, line_length_limit=LINE_LIMIT, **options)
            return StockSMTP(recorder, **options)

        return await asyncio.get_running_loop().create_server(factory, "127.0.0.1", 0)

    server = loop_thread.run(start())
    return Server(recorder, server.sockets[0].getsockname()[1], server)


@pytest.fixture(scope="module")
def servers(loop_thread: LoopThread) -> Iterator[tuple[Server, Server]]:
    pair = (_start(loop_thread, bulk=False), _start(loop_thread, bulk=True))
    yield pair

    async def stop() -> None:  # on the loop's thread: asyncio.Server is not thread-safe
        for server in pair:
            server.server.close()

    loop_thread.run(stop())


def _talk(port: int, payload: bytes, pieces: int = 1) -> bytes:
    """Send EHLO/MAIL/RCPT/DATA, then ``payload`` (in ``pieces`` segments), then QUIT; all replies."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        reader = sock.makefile("rb")
        replies = [reader.readline()]
        for command in (b"EHLO t", b"MAIL FROM:<a@example.org>", b"RCPT TO:<b@example.org>", b"DATA"):
            sock.sendall(command + b"\r\n")
            while True:
                line = reader.readline()
                replies.append(line)
                if line[3:4] != b"-":
                    break
        step = max(1, len(payload) // pieces)
        for start in range(0, len(payload), step):
            sock.sendall(payload[start : start + step])
        sock.sendall(b"QUIT\r\n")
        replies.extend(reader.readlines())
    return b"".join(replies)


def _both(servers: tuple[Server, Server], payload: bytes, pieces: int = 1) -> tuple[bytes, bytes | None]:
    stock, bulk = servers
    results = []
    for server in (stock, bulk):
        before = len(server.recorder.messages)
        replies = _talk(server.port, payload, pieces)
        got = server.recorder.messages[before] if len(server.recorder.messages) > before else None
        results.append((replies.replace(str(server.port).encode(), b"PORT"), got))
    assert results[0] == results[1]
    return results[1][0], results[1][1]


def test_a_plain_message(servers: tuple[Server, Server]) -> None:
    replies, got = _both(servers, b"Subject: x\r\n\r\nhello\r\n.\r\n")
    assert got == b"Subject: x\r\n\r\nhello\r\n"
    assert b"250 2.0.0 got it" in replies and b"221" in replies


def test_an_empty_message_ends_at_once(servers: tuple[Server, Server]) -> None:
    _, got = _both(servers, b".\r\n")
    assert got == b""


@pytest.mark.parametrize("fake_end", [b"\n.\n", b"\r.\r", b"\n.\r\n", b"\r\n.\n", b"\r.\r\n", b"\r\n.\r"])
def test_bare_cr_or_lf_around_a_dot_is_content_not_the_end(
    servers: tuple[Server, Server], fake_end: bytes
) -> None:
    """SMTP smuggling: a second message hidden behind a non-standard end must stay content."""
    smuggled = b"MAIL FROM:<evil@example.org>\r\nRCPT TO:<victim@example.org>\r\nDATA\r\nSubject: fake\r\n"
    payload = b"Subject: real\r\n\r\nbody" + fake_end + smuggled + b"\r\n.\r\n"
    _, got = _both(servers, payload)
    # Content, with the usual transparency: a dot that starts a CRLF line loses itself.
    expected = b"Subject: real\r\n\r\nbody" + fake_end.replace(b"\r\n.", b"\r\n") + smuggled + b"\r\n"
    assert got == expected


def test_leading_dots_are_unstuffed(servers: tuple[Server, Server]) -> None:
    _, got = _both(servers, b".first\r\n..second\r\n...\r\nx.\r\n\r\n..\r\n.\r\n")
    assert got == b"first\r\n.second\r\n..\r\nx.\r\n\r\n.\r\n"


def test_pipelined_commands_after_the_end_are_read_as_commands(servers: tuple[Server, Server]) -> None:
    payload = b"Subject: one\r\n\r\nbody\r\n.\r\nRSET\r\nNOOP\r\n"
    replies, got = _both(servers, payload)
    assert got == b"Subject: one\r\n\r\nbody\r\n"
    assert replies.count(b"250 OK") >= 2  # RSET and NOOP answered


def test_data_split_across_segments_at_every_point(servers: tuple[Server, Server]) -> None:
    payload = b"a.\r\n.b\r\n\r\n.\r\n"
    for pieces in range(1, len(payload) + 1):
        _, got = _both(servers, payload, pieces)
        assert got == b"a.\r\nb\r\n\r\n"


def test_over_the_size_limit_is_552_after_the_whole_message(servers: tuple[Server, Server]) -> None:
    body = b"".join(b"%05d %s\r\n" % (i, b"x" * 60) for i in range(200))  # ~13 KB, short lines
    replies, got = _both(servers, body + b".\r\n")
    assert got is None
    assert b"552" in replies and b"221" in replies


def test_a_line_over_the_limit_is_500(servers: tuple[Server, Server]) -> None:
    replies, got = _both(servers, b"Subject: x\r\n\r\n" + b"y" * (LINE_LIMIT + 10) + b"\r\n.\r\n")
    assert got is None
    assert b"500" in replies and b"221" in replies


def test_a_line_at_the_limit_passes(servers: tuple[Server, Server]) -> None:
    line = b"z" * (LINE_LIMIT - 2) + b"\r\n"
    _, got = _both(servers, b"Subject: x\r\n\r\n" + line + b".\r\n")
    assert got == b"Subject: x\r\n\r\n" + line


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(st.sampled_from([b".", b"\r", b"\n", b"\r\n", b"a", b"..", b"\r\n.", b".\r\n"]), max_size=40),
    st.integers(min_value=1, max_value=7),
)
def test_any_mix_of_dots_and_line_breaks_reads_as_aiosmtpd_reads_it(
    servers: tuple[Server, Server], tokens: list[bytes], pieces: int
) -> None:
    body = b"".join(tokens)
    # End it the only way DATA ends (a client would have dot-stuffed a terminator inside it first).
    # Repeated: one pass leaves overlapping ones ("\r\n.\r\n.\r\n"), and an early end makes the
    # rest of the body commands, where the server may close before the client's QUIT (a race).
    while b"\r\n.\r\n" in body:
        body = body.replace(b"\r\n.\r\n", b"\r\n..\r\n")
    if body.startswith(b".\r\n"):
        body = b"." + body
    _both(servers, body + (b"" if body.endswith(b"\r\n") or not body else b"\r\n") + b".\r\n", pieces)


def test_a_message_many_times_the_reader_limit_without_a_candidate_end(
    servers: tuple[Server, Server],
) -> None:
    body = b"".join(b"%03d %s\r\n" % (i, b"q" * 90) for i in range(45))  # ~4.3 KB, no line ends in "."
    _, got = _both(servers, body + b".\r\n", pieces=3)
    assert got == body


@given(
    st.lists(
        st.sampled_from([b".", b"\r", b"\n", b"\r\n", b"a", b"..", b"\r\n.", b".\r\n", b"\xff"]), max_size=40
    )
)
def test_wire_form_is_what_aiosmtplib_would_send(tokens: list[bytes]) -> None:
    """The one-pass payload equals aiosmtplib's two regex passes plus the end line, for any input."""
    data = b"".join(tokens)
    expected = PERIOD_REGEX.sub(b"..", normalize_message_line_endings(data)) + b".\r\n"
    assert wire_form(data) == expected


def test_the_relay_sends_through_the_one_pass_path(
    loop_thread: LoopThread, servers: tuple[Server, Server]
) -> None:
    """send_data on a real aiosmtplib connection: the server gets the message, dots and all."""
    _, bulk = servers
    message = b"Subject: w\r\n\r\n.leading dot\r\nlast line\r\n"

    async def send() -> int:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=bulk.port, start_tls=False)
        await client.connect()
        await client.mail("a@example.org")
        await client.rcpt("b@example.org")
        response = await send_data(client, message)
        await client.quit()
        return response.code

    before = len(bulk.recorder.messages)
    assert loop_thread.run(send()) == 250
    assert bulk.recorder.messages[before] == message


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from([b".", b"\r", b"\n", b"\r\n", b"ab", b"..", b"\r\n.", b".\r\n"]), max_size=60),
    st.integers(min_value=1, max_value=9),
    st.integers(min_value=1, max_value=40),
    st.integers(min_value=1, max_value=7),
)
def test_pieces_cut_anywhere_by_the_reader_limit_read_as_the_whole_message(
    tokens: list[bytes], reader_limit: int, line_limit: int, segment: int
) -> None:
    """Unstuffing and the line limit work piece by piece; a dot or a CRLF cut in two by the reader's
    limit reads as it would in one piece: the first CRLF "." CRLF ends it, lines lose a leading dot,
    and a line is too long when the whole message has one."""
    payload = b"".join(tokens) + b"\r\n.\r\nNOOP\r\n"
    whole = b"\r\n" + payload  # the DATA command's CRLF, so that a leading ".\r\n" ends at once
    stuffed = whole[2 : whole.index(b"\r\n.\r\n") + 2]
    unstuffed = (stuffed[1:] if stuffed.startswith(b".") else stuffed).replace(b"\r\n.", b"\r\n")
    too_long = max(map(len, stuffed.split(b"\r\n"))) + 2 > line_limit

    async def read() -> tuple[DataRead, bytes]:
        reader = asyncio.StreamReader(limit=reader_limit)

        async def arrive() -> None:  # in segments, so that the reader's limit cuts where it may
            for start in range(0, len(payload), segment):
                reader.feed_data(payload[start : start + segment])
                await asyncio.sleep(0)
            reader.feed_eof()

        arriving = asyncio.create_task(arrive())
        got = await read_data(reader, None, line_limit)
        await arriving
        return got, await reader.read()

    got, rest = asyncio.run(read())
    assert got == (DataRead(b"", LINE_TOO_LONG) if too_long else DataRead(unstuffed))
    assert rest == whole[whole.index(b"\r\n.\r\n") + 5 :]  # what follows the end stays unread
