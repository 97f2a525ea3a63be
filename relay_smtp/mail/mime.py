"""Byte-offset MIME walk.

Why this module exists: the relay adds a block to the text bodies of a message and must leave every
other byte exactly as it came in (DESIGN.md, "Splice, don't re-encode").  Python's ``email`` package
parses into objects and serialises them again, which re-folds headers, re-encodes parts and breaks
DKIM signatures.  So this module scans the raw bytes itself and reports, for every MIME part, where
its headers and its body start and end in the ORIGINAL bytes.  Callers change a message only by
replacing byte ranges (``mime_edit.py``); which parts may get the block is ``choose.py``'s business,
and reading header fields ``mime_headers.py``'s.

The scanner is lenient, like the mail readers that will display the result: LF-only or mixed line
endings, missing or repeated boundaries, junk before the first boundary, broken headers and unknown
charsets are all read the way Python's ``email`` parser reads them where that is sane.
:func:`parse_mime` never raises on input bytes; whatever it had to guess is recorded in
``MimePart.defects``.

Paths number children 1..n at each level, like IMAP section numbers.  The message enclosed by a
message/rfc822 part at path ``P`` is that part's single child ``P.1``, and its own parts are
``P.1.1``...; IMAP would call those ``P.1``... but one number per node keeps every path unique.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from relay_smtp.mail.mime_headers import (
    COMMENT,
    CRLF,
    MEDIA_TYPE,
    HeaderField,
    decode_encoded_words,
    field_value,
    first_field,
    parse_structured,
    public_text,
    scan_headers,
    to_bytes,
)

__all__ = [
    "HeaderField",
    "MimePart",
    "body_bytes",
    "decode_encoded_words",
    "decode_transfer",
    "field_text",
    "get_header",
    "header_block",
    "header_fields",
    "parse_mime",
]

LF = b"\n"


#: Multiparts and enclosed messages nested deeper than this are read as leaves (hostile input
#: must not exhaust the stack).
MAX_DEPTH = 40

#: Content-Transfer-Encodings a text body can be spliced in.
WORKABLE_CTES = frozenset({"7bit", "8bit", "binary", "quoted-printable", "base64"})

# message/* types whose body is a whole RFC 5322 message.  Other message/* types (delivery-status,
# disposition-notification, partial, external-body ...) are read as leaves.
ENCLOSED_MESSAGE_TYPES = frozenset({"message/rfc822", "message/global", "message/news"})
_IDENTITY_CTES = frozenset({"7bit", "8bit", "binary"})
TEXT_BODY_TYPES = frozenset({"text/plain", "text/html"})

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


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
    #: The header fields as the walk found them: every later reader of this part's header takes
    #: them from here instead of scanning the header block again.
    fields: tuple[HeaderField, ...] = field(default=(), compare=False, repr=False)

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
    headers = scan_headers(raw, start, end)
    info = _content_info(raw, headers.fields, default_type)
    defects = [*headers.defects, *info.defects]
    children: tuple[MimePart, ...] = ()
    is_container = info.content_type.startswith("multipart/") or (info.content_type in ENCLOSED_MESSAGE_TYPES)
    if is_container and depth >= MAX_DEPTH:
        defects.append("nested too deeply; read as a leaf")
    elif info.content_type.startswith("multipart/"):
        children = _multipart_children(raw, path, headers.body_start, end, info, inside, depth, defects)
    elif info.content_type in ENCLOSED_MESSAGE_TYPES:
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
        params=MappingProxyType({k: public_text(v) for k, v in info.params.items()}),
        cte=info.cte,
        disposition=info.disposition,
        filename=info.filename,
        inside_rfc822=inside,
        children=children,
        defects=tuple(defects),
        fields=headers.fields,
    )


def _content_info(raw: bytes, fields: Sequence[HeaderField], default_type: str) -> _Info:
    defects: list[str] = []
    content_type = default_type
    params: dict[str, str] = {}
    ct_field = first_field(fields, b"content-type")
    if ct_field is not None:
        media, params = parse_structured(field_value(raw, ct_field))
        if MEDIA_TYPE.fullmatch(media):
            content_type = media
        else:
            content_type = "text/plain"
            defects.append(f"invalid Content-Type {public_text(media)!r}; read as text/plain")
    cte_field = first_field(fields, b"content-transfer-encoding")
    cte = "7bit"
    if cte_field is not None:
        words = COMMENT.sub(" ", field_value(raw, cte_field)).replace(";", " ").split()
        cte = public_text(words[0].lower()) if words else "7bit"
    disposition: str | None = None
    disposition_params: dict[str, str] = {}
    cd_field = first_field(fields, b"content-disposition")
    if cd_field is not None:
        first, disposition_params = parse_structured(field_value(raw, cd_field))
        disposition = public_text(first) or None
    filename = disposition_params.get("filename") or params.get("name") or ""
    filename = _CONTROL.sub(" ", public_text(decode_encoded_words(filename))).strip()
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
    boundary = to_bytes(boundary_param.rstrip())  # may be empty, as Python's email allows
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


# Reading


def header_block(raw: bytes, part: MimePart) -> bytes:
    return raw[part.start : part.header_end]


def body_bytes(raw: bytes, part: MimePart) -> bytes:
    return raw[part.body_start : part.body_end]


def part_fields(raw: bytes, part: MimePart) -> tuple[HeaderField, ...]:
    """The part's header fields; ``raw`` must be the bytes ``part`` was parsed from."""
    return part.fields


def header_fields(raw: bytes, part: MimePart) -> tuple[HeaderField, ...]:
    """The fields of the part's header block, in order, with their offsets."""
    return part_fields(raw, part)


def field_text(raw: bytes, found: HeaderField) -> str:
    """A field's value unfolded and stripped, as ``get_header`` gives it."""
    return public_text(field_value(raw, found))


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
    found = first_field(part_fields(raw, part), key)
    return None if found is None else field_text(raw, found)
