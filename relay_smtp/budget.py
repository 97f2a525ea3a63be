"""A cap on the octets of mail a worker processes and forwards at once.

Why this module exists: a 2 MB message briefly exists several times over while it is processed and
sent (the received copy, the dot-stuffed DATA payload, the part of it the socket has not taken yet),
and twenty sessions sending such mail at once took a worker past 300 MB. Received mail waits here
until its octets fit under ``smtp.max_bytes_in_flight`` together with what is already being worked
on, so the peak stays bounded whatever the number of sessions. A message larger than the cap goes
alone. Ordinary mail (tens of kilobytes) never waits.

A rejection to several recipients also holds the one personalised copy being made and sent (copies
are made one at a time, see smtp/delivery.py); ``relay.py`` reserves both at once, up front, so a
message never waits for room while it already holds some (two such messages could wait for each
other forever).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class ByteBudget:
    def __init__(self, limit: int) -> None:
        if limit <= 0:
            raise ValueError(f"the byte budget must be positive, not {limit}")
        self.limit = limit
        self.used = 0
        self.peak = 0  # the most ever held at once
        self._changed = asyncio.Condition()

    @asynccontextmanager
    async def reserve(self, size: int) -> AsyncIterator[None]:
        """Hold ``size`` octets (at most the whole budget) for the duration of the block."""
        size = min(size, self.limit)
        async with self._changed:
            await self._changed.wait_for(lambda: self.used + size <= self.limit)
            self.used += size
            self.peak = max(self.peak, self.used)
        try:
            yield
        finally:
            async with self._changed:
                self.used -= size
                self._changed.notify_all()
