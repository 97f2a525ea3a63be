"""Byte-offset MIME walk and splice.

Why this module exists: the relay adds a block to the text bodies of a message and must leave every
other byte exactly as it came in (DESIGN.md, "Splice, don't re-encode").  Python's ``email`` package
parses into objects and serialises them again, which re-folds headers, re-encodes parts and breaks
DKIM signatures.  So this module scans the raw bytes itself and reports, for every MIME part, where
its headers and its body start and end in the ORIGINAL bytes.  Callers change a message only by
replacing byte ranges (:class:`Edit`, :func:`apply_edits`); the helpers here build the few header
edits the relay needs without touching the rest of a header block.

The scanner is lenient, like the mail readers that will display the result: LF-only or mixed line
endings, missing or repeated boundaries, junk before the first boundary, broken headers and unknown
charsets are all read the way Python's ``email`` parser reads them where that is sane.
:func:`parse_mime` never raises on input bytes; whatever it had to guess is recorded in
``MimePart.defects``.

:func:`choose_parts` decides which leaf parts a reader sees as the message text (and so may receive
the block) and which must be left alone, with reasons a mail admin can read.

Paths number children 1..n at each level, like IMAP section numbers.  The message enclosed by a
message/rfc822 part at path ``P`` is that part's single child ``P.1``, and its own parts are
``P.1.1``...; IMAP would call those ``P.1``... but one number per node keeps every path unique.
"""

from __future__ import annotations

import binascii
import re
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from relay_smtp.mail.charsets import codec_name, decode_replace

CRLF = b"\r\n"
LF = b"\n"

#: Multiparts and enclosed messages nested deeper than this are read as leaves (hostile input
#: must not exhaust the stack).
MAX_DEPTH = 40

#: Content-Transfer-Encodings a text body can be spliced in.
WORKABLE_CTES = frozenset({"7bit", "8bit", "binary", "quoted-printable", "base64"})

# message/* types whose body is a whole RFC 5322 message.  Other message/* types (delivery-status,
# disposition-notification, partial, external-body ...) are read as leaves.
_ENCLOSED_MESSAGE_TYPES = frozenset({"message/rfc822", "message/global", "message/news"})
_IDENTITY_CTES = frozenset({"7bit", "8bit", "binary"})
_TEXT_BODY_TYPES = frozenset({"text/plain", "text/html"})

_TOKEN = r"[!#$%&'*+\-.^_`{|}~0-9A-Za-z]+"
_MEDIA_TYPE = re.compile(_TOKEN + "/" + _TOKEN)
_PARAM_NAME = re.compile(_TOKEN)
_COMMENT = re.compile(r"\([^()]*\)")
_WHITESPACE = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
# A field line: RFC 5322 field-name, then optional WSP (obsolete syntax), then the colon.
_FIELD_NAME = re.compile(rb"([\x21-\x39\x3b-\x7e]+)[ \t]*:")
_FOLD = re.compile(rb"\r?\n(?=[ \t])")
# A quoted string (possibly unterminated) or a top-level ";": splits a structured header value.
_QUOTED_OR_SEMICOLON = re.compile(r'"(?:\\.|[^"\\])*"?|;', re.S)
_QUOTED = re.compile(r'"((?:\\.|[^"\\])*)"?', re.S)
_QUOTED_PAIR = re.compile(r'\\([\\"])')
_RFC2231_NAME = re.compile(r"(?P<base>[^*]+)\*(?:(?P<num>[0-9]{1,3})\*?)?")
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")


# --------------------------------------------------------------------------------------------
# Public data types


