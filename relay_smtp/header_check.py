"""Is the top-level header section one that every reader (and every DKIM verifier) reads alike?

The relay changes a rejection and signs the result. Verifiers disagree about a header section with a
line that is neither a field nor a continuation (an mbox "From " line at the top or among the
fields, a stray text line): they draw the header/body boundary elsewhere than we do and the body
hash fails. A message with several From fields, or one without an address the relay can read,
cannot be signed for its From domain at all (and DMARC would fail), nor credited to a company. Such
a message is forwarded untouched; this module says why.
"""

from __future__ import annotations

import re
from email.utils import getaddresses

from relay_smtp.mail.mime import MimePart
from relay_smtp.sender_company import FromField

_FIELD = re.compile(rb"[!-9;-~]+[ \t]*:")  # RFC 5322 field name (and obsolete WSP before the colon)
_PARSER_DEFECTS = ("no blank line between headers and body", "header block starts with a continuation line")


def header_problem(raw: bytes, root: MimePart, sender: FromField | None = None) -> str | None:
    """Why the header section must not be changed, or None when it is sound.

    ``sender``: the From as the pipeline already parsed it; its addresses are taken when its text is
    the value read here (the usual one-line From), so the value is not parsed twice."""
    for defect in root.defects:
        if defect in _PARSER_DEFECTS:
            return f"malformed header section: {defect}"
    from_values: list[bytes] = []
    in_from = False
    for line in raw[root.start : root.header_end].splitlines():
        if line[:1] in (b" ", b"\t"):
            if in_from:
                from_values[-1] += b" " + line.strip()
            continue
        if line.startswith(b"From "):
            return "malformed header section: an mbox 'From ' line among the fields"
        match = _FIELD.match(line)
        if match is None:
            return "malformed header section: a line that is neither a field nor a continuation"
        in_from = match.group().rstrip(b": \t").lower() == b"from"
        if in_from:
            from_values.append(line[match.end() :].strip())
    return _from_problem(from_values, sender)


def _from_problem(values: list[bytes], sender: FromField | None) -> str | None:
    if not values:
        return "no From field"
    if len(values) > 1:
        return f"{len(values)} From fields"
    text = values[0].decode("utf-8", "replace")
    parsed = sender.addresses if sender is not None and sender.text == text else getaddresses([text])
    addresses = [a for _, a in parsed if a.partition("@")[0] and a.partition("@")[2]]
    if not addresses:
        return "the From field has no address the relay can read"
    return None
