"""A cap on the bytes of personalised copies a worker holds at once, across all its sessions.

Copies of a rejection to many recipients are made and sent one at a time, so one message holds one
copy; but many such messages may arrive together. Each copy waits here for room before it is made,
so a worker's memory for copies stays under the cap whatever the clients send. A copy larger than the
whole cap is let through alone, rather than never.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

# 64 MiB: two or three copies of the largest mail accepted by default (25 MiB), or hundreds of
# ordinary rejections at once, while a worker's baseline is ~100 MiB.
DEFAULT_CAP = 64 * 1024 * 1024


class ByteBudget:
    def __init__(self, cap: int = DEFAULT_CAP) -> None:
        if cap <= 0:
            raise ValueError("the cap must be positive")
        self.cap = cap
        self.used = 0
        self.peak = 0
        self._changed = asyncio.Condition()

    @asynccontextmanager
    async def hold(self, size: int) -> AsyncIterator[None]:
        size = max(1, min(size, self.cap))
        async with self._changed:
            await self._changed.wait_for(lambda: self.used + size <= self.cap)
            self.used += size
            self.peak = max(self.peak, self.used)
        try:
            yield
        finally:
            async with self._changed:
                self.used -= size
                self._changed.notify_all()
