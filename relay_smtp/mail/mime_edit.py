"""Byte-range edits of a message: replace ranges of the original bytes, and the header edits the relay makes.

Why this module exists: the relay changes a message only by replacing byte ranges (``Edit``,
``apply_edits``), so that every byte it does not mean to change stays exactly as it came in. The
header edits here (set a field, set one Content-Type parameter) touch one field and keep the folding,
the line endings and the other parameters of the header block as written.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from relay_smtp.mail.mime import LF, MimePart, part_fields
from relay_smtp.mail.mime_headers import (
    CRLF,
    MEDIA_TYPE,
    PARAM_NAME,
    RFC2231_NAME,
    first_field,
    param_segments,
    parse_structured,
)

__all__ = ["Edit", "apply_edits", "line_ending", "set_content_type_param_edit", "set_header_edit"]


@dataclass(frozen=True)
class Edit:
    """Replace ``raw[start:end]`` with ``data`` (``start == end`` inserts)."""

    start: int
    end: int
    data: bytes

    def __post_init__(self) -> None:
        if not 0 <= self.start <= self.end:
            raise ValueError(f"bad edit range {self.start}..{self.end}")


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
    existing = first_field(part_fields(raw, part), name.lower().encode("ascii"))
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
    if not PARAM_NAME.fullmatch(param):
        raise ValueError(f"bad parameter name {param!r}")
    if not value.isascii() or any(ord(c) < 0x20 or c == "\x7f" for c in value):
        raise ValueError(f"parameter value must be printable ASCII: {value!r}")
    found = first_field(part_fields(raw, part), b"content-type")
    text = "" if found is None else raw[found.value_start : found.end].decode("latin-1")
    content = text.rstrip("\r\n")
    media = parse_structured(content)[0] if found is not None else ""
    if found is None or not MEDIA_TYPE.fullmatch(media):
        fresh = f"{part.content_type}; {param}={_format_param(value, quoted=False)}"
        return set_header_edit(raw, part, "Content-Type", fresh)
    prefix = found.value_start - found.start
    new = _with_param(content, param, value, prefix, _block_line_ending(raw, part))
    return Edit(found.value_start, found.value_start + len(content), new.encode("latin-1"))


def _format_param(value: str, quoted: bool) -> str:
    if quoted or not PARAM_NAME.fullmatch(value):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value


def _with_param(text: str, param: str, value: str, prefix: int, eol: bytes) -> str:
    """``text`` (a Content-Type value, possibly folded) with ``param`` set to ``value``."""
    plain: list[tuple[int, int]] = []
    others: list[tuple[int, int]] = []
    for a, b in param_segments(text)[1:]:
        name = text[a:b].partition("=")[0].strip().lower()
        match = RFC2231_NAME.fullmatch(name)
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
