"""SIGHUP on a running `relay-smtp serve`: what a reload swaps in, and what it can only warn about.

A reload cannot move a listener; the warning that says so must come exactly when a restart (same
command line, new file) would listen elsewhere: never while --listen/--web-listen keep the address,
on every reload while the file's address differs from the one in use. The re-application rate's
companies and windows are swapped in like the pipeline's.
"""

from __future__ import annotations

import os
import re
import signal
import smtplib
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from ports import accepting, free_port
from smtp_fixtures import Sink

ACME = """
[[companies]]
id = "acme"
name = "ACME"
mode = "audit"
recruiting_senders = ["recruit@acme.example"]
"""
# After the reload: ACME known by its domain only (its mail is no recruiting sender's any more),
# Globex new, and a re-application counted from the day after the rejection on (not 14 days).
ACME_BY_DOMAIN = """
[[companies]]
id = "acme"
name = "ACME"
mode = "audit"
domains = ["acme.example"]
"""
GLOBEX = """
[[companies]]
id = "globex"
name = "Globex"
mode = "audit"
recruiting_senders = ["jobs@globex.example"]
"""
NEXT_DAY = """
[kpi]
reapply_min_days = 1
"""

REJECTION = (
    "Dear Alex,\r\n\r\nThank you for interviewing for the analyst position. Unfortunately we have\r\n"
    "decided not to move forward with your application.\r\n\r\nWe wish you the best of luck.\r\n"
)
INVITATION = "Dear Alex,\r\n\r\nWe would like to invite you to an interview for our new opening.\r\n"


def write_config(path: Path, smtp_port: int, web_port: int, sink_port: int, extra: str = ACME) -> None:
    path.write_text(
        f"""
[smtp]
listen = "127.0.0.1:{smtp_port}"
drain_timeout = 5.0
[web]
listen = "127.0.0.1:{web_port}"
[store]
url = "sqlite:///{path.parent / "relay-smtp.db"}"
[upstream]
url = "smtp://127.0.0.1:{sink_port}"
tls = "none"
[links]
secrets = ["reload-test-secret-0123456789"]
[spool]
directory = "{path.parent / "spool"}"
{extra}""",
        encoding="utf-8",
    )


