"""Header fields as the byte-offset MIME walk reads them: where each field lies, and the values.

Why this module exists: the MIME walk (``mime.py``) and the header edits (``mime_edit.py``) both need
to find fields in the original bytes and read structured values (Content-Type parameters with their
RFC 2231 forms, RFC 2047 encoded words) the lenient way Python's ``email`` reads them. Values keep
undecodable bytes as surrogates so they map back to the original octets.
"""

from __future__ import annotations

import binascii
import re
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from relay_smtp.mail.charsets import decode_replace

CRLF = b"\r\n"

_TOKEN = r"[!#$%&'*+\-.^_`{|}~0-9A-Za-z]+"
MEDIA_TYPE = re.compile(_TOKEN + "/" + _TOKEN)
PARAM_NAME = re.compile(_TOKEN)
COMMENT = re.compile(r"\([^()]*\)")
_WHITESPACE = re.compile(r"\s+")
# A field line: RFC 5322 field-name, then optional WSP (obsolete syntax), then the colon.
_FIELD_NAME = re.compile(rb"([\x21-\x39\x3b-\x7e]+)[ \t]*:")
_FOLD = re.compile(rb"\r?\n(?=[ \t])")
# A quoted string (possibly unterminated) or a top-level ";": splits a structured header value.
_QUOTED_OR_SEMICOLON = re.compile(r'"(?:\\.|[^"\\])*"?|;', re.S)
_QUOTED = re.compile(r'"((?:\\.|[^"\\])*)"?', re.S)
_QUOTED_PAIR = re.compile(r'\\([\\"])')
RFC2231_NAME = re.compile(r"(?P<base>[^*]+)\*(?:(?P<num>[0-9]{1,3})\*?)?")
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")


@dataclass(frozen=True)
class HeaderField:
    """One header field and where it lies in the original bytes."""

    name: bytes  # lowercased field name
    start: int  # first byte of the field's first line
    value_start: int  # just after the colon
    end: int  # just after the field's last line break (or where the header block stops)


@dataclass(frozen=True)
class HeaderBlock:
    fields: tuple[HeaderField, ...]
    header_end: int
    body_start: int
    defects: tuple[str, ...]


def scan_headers(raw: bytes, start: int, end: int) -> HeaderBlock:
    """Find the fields of the header block that starts at ``start`` and where it ends.

    Like Python's feedparser, a line that is neither a field, a continuation (leading WSP) nor an
    mbox "From " line ends the headers even without the blank line.
    """
    fields: list[HeaderField] = []
    defects: list[str] = []
    pending: tuple[bytes, int, int] | None = None
    header_end = body_start = end
    pos = start
    while pos < end:
        newline = raw.find(b"\n", pos, end)
        line_end = end if newline < 0 else newline + 1
        first = raw[pos]
        if first == 0x0A or raw.startswith(CRLF, pos, end):
            header_end, body_start = pos, line_end
            break
        if first in (0x20, 0x09):  # folded continuation of the previous field
            if pos == start:
                defects.append("header block starts with a continuation line")
            pos = line_end
            continue
        if pending is not None:
            fields.append(HeaderField(pending[0], pending[1], pending[2], pos))
            pending = None
        match = _FIELD_NAME.match(raw, pos, line_end)
        if match is not None:
            pending = (match.group(1).lower(), pos, match.end())
        elif not raw.startswith(b"From ", pos, end):
            header_end = body_start = pos
            defects.append("no blank line between headers and body")
            break
        pos = line_end
    if pending is not None:
        fields.append(HeaderField(pending[0], pending[1], pending[2], header_end))
    return HeaderBlock(tuple(fields), header_end, body_start, tuple(defects))


def first_field(fields: Sequence[HeaderField], name: bytes) -> HeaderField | None:
    return next((f for f in fields if f.name == name), None)


def field_value(raw: bytes, f: HeaderField) -> str:
    """The unfolded value; undecodable bytes kept as surrogates so they map back to bytes."""
    value = _FOLD.sub(b"", raw[f.value_start : f.end]).strip()
    return value.decode("utf-8", "surrogateescape")


def to_bytes(text: str) -> bytes:
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace")


