"""CPU the recorder's writer thread spends per relayed rejection: one batch write, timed on its own.

    .venv/bin/python bench/recorder_write.py [--batch 100] [--batches 30] [--same-recipient] [--url URL]

Each relayed 20 KB rejection reaches the writer as the relay queues it: a `Rejection` with one link
and an `OutgoingMail` with the bench message's header (the re-application rate).
`LinkRecorder._write` is called on batches of ``--batch`` such pairs against a fresh SQLite store in
a temporary directory (or a scratch schema of ``--url``'s PostgreSQL database, dropped afterwards).
Printed: the process CPU time per message (best and median of the batches, after two warm-up
batches), and the part of it spent reading the headers before the transaction.
``--same-recipient`` sends every message to one recipient with one Message-ID, as bench/run.py's
load generator does; by default each message has its own.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from relay_smtp.config import Company, KpiSettings
from relay_smtp.links import LinkClaims, LinkSigner
from relay_smtp.pipeline import Outcome
from relay_smtp.recontact import ContactWriter, OutgoingMail, observed_mail
from relay_smtp.recorder import LinkRecorder, Rejection
from relay_smtp.store.db import scratch_schema
from relay_smtp.store.ledger import Ledger

BENCH = Path(__file__).resolve().parent
SENDER = "recruit@acme.co.jp"


def batch_of(
    size: int, first: int, header: bytes, at: datetime, same: bool
) -> list[Rejection | OutgoingMail]:
    outcome = Outcome("injected", "rejection", (), None, "acme")
    items: list[Rejection | OutgoingMail] = []
    for number in range(first, first + size):
        recipient = "candidate@example.org" if same else f"candidate{number}@example.org"
        own = header if same else header.replace(b"Message-ID: <", f"Message-ID: <{number}.".encode())
        mail = observed_mail(own, SENDER, [recipient], outcome, at)
        assert mail is not None
        claims = LinkClaims("acme", f"hash{number}", f"q{number}", int(at.timestamp()))
        items.append(Rejection("acme", f"q{number}", f"q{number}", "injected", (claims,)))
        items.append(mail)
    return items


@contextmanager
def store_url(url: str | None) -> Iterator[str]:
    """A fresh SQLite file, or a scratch schema of the PostgreSQL database at ``url``."""
    if url is None:
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{Path(tmp) / 'relay.db'}"
        return
    with scratch_schema(url, "bench") as scoped:
        yield scoped


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--same-recipient", action="store_true")
    parser.add_argument("--url", help="a store URL (default: SQLite in a temporary directory)")
    args = parser.parse_args()
    data = (BENCH / "messages" / "ja_rejection_20k.eml").read_bytes()
    header = data[: data.index(b"\r\n\r\n") + 4]
    company = Company("acme", "ACME", "ja", "enforce", (SENDER,))
    links = LinkSigner(["bench-link-secret-0123456789abcdef0123456789abcdef"])
    with store_url(args.url) as url:
        ledger = Ledger.open(url, upgrade=True)
        contacts = ContactWriter(links, [company], KpiSettings())
        recorder = LinkRecorder(ledger, contacts=contacts)
        start = datetime.now(UTC)
        per_message: list[float] = []
        parsing: list[float] = []
        for n in range(args.batches + 2):
            at = start + timedelta(seconds=n)
            items = batch_of(args.batch, n * args.batch, header, at, args.same_recipient)
            before = time.process_time()
            recorder._write(items)
            used = time.process_time() - before
            before = time.process_time()
            contacts.observe_all([i for i in items if isinstance(i, OutgoingMail)])
            parsed = time.process_time() - before
            if n >= 2:
                per_message.append(used / args.batch * 1e6)
                parsing.append(parsed / args.batch * 1e6)
        ledger.close()
    print(
        f"recorder write, {args.batch} messages a batch: "
        f"best {min(per_message):.0f} µs, median {statistics.median(per_message):.0f} µs per message; "
        f"of which reading headers (ContactWriter.observe_all): median {statistics.median(parsing):.0f} µs"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
