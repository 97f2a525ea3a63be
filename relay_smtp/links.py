"""Signed referral links: the token in ``/r/<token>`` that each recipient of a rejection gets.

Why this module exists: a link must say which company referred the candidate and which message it came
from (so clicks and registrations are credited to the right company, once), must not be forgeable or
reusable forever, and must not carry personal data: mail is forwarded, pasted and logged, and a link
that contains the candidate's address leaks it.  So the token carries only a keyed hash of the address.

Format (all big-endian), base64url without padding, then itsdangerous' ``.`` and signature::

    issued_at  uint32   seconds since the epoch (good until 2106)
    recipient  12 bytes HMAC-SHA256(recipient key, lowercased address), truncated
    mid_len    uint8    length of the message id
    message_id mid_len  UTF-8, the caller's short id (the relay's queue id, or
                        LinkSigner.short_message_id(): a keyed hash, never checkable without the key)
    company    rest     UTF-8 company id

Budgets, so that ``https://relay.example.co.jp/r/<token>`` stays under 120 characters for a 10-character
queue id and a company id of up to 22 bytes:

- The signature is HMAC-SHA256 truncated to 16 bytes (22 characters; RFC 2104 section 5 allows
  truncation to half the hash and more): forging one takes 2**128 guesses.
- The recipient hash is 96 bits: a collision between two addresses becomes likely only around 2**48
  (2.8e14) addresses, far beyond any ledger, and a collision costs one merged dedup entry.

Secrets: the first configured secret signs; every secret verifies (rotate by prepending a new secret,
remove the old one after ``max_age_days``).  The recipient hash must stay the same across such a
rotation, or the ledger would count one candidate twice, so its key is NOT the signing secret: it is
derived from ``hash_secret`` when given, otherwise from the LAST secret in the list, the oldest, which
rotation by prepending leaves alone.  An operator who retires that last secret must set ``hash_secret``
to it (config key ``links.hash_secret``) or accept that hashes change once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import re
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from secrets import token_urlsafe

import itsdangerous
from itsdangerous.signer import HMACAlgorithm

from relay_smtp.config import LinkSettings

log = logging.getLogger(__name__)

#: Our own salt: a token signed for anything else with the same secret does not verify here.
SALT = "career-relay-link-v1"
RECIPIENT_HASH_BYTES = 12
SIGNATURE_BYTES = 16
MAX_COMPANY_BYTES = 64
MAX_MESSAGE_ID_BYTES = 64
#: Several relays may share the secrets; tokens "from the future" within this slack are clock skew.
MAX_CLOCK_SKEW = 300

_HEADER = struct.Struct(">I12sB")  # issued_at, recipient hash, message id length
_RECIPIENT_KEY_LABEL = b"career-relay-recipient-hash-v1"
_MESSAGE_KEY_LABEL = b"career-relay-message-id-v1"
_B64URL = re.compile(r"[A-Za-z0-9_-]+")
_SIGNATURE_CHARS = len(base64.urlsafe_b64encode(bytes(SIGNATURE_BYTES)).rstrip(b"="))
_MAX_TOKEN_CHARS = 4 * (_HEADER.size + MAX_MESSAGE_ID_BYTES + MAX_COMPANY_BYTES) // 3 + 4 + _SIGNATURE_CHARS


class LinkError(Exception):
    """A token that must not be honoured."""


class MalformedToken(LinkError):
    """Not a token of ours at all: cut off, garbage, or dated in the future."""


class BadSignature(LinkError):
    """Well-formed, but forged, altered, or signed with a secret we no longer (or never) had."""


class ExpiredToken(LinkError):
    """Genuine, but older than max_age_days."""


@dataclass(frozen=True)
class LinkClaims:
    company: str
    recipient_hash: str
    message_id: str
    issued_at: int


@dataclass(frozen=True)
class PersonalLink:
    """A link as issued: the URL that goes into the block, and what it says (None for links that
    are not recorded, such as offline previews). Whoever issued it passes this on, so nothing has
    to parse the URL or verify its own token again."""

    url: str
    claims: LinkClaims | None = None


class _TruncatedHMAC(HMACAlgorithm):
    """HMAC-SHA256 cut to SIGNATURE_BYTES; itsdangerous compares in constant time."""

    def get_signature(self, key: bytes, value: bytes) -> bytes:
        return super().get_signature(key, value)[:SIGNATURE_BYTES]


class LinkSigner:
    """Issues and verifies referral tokens."""

    def __init__(
        self,
        secrets: Sequence[str],
        max_age_days: int = 180,
        *,
        clock: Callable[[], float] = time.time,
        hash_secret: str | None = None,
    ) -> None:
        if not secrets or not all(secrets):
            raise ValueError("LinkSigner needs at least one non-empty secret (or LinkSigner.development())")
        if max_age_days <= 0:
            raise ValueError(f"max_age_days must be positive, not {max_age_days}")
        self.max_age_seconds = max_age_days * 86_400
        self._clock = clock
        # itsdangerous signs with the LAST key of its list and tries all; our config says the first signs.
        self._signer = itsdangerous.Signer(
            list(reversed(secrets)),
            salt=SALT,
            key_derivation="hmac",
            digest_method=hashlib.sha256,
            algorithm=_TruncatedHMAC(hashlib.sha256),
        )
        base = (hash_secret or secrets[-1]).encode("utf-8")
        self._recipient_key = hmac.new(base, _RECIPIENT_KEY_LABEL, hashlib.sha256).digest()
        self._keys = list(reversed(secrets))
        self._message_key = hmac.new(base, _MESSAGE_KEY_LABEL, hashlib.sha256).digest()

    @classmethod
    def development(cls, max_age_days: int = 180, *, clock: Callable[[], float] = time.time) -> LinkSigner:
        """A signer with a random secret, for running without configuration."""
        log.warning(
            "links.secrets is not set: using a random development secret; "
            "links issued now stop working when this process ends"
        )
        return cls([token_urlsafe(32)], max_age_days, clock=clock)

    @classmethod
    def from_settings(cls, settings: LinkSettings, *, clock: Callable[[], float] = time.time) -> LinkSigner:
        if not settings.secrets:
            return cls.development(settings.max_age_days, clock=clock)
        return cls(settings.secrets, settings.max_age_days, clock=clock)

    def recipient_hash(self, address: str) -> str:
        """The keyed hash that stands for an address in tokens and the ledger (16 characters)."""
        return _b64encode(self._recipient_digest(address))

    def _recipient_digest(self, address: str) -> bytes:
        normalised = address.strip().lower().encode("utf-8")
        return hmac.new(self._recipient_key, normalised, hashlib.sha256).digest()[:RECIPIENT_HASH_BYTES]

    def short_message_id(self, message_id: str) -> str:
        """An 8-character stand-in for a Message-ID header value, for tokens: 48 bits of a keyed hash.

        Keyed (like the recipient hash, and stable across secret rotation) because the relay falls
        back to "company:recipient" when a mail has no Message-ID, and some ATSs put the address into
        the Message-ID: an unkeyed hash would let anyone holding a link confirm a guessed address.
        """
        normalised = message_id.strip().encode("utf-8")
        return _b64encode(hmac.new(self._message_key, normalised, hashlib.sha256).digest()[:6])

    def issue(self, company: str, recipient: str, message_id: str) -> str:
        """A token for one recipient of one message, dated now."""
        return self.issue_with_claims(company, recipient, message_id)[0]

    def issue_with_claims(self, company: str, recipient: str, message_id: str) -> tuple[str, LinkClaims]:
        """A token for one recipient of one message, dated now, and the claims it carries."""
        company_bytes = _bounded_utf8("company", company, MAX_COMPANY_BYTES)
        mid_bytes = _bounded_utf8("message_id", message_id, MAX_MESSAGE_ID_BYTES)
        issued_at = int(self._clock())
        digest = self._recipient_digest(recipient)
        header = _HEADER.pack(issued_at, digest, len(mid_bytes))
        payload = _b64encode(header + mid_bytes + company_bytes)
        claims = LinkClaims(company, _b64encode(digest), message_id, issued_at)
        return self._signer.sign(payload).decode("ascii"), claims

    def verify(self, token: str) -> LinkClaims:
        """The claims of a genuine, current token; otherwise MalformedToken, BadSignature or ExpiredToken."""
        payload_text = _check_shape(token)
        try:
            self._signer.unsign(token)
        except itsdangerous.BadSignature:
            raise BadSignature("the token's signature does not match") from None
        claims = _decode_claims(payload_text)
        now = self._clock()
        if claims.issued_at > now + MAX_CLOCK_SKEW:
            raise MalformedToken("the token is dated in the future")
        if now - claims.issued_at > self.max_age_seconds:
            raise ExpiredToken(f"the token is older than {self.max_age_seconds // 86_400} days")
        return claims

    def seal(self, purpose: str, value: str) -> str:
        """``value`` signed for ``purpose`` with the link secrets (not encrypted: no personal data in it)."""
        return self._purpose_signer(purpose).sign(value.encode("utf-8")).decode("ascii")

    def unseal(self, purpose: str, sealed: str) -> str:
        """The value of a token made by `seal` for the same purpose; BadSignature otherwise."""
        try:
            return self._purpose_signer(purpose).unsign(sealed.encode("ascii", "replace")).decode("utf-8")
        except (itsdangerous.BadSignature, UnicodeDecodeError):
            raise BadSignature("the token's signature does not match") from None

    def _purpose_signer(self, purpose: str) -> itsdangerous.Signer:
        return itsdangerous.Signer(
            self._keys,
            salt=f"career-relay-{purpose}-v1",
            key_derivation="hmac",
            digest_method=hashlib.sha256,
            algorithm=_TruncatedHMAC(hashlib.sha256),
        )


def link(public_url: str, token: str) -> str:
    """The URL a recipient clicks."""
    return f"{public_url.rstrip('/')}/r/{token}"


def _bounded_utf8(name: str, value: str, limit: int) -> bytes:
    data = value.encode("utf-8")
    if not data or len(data) > limit:
        raise ValueError(f"{name} must be 1 to {limit} bytes of UTF-8, not {len(data)}")
    return data


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _check_shape(token: str) -> str:
    """The payload part of a token that looks like ours, or MalformedToken.

    Checked before the signature so that a cut-off token is reported as such.  The signature must be
    the canonical base64url of SIGNATURE_BYTES: its last character has spare low bits, and a token
    differing only there would otherwise still verify.
    """
    if not isinstance(token, str) or len(token) > _MAX_TOKEN_CHARS or not token.isascii():
        raise MalformedToken("not a link token")
    payload, sep, signature = token.partition(".")
    if not sep or not _B64URL.fullmatch(payload) or not _B64URL.fullmatch(signature):
        raise MalformedToken("not a link token")
    if len(signature) != _SIGNATURE_CHARS or len(payload) % 4 == 1:
        raise MalformedToken("the token is cut off or padded")
    if _b64encode(_b64decode(signature)) != signature:
        raise BadSignature("the token's signature is not canonical base64url")
    return payload


def _decode_claims(payload_text: str) -> LinkClaims:
    try:
        payload = _b64decode(payload_text)
        issued_at, recipient, mid_len = _HEADER.unpack_from(payload)
        rest = payload[_HEADER.size :]
        message_id = rest[:mid_len].decode("utf-8")
        company = rest[mid_len:].decode("utf-8")
    except (binascii.Error, struct.error, UnicodeDecodeError, ValueError):
        raise MalformedToken("the token's payload cannot be read") from None
    if len(rest) < mid_len or not message_id or not company:
        raise MalformedToken("the token's payload is incomplete")
    return LinkClaims(company, _b64encode(recipient), message_id, issued_at)