def wait_for(condition: Callable[[], object], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


class Served:
    """A `relay-smtp serve` process in its own session, its log in a file."""

    def __init__(self, proc: subprocess.Popen[bytes], log: Path, workers: int) -> None:
        self.proc, self.log_path, self.workers = proc, log, workers
        self.reloads = 0

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def reload(self) -> None:
        """SIGHUP, then wait until every worker has reloaded (the supervisor warns before it forwards)."""
        self.reloads += 1
        self.proc.send_signal(signal.SIGHUP)
        expected = self.reloads * self.workers
        wait_for(lambda: self.log().count("configuration reloaded from") >= expected, "the reload")


@contextmanager
def serve(config: Path, smtp_port: int, workers: int, *options: str) -> Iterator[Served]:
    log = config.parent / f"serve-{smtp_port}.log"
    command = ["-m", "relay_smtp.cli", "serve", "--config", str(config), "--workers", str(workers)]
    with log.open("wb") as stderr:
        proc = subprocess.Popen([sys.executable, *command, *options], stderr=stderr, start_new_session=True)
    served = Served(proc, log, workers)
    try:
        wait_for(lambda: accepting(smtp_port) or proc.poll() is not None, "the listener")
        assert proc.poll() is None, served.log()
        # Every worker listens (and has installed its SIGHUP handler) once the service says it is up.
        wait_for(lambda: served.log().count("relay-smtp listening on") >= workers, "every worker")
        yield served
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def send(port: int, sender: str, to: str, message_id: str, body: str) -> None:
    head = f"From: <{sender}>\r\nTo: {to}\r\nSubject: Your application\r\nMessage-ID: <{message_id}>\r\n"
    data = f"{head}\r\n{body}"
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        assert client.sendmail(sender, [to], data.encode()) == {}


@pytest.mark.parametrize("workers", [1, 2])
def test_listen_overrides_are_kept_by_a_reload_without_a_warning(
    sink: Sink, tmp_path: Path, workers: int
) -> None:
    # Before: the supervisor compared the file's smtp.listen with the command line's --listen and
    # warned on the first SIGHUP although nothing had changed and a restart would listen there again.
    config = tmp_path / "relay.toml"
    write_config(config, free_port(), free_port(), sink.port)
    port, web_port = free_port(), free_port()
    overrides = ("--listen", f"127.0.0.1:{port}", "--web-listen", f"127.0.0.1:{web_port}")
    with serve(config, port, workers, *overrides) as served:
        served.reload()  # nothing changed
        write_config(config, free_port(), free_port(), sink.port)  # the file's addresses move
        served.reload()  # and the command line still wins
        send(port, "recruit@acme.example", "alex@example.org", "m1@acme.example", REJECTION)
        assert accepting(web_port)
        log = served.log()
    assert "listen changed" not in log, log
    assert len(sink.received) == 1


@pytest.mark.parametrize("workers", [1, 2])
def test_a_moved_listen_address_is_warned_on_every_reload_until_a_restart(
    sink: Sink, tmp_path: Path, workers: int
) -> None:
    config = tmp_path / "relay.toml"
    port, web_port = free_port(), free_port()
    write_config(config, port, web_port, sink.port)
    with serve(config, port, workers) as served:
        served.reload()
        assert "listen changed" not in served.log()
        new_port, new_web_port = free_port(), free_port()
        write_config(config, new_port, new_web_port, sink.port)
        served.reload()
        served.reload()  # the listeners are still where they were: still worth saying
        send(port, "recruit@acme.example", "alex@example.org", "m1@acme.example", REJECTION)
        log = served.log()
    moved = f"smtp.listen changed: restart the service to move the listener from 127.0.0.1:{port} to "
    assert log.count(f"{moved}127.0.0.1:{new_port}") == 2, log
    web_moved = f"web.listen changed: restart the service to move the listener from 127.0.0.1:{web_port} "
    assert log.count(f"{web_moved}to 127.0.0.1:{new_web_port}") == 2, log
    assert len(sink.received) == 1


def recontacted(db: Path) -> dict[str, list[bool]]:
    """Per company, whether each of its recorded rejections was followed by a new contact."""
    with sqlite3.connect(db, timeout=10) as connection:
        rows = connection.execute("SELECT company, recontacted_at FROM kpi_rejections ORDER BY id").fetchall()
    found: dict[str, list[bool]] = {}
    for company, at in rows:
        found.setdefault(company, []).append(at is not None)
    return found


def backdate_rejections(db: Path, days: int) -> None:
    """As if the rejections had been sent `days` ago (the store's SQLite text: UTC, no offset)."""
    with sqlite3.connect(db, timeout=10) as connection:
        for row_id, at in connection.execute("SELECT id, at FROM kpi_rejections").fetchall():
            earlier = datetime.fromisoformat(at) - timedelta(days=days)
            connection.execute(
                "UPDATE kpi_rejections SET at = ? WHERE id = ?",
                (earlier.strftime("%Y-%m-%d %H:%M:%S.%f"), row_id),
            )


@pytest.mark.parametrize("workers", [1, 2])
def test_a_reload_gives_the_re_application_rate_its_new_companies_and_windows(
    sink: Sink, tmp_path: Path, workers: int
) -> None:
    # Before: the recorder's ContactWriter kept the companies and kpi windows of the start, so Globex's
    # invitation was never matched (an unknown sender, and 3 days is less than the 14 of the start)
    # while ACME's former recruiting sender still was.
    config = tmp_path / "relay.toml"
    port, web_port = free_port(), free_port()
    write_config(config, port, web_port, sink.port)
    db = tmp_path / "relay-smtp.db"
    with serve(config, port, workers) as served:
        send(port, "recruit@acme.example", "bo@example.org", "rej-bo@acme.example", REJECTION)
        wait_for(lambda: recontacted(db) == {"acme": [False]}, "ACME's rejection in the store")
        write_config(config, port, web_port, sink.port, ACME_BY_DOMAIN + GLOBEX + NEXT_DAY)
        served.reload()
        send(port, "jobs@globex.example", "alex@example.org", "rej-alex@globex.example", REJECTION)
        # Stored before the invitations are sent (another worker may record them), then three days old.
        wait_for(lambda: "globex" in recontacted(db), "Globex's rejection in the store")
        backdate_rejections(db, 3)
        # ACME's former recruiting sender writes to Bo in a new thread: no longer a contact.
        send(port, "recruit@acme.example", "bo@example.org", "inv-bo@acme.example", INVITATION)
        send(port, "jobs@globex.example", "alex@example.org", "inv-alex@globex.example", INVITATION)
        wait_for(lambda: recontacted(db).get("globex") == [True], "Globex's re-contact in the store")
    log = served.log()
    assert served.proc.returncode == 0, log
    # After the drain every record is written: ACME's mail to Bo was not counted.
    assert recontacted(db) == {"acme": [False], "globex": [True]}
    assert len(sink.received) == 4
    assert "store write failed" not in log and "Traceback" not in log, log


def test_a_worker_restarted_after_a_reload_runs_the_reloaded_configuration(
    sink: Sink, tmp_path: Path
) -> None:
    # Before: the supervisor handed every worker it (re)started the settings of the start, so a worker
    # that died after a reload came back without Globex, and its mail went unweighed.
    config = tmp_path / "relay.toml"
    port, web_port = free_port(), free_port()
    write_config(config, port, web_port, sink.port)
    db = tmp_path / "relay-smtp.db"
    with serve(config, port, 2) as served:
        write_config(config, port, web_port, sink.port, ACME_BY_DOMAIN + GLOBEX + NEXT_DAY)
        served.reload()
        pids = [int(pid) for pid in re.findall(r"worker \d+ started as pid (\d+)", served.log())]
        assert len(pids) == 2, served.log()
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        wait_for(lambda: served.log().count("restarting it") == 2, "both workers restarted")
        wait_for(lambda: served.log().count("relay-smtp listening on") >= 4, "the new workers")
        send(port, "jobs@globex.example", "alex@example.org", "rej-alex@globex.example", REJECTION)
        wait_for(lambda: "globex" in recontacted(db), "Globex's rejection in the store")
    assert served.proc.returncode == 0, served.log()
