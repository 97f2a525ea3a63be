"""Is the spool moving? Numbers any worker can read from the spool directory itself.

Only one worker retries the spool, but any worker may answer /healthz and /metrics, so the health of
the retry loop is read from the entries on disk rather than from the loop's memory: an entry whose
next attempt is long overdue means the loop died, hangs, or cannot rewrite its entries (a full disk).
An unreadable spool directory counts as stalled too.
"""

from __future__ import annotations

from dataclasses import dataclass

from relay_smtp.smtp.spool import Spool

# A working loop passes every few seconds; a pass can still take long when the next hop hangs on
# each of many entries (timeout x entries). Fifteen minutes past due is no longer "busy".
STALLED_AFTER = 900.0  # seconds


@dataclass(frozen=True)
class SpoolStatus:
    copies: int
    oldest_age: float  # seconds since the oldest entry was spooled; 0 when empty
    overdue: float  # seconds the most overdue entry has waited past its next attempt
    readable: bool

    @property
    def stalled(self) -> bool:
        return not self.readable or self.overdue > STALLED_AFTER

    def as_dict(self) -> dict[str, object]:
        return {
            "copies": self.copies,
            "oldest_age_seconds": round(self.oldest_age),
            "overdue_seconds": round(self.overdue),
            "state": "stalled" if self.stalled else "ok",
        }


def spool_status(spool: Spool) -> SpoolStatus:
    if not spool.directory.is_dir():
        return SpoolStatus(0, 0.0, 0.0, readable=False)
    try:
        entries = spool.entries()
    except OSError:
        return SpoolStatus(0, 0.0, 0.0, readable=False)
    now = spool.clock()
    oldest = max((now - e.created for e in entries), default=0.0)
    overdue = max((now - e.next_attempt for e in entries), default=0.0)
    return SpoolStatus(len(entries), max(0.0, oldest), max(0.0, overdue), readable=True)
