"""DKIM: the key table, signing, and removing the signatures our own change broke.

Why this module exists: the relay changes rejection mail (it splices in a referral block), which breaks
the DKIM signature the sender's mail system may already have made, and without a valid signature
aligned with the From domain the message fails DMARC at the receiver.  So the relay signs the changed
message again for the From domain, with every key configured for it (RSA and Ed25519 side by side),
and drops the earlier signatures that our change broke, so receivers do not count a failing signature.

Canonicalisation and hashing come from dkimpy (the same code receivers built on dkimpy verify with);
only the public-key operations use the ``cryptography`` package, because dkimpy does RSA in pure
Python (several milliseconds per signature) and needs PyNaCl for Ed25519.  The signature header is
assembled here, and what is hashed is exactly what is emitted: the folded header with an empty b=.

Nothing here touches DNS: :func:`verify_with_key` hands dkimpy the TXT record to check against.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import importlib.util
import os
import re
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from email.utils import getaddresses
from pathlib import Path
from typing import Any, Literal

import dkim
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from dkim.canonicalization import CanonicalizationPolicy, InvalidCanonicalizationPolicyError
from dkim.crypto import HASH_ALGORITHMS
from dkim.util import InvalidTagValueList, parse_tag_value

from relay_smtp.config import DkimKey
from relay_smtp.durable import fsync_directory

Algorithm = Literal["rsa-sha256", "ed25519-sha256"]
PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey

#: RSA keys shorter than this are refused (RFC 8301 section 3.2 asks for at least 1024 bits; the large
#: receivers treat 1024 as weak, and 2048 is what every DNS host can publish).
MIN_RSA_BITS = 2048

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

_RELAXED = CanonicalizationPolicy.from_c_value(b"relaxed/relaxed")
_FOLD_WIDTH = 78
_DKIM_SIGNATURE = b"dkim-signature"
_FIELD_NAME = re.compile(rb"([\x21-\x7e]+?):")  # dkimpy's rfc822_parse rule
_SELECTOR = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")


class DkimKeyError(Exception):
    """A configured key cannot be used; names the key file and says why."""

    def __init__(self, key: DkimKey, reason: str) -> None:
        super().__init__(f"DKIM key {key.key_file} ({key.selector}._domainkey.{key.domain}): {reason}")
        self.key = key
        self.reason = reason


# --------------------------------------------------------------------------- keys


@dataclass(frozen=True)
class LoadedKey:
    """A configured key with its private key loaded (once, when the table is built)."""

    domain: str
    selector: str
    algorithm: Algorithm
    key_file: Path
    private_key: PrivateKey = field(repr=False, compare=False)

    def sign_digest(self, digest: bytes) -> bytes:
        """Sign a SHA-256 digest of the canonicalised header data.

        RSA is RSASSA-PKCS1-v1_5 over that digest (RFC 6376 section 3.3.1); Ed25519 signs the 32
        digest bytes themselves as its message (RFC 8463 section 3), which is what "PureEdDSA over
        the hash" means there.
        """
        if isinstance(self.private_key, rsa.RSAPrivateKey):
            return self.private_key.sign(digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
        return self.private_key.sign(digest)

    def dns_txt(self) -> str:
        """The TXT record value that publishes this key's public half."""
        return _dns_txt(self.private_key)

    @property
    def record_name(self) -> str:
        return dns_record_name(self.selector, self.domain)


def load_key(key: DkimKey) -> LoadedKey:
    """Read and check one configured key, or raise DkimKeyError naming the file."""
    try:
        data = key.key_file.read_bytes()
    except OSError as exc:
        raise DkimKeyError(key, f"cannot read: {exc.strerror}") from None
    private_key = _parse_private_key(key, data)
    if key.algorithm == "rsa-sha256":
        if not isinstance(private_key, rsa.RSAPrivateKey):
            raise DkimKeyError(key, "algorithm is rsa-sha256 but the file holds an Ed25519 key")
        if private_key.key_size < MIN_RSA_BITS:
            bits = private_key.key_size
            raise DkimKeyError(key, f"RSA key has {bits} bits; at least {MIN_RSA_BITS} are required")
    elif not isinstance(private_key, ed25519.Ed25519PrivateKey):
        raise DkimKeyError(key, "algorithm is ed25519-sha256 but the file holds an RSA key")
    if not _SELECTOR.fullmatch(key.selector):
        raise DkimKeyError(key, f"selector {key.selector!r} is not a DNS name (letters, digits, -, _ and .)")
    domain = normalise_domain(key.domain)
    if not domain.isascii():
        raise DkimKeyError(key, f"domain {key.domain!r} is not a valid domain name")
    return LoadedKey(domain, key.selector, key.algorithm, key.key_file, private_key)


