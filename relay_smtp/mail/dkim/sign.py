"""DKIM signing: one DKIM-Signature per key of the From domain, prepended to the message.

Why this module exists: the relay changes rejection mail (it splices in a referral block), which
breaks the signature the sender's mail system may have made, and without a valid signature aligned
with the From domain the message fails DMARC at the receiver.  So the changed message is signed again
for its From domain, with every key configured for it (RSA and Ed25519 side by side).

Canonicalisation (``canon.py``) and hashing are done here with ``hashlib`` over whole buffers; the
private-key operation uses ``cryptography``.  The header is assembled here, and what is hashed is
exactly what is emitted: the folded header with an empty b= (RFC 6376 section 3.7).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email.utils import getaddresses

from relay_smtp.config import DkimKey
from relay_smtp.mail.dkim.canon import (
    HeaderField,
    header_fields,
    message_body,
    relaxed_body,
    relaxed_fields,
    relaxed_value,
    select_fields,
)
from relay_smtp.mail.dkim.keys import DkimKeyError, LoadedKey, load_key, normalise_domain

#: Header fields signed when present, in this order (RFC 6376 section 5.4.1's list plus the list
#: headers of RFC 2369/8058 and our own marker).  Received, Return-Path and the like are left out:
#: later hops add or rewrite them.
SIGNED_HEADERS: tuple[str, ...] = (
    *("from", "sender", "reply-to", "subject", "date", "message-id", "to", "cc", "in-reply-to", "references"),
    *("mime-version", "content-type", "content-transfer-encoding", "content-id", "content-description"),
    *("resent-date", "resent-from", "resent-sender", "resent-to", "resent-cc", "resent-message-id"),
    *("list-id", "list-help", "list-unsubscribe", "list-unsubscribe-post", "list-subscribe", "list-post"),
    *("list-owner", "list-archive"),
    "x-career-relay",
)

#: Fields named once more in h= than they occur.  A verifier then hashes an empty extra instance, so
#: a later hop that adds another From (or Subject, Date, To) breaks the signature instead of getting
#: its own value shown under our signature.  Absent fields are not named at all: a next hop that adds
#: a missing Date or To (Postfix does, for mail it considers local) must not break the signature.
OVERSIGNED_HEADERS = frozenset({"from", "subject", "date", "to"})

_SIGNED = tuple(name.encode() for name in SIGNED_HEADERS)
_OVERSIGNED = frozenset(name.encode() for name in OVERSIGNED_HEADERS)
_FOLD_WIDTH = 78
_STAMP = b"\x00"  # stands for each digit of t= while the tags are folded; no tag can contain it

#: The usual From value, ``Name <local@domain>`` or a bare ``local@domain``, whose domain is read
#: without Python's address parser (a character-by-character Python loop).  Only what the parser
#: reads the same way qualifies: a display name without RFC 5322 specials (no quotes, comments,
#: groups or lists), a dot-atom local part and a dotted domain; anything else goes to the parser
#: (tests/test_dkim_canon.py compares the two).
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOMAIN = r"([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)"
_SIMPLE_FROM = re.compile(
    rf"[ \t]*(?:[^\x00-\x08\x0a-\x1f\x7f\"(),.:;<>@\[\]\\]*<{_ATEXT}(?:\.{_ATEXT})*@{_DOMAIN}>"
    rf"|{_ATEXT}(?:\.{_ATEXT})*@{_DOMAIN})[ \t]*"
)


def from_domain(fields: Sequence[HeaderField]) -> tuple[str | None, str]:
    """The domain of the From header (DMARC's RFC5322.From domain), or None and why not."""
    values = [f.value for f in fields if f.name.lower() == b"from"]
    if not values:
        return None, "no From header"
    if len(values) > 1:
        return None, "several From headers"
    text = re.sub(r"\r?\n", "", values[0].decode("utf-8", errors="replace"))
    simple = _SIMPLE_FROM.fullmatch(text)
    if simple is not None:
        return normalise_domain(simple[1] or simple[2]), ""
    return _parsed_from_domain(text)


def _parsed_from_domain(text: str) -> tuple[str | None, str]:
    """The From domain as Python's address parser reads the unfolded value."""
    addresses = [addr for _, addr in getaddresses([text]) if "@" in addr]
    domains = {normalise_domain(addr.rpartition("@")[2]) for addr in addresses}
    domains.discard("")
    if len(domains) != 1:
        return None, "From has no parsable address" if not domains else "From names several domains"
    return domains.pop(), ""


@dataclass(frozen=True)
class SignResult:
    """The message as it should be sent, and what signed it (or why nothing did)."""

    message: bytes
    domain: str | None = None
    selectors: tuple[str, ...] = ()
    reason: str | None = None

    @property
    def signed(self) -> bool:
        return bool(self.selectors)


class DkimSigner:
    """Signs outgoing mail with the keys configured for its From domain."""

    def __init__(self, keys: Sequence[DkimKey], *, parent_domains: bool = False) -> None:
        self.parent_domains = parent_domains
        self._table: dict[str, tuple[LoadedKey, ...]] = {}
        for key in keys:
            self._add(load_key(key))

    @classmethod
    def from_keys(cls, keys: Iterable[LoadedKey], *, parent_domains: bool = False) -> DkimSigner:
        """A signer for keys already in memory (a generated development key, tests)."""
        signer = cls((), parent_domains=parent_domains)
        for key in keys:
            signer._add(key)
        return signer

    def _add(self, key: LoadedKey) -> None:
        same_domain = self._table.get(key.domain, ())
        if any(k.selector == key.selector for k in same_domain):
            config = DkimKey(key.domain, key.selector, key.key_file, key.algorithm)
            raise DkimKeyError(config, f"selector {key.selector} is configured twice for {key.domain}")
        self._table[key.domain] = (*same_domain, key)

    @property
    def domains(self) -> tuple[str, ...]:
        return tuple(self._table)

    def keys_for(self, from_domain: str) -> tuple[LoadedKey, ...]:
        """The keys for a From domain; with parent_domains, those of the nearest parent that has some.

        hr.acme.co.jp falls back to acme.co.jp (DMARC's relaxed alignment accepts a signature by the
        organisational domain).  The walk stops before a single label: no key is ever used for a TLD.
        """
        domain = normalise_domain(from_domain)
        if domain in self._table or not self.parent_domains:
            return self._table.get(domain, ())
        labels = domain.split(".")
        for i in range(1, len(labels) - 1):
            parent = ".".join(labels[i:])
            if parent in self._table:
                return self._table[parent]
        return ()

    def sign(
        self, message: bytes, *, now: int | None = None, header: tuple[list[HeaderField], int] | None = None
    ) -> SignResult:
        """Prepend one DKIM-Signature per key of the From domain; every other byte stays as it was.

        ``header``: ``header_fields(message)`` when the caller has it already (it is not checked).
        """
        fields, body_start = header if header is not None else header_fields(message)
        domain, problem = from_domain(fields)
        if domain is None:
            return SignResult(message, reason=problem)
        keys = self.keys_for(domain)
        if not keys:
            return SignResult(message, reason=f"no key for domain {domain}")
        timestamp = int(time.time()) if now is None else now
        linesep = b"\r\n" if _crlf(message) else b"\n"
        body = message_body(message, body_start)
        signatures = _signature_fields(fields, body, keys, timestamp, linesep)
        return SignResult(signatures + message, keys[0].domain, tuple(k.selector for k in keys))


def _crlf(message: bytes) -> bool:
    """Whether the message uses CRLF (as SMTP does); our header follows its first line's ending."""
    nl = message.find(b"\n")
    return nl <= 0 or message[nl - 1 : nl] == b"\r"


def signed_header_names(fields: Sequence[HeaderField]) -> list[bytes]:
    """The h= list: each signed field once per occurrence, oversigned ones once more."""
    counts: dict[bytes, int] = {}
    for f in fields:
        name = f.name.lower()
        counts[name] = counts.get(name, 0) + 1
    names: list[bytes] = []
    for name in _SIGNED:
        n = counts.get(name)
        if n:
            names += [name] * (n + 1 if name in _OVERSIGNED else n)
    return names


def _signature_fields(
    fields: Sequence[HeaderField], body: bytes, keys: Sequence[LoadedKey], timestamp: int, linesep: bytes
) -> bytes:
    include = signed_header_names(fields)
    # The h= instances bottom-up (an oversigned name finds no instance left and hashes nothing),
    # relaxed: lowercase name, colon, unfolded and compressed value, CRLF.
    hashed_fields = relaxed_fields(select_fields(fields, include))
    body_hash = base64.b64encode(hashlib.sha256(relaxed_body(body)).digest())
    out = []
    for key in keys:
        unsigned = _unsigned_signature(key, include, body_hash, timestamp)
        hasher = hashlib.sha256(hashed_fields)
        # Our own header comes last, with b= empty (it is, here) and without a trailing CRLF.
        hasher.update(b"dkim-signature:" + relaxed_value(b" " + unsigned))
        signature = base64.b64encode(key.sign_digest(hasher.digest()))
        out.append(b"DKIM-Signature: " + unsigned + _fold_base64(signature))
    if linesep != b"\r\n":
        out = [header.replace(b"\r\n", linesep) for header in out]
    return linesep.join(out) + linesep


def _unsigned_signature(key: LoadedKey, include: Sequence[bytes], body_hash: bytes, timestamp: int) -> bytes:
    """The folded DKIM-Signature value up to and including an empty ``b=``.

    Folding whitespace goes only where RFC 6376 section 3.2 allows FWS: between tags and around the
    colons of h=.  bh= and b= start their own lines, b= so that its value can be folded freely.
    """
    stamp = str(timestamp).encode()
    before, after = _folded_tags(key.algorithm, key.domain, key.selector, tuple(include), len(stamp))
    return before + stamp + after + b"\r\n bh=" + body_hash + b";\r\n b="


@functools.lru_cache(maxsize=256)
def _folded_tags(
    algorithm: str, domain: str, selector: str, include: tuple[bytes, ...], stamp_width: int
) -> tuple[bytes, bytes]:
    """The folded tags v= to h=, split where t='s value goes.

    Where the lines break depends only on the widths of the tags, so a key signing mail with the
    same fields gets the same folding every time: it is computed once (t= is ten digits until 2286).
    """
    tags = [
        b"v=1;",
        b"a=" + algorithm.encode() + b";",
        b"c=relaxed/relaxed;",
        b"d=" + domain.encode("ascii") + b";",
        b"s=" + selector.encode("ascii") + b";",
        b"t=" + _STAMP * stamp_width + b";",
    ]
    h_atoms = [name + b":" for name in include]
    h_atoms[0] = b"h=" + h_atoms[0]
    h_atoms[-1] = h_atoms[-1][:-1] + b";"
    lines = _fill([(t, b" ") for t in tags] + [(a, b"" if i else b" ") for i, a in enumerate(h_atoms)])
    before, _, after = b"\r\n ".join(lines).partition(_STAMP * stamp_width)
    return before, after


def _fill(atoms: Sequence[tuple[bytes, bytes]]) -> list[bytes]:
    """Greedy line filling; each atom carries the separator it needs when it stays on the line."""
    lines: list[bytes] = []
    current = b""
    width = _FOLD_WIDTH - len(b"DKIM-Signature: ")
    for atom, sep in atoms:
        if current and len(current) + len(sep) + len(atom) > width:
            lines.append(current)
            current, width = atom, _FOLD_WIDTH - 1
        else:
            current = current + sep + atom if current else atom
    lines.append(current)
    return lines


def _fold_base64(value: bytes) -> bytes:
    first = 72 - len(b" b=")
    chunks = [value[:first]] + [value[i : i + 72] for i in range(first, len(value), 72)]
    return b"\r\n ".join(c for c in chunks if c)
