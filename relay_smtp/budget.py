"""A cap on the octets of mail a worker receives, processes and forwards at once.

Why this module exists: a 2 MB message briefly exists several times over while it is received,
processed and sent (the octets read so far, the received copy, the dot-stuffed DATA payload, the part
of it the socket has not taken yet), and twenty sessions sending such mail at once took a worker past
300 MB. Each message holds a :class:`Charge` from the first octet of its DATA (``smtp/protocol.py``)
until it has been forwarded, spooled or refused (``relay.py``); the charge grows as the message is
read and, before processing, to what processing needs. A charge grows only when the growth fits under
``smtp.max_bytes_in_flight`` together with every other charge; otherwise it waits, and the session
stops reading, so the client's data waits in its own socket. A charge counts at most the whole budget:
a message larger than the cap holds all of it.

Half-received messages could fill the budget and then all wait for more of it, each for the others,
forever. So when every message that holds octets waits for more (nothing can give any back), the one
that finds this goes on beyond the cap: it may take the cap's octets beside what the others hold (the
peak is then at most twice the cap), and it is the only one until it is released. A message that
holds octets and does not wait (being processed, or its client sending slowly) is progress, so the
others wait for it, as they do for one being forwarded. Ordinary mail (tens of kilobytes) never waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class Charge:
    """The octets one message holds in a :class:`ByteBudget`; given back once, by :meth:`release`."""

    def __init__(self, budget: ByteBudget) -> None:
        self.budget = budget
        self.held = 0
        self.waiting = False

    @property
    def live(self) -> bool:
        return self in self.budget._charges

    def try_grow(self, size: int) -> bool:
        """Hold ``size`` octets (at most the whole budget) now if that needs no wait."""
        return self.budget._try_grow(self, size)

    async def grow(self, size: int) -> None:
        """Hold ``size`` octets (at most the whole budget), waiting for room if need be."""
        while not self.budget._try_grow(self, size):
            await self.budget._changed(self)

    def release(self) -> None:
        """Give every octet back; later calls do nothing."""
        self.budget._release(self)


class ByteBudget:
    def __init__(self, limit: int) -> None:
        if limit <= 0:
            raise ValueError(f"the byte budget must be positive, not {limit}")
        self.limit = limit
        self.used = 0
        self.peak = 0  # the most ever held at once
        self._charges: dict[Charge, None] = {}  # the live charges, oldest first
        self._beyond: Charge | None = None  # the one charge that may pass the cap, if any (see above)
        self._waiters: list[asyncio.Future[None]] = []

    @property
    def waiting(self) -> int:
        """How many live charges wait for room now."""
        return sum(charge.waiting for charge in self._charges)

    def charge(self) -> Charge:
        """A new charge holding nothing yet; younger than every live one."""
        charge = Charge(self)
        self._charges[charge] = None
        return charge

    @asynccontextmanager
    async def reserve(self, size: int, charge: Charge | None = None) -> AsyncIterator[Charge]:
        """Hold ``size`` octets for the duration of the block, in ``charge`` if it is a live charge of
        this budget (it grows to ``size`` and is released at the end) or in a new one."""
        if charge is None or charge.budget is not self or not charge.live:
            charge = self.charge()
        try:
            await charge.grow(size)
            yield charge
        finally:
            charge.release()

    def _try_grow(self, charge: Charge, size: int) -> bool:
        size = min(size, self.limit)
        if size <= charge.held or not charge.live:  # a released charge holds nothing again
            return True
        if self.used - charge.held + size > self.limit and self._beyond is not charge:
            if self._beyond is not None or not self._standstill(charge):
                return False
            self._beyond = charge
        self.used += size - charge.held
        charge.held = size
        self.peak = max(self.peak, self.used)
        return True

    def _standstill(self, charge: Charge) -> bool:
        """Every other charge that holds octets waits for more: were ``charge`` to wait too, none
        would ever give any back."""
        return all(other.waiting for other in self._charges if other.held and other is not charge)

    async def _changed(self, charge: Charge) -> None:
        """Wait until a charge is given back (there may be room now, or a standstill to break)."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        charge.waiting = True
        try:
            await waiter
        finally:
            charge.waiting = False
            if waiter in self._waiters:  # cancelled while waiting
                self._waiters.remove(waiter)

    def _release(self, charge: Charge) -> None:
        if charge in self._charges:
            del self._charges[charge]
            if self._beyond is charge:
                self._beyond = None
            self.used -= charge.held
            charge.held = 0
            waiters, self._waiters = self._waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
