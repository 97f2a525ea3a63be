"""How long the KPI tables keep what they keep, and the one function that enforces it.

Why this module exists: the relay's housekeeping loop and ``relay-smtp db purge`` must forget the same
things at the same age: talent-pool entries past ``talent_pool.retention_days`` (or never confirmed
within the confirmation's lifetime), and rejections' hashes once their month can no longer be reported
on (the re-application window, then the admin's longest period).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine

from relay_smtp.config import Settings
from relay_smtp.store import kpi, talent_pool

#: After the re-application window, a rejection stays this long so that its month can still be shown
#: (the admin's longest period is 36 months).
REPORTED_DAYS = 3 * 366


def purge_kpi_data(engine: Engine, settings: Settings, now: datetime) -> int:
    """Purge both; the number of talent-pool entries removed (the personal data among them)."""
    pool, ttl = settings.talent_pool, timedelta(hours=settings.web.confirm_ttl_hours)
    removed = talent_pool.purge(engine, now, timedelta(days=pool.retention_days), ttl)
    kpi.purge(engine, now - timedelta(days=settings.kpi.reapply_window_days + REPORTED_DAYS))
    return removed
