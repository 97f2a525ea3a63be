"""Watch the company's outgoing mail for the re-application rate (再応募率), off the SMTP path.

Why this module exists: the relay already sees every mail the company sends.  When a recruiting sender
writes again to a person it rejected (an interview invitation for another opening, say), that person
is in a new selection process with the company: the one KPI no form can measure.  What is needed is
small: who (the keyed recipient hash the links use), which thread (keyed hashes of Message-ID,
In-Reply-To and References, so a reply in the rejection's own thread is told apart), and when.

Two halves, so that nothing is added to the SMTP reply's path but a queue append:

- `observed_mail` runs after the next hop answered: it keeps the header fields the pipeline already
  read (`Outcome.thread`), or else the header section's bytes (a slice, not the body), the envelope
  and the time, and is put on the `LinkRecorder`'s queue (microseconds) if
  `ContactWriter.wants` it: a rejection, or any mail while some company names recruiting senders
  (with none, only rejections can ever be recorded, so other mail is not even queued);
- `ContactWriter` runs in the recorder's writer thread with its batch: takes those fields (or parses
  the header bytes), and for
  mail that is not a rejection (whose company the pipeline already named) finds the company and
  whether the sender is one of its recruiting senders (`pipeline.find_company`), hashes, and writes the
  result (`store.kpi.record_mail_in`) in the recorder's one transaction per batch.

The pipeline's one parse of the message hands over the four fields wanted and its reading of the
From address (`pipeline_data.ThreadFields`), for a section its walk and Python's compat32 header
parser read alike.  The header is read here only for an outcome without them (the pipeline failed, or
the section is one compat32 reads its own way); its sender lookup stays inside the pipeline, whose
`Outcome` names the company of a rejection only.  A plain header section (ASCII, every line a field or
its continuation) is then read by one regular expression and the MIME walk's header scanner, which
give what Python's compat32 header parser gives (`thread_fields`) at a fraction of its CPU; anything
else is left to that parser.

No address, subject or Message-ID is stored, only keyed hashes and dates.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import parseaddr
from typing import Literal

from sqlalchemy import Connection

from relay_smtp.config import Company, KpiSettings
from relay_smtp.links import LinkSigner
from relay_smtp.mail.mime_headers import first_field, scan_headers
from relay_smtp.pipeline import Outcome, ThreadFields, find_company
from relay_smtp.pipeline_data import THREAD_FIELDS
from relay_smtp.store import kpi
from relay_smtp.store.kpi import ObservedMail

log = logging.getLogger(__name__)

#: References beyond this many ids are ignored (a thread's root and its latest are at the ends).
MAX_REFERENCES = 30
_MSG_ID = re.compile(r"<([^<>\s]{1,998})>")
_HEADER_END = re.compile(rb"\r?\n\r?\n")
# A header section the email package's feed parser reads without remark (bare CRs aside): fields,
# each a name of printable characters but the colon, a colon, and continuation lines (its headerRE;
# an mbox "From " line is no field here, as the space is no name character), then the blank line and
# what follows, or nothing (a section cut short).  Group 1: the fields.
_FIELD = r"[\041-\071\073-\176]+:[^\n]*(?:\n[ \t][^\n]*)*"
_PLAIN_SECTION = re.compile(rf"((?:{_FIELD}\n)*(?:{_FIELD}\Z)?)(?:\r?\n.*)?", re.DOTALL)


@dataclass(frozen=True)
class OutgoingMail:
    """What the writer needs of one relayed message: its header fields (as the pipeline read them, or
    else the header bytes to read them from), envelope and verdict, and when."""

    header: bytes  # empty when ``thread`` is given
    mail_from: str
    recipients: tuple[str, ...]
    rejection_company: str | None  # the company a rejection was recorded for, else None
    at: datetime
    thread: ThreadFields | None = None


def observed_mail(
    data: bytes,
    mail_from: str,
    recipients: Sequence[str],
    outcome: Outcome,
    at: datetime,
) -> OutgoingMail | None:
    """The record to queue for one relayed message (cheap: the fields the pipeline read, or else a
    slice of the header; no parsing)."""
    if not recipients:
        return None
    rejection = outcome.company if outcome.action in ("injected", "audited") else None
    if outcome.thread is not None:
        return OutgoingMail(b"", mail_from, tuple(recipients), rejection, at, outcome.thread)
    end = _HEADER_END.search(data)
    header = data[: end.end()] if end else data[:65536]
    return OutgoingMail(header, mail_from, tuple(recipients), rejection, at)


def thread_fields(header: bytes) -> Mapping[str, str]:
    """From, Message-ID, In-Reply-To and References (by lower-case name; "" if absent), as compat32's
    ``Message.get`` returns them: the first of each, continuation lines kept, line end cut off."""
    fields = scanned_fields(header)
    if fields is None:
        parsed = BytesHeaderParser(policy=compat32).parsebytes(header)
        fields = {name: str(parsed.get(name, "")) for name in THREAD_FIELDS}
    return fields


def scanned_fields(header: bytes) -> dict[str, str] | None:
    """`thread_fields` by the MIME walk's header scanner; None if the section holds what the parser
    treats specially: 8-bit bytes (it keeps them as surrogates, and hands out `Header` objects), a
    bare CR (a line end to it), an mbox "From " line, a continuation with no field before it, or a
    line that is no field (the header section ends there for it)."""
    if not header.isascii() or header.count(b"\r") != header.count(b"\r\n"):
        return None
    matched = _PLAIN_SECTION.fullmatch(header.decode("ascii"))
    if matched is None:
        return None
    # In such a section the scanner finds exactly the parser's fields.
    block = scan_headers(header, 0, matched.end(1))
    fields = {}
    for name in THREAD_FIELDS:
        found = first_field(block.fields, name.encode("ascii"))  # the first of each, as Message.get
        # compat32's header_source_parse: the blanks after the colon and the last line end cut off,
        # continuation lines kept with their line ends.
        value = header[found.value_start : found.end].decode("ascii") if found else ""
        fields[name] = value.lstrip(" \t").rstrip("\r\n")
    return fields


def read_thread(mail: OutgoingMail) -> ThreadFields:
    """The fields as the pipeline carried them, or read from the header bytes (`thread_fields`):
    for an outcome the pipeline did not parse (it failed), or whose header compat32 reads otherwise."""
    if mail.thread is not None:
        return mail.thread
    fields = thread_fields(mail.header)
    return ThreadFields(fields["from"], fields["message-id"], fields["in-reply-to"], fields["references"])


def message_ids(value: str | None) -> list[str]:
    """The <ids> in a Message-ID, In-Reply-To or References field, in order."""
    return _MSG_ID.findall(value or "")


class ContactWriter:
    """Turns a batch of `OutgoingMail` into hashed `ObservedMail` rows and records them."""

    def __init__(
        self,
        links: LinkSigner,
        companies: Sequence[Company],
        settings: KpiSettings,
    ) -> None:
        self._links = links
        self._companies = tuple(companies)
        self._settings = settings
        # Only a recruiting sender's mail counts as a new contact: without any, only rejections can.
        self._watches_senders = any(c.recruiting_senders for c in self._companies)

    def wants(self, mail: OutgoingMail) -> bool:
        """Whether `mail` could become a row at all (the recorder queues nothing else)."""
        return mail.rejection_company is not None or self._watches_senders

    def observe_all(self, batch: Sequence[OutgoingMail]) -> list[ObservedMail]:
        """The rows for a batch (parsing and hashing, before the write transaction opens)."""
        return [row for mail in batch for row in self._observe_safely(mail)]

    def write(self, connection: Connection, observed: Sequence[ObservedMail]) -> int:
        """Record the rows in the caller's write transaction; how many rejections were re-contacted."""
        if not observed:
            return 0
        return kpi.record_mail_in(
            connection,
            observed,
            min_days=self._settings.reapply_min_days,
            window_days=self._settings.reapply_window_days,
        )

    def _observe_safely(self, mail: OutgoingMail) -> list[ObservedMail]:
        """A message we cannot read is left out (and logged): it must not hold up the recorder's queue,
        which the store's errors alone may do (they are transient and the batch is retried)."""
        try:
            return self.observe(mail)
        except Exception:
            log.exception("re-application: a relayed message's header could not be read; left out")
            return []

    def observe(self, mail: OutgoingMail) -> list[ObservedMail]:
        headers = read_thread(mail)
        kind: Literal["rejection", "contact"]
        if mail.rejection_company is not None:
            kind, company_id = "rejection", mail.rejection_company
        else:
            header_from = headers.from_address
            if header_from is None:
                header_from = parseaddr(headers.from_value)[1]
            company, recruiting = find_company(self._companies, mail.mail_from, header_from)
            if company is None or not recruiting:
                return []
            kind, company_id = "contact", company.id
        own = message_ids(headers.message_id)
        refs = message_ids(headers.in_reply_to) + message_ids(headers.references)
        refs = refs[:2] + refs[2:][-MAX_REFERENCES:]
        message_hash = self._hash(own[0]) if own else ""
        references = tuple(dict.fromkeys(self._hash(r) for r in refs))
        return [
            ObservedMail(
                kind,
                company_id,
                self._links.recipient_hash(recipient),
                message_hash,
                references,
                mail.at,
            )
            for recipient in mail.recipients
        ]

    def _hash(self, message_id: str) -> str:
        # The links' recipient key, on a prefixed value: keyed, so the store cannot be searched for a
        # known Message-ID, and never equal to an address's hash.
        return self._links.recipient_hash(f"message-id:{message_id}")
