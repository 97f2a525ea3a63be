"""DKIM canonicalisation (RFC 6376 section 3.4) and the header scan it reads, in whole-buffer passes.

Why this module exists: signing re-hashes every rejection the relay changes, and removing broken
signatures hashes the body again per signature.  dkimpy's canonicalisation runs a regex whose every
match is a Python-level replacement over each whitespace run of the body; on a 20 KB message that
cost more than the RSA operation itself.  Here each step is one C-level pass over the whole body (a
regex that starts with a literal, so that ``re`` searches for it instead of trying every position),
a usual CRLF header is split into fields by two regex passes, and only the header fields a signature
names are canonicalised.

The results are byte for byte dkimpy's, quirks included, because a verifier built on dkimpy must
compute the same hash (``tests/test_dkim_canon.py`` compares the two on random input):

- relaxed body: whitespace before a CRLF is removed, other runs of SP/HTAB become one SP, trailing
  empty lines are dropped; a body whose last line has no CRLF gets one *after* that, so trailing
  whitespace on such a line stays as one SP; an empty result is empty (not CRLF);
- simple body: trailing empty lines are dropped, a missing final CRLF is added, an empty body is CRLF;
- relaxed header: the name lowercased, the value unfolded (CR before LF and LF removed), runs of
  SP/HTAB made one SP, then ``bytes.strip`` (which also strips CR, LF, VT and FF at either end).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

_CRLF = b"\r\n"
# The relaxed body in three passes, each pattern starting with a literal so that ``re`` finds its
# candidates at C speed (faster than one pass with an alternation, or than bytes.translate): a run
# starting with a tab becomes one space, then every run of spaces one space, then a space before
# CRLF goes.  A run of SP and HTAB anywhere thus ends as one SP, and before CRLF as nothing.
_TAB_RUNS = re.compile(rb"\t[\t ]*")
_SPACE_RUNS = re.compile(rb"   *")
_SPACE_BEFORE_CRLF = re.compile(rb" \r\n")
_WSP_RUNS = re.compile(rb"[\t ]+")
# An LF without a CR before it.  The literal comes first so that ``re`` jumps from LF to LF; with the
# lookbehind first (or two ``bytes.count`` scans) it is three times slower.
_BARE_LF = re.compile(rb"\n(?<!\r\n)")
_FIELD_NAME = re.compile(rb"([\x21-\x7e]+?):")  # dkimpy's rfc822_parse rule
# A field with its continuation lines, each ending in LF, and a run of such fields.  A field line
# starts with a name character and a continuation with whitespace, so the run splits into fields
# in one way only, the way _FIELD.finditer splits it.
_FIELD = re.compile(rb"([\x21-\x7e]+?):([^\n]*\n(?:[ \t][^\n]*\n)*)")
_FIELDS = re.compile(rb"(?:[\x21-\x7e]+?:[^\n]*\n(?:[ \t][^\n]*\n)*)*")


class HeaderField(NamedTuple):
    """One header field of a raw message: where it is, and its name and value as dkimpy holds them.

    ``value`` is everything after the colon with each physical line ending in CRLF, exactly as
    ``dkim.rfc822_parse`` stores it, so canonicalising it gives what a verifier computes.  (A
    NamedTuple: a message's fields are made on every signature, and a frozen dataclass costs three
    times as much to create.)
    """

    name: bytes
    value: bytes
    start: int
    end: int  # just past the field's last line ending


def header_fields(message: bytes) -> tuple[list[HeaderField], int]:
    """The header fields of ``message`` and the offset where its body starts.

    CRLF or bare LF line endings.  Where dkimpy raises, this reads the header the way Postfix and
    Python's ``email`` do, so that what we sign is what most receivers will hash: a line that is
    neither a field nor a continuation ends the header and is the first line of the body (RFC 5322
    requires an empty line there; the sender forgot it).  A leading mbox ``From `` line is skipped.
    """
    # The usual header (fields, CRLF throughout, then an empty line) in two regex passes; its
    # values are then already in dkimpy's form.  Anything else is read line by line.
    fields = _FIELDS.match(message)
    end = fields.end() if fields else 0  # (the pattern matches the empty string: always a match)
    if message.startswith(_CRLF, end) and _plain_crlf(message, end):
        found = [HeaderField(m[1], m[2], m.start(), m.end()) for m in _FIELD.finditer(message, 0, end)]
        return found, end + 2
    return _header_fields_by_line(message)


def _plain_crlf(message: bytes, end: int) -> bool:
    """Every line before ``end`` ends in exactly one CR and an LF."""
    return _BARE_LF.search(message, 0, end) is None and message.find(b"\r\r", 0, end) < 0


def _header_fields_by_line(message: bytes) -> tuple[list[HeaderField], int]:
    fields: list[HeaderField] = []
    name, start, pos = b"", 0, 0
    lines: list[bytes] = []
    while pos < len(message):
        nl = message.find(b"\n", pos)
        end = len(message) if nl == -1 else nl + 1
        line = message[pos:end].rstrip(b"\r\n")
        if line[:1] in (b" ", b"\t"):
            if lines:  # a continuation with no field before it is dropped, as dkimpy and email do
                lines.append(line)
            pos = end
            continue
        if lines:
            fields.append(_field(name, lines, start, pos))
            lines = []
        if not line:
            return fields, end
        match = _FIELD_NAME.match(line)
        if match:
            name, lines, start = match.group(1), [line[match.end() :]], pos
        elif not (pos == 0 and line.startswith(b"From ")):
            return fields, pos
        pos = end
    if lines:
        fields.append(_field(name, lines, start, pos))
    return fields, len(message)


def _field(name: bytes, lines: list[bytes], start: int, end: int) -> HeaderField:
    return HeaderField(name, b"".join(line + _CRLF for line in lines), start, end)


def message_body(message: bytes, body_start: int) -> bytes:
    """The body with CRLF line endings, as ``dkim.rfc822_parse`` returns it."""
    body = message[body_start:]
    if _BARE_LF.search(body) is None:
        return body  # already CRLF throughout (SMTP's DATA always is): nothing to change
    return _CRLF.join(re.split(b"\r?\n", body))


# --------------------------------------------------------------------------- bodies


def simple_body(body: bytes) -> bytes:
    """RFC 6376 section 3.4.3: trailing empty lines dropped, a missing final CRLF added."""
    if not body.endswith(_CRLF):
        return body + _CRLF
    end = len(body)
    while body.endswith(_CRLF, 0, end - 2):
        end -= 2
    return body if end == len(body) else body[:end]


def relaxed_body(body: bytes) -> bytes:
    """RFC 6376 section 3.4.4, as dkimpy computes it (see the module docstring)."""
    if b"\t" in body:
        body = _TAB_RUNS.sub(b" ", body)
    body = simple_body(_SPACE_BEFORE_CRLF.sub(_CRLF, _SPACE_RUNS.sub(b" ", body)))
    return b"" if body == _CRLF else body


def canonical_body(body: bytes, relaxed: bool) -> bytes:
    return relaxed_body(body) if relaxed else simple_body(body)


# --------------------------------------------------------------------------- headers


def relaxed_value(value: bytes) -> bytes:
    """A header value unfolded, its whitespace runs made one SP, stripped (no CRLF added)."""
    # Removing every CRLF and then every remaining LF is what dkimpy's ``\r?\n`` removal does: the
    # first pass cannot create a CRLF the second would treat differently, as it removes only LFs.
    value = value.replace(_CRLF, b"")
    if b"\n" in value:
        value = value.replace(b"\n", b"")
    if b"\t" in value or b"  " in value:  # most values have single spaces only: nothing to compress
        value = _WSP_RUNS.sub(b" ", value)
    return value.strip()


def canonical_field(name: bytes, value: bytes, relaxed: bool) -> tuple[bytes, bytes]:
    """(name, value) as a verifier hashes them, joined by a colon; ``value`` as in HeaderField."""
    if relaxed:
        return name.lower().rstrip(), relaxed_value(value) + _CRLF
    return name, value


def relaxed_fields(fields: Sequence[HeaderField]) -> bytes:
    """The fields canonicalised as ``canonical_field`` does, each followed by CRLF, concatenated."""
    return b"".join([f.name.lower().rstrip() + b":" + relaxed_value(f.value) + _CRLF for f in fields])


def select_fields(fields: Sequence[HeaderField], names: Sequence[bytes]) -> list[HeaderField]:
    """The fields an h= list names, in h= order (RFC 6376 section 5.4.2, as dkimpy selects them).

    Each repetition of a name takes the next instance upwards from the bottom of the header; a name
    with no instance left selects nothing (a verifier hashes nothing for it).  ``names`` are lowercase.
    """
    positions: dict[bytes, list[HeaderField]] = {}
    for f in fields:
        positions.setdefault(f.name.lower(), []).append(f)
    selected: list[HeaderField] = []
    for name in names:
        remaining = positions.get(name)
        if remaining:
            selected.append(remaining.pop())
    return selected