@dataclass(frozen=True)
class MimePart:
    """One MIME entity and where it lies in the original bytes.

    ``start <= header_end <= body_start <= body_end``.  ``header_end`` is where the blank line
    starts (or where the headers stop when there is none); ``body_start`` is just after the blank
    line.  For a child of a multipart, ``body_end`` stops before the line break that precedes the
    next boundary line: RFC 2046 says that line break belongs to the boundary.
    """

    path: str
    start: int
    header_end: int
    body_start: int
    body_end: int
    content_type: str
    params: Mapping[str, str] = field(hash=False)
    cte: str
    disposition: str | None
    filename: str | None
    inside_rfc822: bool
    children: tuple[MimePart, ...]
    defects: tuple[str, ...]

    @property
    def charset(self) -> str | None:
        value = self.params.get("charset", "").strip().lower()
        return value or None

    @property
    def is_multipart(self) -> bool:
        """True when the part is a multipart that was split into children."""
        return self.content_type.startswith("multipart/") and bool(self.children)

    def walk(self) -> Iterator[MimePart]:
        """Every part of the tree, depth first, this part first."""
        stack = [self]
        while stack:
            part = stack.pop()
            yield part
            stack.extend(reversed(part.children))


@dataclass(frozen=True)
class Edit:
    """Replace ``raw[start:end]`` with ``data`` (``start == end`` inserts)."""

    start: int
    end: int
    data: bytes

    def __post_init__(self) -> None:
        if not 0 <= self.start <= self.end:
            raise ValueError(f"bad edit range {self.start}..{self.end}")


@dataclass(frozen=True)
class Selection:
    """Which leaves receive the block, which do not and why, or why the message is left alone."""

    targets: tuple[MimePart, ...]
    skipped: tuple[tuple[str, str], ...]
    refusal: str | None


# --------------------------------------------------------------------------------------------
# Header scanning


@dataclass(frozen=True)
class HeaderField:
    """One header field and where it lies in the original bytes."""

    name: bytes  # lowercased field name
    start: int  # first byte of the field's first line
    value_start: int  # just after the colon
    end: int  # just after the field's last line break (or where the header block stops)


@dataclass(frozen=True)
class _Headers:
    fields: tuple[HeaderField, ...]
    header_end: int
    body_start: int
    defects: tuple[str, ...]


def _scan_headers(raw: bytes, start: int, end: int) -> _Headers:
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
    return _Headers(tuple(fields), header_end, body_start, tuple(defects))


def _first(fields: Sequence[HeaderField], name: bytes) -> HeaderField | None:
    return next((f for f in fields if f.name == name), None)


def _field_value(raw: bytes, f: HeaderField) -> str:
    """The unfolded value; undecodable bytes kept as surrogates so they map back to bytes."""
    value = _FOLD.sub(b"", raw[f.value_start : f.end]).strip()
    return value.decode("utf-8", "surrogateescape")


def _to_bytes(text: str) -> bytes:
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace")


