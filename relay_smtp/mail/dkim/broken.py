"""Finding and removing the DKIM signatures that the relay's own change broke.

Why this module exists: a rejection the relay changes may carry the sender's signature, which our
splice breaks.  Receivers count a failing signature against the message, so it is dropped, while a
signature our change left intact (it covers no changed header and no body, or an l= prefix that is
unchanged) or one that was broken before we touched the message is not ours to judge and stays.

Without DNS the signature itself (b=) cannot be checked, so a signature counts as intact when its
body hash (bh=, with its own canonicalisation and l=) matches.  Tag parsing is dkimpy's; the
canonicalisation is ``canon.py``'s.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from dkim.util import InvalidTagValueList, parse_tag_value

from relay_smtp.mail.dkim.canon import (
    HeaderField,
    canonical_body,
    canonical_field,
    header_fields,
    message_body,
    select_fields,
)

_DKIM_SIGNATURE = b"dkim-signature"
_HASHES: dict[bytes, Callable[[bytes], hashlib._Hash]] = {
    b"rsa-sha1": hashlib.sha1,
    b"rsa-sha256": hashlib.sha256,
    b"ed25519-sha256": hashlib.sha256,
}
_CANONICALISATIONS = {b"simple": False, b"relaxed": True}  # name: is it relaxed


def removable_signatures(changed: bytes, original: bytes | None = None) -> list[tuple[int, int]]:
    """Byte ranges of the DKIM-Signature fields in ``changed`` that our change broke.

    A signature is removable when:

    - with ``original``: it was intact over the original body, and now its body hash no longer
      matches, or one of the header fields its h= names (selected as a verifier would) changed;
    - without ``original``: its body hash no longer matches.

    Signatures we cannot read, or that were already broken, stay.
    """
    return _removable(changed, original, header_fields(changed))


def _removable(
    changed: bytes, original: bytes | None, read: tuple[list[HeaderField], int]
) -> list[tuple[int, int]]:
    fields, body_start = read
    if not any(f.name.lower() == _DKIM_SIGNATURE for f in fields):
        return []  # most mail: nothing to judge, and no body to canonicalise
    now = _Message(fields, message_body(changed, body_start))
    before: _Message | None = None
    if original is not None:
        original_fields, original_body_start = header_fields(original)
        before = _Message(original_fields, message_body(original, original_body_start))
    return [
        (f.start, f.end)
        for f in fields
        if f.name.lower() == _DKIM_SIGNATURE and _broken_by_change(f, now, before)
    ]


def strip_broken_signatures(original: bytes, changed: bytes) -> bytes:
    """``changed`` without the DKIM-Signature fields our change broke; all other bytes kept."""
    return stripped_and_read(original, changed)[0]


def stripped_and_read(original: bytes, changed: bytes) -> tuple[bytes, tuple[list[HeaderField], int] | None]:
    """``strip_broken_signatures``, and when nothing was stripped (the usual case) the header read of
    the result (``header_fields``), which the signer can then take instead of reading it again."""
    read = header_fields(changed)
    ranges = _removable(changed, original, read)
    if not ranges:
        return changed, read
    out = changed
    for start, end in reversed(ranges):
        out = out[:start] + out[end:]
    return out, None


@dataclass
class _Message:
    """Header fields and CRLF body of one message, with its canonical bodies computed once each."""

    fields: Sequence[HeaderField]
    body: bytes
    _canonical: dict[bool, bytes] = field(default_factory=dict)

    def canonical_body(self, relaxed: bool) -> bytes:
        found = self._canonical.get(relaxed)
        if found is None:
            found = self._canonical[relaxed] = canonical_body(self.body, relaxed)
        return found


@dataclass(frozen=True)
class _Signature:
    tags: dict[bytes, bytes]
    relaxed_headers: bool
    relaxed_body: bool
    hasher: Callable[[bytes], hashlib._Hash]
    body_hash: bytes
    length: int | None


def _read_signature(value: bytes) -> _Signature | None:
    try:
        tags = parse_tag_value(value)
        # c= as dkimpy reads it: "header/body", a missing body half meaning simple.
        parts = tags.get(b"c", b"simple/simple").split(b"/")
        if len(parts) not in (1, 2):
            return None
        header_c, body_c = (*parts, b"simple") if len(parts) == 1 else parts
        relaxed_headers, relaxed_body = _CANONICALISATIONS[header_c], _CANONICALISATIONS[body_c]
        hasher = _HASHES[tags[b"a"]]
        body_hash = base64.b64decode(re.sub(rb"\s+", b"", tags[b"bh"]), validate=True)
        length = int(tags[b"l"]) if b"l" in tags else None
    except (InvalidTagValueList, KeyError, ValueError, binascii.Error):
        return None
    return _Signature(tags, relaxed_headers, relaxed_body, hasher, body_hash, length)


def _body_matches(sig: _Signature, message: _Message) -> bool:
    canonical = message.canonical_body(sig.relaxed_body)
    if sig.length is not None:
        canonical = canonical[: sig.length]
    return sig.hasher(canonical).digest() == sig.body_hash


def _signed_values(sig: _Signature, fields: Sequence[HeaderField]) -> list[tuple[bytes, bytes]]:
    names = [n.lower() for n in re.split(rb"\s*:\s*", sig.tags.get(b"h", b"").strip()) if n]
    return [canonical_field(f.name, f.value, sig.relaxed_headers) for f in select_fields(fields, names)]


def _broken_by_change(f: HeaderField, now: _Message, before: _Message | None) -> bool:
    sig = _read_signature(f.value)
    if sig is None:
        return False
    if before is None:
        return not _body_matches(sig, now)
    if not _body_matches(sig, before):
        return False  # already broken before we touched the message
    if not _body_matches(sig, now):
        return True
    return _signed_values(sig, before.fields) != _signed_values(sig, now.fields)
