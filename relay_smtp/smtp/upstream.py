"""The next hop: where relayed mail goes, and what it answered.

The relay has before-queue semantics: it answers its client only after the next hop answered, so this
module's job is to turn everything that can happen on the way (a refusal, a timeout, a refused or dropped
connection) into one truthful `Reply` the server can hand back. It never raises for a delivery failure.

Two kinds of next hop exist: an SMTP server (aiosmtplib, with a small pool of connections reused between
messages) and a local Maildir (the embedded default, so a newcomer sees mail arrive without a mail server).
Both are used through `NextHop.begin()`, which opens one mail transaction: recipients are offered one by
one (so the client learns at RCPT time which ones the next hop refuses) and the data is sent once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import aiosmtplib

from relay_smtp.config import MaildirUpstream, SmtpUpstream, UpstreamSettings
from relay_smtp.durable import write_durably
from relay_smtp.smtp.wire import send_data

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reply:
    """An SMTP reply: a three-digit code and its text (with the enhanced status code, if any)."""

    code: int
    text: str

    @property
    def accepted(self) -> bool:
        return 200 <= self.code < 300

    @property
    def temporary(self) -> bool:
        return 400 <= self.code < 500

    def __str__(self) -> str:
        # Multi-line replies from the next hop are joined; the client gets one line.
        return f"{self.code} {' '.join(self.text.split())}"


def _hop_reply(code: int, text: str) -> Reply:
    """A reply the next hop gave, kept as it was but marked so the client knows who said it."""
    return Reply(code, f"{text.strip()} (next hop)" if text.strip() else "(next hop)")


UNREACHABLE = Reply(451, "4.4.1 next hop unreachable, try again later")
TIMED_OUT = Reply(451, "4.4.2 next hop timed out, try again later")
DROPPED = Reply(451, "4.4.2 next hop dropped the connection, try again later")
LOCAL_ERROR = Reply(451, "4.3.0 local delivery failed, try again later")


class Transaction(Protocol):
    """One mail transaction at the next hop: recipients first, then the data, or an abort."""

    async def add_recipient(self, address: str, options: list[str]) -> Reply: ...

    async def send(self, data: bytes) -> Reply: ...

    async def abort(self) -> None: ...


class NextHop(Protocol):
    def begin(self, mail_from: str, options: list[str]) -> Transaction: ...

    async def close(self) -> None: ...

    def describe(self) -> str: ...


# --------------------------------------------------------------------------- Maildir


class MaildirHop:
    """Deliver into a Maildir: write to tmp/, fsync, rename into new/, so a crash never shows half."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._counter = 0
        self._host = socket.gethostname().replace("/", "_").replace(":", "_")

    def describe(self) -> str:
        return f"maildir:{self.path}"

    def begin(self, mail_from: str, options: list[str]) -> Transaction:
        return _MaildirTransaction(self)

    async def close(self) -> None:
        return None

    def unique_name(self) -> str:
        self._counter += 1
        now = time.time()
        return f"{int(now)}.M{int(now % 1 * 1e6)}P{os.getpid()}Q{self._counter}.{self._host}"

    def write(self, data: bytes) -> str:
        for sub in ("tmp", "new", "cur"):
            (self.path / sub).mkdir(parents=True, exist_ok=True)
        name = self.unique_name()
        write_durably(self.path / "new" / name, data, mode=0o640, temp_dir=self.path / "tmp")
        return name


class _MaildirTransaction:
    def __init__(self, hop: MaildirHop) -> None:
        self._hop = hop

    async def add_recipient(self, address: str, options: list[str]) -> Reply:
        return Reply(250, "2.1.5 ok")

    async def send(self, data: bytes) -> Reply:
        try:
            name = await asyncio.to_thread(self._hop.write, data)
        except OSError as exc:
            log.error("maildir delivery into %s failed: %s", self._hop.path, exc)
            return LOCAL_ERROR
        return Reply(250, f"2.0.0 delivered to maildir as {name}")

    async def abort(self) -> None:
        return None


# --------------------------------------------------------------------------- SMTP