def public_text(text: str) -> str:
    """A printable string: UTF-8 where the bytes were UTF-8, else read as Latin-1."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return to_bytes(text).decode("latin-1")
    return text


# Structured header values (Content-Type, Content-Disposition)


def param_segments(text: str) -> list[tuple[int, int]]:
    """Spans of the ";"-separated pieces of a structured value (quoted ";" do not count)."""
    cuts = [m.start() for m in _QUOTED_OR_SEMICOLON.finditer(text) if m.group() == ";"]
    starts = [0, *(c + 1 for c in cuts)]
    ends = [*cuts, len(text)]
    return list(zip(starts, ends, strict=True))


def _unquote(value: str) -> str:
    value = value.strip()
    if value.startswith('"'):
        match = _QUOTED.match(value)
        inner = match.group(1) if match else value[1:]
        return _QUOTED_PAIR.sub(r"\1", inner)
    return COMMENT.sub("", value).strip()


def parse_structured(text: str) -> tuple[str, dict[str, str]]:
    """Split ``type/subtype; a=b; ...`` into the lowercased first item and decoded params."""
    spans = param_segments(text)
    first = _WHITESPACE.sub("", COMMENT.sub("", text[spans[0][0] : spans[0][1]])).lower()
    pairs: list[tuple[str, str]] = []
    for a, b in spans[1:]:
        name, eq, value = text[a:b].partition("=")
        name = name.strip().lower()
        if eq and name:
            pairs.append((name, _unquote(value)))
    return first, _decode_params(pairs)


def _decode_params(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    """First occurrence wins; RFC 2231 forms (name*, name*0, name*1*) win over plain ones."""
    plain: dict[str, str] = {}
    extended: dict[str, dict[int, tuple[str, bool]]] = {}
    for name, value in pairs:
        match = RFC2231_NAME.fullmatch(name)
        if match is None:
            plain.setdefault(name, value)
            continue
        number = int(match.group("num") or 0)
        pieces = extended.setdefault(match.group("base"), {})
        pieces.setdefault(number, (value, name.endswith("*")))
    for base, pieces in extended.items():
        plain[base] = _join_rfc2231(pieces)
    return plain


def _join_rfc2231(pieces: Mapping[int, tuple[str, bool]]) -> str:
    """RFC 2231: join numbered pieces; *-marked pieces are %-encoded in the first piece's charset."""
    charset: str | None = None
    chunks: list[bytes] = []
    for number in sorted(pieces):
        value, encoded = pieces[number]
        if not encoded:
            chunks.append(to_bytes(value))
            continue
        if number == 0:  # only the first piece carries charset'language'
            parts = value.split("'", 2)
            if len(parts) == 3:
                charset, value = parts[0], parts[2]
        chunks.append(urllib.parse.unquote_to_bytes(to_bytes(value)))
    return decode_replace(b"".join(chunks), charset)


def decode_encoded_words(text: str, decode: Callable[[bytes, str | None], str] = decode_replace) -> str:
    """Decode RFC 2047 encoded words; adjacent words are joined before decoding (RFC 2047 6.2).

    ``decode`` turns a word's octets and charset into text (the classifier reads leniently).
    """
    if "=?" not in text:
        return text
    out: list[str] = []
    pending: list[bytes] = []
    pending_charset = ""
    after_word = False
    pos = 0
    for match in _ENCODED_WORD.finditer(text):
        gap = text[pos : match.start()]
        data = _encoded_word_bytes(match)
        charset = match.group(1).split("*", 1)[0].lower()  # RFC 2231 adds *language
        adjacent = after_word and not gap.strip()  # whitespace between two words is not shown
        if pending and (data is None or not adjacent or charset != pending_charset):
            out.append(decode(b"".join(pending), pending_charset))
            pending = []
        if data is None or not adjacent:
            out.append(gap)
        if data is None:
            out.append(match.group(0))
        else:
            pending.append(data)
            pending_charset = charset
        after_word = data is not None
        pos = match.end()
    if pending:
        out.append(decode(b"".join(pending), pending_charset))
    out.append(text[pos:])
    return "".join(out)


def _encoded_word_bytes(match: re.Match[str]) -> bytes | None:
    payload = to_bytes(match.group(3))
    if match.group(2) in "qQ":
        return binascii.a2b_qp(payload, header=True)
    try:
        return binascii.a2b_base64(payload + b"=" * (-len(payload) % 4))
    except binascii.Error:
        return None
