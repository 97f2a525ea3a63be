"""Quoted-printable bodies line by line: each encoded line and what it decodes to, and the encoder.

Why this module exists: the splice keeps a quoted-printable body's encoded lines byte for byte and
encodes only what it inserts (see ``transfer.py``). That needs to know, for every encoded line, where
it lies, what it decodes to and whether it ends in a soft break; and an encoder that writes the new
lines the way RFC 2045 section 6.7 asks (76 characters at most, soft breaks, trailing white space
encoded).
"""

from __future__ import annotations

import binascii
import bisect
import functools
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["QPLine", "qp_encode", "qp_line_index", "qp_line_starts", "qp_lines", "qp_position"]

# RFC 2045 section 6.7 rule 5: encoded lines are at most 76 characters, the soft-break "=" included.
_QP_MAX_LINE = 76


@dataclass(frozen=True)
class QPLine:
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
def qp_lines(body: bytes) -> tuple[QPLine, ...]:
    """The encoded lines of a QP body (cached: one body is read to decode, to place and to insert,
    once per copy)."""
    lines: list[QPLine] = []
    start = decoded_start = 0
    while start < len(body):
        lf = body.find(b"\n", start)
        end = len(body) if lf < 0 else lf + 1
        line = _qp_line(body, start, end, decoded_start)
        lines.append(line)
        decoded_start, start = line.decoded_end, end
    return tuple(lines)


def _qp_line(body: bytes, start: int, end: int, decoded_start: int) -> QPLine:
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
    return QPLine(
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


def qp_line_starts(lines: Sequence[QPLine], size: int) -> tuple[int, ...]:
    starts = [0]
    starts.extend(line.decoded_end for line in lines if not line.soft)
    if starts[-1] != size:
        starts.append(size)
    return tuple(sorted(set(starts)))


def qp_position(body: bytes, lines: Sequence[QPLine], offset: int) -> tuple[int, bool]:
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


def qp_line_index(lines: Sequence[QPLine], offset: int) -> int:
    return next(i for i, line in enumerate(lines) if line.decoded_end > offset)


def qp_encode(data: bytes, newline: bytes, *, continues: bool) -> bytes:
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


@functools.lru_cache(maxsize=1024)
def _qp_wrap(text: bytes, *, encode_final_space: bool, newline: bytes) -> tuple[bytes, ...]:
    """One decoded line as encoded text, with soft breaks to stay within 76 characters.

    Cached: a part that must become quoted-printable as a whole is encoded again for every
    recipient's copy, and all its lines but the block's are the same each time.

    Each encoded line takes as many whole tokens (an octet, or its "=XX") as fit: 75 characters,
    keeping room for the "=" of a soft break, or 76 when the line's last token ends it. Where each
    line ends is found by bisecting the tokens' running lengths, not token by token.
    """
    if _QP_LITERAL.fullmatch(text) and not (encode_final_space and text[-1:] in b" \t"):
        return _qp_wrap_literal(text, encode_final_space=encode_final_space, newline=newline)
    tokens = [_QP_TOKENS[octet] for octet in text]
    if tokens and encode_final_space:
        tokens[-1] = _qp_token(text[-1], final_space_encoded=True)
    encoded = b"".join(tokens)
    if len(encoded) < _QP_MAX_LINE:  # fits: no soft break anywhere
        return (encoded,)
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
    return tuple(out)


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


# Octets that stand for themselves anywhere in an encoded line (space and tab but at its end).
_QP_LITERAL = re.compile(rb"[\x21-\x3c\x3e-\x7e \t]*")


def _qp_wrap_literal(text: bytes, *, encode_final_space: bool, newline: bytes) -> tuple[bytes, ...]:
    """``_qp_wrap`` of a line whose every octet is its own token: lines of 75 octets and a soft
    break, the last one up to 75 octets (76 when nothing follows it on that line)."""
    out: list[bytes] = []
    start = 0
    while True:
        left = len(text) - start
        if left <= _QP_MAX_LINE - 1 or (left == _QP_MAX_LINE and encode_final_space):
            break
        out.append(text[start : start + _QP_MAX_LINE - 1] + b"=" + newline)
        start += _QP_MAX_LINE - 1
    out.append(text[start:])
    return tuple(out)