def normalise_domain(domain: str) -> str:
    """Lowercase, no trailing dot, internationalised names as A-labels (d= carries the A-label form,
    RFC 6376 section 3.5), so From domains and configured domains compare equal however written."""
    domain = domain.strip().lower().rstrip(".")
    if domain.isascii():
        return domain
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain


def _parse_private_key(key: DkimKey, data: bytes) -> PrivateKey:
    text = data.strip()
    if not text.startswith(b"-----BEGIN"):
        return _parse_raw_ed25519(key, text)
    try:
        loaded = serialization.load_pem_private_key(text, password=None)
    except TypeError:
        raise DkimKeyError(key, "the PEM key is encrypted; store it without a passphrase") from None
    except (ValueError, UnsupportedAlgorithm):
        raise DkimKeyError(key, "not a readable PEM private key") from None
    if not isinstance(loaded, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        raise DkimKeyError(key, f"unsupported key type {type(loaded).__name__}")
    return loaded


def _parse_raw_ed25519(key: DkimKey, text: bytes) -> ed25519.Ed25519PrivateKey:
    """dkimpy's ``dknewkey --ktype ed25519`` writes the 32-byte seed in base64, not PEM.

    libsodium's 64-byte secret key (seed followed by the public key) is accepted too.
    """
    try:
        raw = base64.b64decode(b"".join(text.split()), validate=True)
    except binascii.Error:
        raise DkimKeyError(key, "neither PEM nor a base64 Ed25519 seed") from None
    if len(raw) not in (32, 64):
        raise DkimKeyError(key, f"a base64 Ed25519 key must hold 32 bytes, not {len(raw)}")
    private_key = ed25519.Ed25519PrivateKey.from_private_bytes(raw[:32])
    if len(raw) == 64 and _raw_public(private_key) != raw[32:]:
        raise DkimKeyError(key, "the 64-byte Ed25519 key's public half does not match its seed")
    return private_key


def _raw_public(private_key: ed25519.Ed25519PrivateKey) -> bytes:
    return private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _dns_txt(private_key: PrivateKey) -> str:
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        # RFC 8463 section 4.2: p= is the bare 32-byte public key, not a SubjectPublicKeyInfo.
        return f"v=DKIM1; k=ed25519; p={base64.b64encode(_raw_public(private_key)).decode()}"
    der = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"


def check_key(key: DkimKey) -> str | None:
    """None when the key file is usable for its algorithm, else one sentence for check-config."""
    try:
        load_key(key)
    except DkimKeyError as exc:
        return str(exc)
    return None


def dns_record_name(selector: str, domain: str) -> str:
    """Where the public key is published (RFC 6376 section 3.6.2.1)."""
    return f"{selector}._domainkey.{domain.rstrip('.')}"


def txt_strings(value: str, size: int = 255) -> list[str]:
    """Split a TXT value into the <=255-octet character-strings one DNS TXT record is made of.

    An RSA-2048 record is about 400 characters; DNS hosts want it as several quoted strings, which
    verifiers concatenate without separators (RFC 6376 section 3.6.2.2).
    """
    return [value[i : i + size] for i in range(0, len(value), size)] or [""]


def generate_key(algorithm: Literal["rsa", "ed25519"], bits: int = 2048) -> tuple[bytes, str]:
    """A new private key as PEM and the TXT record value that publishes it.

    RSA keys are written as PKCS#1 ("BEGIN RSA PRIVATE KEY"), the form OpenDKIM, dkimpy and
    rspamd all read; Ed25519 keys as PKCS#8, the only PEM form there is for them.
    """
    private_key: PrivateKey
    if algorithm == "rsa":
        if bits < MIN_RSA_BITS:
            raise ValueError(f"RSA keys need at least {MIN_RSA_BITS} bits, not {bits}")
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        pem_format = serialization.PrivateFormat.TraditionalOpenSSL
    else:
        private_key = ed25519.Ed25519PrivateKey.generate()
        pem_format = serialization.PrivateFormat.PKCS8
    pem = private_key.private_bytes(serialization.Encoding.PEM, pem_format, serialization.NoEncryption())
    return pem, _dns_txt(private_key)


def write_private_key(path: Path, pem: bytes, *, overwrite: bool = False) -> None:
    """Write a private key readable by its owner only, all at once or not at all.

    The file is created 0600 with O_EXCL beside its final name and renamed into place, so no reader
    ever sees a partial key and the key is never world-readable, whatever the umask.  A missing
    parent directory is created 0700.  An existing key is kept unless ``overwrite`` is true: the live
    key's TXT record would stop matching.
    """
    path = Path(path)
    if not path.parent.exists():
        path.parent.mkdir(parents=True)
        os.chmod(path.parent, 0o700)  # mkdir's mode is filtered by the umask
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; refusing to replace a key that may be published")
    temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o600)  # exactly 0600, whatever the umask
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise
    fsync_directory(path.parent)


