"""Who may read /metrics: a local scraper, or anyone with the admin token, whatever the proxy.

A reverse proxy on the same host makes every request arrive from a loopback address, and a proxy
that is trusted rewrites the client to whatever X-Forwarded-For names. Neither may open /metrics:
without the token it answers only a request that came straight from loopback, which we recognise
by the socket peer being loopback and no forwarding header at all (every proxy recipe sets
X-Forwarded-For; see docs/reverse-proxy.md). The token is compared in constant time.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from relay_smtp.web.auth import AdminCredentials, admin_allowed

FORWARDING_HEADERS = frozenset({b"x-forwarded-for", b"forwarded", b"x-real-ip", b"x-forwarded-host"})


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def metrics_allowed(
    client_host: str, headers: Iterable[tuple[bytes, bytes]], authorization: str, token: str
) -> bool:
    if token and admin_allowed(AdminCredentials(token=token, users={}), authorization):
        return True  # constant-time compare
    forwarded = any(name.lower() in FORWARDING_HEADERS for name, _ in headers)
    return not forwarded and is_loopback(client_host)
