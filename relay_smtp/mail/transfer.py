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
import bisect
import functools
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

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
# RFC 2045 section 6.7 rule 5: encoded lines are at most 76 characters, the soft-break "=" included.
_QP_MAX_LINE = 76
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
            return _qp_line_starts(_qp_lines(self.body), len(self.data))
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
        data = b"".join(line.decoded for line in _qp_lines(body))
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
        position, at_line_start = _qp_position(body, _qp_lines(body), offset)
        # Mid-line, a soft line break ends the original line early; it decodes to nothing.
        self._head = body[:position] if at_line_start else body[:position] + b"=" + self.newline
        self._tail = body[position:]
        self.continues = bool(self._tail)

    def _qp_replacement(self, start: int, end: int) -> None:
        # Only the encoded lines that hold the range are encoded again, the replacement in them.
        lines = _qp_lines(self.body)
        _check_range(start, end, sum(len(line.decoded) for line in lines))
        first, last = _qp_line_index(lines, start), _qp_line_index(lines, end - 1)
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
        return self._head + _qp_encode(segment, self.newline, continues=self.continues) + self._tail


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
    return _qp_encode(data, detect_newline(like), continues=False)


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


# --- quoted-printable -------------------------------------------------------------------------


@dataclass(frozen=True)
class _QPLine:
    """One encoded line: where it is in the body and what it decodes to."""

    start: int  # encoded offset of the line's first character
    end: int  # encoded offset after its line ending
    decoded_start: int
    decoded: bytes  # the line's decoded octets, its hard line ending included
    text_len: int  # decoded octets before the hard line ending
    soft: bool  # ends in a soft line break: continues on the next encoded line
    text: bytes  # the encoded characters, without line ending, soft-break "=" and padding

    @property
    def decoded_end(self) -> int:
        return self.decoded_start + len(self.decoded)


# An "=" not followed by two hex digits is not an escape; lenient decoders keep it literally.
_QP_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")


@functools.lru_cache(maxsize=8)
def _qp_lines(body: bytes) -> tuple[_QPLine, ...]:
    """The encoded lines of a QP body (cached: one body is read to decode, to place and to insert,
    once per copy)."""
    lines: list[_QPLine] = []
    start = decoded_start = 0
    while start < len(body):
        lf = body.find(b"\n", start)
        end = len(body) if lf < 0 else lf + 1
        line = _qp_line(body, start, end, decoded_start)
        lines.append(line)
        decoded_start, start = line.decoded_end, end
    return tuple(lines)


def _qp_line(body: bytes, start: int, end: int, decoded_start: int) -> _QPLine:
    raw = body[start:end]
    eol = b"\r\n" if raw.endswith(b"\r\n") else b"\n" if raw.endswith(b"\n") else b""
    content = raw[: len(raw) - len(eol)]
    # RFC 2045 6.7 rule 3: trailing whitespace was added in transport; a decoder removes it.
    stripped = content.rstrip(b" \t")
    soft = stripped.endswith(b"=")
    text = stripped[:-1] if soft else stripped
    if b"=" not in text:
        decoded = text
    elif b"==" not in text and not text.endswith(b"="):
        # binascii reads "=XX" and a lone "=" as the regex does; only "==" and a final "=" differ.
        decoded = binascii.a2b_qp(text)
    else:
        decoded = _QP_ESCAPE.sub(lambda match: bytes((int(match.group(1), 16),)), text)
    return _QPLine(
        start=start,
        end=end,
        decoded_start=decoded_start,
        decoded=decoded if soft else decoded + eol,
        text_len=len(decoded),
        soft=soft,
        text=text,
    )


def _qp_positions(text: bytes) -> list[int]:
    """The offset in ``text`` before each decoded octet, then the end of ``text``."""
    positions = []
    i = 0
    while i < len(text):
        positions.append(i)
        i += 3 if _QP_ESCAPE.match(text, i) else 1
    positions.append(i)
    return positions


