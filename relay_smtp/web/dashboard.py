"""One company's dashboard, gathered from the store: funnel with rates, KPIs, talent pool, ledger.

Why this module exists: the admin page, the CSV exports and ``relay-smtp report`` show the same numbers
for a company and a period; this collects them (in a worker thread: it reads the database) into one
frozen value that templates and writers only format.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from relay_smtp.store import kpi, satisfaction, talent_pool
from relay_smtp.store.kpi import MonthFunnel, Reapplication
from relay_smtp.store.ledger import Funnel, Ledger, LedgerEntry
from relay_smtp.store.satisfaction import SCORES, MonthSatisfaction
from relay_smtp.store.talent_pool import PoolEntry
from relay_smtp.web.period import Period


@dataclass(frozen=True)
class Dashboard:
    company: str
    name: str
    period: Period
    totals: Funnel  # all time: balance and the like
    months: tuple[MonthFunnel, ...]
    period_funnel: MonthFunnel  # the whole period at once
    satisfaction: tuple[MonthSatisfaction, ...]
    reapplication: tuple[Reapplication, ...]
    pool: tuple[PoolEntry, ...]
    entries: tuple[LedgerEntry, ...]  # newest first

    @property
    def satisfaction_total(self) -> MonthSatisfaction:
        columns = zip(*(m.distribution for m in self.satisfaction), strict=True)
        sums = tuple(sum(c) for c in columns) if self.satisfaction else tuple(0 for _ in SCORES)
        return MonthSatisfaction(self.period_funnel.month, sums)

    @property
    def reapplication_total(self) -> Reapplication:
        rows = self.reapplication
        return Reapplication(
            self.period_funnel.month,
            sum(r.rejected for r in rows),
            sum(r.came_back for r in rows),
            sum(r.registered for r in rows),
        )


def gather(ledger: Ledger, company: str, name: str, period: Period, *, window_days: int) -> Dashboard:
    engine: Engine = ledger.engine
    funnels = kpi.monthly_funnel(engine, company, [*period.months, period.whole])
    labels = [m.label for m in period.months]
    return Dashboard(
        company=company,
        name=name,
        period=period,
        totals=ledger.funnel(company),
        months=tuple(funnels[:-1]),
        period_funnel=funnels[-1],
        satisfaction=tuple(satisfaction.monthly(engine, company, labels)),
        reapplication=tuple(kpi.reapplication(engine, company, period.months, window_days=window_days)),
        pool=tuple(talent_pool.entries(engine, company)),
        entries=tuple(reversed(ledger.entries(company))),
    )
