"""/metrics reads the spool directory and the store off the event loop.

Real relay (SMTP and HTTP on one loop in a thread), real HTTP: the spool scan is made to wait until
the test lets it go; while it waits, the loop must still run other work (SMTP sessions, other
requests).  If the scan ran on the loop, the loop would be stuck and the probe below would not run.
"""

from __future__ import annotations

import asyncio
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from smtp_fixtures import LoopThread, Relay, Sink, settings_for_sink

from relay_smtp.smtp.spool import Spool
from relay_smtp.smtp.spool_health import SpoolStatus, spool_status


@pytest.fixture
def relay(loop_thread: LoopThread, sink: Sink, tmp_path: Path) -> Iterator[Relay]:
    r = Relay(loop_thread, settings_for_sink(sink.port, spool=tmp_path / "spool")).start()
    yield r
    r.stop()


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:
        return str(response.read().decode())


def relay_samples(text: str) -> dict[str, str]:
    """The relay's own samples (the process_* ones change between two scrapes by themselves)."""
    lines = (line for line in text.splitlines() if line.startswith("relay_smtp_"))
    return dict(line.rsplit(" ", 1) for line in lines)


def test_a_slow_spool_scan_does_not_stall_the_loop(
    relay: Relay, loop_thread: LoopThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = relay_samples(scrape(relay.web_port))
    entered, release = threading.Event(), threading.Event()

    def slow_disk(spool: Spool) -> SpoolStatus:
        entered.set()
        release.wait(20)
        return spool_status(spool)

    monkeypatch.setattr("relay_smtp.webside.spool_status", slow_disk)
    scraped: list[str] = []
    scraper = threading.Thread(target=lambda: scraped.append(scrape(relay.web_port)))
    scraper.start()
    try:
        assert entered.wait(20), "/metrics never read the spool"
        # The loop is free while the scan waits: a coroutine submitted now runs now.
        loop_thread.run(asyncio.sleep(0), timeout=10)
    finally:
        release.set()
        scraper.join(30)
    assert scraped and relay_samples(scraped[0]) == before
    assert "relay_smtp_spool_copies" in before and "relay_smtp_ledger_balance" in before
