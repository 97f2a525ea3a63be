"""Who may call what: the admin's credentials and the partner agency's signed webhook.

Why this module exists: both checks are small but easy to get subtly wrong (timing leaks, replayed
requests, tokens in URLs that end up in logs), so they live apart from the routes, as plain functions
of headers and bytes that the tests can call directly.

- Admin: ``Authorization: Bearer <admin_token>`` or HTTP basic auth against ``admin_users``.  Never a
  token in the query string: URLs are logged by proxies and kept in browser history.  A basic-auth
  user may belong to one company (`AdminPrincipal.company`); the routes ask `AdminPrincipal.may_see`.
  The embedded demo (no configuration file at all) opens /admin to loopback peers without
  credentials: it holds only the demo's own data, and whoever is on the machine could read the
  SQLite file anyway.
- Webhook: ``X-CareerRelay-Timestamp: <unix seconds>`` and ``X-CareerRelay-Signature: sha256=<hex>``
  where the hex is HMAC-SHA256(secret, timestamp + "." + raw body); requests outside a window around
  our clock are refused, so a captured request cannot be replayed later.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field

SIGNATURE_PREFIX = "sha256="
TIMESTAMP_HEADER = "X-CareerRelay-Timestamp"
SIGNATURE_HEADER = "X-CareerRelay-Signature"


@dataclass(frozen=True)
class AdminPrincipal:
    """Who is looking at the admin pages: an operator (``company is None``) or one company's HR user."""

    name: str
    company: str | None = None
    time_zone: str | None = None

    @property
    def operator(self) -> bool:
        return self.company is None

    def may_see(self, company: str) -> bool:
        """Company scoping: an HR user sees, exports and redeems for its own company only."""
        return self.company is None or self.company == company


@dataclass(frozen=True)
class AdminCredentials:
    token: str | None
    users: Mapping[str, str]
    #: user name -> company id of company HR users; the bearer token and other users are operators.
    user_companies: Mapping[str, str] = field(default_factory=dict)
    user_time_zones: Mapping[str, str] = field(default_factory=dict)
    open_on_loopback: bool = False  # the embedded demo only

    @property
    def configured(self) -> bool:
        return bool(self.token) or bool(self.users) or self.open_on_loopback

    def challenges(self) -> list[str]:
        """The WWW-Authenticate values of a 401: one per scheme we accept."""
        realm = 'realm="relay-smtp admin"'
        schemes = []
        if self.users:
            schemes.append(f'Basic {realm}, charset="UTF-8"')
        if self.token or not self.users:
            schemes.append(f"Bearer {realm}")
        return schemes


def admin_allowed(credentials: AdminCredentials, authorization: str | None) -> bool:
    """Whether an Authorization header value carries valid admin credentials."""
    return admin_principal(credentials, authorization) is not None


def admin_principal(credentials: AdminCredentials, authorization: str | None) -> AdminPrincipal | None:
    """Who the Authorization header value authenticates, or None."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer" and credentials.token:
        return AdminPrincipal("token") if _same(value.strip(), credentials.token) else None
    if scheme == "basic" and credentials.users:
        name = _basic_user(credentials.users, value.strip())
        if name is None:
            return None
        company = credentials.user_companies.get(name)
        return AdminPrincipal(name, company, credentials.user_time_zones.get(name))
    return None


def demo_admin_allowed(credentials: AdminCredentials, peer: str | None) -> bool:
    """The demo's open /admin: only when enabled, and only for a peer on loopback.

    `peer` is the TCP peer as the server sees it (uvicorn replaces it with X-Forwarded-For only for
    proxies it trusts, and the demo trusts none but loopback itself).
    """
    if not credentials.open_on_loopback or not peer:
        return False
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool((mapped or address).is_loopback)


def _basic_user(users: Mapping[str, str], value: str) -> str | None:
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    name, sep, password = decoded.partition(":")
    if not sep:
        return None
    # Compare against every user so the time taken does not say which names exist.
    found = None
    for user, expected in users.items():
        if _same(name, user) & _same(password, expected):
            found = user
    return found


def bearer_matches(authorization: str | None, expected: str) -> bool:
    """Whether an Authorization header value is ``Bearer <expected>`` (compared in constant time)."""
    scheme, _, value = (authorization or "").strip().partition(" ")
    return _same(value.strip(), expected) & (scheme.lower() == "bearer")


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


class WebhookRejected(Exception):
    """The webhook request is not from the agency, or not from now.  The message is safe to return."""


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """The X-CareerRelay-Signature value for a request (what the agency computes)."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return SIGNATURE_PREFIX + mac.hexdigest()


def signed_headers(secret: str, body: bytes, now: float) -> dict[str, str]:
    """The timestamp and signature headers of a webhook we send (agency push, talent-pool webhook)."""
    stamp = str(int(now))
    return {TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: webhook_signature(secret, stamp, body)}


def check_webhook(
    secret: str,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    *,
    now: float,
    tolerance_seconds: int,
) -> None:
    """Raise WebhookRejected unless the request is signed with `secret` and dated within the window."""
    if not timestamp or not signature:
        raise WebhookRejected(f"{TIMESTAMP_HEADER} and {SIGNATURE_HEADER} are required")
    stamp = timestamp.strip()
    if not stamp.isascii() or not stamp.isdigit() or len(stamp) > 12:
        raise WebhookRejected(f"{TIMESTAMP_HEADER} must be unix seconds")
    if abs(now - int(stamp)) > tolerance_seconds:
        raise WebhookRejected(f"{TIMESTAMP_HEADER} is outside the {tolerance_seconds}s window")
    expected = webhook_signature(secret, stamp, body)
    if not hmac.compare_digest(
        signature.strip().lower().encode("ascii", "replace"), expected.encode("ascii")
    ):
        raise WebhookRejected("signature mismatch")
