"""The recorder writes a batch of relayed messages in one store transaction, and all of it or none.

Real SQLite store; the records are queued as the relay queues them (rejections with their links, an
audited verdict, relayed mail for the re-application rate).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Connection, Table, event, func, select
from sqlalchemy.exc import OperationalError

from relay_smtp.config import Company, KpiSettings
from relay_smtp.links import LinkClaims, LinkSigner
from relay_smtp.pipeline import Outcome
from relay_smtp.recontact import ContactWriter, OutgoingMail, observed_mail
from relay_smtp.recorder import LinkRecorder, Rejection
from relay_smtp.store.audit import AuditedVerdict, audited_verdicts
from relay_smtp.store.kpi import ObservedMail
from relay_smtp.store.kpi_tables import kpi_rejections
from relay_smtp.store.ledger import Ledger
from relay_smtp.store.models import issued_links, rejections

ACME = Company("acme", "ACME Inc.", "en", "enforce", ("recruit@acme.example",))
AT = datetime(2026, 10, 5, 1, 0, tzinfo=UTC)
MESSAGES = 12


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'relay.db'}", upgrade=True)
    yield ledger
    ledger.close()


class FlakyContacts(ContactWriter):
    """Fails its first write, as a store that is briefly down would."""

    def __init__(self, failures: int) -> None:
        super().__init__(LinkSigner(["recorder-link-secret-0123456789"]), [ACME], KpiSettings())
        self.failures = failures

    def write(self, connection: Connection, observed: Sequence[ObservedMail]) -> int:
        if self.failures:
            self.failures -= 1
            raise OperationalError("INSERT", {}, Exception("disk I/O error"))
        return super().write(connection, observed)


def records(number: int) -> list[Rejection | OutgoingMail]:
    header = f"From: recruit@acme.example\r\nMessage-ID: <m{number}@acme.example>\r\n\r\nbody\r\n".encode()
    outcome = Outcome("injected", "rejection", (), None, "acme")
    mail = observed_mail(header, "recruit@acme.example", [f"c{number}@example.org"], outcome, AT)
    claims = LinkClaims("acme", f"hash{number}", f"mid{number}", int(AT.timestamp()))
    assert mail is not None
    audit = AuditedVerdict("acme", AT, f"Subject {number}", 5, ("phrase",)) if number == 0 else None
    return [Rejection("acme", f"q{number}", f"q{number}", "injected", (claims,), audit), mail]


def count(ledger: Ledger, table: Table) -> int:
    with ledger.engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(table)) or 0)


async def record_all(recorder: LinkRecorder, items: list[Rejection | OutgoingMail]) -> None:
    recorder.start()
    for item in items:  # queued before the writer task runs: one batch
        recorder.record(item)
    await recorder.flush()
    await recorder.stop()


def test_a_batch_of_messages_is_one_commit(ledger: Ledger) -> None:
    commits: list[None] = []
    event.listen(ledger.engine, "commit", lambda connection: commits.append(None))
    contacts = FlakyContacts(failures=0)
    recorder = LinkRecorder(ledger, linger=0, contacts=contacts)
    asyncio.run(record_all(recorder, [item for n in range(MESSAGES) for item in records(n)]))
    assert len(commits) == 1
    assert count(ledger, rejections) == MESSAGES
    assert count(ledger, issued_links) == MESSAGES
    assert count(ledger, kpi_rejections) == MESSAGES
    assert count(ledger, audited_verdicts) == 1


def test_a_failed_batch_is_written_again_whole_and_once(ledger: Ledger) -> None:
    contacts = FlakyContacts(failures=2)
    recorder = LinkRecorder(ledger, retry_first=0.01, linger=0, contacts=contacts)
    asyncio.run(record_all(recorder, [item for n in range(MESSAGES) for item in records(n)]))
    assert contacts.failures == 0
    assert count(ledger, rejections) == MESSAGES  # nothing of the failed attempts stayed behind
    assert count(ledger, issued_links) == MESSAGES
    assert count(ledger, kpi_rejections) == MESSAGES
    assert count(ledger, audited_verdicts) == 1
