"""The demo's sample rejection, and a way to send it to a running relay.

Why this module exists: the first five minutes with the relay should show the whole job (a rejection
comes out with the block, the link opens, /admin counts the click) without any other mail tool.  The
sample is package data (``relay_smtp/examples/``, also at ``examples/`` in the repository), read with
importlib.resources so an installed wheel carries and finds it.
"""

from __future__ import annotations

import smtplib
from dataclasses import dataclass
from email.utils import getaddresses
from importlib import resources

from relay_smtp.config import HostPort

SAMPLE_NAME = "rejection.ja.eml"


def sample_rejection() -> bytes:
    """The shipped sample: a Japanese rejection (ISO-2022-JP text and UTF-8 HTML), CRLF line endings."""
    return resources.files("relay_smtp").joinpath("examples", SAMPLE_NAME).read_bytes()


@dataclass(frozen=True)
class SentSample:
    sender: str
    recipients: tuple[str, ...]
    reply: str


def envelope_of(message: bytes) -> tuple[str, tuple[str, ...]]:
    """MAIL FROM and RCPT TO as the message's own From and To/Cc say."""
    header = message.split(b"\r\n\r\n", 1)[0].decode("ascii", "replace")
    fields: dict[str, list[str]] = {}
    name = ""
    for line in header.split("\r\n"):
        if line[:1] in (" ", "\t") and name:
            fields[name][-1] += line
            continue
        name, _, value = line.partition(":")
        name = name.strip().lower()
        fields.setdefault(name, []).append(value.strip())
    senders = [a for _, a in getaddresses(fields.get("from", [])) if a]
    recipients = tuple(a for _, a in getaddresses(fields.get("to", []) + fields.get("cc", [])) if a)
    return (senders[0] if senders else ""), recipients


def send_message(
    message: bytes, server: HostPort, recipients: tuple[str, ...] = (), timeout: float = 60.0
) -> SentSample:
    """Send `message` over SMTP; raises smtplib.SMTPException or OSError when it is not accepted."""
    sender, header_recipients = envelope_of(message)
    to = recipients or header_recipients
    if not to:
        raise ValueError("the message names no recipient (To/Cc); give one")
    with smtplib.SMTP(server.host, server.port, timeout=timeout) as client:
        client.ehlo()
        client.mail(sender)
        for address in to:
            code, text = client.rcpt(address)
            if code >= 400:
                raise smtplib.SMTPRecipientsRefused({address: (code, text)})
        code, text = client.data(message)
        if code >= 400:
            raise smtplib.SMTPDataError(code, text)
    return SentSample(sender, to, f"{code} {text.decode('utf-8', 'replace')}")