def _qp_line_starts(lines: Sequence[_QPLine], size: int) -> tuple[int, ...]:
    starts = [0]
    starts.extend(line.decoded_end for line in lines if not line.soft)
    if starts[-1] != size:
        starts.append(size)
    return tuple(sorted(set(starts)))


def _qp_position(body: bytes, lines: Sequence[_QPLine], offset: int) -> tuple[int, bool]:
    """The encoded offset for a decoded offset, and whether it is at the start of an encoded line."""
    for line in lines:
        if line.decoded_start == offset:
            return line.start, True
    if offset == sum(len(line.decoded) for line in lines) and (not body or body.endswith(b"\n")):
        return len(body), True
    for line in lines:
        if line.decoded_start < offset <= line.decoded_start + line.text_len:
            return line.start + _qp_positions(line.text)[offset - line.decoded_start], False
    raise ValueError(f"decoded offset {offset} is not a position in this quoted-printable body")


def _qp_line_index(lines: Sequence[_QPLine], offset: int) -> int:
    return next(i for i, line in enumerate(lines) if line.decoded_end > offset)


def _qp_encode(data: bytes, newline: bytes, *, continues: bool) -> bytes:
    """QP-encode ``data``; its ``newline`` sequences become hard line breaks.

    Any other CR or LF is encoded (=0D, =0A) so decoding gives back exactly ``data``. With
    ``continues`` the original encoded text goes on right after this, so a last line without a hard
    break ends in a soft break.
    """
    if not data:
        return b""
    pieces = data.split(newline)
    out: list[bytes] = []
    for index, piece in enumerate(pieces):
        last = index == len(pieces) - 1
        if last and not piece:
            break  # data ended with a newline
        hard = not last or not continues
        out.extend(_qp_wrap(piece, encode_final_space=hard, newline=newline))
        if not last:
            out.append(newline)
        elif continues:
            out.append(b"=" + newline)
    return b"".join(out)


def _qp_wrap(text: bytes, *, encode_final_space: bool, newline: bytes) -> list[bytes]:
    """One decoded line as encoded text, with soft breaks to stay within 76 characters.

    Each encoded line takes as many whole tokens (an octet, or its "=XX") as fit: 75 characters,
    keeping room for the "=" of a soft break, or 76 when the line's last token ends it. Where each
    line ends is found by bisecting the tokens' running lengths, not token by token.
    """
    tokens = [_QP_TOKENS[octet] for octet in text]
    if tokens and encode_final_space:
        tokens[-1] = _qp_token(text[-1], final_space_encoded=True)
    encoded = b"".join(tokens)
    if len(encoded) < _QP_MAX_LINE:  # fits: no soft break anywhere
        return [encoded]
    ends = list(itertools.accumulate(map(len, tokens)))  # ends[i]: where token i ends in encoded
    last = len(tokens) - 1
    out: list[bytes] = []
    first, start = 0, 0
    while True:
        # The first token that would take this encoded line past 75 characters, if any.
        index = bisect.bisect_right(ends, start + _QP_MAX_LINE - 1, first)
        if index > last or (index == last and encode_final_space and ends[last] - start <= _QP_MAX_LINE):
            break
        out.append(encoded[start : ends[index - 1]] + b"=" + newline)
        first, start = index, ends[index - 1]
    out.append(encoded[start:])
    return out


def _qp_token(octet: int, *, final_space_encoded: bool) -> bytes:
    """The encoded form of one octet (RFC 2045 6.7)."""
    # RFC 2045 6.7: printable ASCII except "=" stands for itself; space and tab too, except at the
    # end of an encoded line, where a transport might strip them (rule 3).
    if 33 <= octet <= 126 and octet != ord("="):
        return bytes((octet,))
    if octet in (9, 32) and not final_space_encoded:
        return bytes((octet,))
    return b"=%02X" % octet


_QP_TOKENS = tuple(_qp_token(octet, final_space_encoded=False) for octet in range(256))


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