class SmtpHop:
    """An SMTP next hop with a pool of idle, already greeted connections."""

    def __init__(self, target: SmtpUpstream, settings: UpstreamSettings) -> None:
        self.target = target
        self.settings = settings
        self._idle: list[aiosmtplib.SMTP] = []

    def describe(self) -> str:
        scheme = "smtps" if self.target.implicit_tls else "smtp"
        return f"{scheme}://{self.target.host}:{self.target.port}"

    def begin(self, mail_from: str, options: list[str]) -> Transaction:
        return _SmtpTransaction(self, mail_from, options)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for client in idle:
            await _quit_quietly(client)

    async def connect(self) -> aiosmtplib.SMTP:
        tls = self.target.tls
        # Opportunistic TLS guards against passive eavesdropping only, as Postfix's "may" level does;
        # certificates are checked where TLS is required.
        strict = tls == "required" or self.target.implicit_tls
        client = aiosmtplib.SMTP(
            hostname=self.target.host,
            port=self.target.port,
            timeout=self.settings.timeout,
            use_tls=self.target.implicit_tls,
            start_tls=False if tls == "none" or self.target.implicit_tls else strict or None,
            validate_certs=strict and self.settings.verify_certificates,
            local_hostname=self.settings.helo_name or None,
        )
        await client.connect()
        try:
            # The MAIL step chooses its parameters and the address encoding from the next hop's
            # EHLO extensions (8BITMIME, SMTPUTF8), so they must be known before it: greet now.
            if client.is_ehlo_or_helo_needed:
                await _greet(client)
            if self.settings.username is not None and self.settings.password is not None:
                await client.login(self.settings.username, self.settings.password)
        except BaseException:
            client.close()
            raise
        return client

    def take_idle(self) -> aiosmtplib.SMTP | None:
        while self._idle:
            client = self._idle.pop()
            if client.is_connected:
                return client
        return None

    async def give_back(self, client: aiosmtplib.SMTP) -> None:
        if client.is_connected and len(self._idle) < self.settings.pool_size:
            self._idle.append(client)
        else:
            await _quit_quietly(client)


async def _quit_quietly(client: aiosmtplib.SMTP) -> None:
    try:
        if client.is_connected:
            await client.quit(timeout=2)
    except (aiosmtplib.SMTPException, OSError):
        client.close()


def _failure_reply(exc: BaseException) -> Reply:
    """Map a client-side failure to the reply the relay's client should get."""
    if isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code >= 400:
        return _hop_reply(exc.code, exc.message)
    if isinstance(exc, aiosmtplib.SMTPTimeoutError | asyncio.TimeoutError):
        return TIMED_OUT
    if isinstance(exc, aiosmtplib.SMTPServerDisconnected):
        return DROPPED
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        # A next hop answering 1xx/3xx where 2xx/4xx/5xx was due is broken; try again later.
        return Reply(451, f"4.4.2 unexpected reply from next hop: {exc.code} {exc.message}")
    return UNREACHABLE


async def _greet(client: aiosmtplib.SMTP) -> None:
    """EHLO, or HELO for a next hop that knows no ESMTP (then no extension is used)."""
    try:
        await client.ehlo()
    except aiosmtplib.SMTPHeloError:
        if not client.is_connected:
            raise
        await client.helo()


# The client's MAIL parameters the relay passes on, each only if the next hop advertises the
# extension that defines it (RFC 6152 BODY=8BITMIME, RFC 6531 SMTPUTF8).
_PASSED_MAIL_OPTIONS = {"BODY=8BITMIME": "8BITMIME", "SMTPUTF8": "SMTPUTF8"}

NO_SMTPUTF8 = Reply(553, "5.6.7 next hop does not accept non-ASCII addresses (no SMTPUTF8)")
BAD_ADDRESS = Reply(553, "5.1.3 address cannot be passed to the next hop")


