"""Sending a message's bytes to the next hop in one pass.

Why this module exists: aiosmtplib's ``data()`` runs two regular expressions over every message
(line endings, then dot-stuffing), although what the relay sends is already CRLF-normal
(``server.normalise_line_endings``, the splicer and the DKIM signer all keep it so): about 0.2 ms per
20 KB and 25 ms per 2 MB of the relay's CPU. :func:`wire_form` checks with three C scans that nothing
needs normalising and dot-stuffs with one ``bytes.replace``; the bytes on the wire are the same.

:func:`send_data` sends DATA and the prepared payload on an aiosmtplib client. It needs two of the
client protocol's internals (its command lock and its "reply expected" flag, without which the reply
is discarded); where a version of aiosmtplib lacks them it falls back to ``client.data``.
"""

from __future__ import annotations

import re

import aiosmtplib
from aiosmtplib.response import SMTPResponse

_BARE_CR_OR_LF = re.compile(rb"\r\n|\r|\n")


END_OF_DATA = b".\r\n"
# Up to this size the payload and the end line go out as one write: a loopback send costs tens of
# microseconds of kernel time, copying 64 KiB a few.
_JOIN_LIMIT = 64 * 1024


def wire_form(data: bytes) -> bytes:
    """The DATA payload for ``data``: CRLF line endings, a final CRLF, dot-stuffed, the end line."""
    return dot_stuffed(data) + END_OF_DATA


def dot_stuffed(data: bytes) -> bytes:
    """``data`` with CRLF line endings, a final CRLF, and dot-stuffed (without the end line).

    RFC 5321 4.5.2: a line that starts with "." gets a second one; the data ends with CRLF "." CRLF.
    """
    crlf = data.count(b"\r\n")
    if data.count(b"\n") != crlf or data.count(b"\r") != crlf:
        data = _BARE_CR_OR_LF.sub(b"\r\n", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    stuffed = data.replace(b"\n.", b"\n..")  # every line start but the first follows an LF
    if stuffed.startswith(b"."):
        stuffed = b"." + stuffed
    return stuffed


async def send_data(client: aiosmtplib.SMTP, data: bytes) -> SMTPResponse:
    """DATA, the message, and the next hop's final reply; raises as ``client.data`` does."""
    protocol = client.protocol
    lock = getattr(protocol, "_command_lock", None)
    if protocol is None or lock is None or not hasattr(protocol, "_response_pending"):
        return await client.data(data)
    payload = dot_stuffed(data)
    start = await client.execute_command(b"DATA")
    if start.code != 354:
        raise aiosmtplib.SMTPDataError(start.code, start.message)
    try:
        async with lock:
            protocol._response_pending = True  # else the protocol drops the reply as unsolicited
            if len(payload) <= _JOIN_LIMIT:  # one write, one system call (the copy costs less)
                protocol.write(payload + END_OF_DATA)
            else:  # and the end line apart: no third copy of a large message
                protocol.write(payload)
                protocol.write(END_OF_DATA)
            response = await protocol.read_response(timeout=client.timeout)
    except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError):
        client.close()  # as client.data does: a half-read reply must not pair with a later command
        raise
    if response.code != 250:
        raise aiosmtplib.SMTPDataError(response.code, response.message)
    return response
