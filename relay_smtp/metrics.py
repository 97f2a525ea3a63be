"""Prometheus metrics: what the relay did, how the next hop answered, and how long the relay took.

With several workers each process counts for itself and prometheus_client's multiprocess mode adds
them up at scrape time: the supervisor sets PROMETHEUS_MULTIPROC_DIR before it forks, and the metric
objects are created lazily (on first use, in the worker) so they pick that mode up. prometheus_client
chooses the mode when it is first imported, so it is imported only inside these functions. Numbers that live
elsewhere (spool size; the ledger's clicks, registrations and credits, shared by every worker and
relay) are read from there when /metrics is scraped.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # prometheus_client is imported lazily: see the module docstring
    from prometheus_client import Counter, Histogram
    from prometheus_client.core import Metric

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# The time the relay adds to a message is milliseconds; the buckets resolve 0.5 ms to 2.5 s.
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


@dataclass(frozen=True)
class RelayMetrics:
    messages: Counter
    blocks: Counter
    upstream_replies: Counter
    links: Counter
    added_latency: Histogram
    spool_failures: Counter


@cache
def metrics() -> RelayMetrics:
    """The process's metric objects, created on first use (after the supervisor forked)."""
    from prometheus_client import Counter, Histogram

    return RelayMetrics(
        messages=Counter(
            "relay_smtp_messages", "Messages relayed, by verdict and action", ["verdict", "action"]
        ),
        blocks=Counter("relay_smtp_blocks_injected", "Copies sent with the Career Relay block"),
        upstream_replies=Counter(
            "relay_smtp_upstream_replies", "Final replies of the next hop, by class", ["reply_class"]
        ),
        links=Counter("relay_smtp_links_issued", "Personal links in copies the next hop accepted"),
        added_latency=Histogram(
            "relay_smtp_added_latency_seconds",
            "Time the relay adds per message (classify, splice, sign), next hop excluded",
            buckets=LATENCY_BUCKETS,
        ),
        spool_failures=Counter(
            "relay_smtp_spool_failures", "Spool passes or attempts that failed with an error (disk, I/O)"
        ),
    )


def reply_class(code: int) -> str:
    return f"{code // 100}xx"


class CallbackGauges:
    """Gauges whose values are read at scrape time (spool size, ledger totals)."""

    def __init__(self, read: Callable[[], Iterable[tuple[str, str, float]]]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        for name, documentation, value in self._read():
            gauge = GaugeMetricFamily(name, documentation)
            gauge.add_metric([], value)
            yield gauge


def render(extra: CallbackGauges | None = None) -> tuple[bytes, str]:
    """The /metrics response body and content type, summed over every worker process."""
    from prometheus_client import (
        CONTENT_TYPE_LATEST,
        REGISTRY,
        CollectorRegistry,
        generate_latest,
        multiprocess,
    )

    metrics()  # so a scrape before the first message shows the counters at zero
    registry = REGISTRY
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    body = generate_latest(registry)
    if extra is not None:
        # Read-at-scrape gauges come from this process alone: they read shared state (disk, store).
        own = CollectorRegistry()
        own.register(extra)
        body += generate_latest(own)
    return body, CONTENT_TYPE_LATEST


def mark_worker_dead(pid: int) -> None:
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