class _SmtpTransaction:
    """MAIL is sent lazily with the first recipient; a stale pooled connection is replaced once."""

    def __init__(self, hop: SmtpHop, mail_from: str, options: list[str]) -> None:
        self._hop = hop
        self._mail_from = mail_from
        self._options = [o.upper() for o in options if o.upper() in _PASSED_MAIL_OPTIONS]
        self._client: aiosmtplib.SMTP | None = None
        self._open_failure: Reply | None = None

    async def _open(self) -> aiosmtplib.SMTP | Reply:
        if self._client is not None:
            return self._client
        if self._open_failure is not None:
            return self._open_failure
        pooled = self._hop.take_idle()
        if pooled is not None:
            try:
                await self._mail(pooled)
                self._client = pooled
                return pooled
            except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError):
                pooled.close()  # it died while idle; nothing was committed, so start afresh
            except aiosmtplib.SMTPException as exc:
                await _reset_or_close(pooled, self._hop)
                self._open_failure = _failure_reply(exc)
                return self._open_failure
            except Exception as exc:
                pooled.close()
                self._open_failure = _unexpected(exc)
                return self._open_failure
        try:
            client = await self._hop.connect()
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            self._open_failure = _failure_reply(exc)
            log.warning("next hop %s: cannot connect: %s", self._hop.describe(), exc)
            return self._open_failure
        try:
            await self._mail(client)
        except (aiosmtplib.SMTPException, OSError) as exc:
            await _reset_or_close(client, self._hop)
            self._open_failure = _failure_reply(exc)
            return self._open_failure
        except BaseException as exc:
            client.close()  # whatever went wrong, never leave a next-hop connection behind
            if not isinstance(exc, Exception):
                raise
            self._open_failure = _unexpected(exc)
            return self._open_failure
        self._client = client
        return client

    async def _mail(self, client: aiosmtplib.SMTP) -> None:
        options = [o for o in self._options if client.supports_extension(_PASSED_MAIL_OPTIONS[o])]
        if not self._mail_from.isascii():
            if not client.supports_extension("SMTPUTF8"):
                raise UnicodeEncodeError("ascii", self._mail_from, 0, 1, "no SMTPUTF8 at the next hop")
            if "SMTPUTF8" not in options:
                options.append("SMTPUTF8")  # RFC 6531 section 3.4: a UTF-8 address needs it
        await client.mail(self._mail_from, options=options, encoding=_encoding(client))

    async def add_recipient(self, address: str, options: list[str]) -> Reply:
        client = await self._open()
        if isinstance(client, Reply):
            return client
        if not address.isascii() and not client.supports_extension("SMTPUTF8"):
            return NO_SMTPUTF8  # refused before anything is sent; the transaction stays usable
        try:
            response = await client.rcpt(address, encoding=_encoding(client))
        except (aiosmtplib.SMTPException, OSError) as exc:
            reply = _failure_reply(exc)
            if not client.is_connected:
                self._client = None
                self._open_failure = reply
            return reply
        except BaseException as exc:
            self._client = None
            client.close()
            if not isinstance(exc, Exception):
                raise
            self._open_failure = _unexpected(exc)
            return self._open_failure
        return Reply(response.code, response.message)

    async def send(self, data: bytes) -> Reply:
        client = await self._open()
        if isinstance(client, Reply):
            return client
        self._client = None
        try:
            response = await send_data(client, data)
        except aiosmtplib.SMTPDataError as exc:
            await _reset_or_close(client, self._hop)
            return _failure_reply(exc)
        except BaseException as exc:
            client.close()
            if not isinstance(exc, Exception):
                raise
            return _failure_reply(exc)
        await self._hop.give_back(client)
        return _hop_reply(response.code, response.message)

    async def abort(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await _reset_or_close(client, self._hop)


def _unexpected(exc: Exception) -> Reply:
    """A failure that is not the next hop's answer: an address it cannot take, or a bug of ours."""
    if isinstance(exc, UnicodeError):
        return NO_SMTPUTF8
    if isinstance(exc, ValueError):
        return BAD_ADDRESS
    log.exception("next hop transaction failed unexpectedly")
    return Reply(451, "4.3.0 local error talking to the next hop, try again later")


async def _reset_or_close(client: aiosmtplib.SMTP, hop: SmtpHop) -> None:
    """Return a connection to the pool after RSET, or close it if it cannot be reset."""
    try:
        await client.rset()
    except (aiosmtplib.SMTPException, OSError):
        client.close()
        return
    await hop.give_back(client)


def _encoding(client: aiosmtplib.SMTP) -> str:
    return "utf-8" if client.supports_extension("smtputf8") else "ascii"


def open_next_hop(settings: UpstreamSettings) -> NextHop:
    target = settings.target
    if isinstance(target, MaildirUpstream):
        return MaildirHop(target.path)
    return SmtpHop(target, settings)