# --------------------------------------------------------------------------- header fields


@dataclass(frozen=True)
class HeaderField:
    """One header field of a raw message: where it is, and its name and value as dkimpy holds them.

    ``value`` is everything after the colon with each physical line ending in CRLF, exactly as
    ``dkim.rfc822_parse`` stores it, so dkimpy's canonicalisation gives what a verifier computes.
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
    return HeaderField(name, b"".join(line + b"\r\n" for line in lines), start, end)


def _body(message: bytes, body_start: int) -> bytes:
    """The body with CRLF line endings, as ``dkim.rfc822_parse`` returns it."""
    body = message[body_start:]
    if body.count(b"\n") == body.count(b"\r\n"):
        return body  # already CRLF throughout (SMTP's DATA always is): skip the copy
    return b"\r\n".join(re.split(b"\r?\n", body))


def from_domain(fields: Sequence[HeaderField]) -> tuple[str | None, str]:
    """The domain of the From header (DMARC's RFC5322.From domain), or None and why not."""
    values = [f.value for f in fields if f.name.lower() == b"from"]
    if not values:
        return None, "no From header"
    if len(values) > 1:
        return None, "several From headers"
    text = re.sub(r"\r?\n", "", values[0].decode("utf-8", errors="replace"))
    addresses = [addr for _, addr in getaddresses([text]) if "@" in addr]
    domains = {normalise_domain(addr.rpartition("@")[2]) for addr in addresses}
    domains.discard("")
    if len(domains) != 1:
        return None, "From has no parsable address" if not domains else "From names several domains"
    return domains.pop(), ""


# --------------------------------------------------------------------------- signing


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

    def sign(self, message: bytes, *, now: int | None = None) -> SignResult:
        """Prepend one DKIM-Signature per key of the From domain; every other byte stays as it was."""
        fields, body_start = header_fields(message)
        domain, problem = from_domain(fields)
        if domain is None:
            return SignResult(message, reason=problem)
        keys = self.keys_for(domain)
        if not keys:
            return SignResult(message, reason=f"no key for domain {domain}")
        timestamp = int(time.time()) if now is None else now
        linesep = b"\r\n" if _crlf(message) else b"\n"
        signatures = _signature_fields(fields, _body(message, body_start), keys, timestamp, linesep)
        return SignResult(signatures + message, keys[0].domain, tuple(k.selector for k in keys))


def _crlf(message: bytes) -> bool:
    """Whether the message uses CRLF (as SMTP does); our header follows its first line's ending."""
    nl = message.find(b"\n")
    return nl <= 0 or message[nl - 1 : nl] == b"\r"


def signed_header_names(fields: Sequence[HeaderField]) -> list[bytes]:
    """The h= list: each signed field once per occurrence, oversigned ones once more."""
    counts: dict[str, int] = {}
    for f in fields:
        name = f.name.lower().decode("ascii", errors="replace")
        counts[name] = counts.get(name, 0) + 1
    names: list[bytes] = []
    for name in SIGNED_HEADERS:
        n = counts.get(name, 0)
        extra = 1 if n and name in OVERSIGNED_HEADERS else 0
        names += [name.encode()] * (n + extra)
    return names


def _signature_fields(
    fields: Sequence[HeaderField], body: bytes, keys: Sequence[LoadedKey], timestamp: int, linesep: bytes
) -> bytes:
    include = signed_header_names(fields)
    canonical = _RELAXED.canonicalize_headers([[f.name, f.value] for f in fields])
    body_hash = base64.b64encode(hashlib.sha256(_RELAXED.canonicalize_body(body)).digest())
    out = []
    for key in keys:
        unsigned = _unsigned_signature(key, include, body_hash, timestamp)
        hasher = hashlib.sha256()
        # dkimpy's own header hashing: selects the h= instances bottom-up, appends our header with
        # b= emptied and without its trailing CRLF (RFC 6376 section 3.7).
        dkim.hash_headers(hasher, _RELAXED, canonical, include, (b"DKIM-Signature", b" " + unsigned), {})
        signature = base64.b64encode(key.sign_digest(hasher.digest()))
        out.append(b"DKIM-Signature: " + unsigned + _fold_base64(signature))
    return linesep.join(_with_linesep(f, linesep) for f in out) + linesep


def _with_linesep(header: bytes, linesep: bytes) -> bytes:
    return header.replace(b"\r\n", linesep)


def _unsigned_signature(key: LoadedKey, include: Sequence[bytes], body_hash: bytes, timestamp: int) -> bytes:
    """The folded DKIM-Signature value up to and including an empty ``b=``.

    Folding whitespace goes only where RFC 6376 section 3.2 allows FWS: between tags and around the
    colons of h=.  b= starts its own line so its value can be folded freely.
    """
    tags = [
        b"v=1;",
        b"a=" + key.algorithm.encode() + b";",
        b"c=relaxed/relaxed;",
        b"d=" + key.domain.encode("ascii") + b";",
        b"s=" + key.selector.encode("ascii") + b";",
        b"t=" + str(timestamp).encode() + b";",
    ]
    h_atoms = [name + b":" for name in include]
    h_atoms[0] = b"h=" + h_atoms[0]
    h_atoms[-1] = h_atoms[-1][:-1] + b";"
    lines = _fill([(t, b" ") for t in tags] + [(a, b"" if i else b" ") for i, a in enumerate(h_atoms)])
    lines.append(b"bh=" + body_hash + b";")
    return b"\r\n ".join(lines) + b"\r\n b="


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


# --------------------------------------------------------------------------- broken signatures


def removable_signatures(changed: bytes, original: bytes | None = None) -> list[tuple[int, int]]:
    """Byte ranges of the DKIM-Signature fields in ``changed`` that our change broke.

    Without DNS the signature itself (b=) cannot be checked, so a signature counts as intact when its
    body hash (bh=, with its own canonicalisation and l=) matches.  A signature is removable when:

    - with ``original``: it was intact over the original body, and now its body hash no longer
      matches, or one of the header fields its h= names (selected as a verifier would) changed;
    - without ``original``: its body hash no longer matches.

    Signatures we cannot read, or that were already broken, are not ours to judge and stay.
    """
    fields, body_start = header_fields(changed)
    if not any(f.name.lower() == _DKIM_SIGNATURE for f in fields):
        return []  # most mail: nothing to judge, and no body to canonicalise
    body = _body(changed, body_start)
    before: tuple[list[HeaderField], bytes] | None = None
    if original is not None:
        original_fields, original_body_start = header_fields(original)
        before = (original_fields, _body(original, original_body_start))
    ranges = []
    for f in fields:
        if f.name.lower() != _DKIM_SIGNATURE:
            continue
        if _broken_by_change(f, fields, body, before):
            ranges.append((f.start, f.end))
    return ranges


def strip_broken_signatures(original: bytes, changed: bytes) -> bytes:
    """``changed`` without the DKIM-Signature fields our change broke; all other bytes kept."""
    out = changed
    for start, end in reversed(removable_signatures(changed, original)):
        out = out[:start] + out[end:]
    return out


@dataclass(frozen=True)
class _Signature:
    tags: dict[bytes, bytes]
    policy: Any  # dkim.canonicalization.CanonicalizationPolicy
    hasher: Callable[..., Any]
    body_hash: bytes


def _read_signature(value: bytes) -> _Signature | None:
    try:
        tags = parse_tag_value(value)
        policy = CanonicalizationPolicy.from_c_value(tags.get(b"c", b"simple/simple"))
        hasher = HASH_ALGORITHMS[tags[b"a"]]
        body_hash = base64.b64decode(re.sub(rb"\s+", b"", tags[b"bh"]), validate=True)
        int(tags.get(b"l", b"0"))
    except (InvalidTagValueList, InvalidCanonicalizationPolicyError, KeyError, ValueError, binascii.Error):
        return None
    return _Signature(tags, policy, hasher, body_hash)


def _body_matches(sig: _Signature, body: bytes) -> bool:
    canonical = sig.policy.canonicalize_body(body)
    if b"l" in sig.tags:
        canonical = canonical[: int(sig.tags[b"l"])]
    digest: bytes = sig.hasher(canonical).digest()
    return digest == sig.body_hash


def _signed_values(sig: _Signature, fields: Sequence[HeaderField]) -> list[tuple[bytes, bytes]]:
    names = [n.lower() for n in re.split(rb"\s*:\s*", sig.tags.get(b"h", b"").strip()) if n]
    canonical = sig.policy.canonicalize_headers([[f.name, f.value] for f in fields])
    return [(bytes(n), bytes(v)) for n, v in dkim.select_headers(canonical, names)]


def _broken_by_change(
    f: HeaderField,
    fields: Sequence[HeaderField],
    body: bytes,
    before: tuple[list[HeaderField], bytes] | None,
) -> bool:
    sig = _read_signature(f.value)
    if sig is None:
        return False
    if before is None:
        return not _body_matches(sig, body)
    original_fields, original_body = before
    if not _body_matches(sig, original_body):
        return False  # already broken before we touched the message
    if not _body_matches(sig, body):
        return True
    return _signed_values(sig, original_fields) != _signed_values(sig, fields)


# --------------------------------------------------------------------------- verification


#: dkimpy verifies Ed25519 with PyNaCl when it is installed; otherwise _Verifier stands in for it.
_HAVE_NACL = importlib.util.find_spec("nacl") is not None


class _Ed25519Check:
    """Stands in for PyNaCl's VerifyKey inside dkimpy, using ``cryptography``.

    dkimpy calls ``pk.verify(digest, signature)`` and takes "no exception" as success; the failure
    exception it expects is PyNaCl's, so this records the outcome instead of raising.
    """

    def __init__(self, raw_public_key: bytes) -> None:
        self._key = ed25519.Ed25519PublicKey.from_public_bytes(raw_public_key)
        self.valid = False

    def verify(self, data: bytes, signature: bytes) -> None:
        try:
            self._key.verify(signature, data)
        except InvalidSignature:
            self.valid = False
        else:
            self.valid = True


class _Verifier(dkim.DKIM):  # type: ignore[misc]
    """dkimpy's verifier; Ed25519 keys are checked with ``cryptography`` when PyNaCl is missing."""

    def verify_sig(self, sig: Any, include_headers: Any, sig_header: Any, dnsfunc: Any) -> bool:
        if _HAVE_NACL:
            return bool(super().verify_sig(sig, include_headers, sig_header, dnsfunc))
        name = sig[b"s"] + b"._domainkey." + sig[b"d"] + b"."
        record = dnsfunc(name)
        try:
            tags = parse_tag_value(record if isinstance(record, bytes) else record.encode("ascii"))
        except (InvalidTagValueList, UnicodeEncodeError):
            return False
        if tags.get(b"k") != b"ed25519":
            return bool(super().verify_sig(sig, include_headers, sig_header, dnsfunc))
        try:
            check = _Ed25519Check(base64.b64decode(tags.get(b"p", b"")))
        except (ValueError, binascii.Error):
            return False
        self.pk, self.keysize, self.ktag, self.seqtlsrpt = check, 256, b"ed25519", False
        return bool(self.verify_sig_process(sig, include_headers, sig_header, dnsfunc)) and check.valid


def verify_with_key(message: bytes, public_key_txt: str) -> bool:
    """True when some DKIM-Signature of ``message`` verifies against this TXT record value.

    dkimpy does the work; its DNS lookup is answered with ``public_key_txt`` whatever the name, so
    this is the self-check after signing and the tests' verifier, never a check of real DNS.  Only
    signatures whose algorithm fits the record's key type (k=) are tried.
    """
    try:
        key_type = parse_tag_value(public_key_txt.encode("ascii")).get(b"k", b"rsa")
        verifier = _Verifier(message, minkey=1024)
    except (InvalidTagValueList, UnicodeEncodeError, dkim.DKIMException, IndexError):
        return False

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        return public_key_txt.encode("ascii")

    signatures = [value for name, value in verifier.headers if name.lower() == _DKIM_SIGNATURE]
    for idx, value in enumerate(signatures):
        algorithm = re.search(rb"(?:^|;)\s*a\s*=\s*([a-z0-9-]+)", value)
        if algorithm is None or not algorithm.group(1).startswith(key_type + b"-"):
            continue
        try:
            if verifier.verify(idx=idx, dnsfunc=dnsfunc):
                return True
        except (dkim.DKIMException, ValueError):  # PyNaCl raises its own ValueError on a bad length
            continue
    return False
