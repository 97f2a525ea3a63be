"""Per-client token buckets, in memory: enough to stop a script hammering the candidate pages.

Why this module exists: `/r/<token>` and the registration form are public.  A bucket of N tokens per
client refilled at N per minute lets people through untouched and turns floods into `429` answers with
a `Retry-After`.  State is per process and forgotten on restart, which is what a speed bump needs; the
table is pruned so that a stream of new addresses cannot grow it without bound.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass

#: Above this many tracked clients, buckets that have refilled completely are dropped.
PRUNE_ABOVE = 10_000


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """`capacity` requests per `period` seconds per key, refilled continuously."""

    def __init__(self, capacity: int, period: float, clock: Callable[[], float]) -> None:
        if capacity <= 0 or period <= 0:
            raise ValueError("capacity and period must be positive")
        self.capacity = capacity
        self._rate = capacity / period
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str) -> float:
        """Take one token for `key`: 0.0 when allowed, else the seconds to wait before the next try."""
        now = self._clock()
        with self._lock:
            bucket = self._refilled(key, now)
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self._rate

    def blocked(self, key: str) -> float:
        """Like acquire, without taking a token: 0.0 when a request would be allowed."""
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                return 0.0
            tokens = min(float(self.capacity), bucket.tokens + max(0.0, now - bucket.updated) * self._rate)
            return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self._rate

    def _refilled(self, key: str, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= PRUNE_ABOVE:
                self._prune(now)
            bucket = self._buckets[key] = _Bucket(float(self.capacity), now)
            return bucket
        elapsed = max(0.0, now - bucket.updated)
        bucket.tokens = min(float(self.capacity), bucket.tokens + elapsed * self._rate)
        bucket.updated = now
        return bucket

    def _prune(self, now: float) -> None:
        full = [
            key
            for key, b in self._buckets.items()
            if b.tokens + (now - b.updated) * self._rate >= self.capacity
        ]
        for key in full:
            del self._buckets[key]


def retry_after_header(wait: float) -> str:
    """Whole seconds, rounded up, at least 1 (RFC 9110 section 10.2.3)."""
    return str(max(1, math.ceil(wait)))


def refuse_if_blocked(failures: RateLimiter, key: str) -> None:
    """429 with a Retry-After while a client that failed to authenticate too often must wait."""
    # Imported here: the SMTP server uses this module's RateLimiter, and SMTP-only workers must not
    # load the web framework (tests/test_reuseport.py checks that they never do).
    from fastapi import HTTPException

    wait = failures.blocked(key)
    if wait > 0:
        raise HTTPException(
            429, "too many failed attempts", headers={"Retry-After": retry_after_header(wait)}
        )


class MailThrottle:
    """Confirmation mails: at most `per_link` per link and `per_address` per target address a period.

    One valid link must not let anyone send signed mail to any address they choose: each link may
    ask for a few confirmation mails, and each address receive a few, whoever asks. Addresses are
    kept only as a salted hash (the salt lives in this process only).
    """

    def __init__(self, per_link: int, per_address: int, period: float, clock: Callable[[], float]) -> None:
        self._links = RateLimiter(per_link, period, clock)
        self._addresses = RateLimiter(per_address, period, clock)
        self._salt = secrets.token_bytes(16)
        self._lock = threading.Lock()

    def acquire(self, link: str, address: str) -> float:
        """0.0 when this mail may go (and it is counted), else the seconds to wait."""
        key = hashlib.sha256(self._salt + address.strip().lower().encode("utf-8")).hexdigest()
        with self._lock:
            wait = max(self._links.blocked(link), self._addresses.blocked(key))
            if wait > 0:
                return wait
            self._links.acquire(link)
            self._addresses.acquire(key)
            return 0.0
