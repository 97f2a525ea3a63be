"""Nothing a client sends can forge a log line or put a control character into the log."""

from __future__ import annotations

import io
import json
import logging
import re
import socket
from collections.abc import Iterator

import pytest
from smtp_fixtures import LoopThread, Relay, Sink, settings_for_sink

from relay_smtp.logs import make_handler

FORGED = "2026-01-01 00:00:00,000 INFO relay_smtp.transaction [FORGED] from=<ceo@example.org>"
LINE_START = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ |^    ")


@pytest.fixture
def relay(loop_thread: LoopThread, sink: Sink) -> Iterator[Relay]:
    r = Relay(loop_thread, settings_for_sink(sink.port)).start()
    yield r
    r.stop()


def captured(log_format: str) -> tuple[io.StringIO, logging.Handler]:
    stream = io.StringIO()
    handler = make_handler(stream, log_format)
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.getLogger("mail.log").setLevel(logging.INFO)  # aiosmtpd's own lines quote commands
    return stream, handler


def attack(relay: Relay) -> None:
    forged_path = "/static/x%0a" + FORGED.replace(" ", "%20") + "%00%0d%c2%85%e2%80%a8"
    with socket.create_connection(("127.0.0.1", relay.web_port), timeout=10) as web:
        web.sendall(f"GET {forged_path} HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\r\n".encode())
        while web.recv(65536):
            pass
    with socket.create_connection(("127.0.0.1", relay.port), timeout=10) as smtp:
        reader = smtp.makefile("rb")
        reader.readline()
        smtp.sendall(b"EHLO client\x00\x1b[31m\r\n")
        while not reader.readline().startswith(b"250 "):
            pass
        for command in (b"XFORGE \x00" + FORGED.encode(), b"MAIL FROM:<a\x00b@x.example>\rINFO x"):
            smtp.sendall(command + b"\r\n")
            reader.readline()
        smtp.sendall(b"QUIT\r\n")
        reader.readline()


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_forged_path_or_command_leaves_no_forged_line_and_no_control_character(
    relay: Relay, log_format: str
) -> None:
    stream, handler = captured(log_format)
    try:
        attack(relay)
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger("mail.log").setLevel(logging.WARNING)
    output = stream.getvalue()
    assert "/static/x" in output  # the access line was written (escaped)
    lines = output.split("\n")[:-1]
    assert lines
    for line in lines:
        assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\r]", line), repr(line)
        if log_format == "json":
            json.loads(line)
        else:
            assert LINE_START.match(line), repr(line)
        assert not line.startswith("2026-01-01 00:00:00,000")
    assert "\x00" not in output
