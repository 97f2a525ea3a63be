"""`relay-smtp serve --workers N`: one port, supervised workers, reload on SIGHUP, drain on SIGTERM."""

from __future__ import annotations

import os
import signal
import smtplib
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
from ports import accepting, free_port
from smtp_fixtures import Sink

REJECTION = (
    b"From: Recruiting <recruit@acme.example>\r\nTo: alex@example.org\r\n"
    b"Subject: Your application\r\n\r\n"
    b"Dear Alex,\r\n\r\nThank you for interviewing for the analyst position. Unfortunately we have\r\n"
    b"decided not to move forward with your application.\r\n\r\nWe wish you the best of luck.\r\n"
)


def write_config(path: Path, port: int, sink_port: int, mode: str) -> None:
    path.write_text(
        f"""
[smtp]
listen = "127.0.0.1:{port}"
drain_timeout = 5.0
[web]
listen = "127.0.0.1:{free_port()}"
[store]
url = "sqlite:///{path.parent / "relay-smtp.db"}"
[upstream]
url = "smtp://127.0.0.1:{sink_port}"
tls = "none"
[links]
secrets = ["worker-test-secret-0123456789"]
[spool]
directory = "{path.parent / "spool"}"
[[companies]]
id = "acme"
name = "ACME"
mode = "{mode}"
recruiting_senders = ["recruit@acme.example"]
""",
        encoding="utf-8",
    )


def children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def wait_for(condition: object, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def send(port: int) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as c:
        assert c.sendmail("recruit@acme.example", ["alex@example.org"], REJECTION) == {}


@contextmanager
def supervised(*args: str) -> Iterator[subprocess.Popen[str]]:
    """`python <args>` in its own process group, its log on a pipe; whatever still runs at the end
    gets SIGTERM, then SIGKILL for the whole group if it does not stop within 20 s."""
    proc = subprocess.Popen(
        [sys.executable, *args], stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()


def serve_two_workers(config: Path) -> AbstractContextManager[subprocess.Popen[str]]:
    return supervised("-m", "relay_smtp.cli", "serve", "--config", str(config), "--workers", "2")


@pytest.fixture
def relay_process(sink: Sink, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int, Path]]:
    port = free_port()
    config = tmp_path / "relay.toml"
    write_config(config, port, sink.port, "audit")
    with serve_two_workers(config) as proc:
        wait_for(lambda: accepting(port) and len(children(proc.pid)) == 2)
        yield proc, port, config


def test_workers_share_a_port_survive_kill_9_and_drain_on_sigterm(
    relay_process: tuple[subprocess.Popen[str], int, Path], sink: Sink
) -> None:
    proc, port, _ = relay_process
    first = children(proc.pid)
    for _ in range(4):
        send(port)
    victim = min(first)
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: len(children(proc.pid)) == 2 and victim not in children(proc.pid))
    assert children(proc.pid) != first
    for _ in range(4):
        send(port)
    assert len(sink.received) == 8
    proc.send_signal(signal.SIGTERM)
    _, log = proc.communicate(timeout=20)
    assert proc.returncode == 0, log
    assert "died (signal SIGKILL); restarting it" in log
    assert "supervisor stopped" in log


def test_sighup_reloads_the_configuration_without_a_restart(
    relay_process: tuple[subprocess.Popen[str], int, Path], sink: Sink
) -> None:
    proc, port, config = relay_process
    workers = children(proc.pid)
    send(port)
    assert b"X-Career-Relay: injected" not in sink.received[-1].data  # audit mode: unchanged
    write_config(config, port, sink.port, "enforce")
    proc.send_signal(signal.SIGHUP)
    time.sleep(1.0)
    for _ in range(3):  # whichever worker takes the connection has reloaded
        send(port)
    assert all(b"X-Career-Relay: injected" in r.data for r in sink.received[-3:])
    assert children(proc.pid) == workers  # nobody was restarted


# A supervisor whose worker 0 dies once before it is ready; the other worker is ready at once.
EARLY_DEATH = r"""
import logging, os, signal, sys
from pathlib import Path
from relay_smtp.config import load_settings
from relay_smtp.supervisor import Supervisor

config, marker = Path(sys.argv[1]), Path(sys.argv[2])
logging.basicConfig(level=logging.INFO, format="%(message)s")


def main(settings, index, listeners, ready_fd):
    if index == 0 and not marker.exists():
        marker.write_text("died before it was ready")
        return 1
    os.write(ready_fd, b"r")
    signal.pause()
    return 0


sys.exit(Supervisor(load_settings(config), config, 2, main).run())
"""


def test_a_worker_that_dies_before_it_is_ready_is_restarted_at_once(sink: Sink, tmp_path: Path) -> None:
    # Before: the supervisor waited for every worker's ready byte (up to 30 s) before it reaped
    # anything, so a worker lost during start-up, and any death meanwhile, went unsupervised.
    config = tmp_path / "relay.toml"
    write_config(config, free_port(), sink.port, "audit")
    with supervised("-c", EARLY_DEATH, str(config), str(tmp_path / "marker")) as proc:
        assert proc.stderr is not None
        lines: list[str] = []
        deadline = time.monotonic() + 20
        while not any(" workers on " in line for line in lines):
            assert time.monotonic() < deadline, "".join(lines)
            lines.append(proc.stderr.readline())
        log = "".join(lines)
        assert "worker 0 (pid" in log and "died (exit 1); restarting it" in log, log
        assert log.index("restarting it") < log.index(" workers on "), log
        assert len(children(proc.pid)) == 2