def _public(text: str) -> str:
    """A printable string: UTF-8 where the bytes were UTF-8, else read as Latin-1."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _to_bytes(text).decode("latin-1")
    return text


# --------------------------------------------------------------------------------------------
# Structured header values (Content-Type, Content-Disposition)


def _segments(text: str) -> list[tuple[int, int]]:
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
    return _COMMENT.sub("", value).strip()


def _parse_structured(text: str) -> tuple[str, dict[str, str]]:
    """Split ``type/subtype; a=b; ...`` into the lowercased first item and decoded params."""
    spans = _segments(text)
    first = _WHITESPACE.sub("", _COMMENT.sub("", text[spans[0][0] : spans[0][1]])).lower()
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
        match = _RFC2231_NAME.fullmatch(name)
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
            chunks.append(_to_bytes(value))
            continue
        if number == 0:  # only the first piece carries charset'language'
            parts = value.split("'", 2)
            if len(parts) == 3:
                charset, value = parts[0], parts[2]
        chunks.append(urllib.parse.unquote_to_bytes(_to_bytes(value)))
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
    payload = _to_bytes(match.group(3))
    if match.group(2) in "qQ":
        return binascii.a2b_qp(payload, header=True)
    try:
        return binascii.a2b_base64(payload + b"=" * (-len(payload) % 4))
    except binascii.Error:
        return None


# --------------------------------------------------------------------------------------------
# Parsing


@dataclass(frozen=True)
class _Info:
    content_type: str
    params: dict[str, str]  # values as decoded from the header (may hold surrogates)
    cte: str
    disposition: str | None
    filename: str | None
    defects: tuple[str, ...]


@dataclass(frozen=True)
class _Delimiter:
    line_start: int  # the line break before "--boundary" (it belongs to the delimiter)
    dashes: int  # offset of the leading "--"
    after: int  # just after the delimiter line's own line break
    close: bool


def parse_mime(raw: bytes) -> MimePart:
    """Walk the whole message; never raises on any input bytes."""
    return _parse_entity(raw, "", 0, len(raw), "text/plain", False, 0)


def _child_path(path: str, number: int) -> str:
    return f"{path}.{number}" if path else str(number)


def _parse_entity(
    raw: bytes, path: str, start: int, end: int, default_type: str, inside: bool, depth: int
) -> MimePart:
    headers = _scan_headers(raw, start, end)
    info = _content_info(raw, headers.fields, default_type)
    defects = [*headers.defects, *info.defects]
    children: tuple[MimePart, ...] = ()
    is_container = info.content_type.startswith("multipart/") or (
        info.content_type in _ENCLOSED_MESSAGE_TYPES
    )
    if is_container and depth >= MAX_DEPTH:
        defects.append("nested too deeply; read as a leaf")
    elif info.content_type.startswith("multipart/"):
        children = _multipart_children(raw, path, headers.body_start, end, info, inside, depth, defects)
    elif info.content_type in _ENCLOSED_MESSAGE_TYPES:
        if info.cte in _IDENTITY_CTES:
            child = _parse_entity(
                raw, _child_path(path, 1), headers.body_start, end, "text/plain", True, depth + 1
            )
            children = (child,)
        else:
            defects.append(f"{info.content_type} encoded as {info.cte}; enclosed message not read")
    return MimePart(
        path=path,
        start=start,
        header_end=headers.header_end,
        body_start=headers.body_start,
        body_end=end,
        content_type=info.content_type,
        params=MappingProxyType({k: _public(v) for k, v in info.params.items()}),
        cte=info.cte,
        disposition=info.disposition,
        filename=info.filename,
        inside_rfc822=inside,
        children=children,
        defects=tuple(defects),
    )


def _content_info(raw: bytes, fields: Sequence[HeaderField], default_type: str) -> _Info:
    defects: list[str] = []
    content_type = default_type
    params: dict[str, str] = {}
    ct_field = _first(fields, b"content-type")
    if ct_field is not None:
        media, params = _parse_structured(_field_value(raw, ct_field))
        if _MEDIA_TYPE.fullmatch(media):
            content_type = media
        else:
            content_type = "text/plain"
            defects.append(f"invalid Content-Type {_public(media)!r}; read as text/plain")
    cte_field = _first(fields, b"content-transfer-encoding")
    cte = "7bit"
    if cte_field is not None:
        words = _COMMENT.sub(" ", _field_value(raw, cte_field)).replace(";", " ").split()
        cte = _public(words[0].lower()) if words else "7bit"
    disposition: str | None = None
    disposition_params: dict[str, str] = {}
    cd_field = _first(fields, b"content-disposition")
    if cd_field is not None:
        first, disposition_params = _parse_structured(_field_value(raw, cd_field))
        disposition = _public(first) or None
    filename = disposition_params.get("filename") or params.get("name") or ""
    filename = _CONTROL.sub(" ", _public(decode_encoded_words(filename))).strip()
    return _Info(content_type, params, cte, disposition, filename or None, tuple(defects))


def _multipart_children(
    raw: bytes,
    path: str,
    start: int,
    end: int,
    info: _Info,
    inside: bool,
    depth: int,
    defects: list[str],
) -> tuple[MimePart, ...]:
    """The parts between the boundary lines; () (a leaf, as in Python's email) if there are none."""
    # RFC 2046: a boundary never ends in a space; Python's email strips it too.
    boundary_param = info.params.get("boundary")
    if boundary_param is None:
        defects.append("multipart without a boundary parameter; read as a leaf")
        return ()
    boundary = _to_bytes(boundary_param.rstrip())  # may be empty, as Python's email allows
    found = _delimiters(raw, start, end, boundary)
    if not found or found[0].close:
        defects.append("multipart boundary never found; read as a leaf")
        return ()
    if info.cte not in _IDENTITY_CTES:
        defects.append(f"multipart with Content-Transfer-Encoding {info.cte}")
    if not found[-1].close:
        defects.append("missing close boundary")
    default_type = "message/rfc822" if info.content_type == "multipart/digest" else "text/plain"
    children: list[MimePart] = []
    for index, delimiter in enumerate(found[:-1] if found[-1].close else found):
        following = found[index + 1] if index + 1 < len(found) else None
        if following is not None and following.dashes == delimiter.after:
            # Python's feedparser reads no part between two adjacent boundary lines; nor do we.
            defects.append("repeated boundary line")
            continue
        part_end = following.line_start if following is not None else end
        path_here = _child_path(path, len(children) + 1)
        child = _parse_entity(raw, path_here, delimiter.after, part_end, default_type, inside, depth + 1)
        children.append(child)
    if not children:
        defects.append("multipart holds no parts; read as a leaf")
    return tuple(children)


def _delimiters(raw: bytes, start: int, end: int, boundary: bytes) -> list[_Delimiter]:
    """Boundary lines in ``raw[start:end]`` up to and including the close delimiter.

    RFC 2046: a delimiter is a line that is exactly "--" boundary, optionally "--" (close), then
    optional transport padding (spaces/tabs).  Found with bytes.find, so a large base64
    attachment costs one C-level scan.
    """
    marker = b"--" + boundary
    found: list[_Delimiter] = []
    pos = start
    while True:
        at = raw.find(marker, pos, end)
        if at < 0:
            return found
        pos = at + 1
        if at != start and raw[at - 1] != 0x0A:
            continue  # not at the start of a line
        after = _delimiter_line_end(raw, at + len(marker), end)
        if after is None:
            continue
        close = raw.startswith(b"--", at + len(marker), end)
        line_start = at
        if at != start:
            line_start = at - 2 if at - 2 >= start and raw[at - 2] == 0x0D else at - 1
        found.append(_Delimiter(line_start, at, after, close))
        if close:
            return found
        pos = after


def _delimiter_line_end(raw: bytes, pos: int, end: int) -> int | None:
    if raw.startswith(b"--", pos, end):
        pos += 2
    while pos < end and raw[pos] in (0x20, 0x09):  # transport padding
        pos += 1
    if pos == end:
        return end
    if raw[pos] == 0x0A:
        return pos + 1
    if raw.startswith(CRLF, pos, end):
        return pos + 2
    return None


# --------------------------------------------------------------------------------------------
# Reading and editing


def header_block(raw: bytes, part: MimePart) -> bytes:
    return raw[part.start : part.header_end]


def body_bytes(raw: bytes, part: MimePart) -> bytes:
    return raw[part.body_start : part.body_end]


def _part_fields(raw: bytes, part: MimePart) -> tuple[HeaderField, ...]:
    return _scan_headers(raw, part.start, part.header_end).fields


def header_fields(raw: bytes, part: MimePart) -> tuple[HeaderField, ...]:
    """The fields of the part's header block, in order, with their offsets."""
    return _part_fields(raw, part)


def field_text(raw: bytes, found: HeaderField) -> str:
    """A field's value unfolded and stripped, as ``get_header`` gives it."""
    return _public(_field_value(raw, found))


def decode_transfer(body: bytes, cte: str) -> bytes:
    """Undo a Content-Transfer-Encoding for reading (not for splicing: see ``transfer.py``)."""
    if cte == "quoted-printable":
        return binascii.a2b_qp(body)
    if cte == "base64":
        return _lenient_base64(body)
    if cte in ("x-uuencode", "uuencode", "uue", "x-uue"):
        return _uudecode(body)
    return body


def _lenient_base64(body: bytes) -> bytes:
    """Python's ``email`` rules: pad, else skip stray characters, else the body as it is."""
    encoded = b"".join(body.splitlines())
    missing = b"==="[: 4 - len(encoded) % 4] if len(encoded) % 4 else b""
    for attempt, strict in ((encoded + missing, True), (encoded, False), (encoded + b"==", False)):
        try:
            return binascii.a2b_base64(attempt, strict_mode=strict)
        except binascii.Error:
            continue
    return encoded


def _uudecode(body: bytes) -> bytes:
    out: list[bytes] = []
    started = False
    for line in body.splitlines():
        if not started:
            started = line.startswith(b"begin ")
            continue
        if line.strip() == b"end":
            break
        try:
            out.append(binascii.a2b_uu(line))
        except binascii.Error:
            # Some encoders write garbage after the counted octets; the count says what matters.
            nbytes = (((line[0] - 32) & 63) * 4 + 5) // 3 if line else 0
            try:
                out.append(binascii.a2b_uu(line[:nbytes]))
            except binascii.Error:
                continue
    return b"".join(out)


def get_header(raw: bytes, part: MimePart, name: str) -> str | None:
    """First field called ``name`` (any case), unfolded and stripped.

    Bytes are read as UTF-8 where they are valid UTF-8, else as Latin-1.  RFC 2047 encoded words
    are left as they are.
    """
    key = name.strip().lower().encode("ascii", "replace")
    found = _first(_part_fields(raw, part), key)
    return None if found is None else field_text(raw, found)


def apply_edits(raw: bytes, edits: Sequence[Edit]) -> bytes:
    """Apply non-overlapping edits given in any order; insertions at one offset keep their order."""
    pieces: list[bytes] = []
    pos = 0
    for edit in sorted(edits, key=lambda e: (e.start, e.end)):
        if edit.end > len(raw):
            raise ValueError(f"edit {edit.start}..{edit.end} beyond the message ({len(raw)})")
        if edit.start < pos:
            raise ValueError(f"overlapping edits at offset {edit.start}")
        pieces.append(raw[pos : edit.start])
        pieces.append(edit.data)
        pos = edit.end
    pieces.append(raw[pos:])
    return b"".join(pieces)


def line_ending(raw: bytes) -> bytes:
    """CRLF or LF, judged from the first line break (in the message's header block)."""
    newline = raw.find(b"\n")
    if newline < 0:
        return CRLF
    return CRLF if newline > 0 and raw[newline - 1] == 0x0D else LF


def _block_line_ending(raw: bytes, part: MimePart) -> bytes:
    newline = raw.find(b"\n", part.start, part.body_start)
    if newline < 0:
        return line_ending(raw)
    return CRLF if newline > part.start and raw[newline - 1] == 0x0D else LF


def set_header_edit(raw: bytes, part: MimePart, name: str, value: str) -> Edit:
    """Replace the first ``name`` field of the part (its whole folded extent), or add it last.

    The new field ends with the line ending its header block uses.  When the part had no blank
    line after its headers, one is added so the body stays a body.
    """
    if not re.fullmatch(rb"[\x21-\x39\x3b-\x7e]+", name.encode("utf-8")):
        raise ValueError(f"bad header name {name!r}")
    if "\r" in value or "\n" in value:
        raise ValueError("header value must not contain line breaks")
    line = f"{name}: {value}".encode()
    eol = _block_line_ending(raw, part)
    existing = _first(_part_fields(raw, part), name.lower().encode("ascii"))
    if existing is not None:
        own = raw[existing.start : existing.end]
        own_eol = CRLF if own.endswith(CRLF) else LF if own.endswith(LF) else b""
        return Edit(existing.start, existing.end, line + own_eol)
    at = part.header_end
    if at > part.start and raw[at - 1] != 0x0A:  # the last field has no line break
        return Edit(at, at, eol + line)
    data = line + eol
    if part.body_start == part.header_end and part.body_start < part.body_end:
        data += eol  # restore the missing blank line
    return Edit(at, at, data)


def set_content_type_param_edit(raw: bytes, part: MimePart, param: str, value: str) -> Edit:
    """Change or add one Content-Type parameter, keeping the rest of the field as written.

    A single plain ``param=value`` has its value replaced in place (quoted if it was quoted).
    Duplicated or RFC 2231 forms are removed and the parameter is appended.  A part without a
    usable Content-Type field gets ``Content-Type: <effective type>; param=value``.
    """
    if not _PARAM_NAME.fullmatch(param):
        raise ValueError(f"bad parameter name {param!r}")
    if not value.isascii() or any(ord(c) < 0x20 or c == "\x7f" for c in value):
        raise ValueError(f"parameter value must be printable ASCII: {value!r}")
    found = _first(_part_fields(raw, part), b"content-type")
    text = "" if found is None else raw[found.value_start : found.end].decode("latin-1")
    content = text.rstrip("\r\n")
    media = _parse_structured(content)[0] if found is not None else ""
    if found is None or not _MEDIA_TYPE.fullmatch(media):
        fresh = f"{part.content_type}; {param}={_format_param(value, quoted=False)}"
        return set_header_edit(raw, part, "Content-Type", fresh)
    prefix = found.value_start - found.start
    new = _with_param(content, param, value, prefix, _block_line_ending(raw, part))
    return Edit(found.value_start, found.value_start + len(content), new.encode("latin-1"))


def _format_param(value: str, quoted: bool) -> str:
    if quoted or not _PARAM_NAME.fullmatch(value):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value


def _with_param(text: str, param: str, value: str, prefix: int, eol: bytes) -> str:
    """``text`` (a Content-Type value, possibly folded) with ``param`` set to ``value``."""
    plain: list[tuple[int, int]] = []
    others: list[tuple[int, int]] = []
    for a, b in _segments(text)[1:]:
        name = text[a:b].partition("=")[0].strip().lower()
        match = _RFC2231_NAME.fullmatch(name)
        if name == param.lower():
            plain.append((a, b))
        elif match is not None and match.group("base") == param.lower():
            others.append((a, b))
    if len(plain) == 1 and not others and "=" in text[plain[0][0] : plain[0][1]]:
        a, b = plain[0]
        value_at = text.index("=", a, b) + 1
        old = text[value_at:b]
        value_at += len(old) - len(old.lstrip())
        value_end = a + len(text[a:b].rstrip())
        quoted = text.startswith('"', value_at)
        return text[:value_at] + _format_param(value, quoted) + text[value_end:]
    for a, b in sorted(plain + others, reverse=True):
        text = text[: a - 1] + text[b:]  # a - 1 is the ";" before the parameter
    return _append_param(text, param, value, prefix, eol)


def _append_param(text: str, param: str, value: str, prefix: int, eol: bytes) -> str:
    content = text.rstrip()
    tail = text[len(content) :]
    addition = f"{param}={_format_param(value, quoted=False)}"
    separator = " " if content.endswith(";") else "; "
    last_line = content.rsplit("\n", 1)
    line_length = len(last_line[-1]) + (prefix if len(last_line) == 1 else 0)
    if line_length + len(separator) + len(addition) > 76:
        separator = separator.rstrip() + eol.decode("ascii") + "\t"
    return content + separator + addition + tail


# --------------------------------------------------------------------------------------------
# Choosing the parts that receive the block

_REFUSED_TYPES = {
    "multipart/signed": "signed mail ({where}): changing it would break the signature",
    "multipart/encrypted": "encrypted mail ({where}): its text cannot be edited",
    "application/pkcs7-mime": "S/MIME mail ({where}): changing it would break it",
    "application/x-pkcs7-mime": "S/MIME mail ({where}): changing it would break it",
    "application/pkcs7-signature": "S/MIME signature ({where}): changing the mail would break it",
    "application/x-pkcs7-signature": "S/MIME signature ({where}): changing the mail would break it",
    "application/pgp-signature": "PGP signature ({where}): changing the mail would break it",
    "application/pgp-encrypted": "PGP encrypted mail ({where}): its text cannot be edited",
    "text/calendar": "calendar invitation ({where}): editing an invitation is risky",
    "application/ics": "calendar invitation ({where}): editing an invitation is risky",
    "message/partial": "fragment of a split message ({where}): it must be joined first",
}
_INLINE_PGP_MARKERS = (b"-----BEGIN PGP SIGNED MESSAGE-----", b"-----BEGIN PGP MESSAGE-----")
_WIDE_CODECS = frozenset({"utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"})


def choose_parts(raw: bytes, root: MimePart) -> Selection:
    """The leaf text parts a reader sees as the message text, or why nothing may be touched.

    Whole-message refusals (safest choice, documented): any signed or encrypted structure,
    calendar invitation or message/partial outside an enclosed message, even as an attachment;
    an inline PGP block in a chosen text body.  A calendar invite is refused as a whole because its
    text/plain and text/html alternatives mirror the invitation's description.
    """
    reasons: dict[str, str] = {}
    candidates = _body_targets(raw, root, reasons)
    usable = [t for t in candidates if _usable(t, reasons)]
    refusal = _structural_refusal(root) or _inline_pgp_refusal(raw, usable)
    if refusal is None and not usable:
        refusal = _no_target_refusal(candidates, reasons)
    if refusal is not None:
        for part in usable:
            reasons[part.path] = "whole message left alone"
        usable = []
    chosen = {t.path for t in usable}
    skipped = tuple(
        (leaf.path, reasons.get(leaf.path) or _leaf_reason(leaf, enclosure))
        for leaf, enclosure in _leaves(root, None)
        if leaf.path not in chosen
    )
    return Selection(tuple(usable), skipped, refusal)


def _where(part: MimePart) -> str:
    where = f"part {part.path}" if part.path else "the top level"
    return f"{part.content_type} at {where}"


def _structural_refusal(root: MimePart) -> str | None:
    for part in root.walk():
        template = _REFUSED_TYPES.get(part.content_type)
        if template is not None and not part.inside_rfc822:
            return template.format(where=_where(part))
    return None


def _is_attachment(part: MimePart) -> bool:
    return part.disposition == "attachment" or part.filename is not None


def _is_text_body(part: MimePart) -> bool:
    return not part.children and part.content_type in _TEXT_BODY_TYPES and not _is_attachment(part)


def _body_targets(raw: bytes, part: MimePart, reasons: dict[str, str]) -> list[MimePart]:
    """The text leaves that make up ``part`` as a reader sees it (before usability checks)."""
    if not part.is_multipart:
        return [part] if _is_text_body(part) else []
    subtype = part.content_type.partition("/")[2]
    if subtype == "alternative":
        return _alternative_targets(raw, part, reasons)
    if subtype == "related":
        root = _related_root(raw, part)
        for child in part.children:
            if child is not root and not child.children:
                reasons[child.path] = f"resource of the multipart/related body ({child.content_type})"
        return _body_targets(raw, root, reasons)
    if subtype == "digest":
        return []
    return _mixed_targets(raw, part, reasons)


def _alternative_targets(raw: bytes, part: MimePart, reasons: dict[str, str]) -> list[MimePart]:
    """Readers show the last alternative they understand: take the last plain and the last html."""
    chosen: dict[str, list[MimePart]] = {"text/plain": [], "text/html": []}
    for child in part.children:
        if _is_attachment(child):
            continue
        found = _body_targets(raw, child, reasons)
        for kind, earlier in chosen.items():
            later = [t for t in found if t.content_type == kind]
            if later:
                for old in earlier:
                    reasons[old.path] = f"earlier {kind} alternative; readers show the last one"
                chosen[kind] = later
    return [*chosen["text/plain"], *chosen["text/html"]]


def _related_root(raw: bytes, part: MimePart) -> MimePart:
    """RFC 2387: the part named by ``start``, else the first part.

    Leniency: when the first part is not of the root type the ``type`` parameter announces, the
    first part of that type is the root (seen in MHTML written by some tools).
    """
    start = part.params.get("start", "").strip().strip("<>").strip()
    if start:
        for child in part.children:
            content_id = get_header(raw, child, "Content-ID")
            if content_id is not None and content_id.strip().strip("<>").strip() == start:
                return child
    root_type = part.params.get("type", "").strip().lower()
    first = part.children[0]
    if root_type and first.content_type != root_type:
        return next((c for c in part.children if c.content_type == root_type), first)
    return first


def _mixed_targets(raw: bytes, part: MimePart, reasons: dict[str, str]) -> list[MimePart]:
    """The main body is the first text part or sub-multipart, looked for before any attachment."""
    for child in part.children:
        if _is_attachment(child):
            return []
        if _is_text_body(child) or (child.is_multipart and not child.inside_rfc822):
            return _body_targets(raw, child, reasons)
    return []


def _usable(part: MimePart, reasons: dict[str, str]) -> bool:
    reason = _unusable_reason(part)
    if reason is not None:
        reasons[part.path] = reason
    return reason is None


def _unusable_reason(part: MimePart) -> str | None:
    if part.body_start == part.header_end:
        # Text inserted at the body's start would be read as a header (or glued to one).
        return "no blank line after the headers"
    if part.cte not in WORKABLE_CTES:
        return f"unsupported Content-Transfer-Encoding {part.cte}"
    charset = part.charset
    if charset is None:
        return None
    codec = codec_name(charset)
    if codec is None:
        return f"unknown charset {charset}"
    if codec in _WIDE_CODECS:
        return f"charset {charset} is not line oriented"
    return None


def _inline_pgp_refusal(raw: bytes, targets: Sequence[MimePart]) -> str | None:
    for part in targets:
        body = decode_transfer(body_bytes(raw, part), part.cte)
        if any(marker in body for marker in _INLINE_PGP_MARKERS):
            return f"inline PGP block ({_where(part)}): changing it would break the signature"
    return None


def _no_target_refusal(candidates: Sequence[MimePart], reasons: Mapping[str, str]) -> str:
    problems = [f"{'part ' + p.path if p.path else 'top level'}: {reasons[p.path]}" for p in candidates]
    if problems:
        return "no usable text body to hold the block (" + "; ".join(problems) + ")"
    return "no text body to hold the block"


def _leaves(part: MimePart, enclosure: str | None) -> Iterator[tuple[MimePart, str | None]]:
    """Leaf parts with the type of the enclosed-message part they sit in, if any."""
    if not part.children:
        yield part, enclosure
        return
    if part.content_type in _ENCLOSED_MESSAGE_TYPES and enclosure is None:
        enclosure = part.content_type
    for child in part.children:
        yield from _leaves(child, enclosure)


def _leaf_reason(part: MimePart, enclosure: str | None) -> str:
    if enclosure is not None or part.inside_rfc822:
        return f"inside {enclosure or 'message/rfc822'}"
    if _is_attachment(part):
        return f"attachment ({part.filename})" if part.filename else "attachment"
    if part.content_type.startswith("multipart/"):
        return f"{part.content_type} without usable boundaries"
    if part.content_type not in _TEXT_BODY_TYPES:
        return f"{part.content_type} is not edited"
    return "text outside the main body"
