"""Insert octets into one leaf body without re-encoding what is already there.

A leaf body travels in a Content-Transfer-Encoding (RFC 2045). To add the Career Relay block we work
on the *decoded* octets (so offsets mean something), but we produce the new *encoded* body by changing
as little of the original encoding as possible:

- 7bit / 8bit / binary: the body is its own decoding; insert the octets.
- quoted-printable: the original encoded lines are kept byte for byte (soft breaks included); the
  insertion is QP-encoded on its own lines and slotted in between them. Only ``replace_encoded`` has to
  re-encode, and then only the encoded lines that hold the replaced range.
- base64: nothing can be kept (every quantum after the insertion shifts), so the body is decoded and
  re-encoded with the original line length, line ending and surrounding whitespace.

Charsets are not this module's business: everything here is octets.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from dataclasses import dataclass, field

from relay_smtp.mail.quoted_printable import qp_encode, qp_line_index, qp_line_starts, qp_lines, qp_position

__all__ = [
    "DecodedBody",
    "EncodedSlot",
    "UnsupportedPart",
    "decode_body",
    "detect_newline",
    "insert_encoded",
    "normalize_cte",
    "reencode",
    "replace_encoded",
]

_IDENTITY = frozenset({"7bit", "8bit", "binary"})
_QP = "quoted-printable"
_B64 = "base64"
_B64_DEFAULT_LINE = 76
# RFC 5322 section 2.1.1: 998 octets per line, CRLF excluded.
_MAX_LINE = 998


class UnsupportedPart(ValueError):
    """This part cannot be changed safely; the caller forwards it untouched."""


@dataclass(frozen=True)
class DecodedBody:
    """The decoded octets of a leaf body and the offsets where an insertion keeps lines intact."""

    data: bytes
    body: bytes = field(repr=False)
    kind: str

    @functools.cached_property
    def line_starts(self) -> tuple[int, ...]:
        """Worked out when asked for: the splice itself never needs them."""
        if self.kind == _QP:
            return qp_line_starts(qp_lines(self.body), len(self.data))
        return _plain_line_starts(self.data)


def normalize_cte(cte: str | None) -> str:
    """The canonical lower-case name of a Content-Transfer-Encoding; absent means 7bit."""
    value = (cte or "").strip().lower() or "7bit"
    if value in _IDENTITY or value in (_QP, _B64):
        return value
    raise UnsupportedPart(f"unsupported Content-Transfer-Encoding {cte!r}")


def detect_newline(data: bytes) -> bytes:
    """The line ending the octets use: CRLF when the first LF follows a CR, LF when it does not.

    Text without any line ending gets CRLF, the canonical form of MIME text (RFC 2046 section 4.1.1).
    """
    lf = data.find(b"\n")
    if lf > 0 and data[lf - 1 : lf] == b"\r":
        return b"\r\n"
    return b"\n" if lf >= 0 else b"\r\n"


def decode_body(body: bytes, cte: str) -> DecodedBody:
    """Decode ``body``; ``line_starts`` are where ``insert_encoded`` leaves every original line alone."""
    kind = normalize_cte(cte)
    if kind == _QP:
        data = b"".join(line.decoded for line in qp_lines(body))
    else:
        data = _b64_decode(body) if kind == _B64 else body
    return DecodedBody(data, body, kind)


def insert_encoded(body: bytes, cte: str, decoded_offset: int, insertion: bytes, newline: bytes) -> bytes:
    """Return ``body`` with ``insertion`` (decoded octets) placed at ``decoded_offset``.

    ``newline`` is the line ending the insertion uses (normally the part's own). At one of
    ``decode_body(...).line_starts`` every original line survives; any other offset works too (HTML
    needs that): quoted-printable then splits the one encoded line there with a soft break.
    """
    return EncodedSlot(body, cte, decoded_offset, decoded_offset, newline).fill(insertion)


def replace_encoded(body: bytes, cte: str, start: int, end: int, replacement: bytes, newline: bytes) -> bytes:
    """Return ``body`` with decoded octets ``[start, end)`` replaced by ``replacement``."""
    return EncodedSlot(body, cte, start, end, newline).fill(replacement)


class EncodedSlot:
    """Decoded octets ``[start, end)`` of an encoded body, located once for many replacements.

    What depends only on the body (decoding, where the range lies among the encoded lines, the
    octets kept before and after it) is worked out here; ``fill`` then costs encoding the
    replacement (and, for base64, the body: every quantum after it shifts). The relay fills one
    slot per recipient, each time with another link.
    """

    __slots__ = (
        "_after",
        "_before",
        "_error",
        "_head",
        "_tail",
        "body",
        "continues",
        "insert",
        "kind",
        "newline",
    )

    def __init__(self, body: bytes, cte: str, start: int, end: int, newline: bytes) -> None:
        self.kind = kind = normalize_cte(cte)
        self.body, self.newline, self.insert = body, newline, start == end
        self._head = self._tail = self._before = self._after = b""
        self.continues = False
        self._error: ValueError | None = None
        try:
            if kind in _IDENTITY or kind == _B64:
                data = body if kind in _IDENTITY else _b64_decode(body)
                _check_range(start, end, len(data))
                self._head, self._tail = data[:start], data[end:]
            elif start == end:
                self._qp_insertion(start)
            else:
                self._qp_replacement(start, end)
        except ValueError as error:  # UnsupportedPart too
            if start != end:
                raise
            self._error = error  # an empty insertion still leaves the body alone: raised by fill

    def _qp_insertion(self, offset: int) -> None:
        body = self.body
        position, at_line_start = qp_position(body, qp_lines(body), offset)
        # Mid-line, a soft line break ends the original line early; it decodes to nothing.
        self._head = body[:position] if at_line_start else body[:position] + b"=" + self.newline
        self._tail = body[position:]
        self.continues = bool(self._tail)

    def _qp_replacement(self, start: int, end: int) -> None:
        # Only the encoded lines that hold the range are encoded again, the replacement in them.
        lines = qp_lines(self.body)
        _check_range(start, end, sum(len(line.decoded) for line in lines))
        first, last = qp_line_index(lines, start), qp_line_index(lines, end - 1)
        head, tail = lines[first], lines[last]
        segment = b"".join(line.decoded for line in lines[first : last + 1])
        self._before = segment[: start - head.decoded_start]
        self._after = segment[end - head.decoded_start :]
        self._head, self._tail = self.body[: head.start], self.body[tail.end :]
        self.continues = tail.soft and bool(self._tail)

    def fill(self, data: bytes) -> bytes:
        """The encoded body with ``data`` (decoded octets) in the slot."""
        if self._error is not None:
            if not data:
                return self.body
            raise self._error
        if not data and self.insert:
            return self.body  # nothing inserted: not even base64 is encoded again
        if self.kind in _IDENTITY:
            return self._head + data + self._tail
        if self.kind == _B64:
            return _b64_encode_like(self.body, self._head + data + self._tail)
        segment = self._before + data + self._after
        return self._head + qp_encode(segment, self.newline, continues=self.continues) + self._tail


def reencode(like: bytes, cte: str, data: bytes) -> bytes:
    """Encode all of ``data`` in ``cte``, in the style (line length, line ending) of ``like``.

    For when every octet changes anyway: a part converted to another charset, or a 7bit part that
    must become quoted-printable to carry 8-bit octets.
    """
    kind = normalize_cte(cte)
    if kind in _IDENTITY:
        return data
    if kind == _B64:
        return _b64_encode_like(like, data)
    return qp_encode(data, detect_newline(like), continues=False)


def _check_offset(offset: int, size: int) -> None:
    if not 0 <= offset <= size:
        raise ValueError(f"decoded offset {offset} outside 0..{size}")


def _check_range(start: int, end: int, size: int) -> None:
    if start == end:
        _check_offset(start, size)
    if not 0 <= start <= end <= size:
        raise ValueError(f"decoded range {start}..{end} outside 0..{size}")


def _plain_line_starts(data: bytes) -> tuple[int, ...]:
    starts = [0]
    starts.extend(match.end() for match in re.finditer(rb"\n", data))
    if starts[-1] != len(data):
        starts.append(len(data))
    return tuple(starts)


# --- base64 ---------------------------------------------------------------------------------------

_B64_TEXT = re.compile(rb"[A-Za-z0-9+/]*={0,2}")


def _b64_decode(body: bytes) -> bytes:
    """Decode strictly: base64 that a lenient decoder would guess at cannot be re-encoded faithfully.

    Padding in the middle is accepted (some encoders emit separately padded chunks) by decoding
    each padded run on its own; binascii alone would silently stop at the first padding.
    """
    compact = re.sub(rb"[ \t\r\n]+", b"", body)
    runs = [run for run in _B64_TEXT.findall(compact) if run]
    if b"".join(runs) != compact:
        raise UnsupportedPart("base64 body contains characters outside the base64 alphabet")
    out = []
    for index, run in enumerate(runs):
        if len(run) % 4 and index == len(runs) - 1 and not run.endswith(b"="):
            run += b"=" * (-len(run) % 4)  # tolerate missing final padding
        try:
            out.append(binascii.a2b_base64(run, strict_mode=True))
        except binascii.Error as error:
            raise UnsupportedPart(f"malformed base64 body: {error}") from error
    return b"".join(out)


def _b64_encode_like(like: bytes, data: bytes) -> bytes:
    """Encode ``data`` with the line length, line ending and outer whitespace of ``like``."""
    core = like.strip()
    trailing = like[len(like.rstrip()) :]
    leading = like[: len(like) - len(like.lstrip())] if core else b""
    newline = detect_newline(core) if b"\n" in core else detect_newline(trailing)
    lines = core.split(b"\n")
    width = _b64_width([line.rstrip(b"\r") for line in lines])
    encoded = base64.b64encode(data)
    chunks = [encoded[i : i + width] for i in range(0, len(encoded), width)]
    return leading + newline.join(chunks) + trailing


def _b64_width(lines: list[bytes]) -> int:
    first = len(lines[0])
    if len(lines) > 1 and first and first % 4 == 0:
        return min(first, _MAX_LINE - 2)
    if len(lines) == 1 and first > _B64_DEFAULT_LINE:
        # One unwrapped line: keep it unwrapped as far as the 998-octet limit allows.
        return _MAX_LINE - 2
    return _B64_DEFAULT_LINE
