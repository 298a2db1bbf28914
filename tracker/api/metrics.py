"""What `/metrics` exposes, in the Prometheus text format.

The metric objects live in `tracker.metrics` (one registry every layer counts into:
events appended, HTTP durations, feed polls, deliveries). Added here at scrape time:
prometheus-client's process metrics, and facts read from the shared database, so that
every process, with or without a worker, reports them alike: each projection's lag
(`tracker_projection_lag`) and whether the database answered (`tracker_database_up`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client import REGISTRY as PROCESS_REGISTRY
from prometheus_client import generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from tracker.commands.deliveries import dispatcher_lag, retry_queue_depth
from tracker.db import read_connection
from tracker.metrics import REGISTRY
from tracker.projections.runner import lag

__all__ = ["DatabaseCollector", "exposition"]


class DatabaseCollector(Collector):
    """Facts read from the database at scrape time: lags and the retry queue."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        projection_lag = GaugeMetricFamily(
            "tracker_projection_lag",
            "Events a projection has still to apply (read from the database at scrape).",
            labels=["projection"],
        )
        dispatcher = GaugeMetricFamily(
            "tracker_dispatcher_lag_events",
            "Events the webhook dispatcher has still to turn into deliveries.",
        )
        retries = GaugeMetricFamily(
            "tracker_webhook_retry_queue", "Deliveries that failed and wait for a retry."
        )
        up = GaugeMetricFamily("tracker_database_up", "1 when the database answered the scrape.")
        try:
            with read_connection(self.engine) as conn:
                lags = lag(conn)
                dispatcher.add_metric([], dispatcher_lag(conn))
                retries.add_metric([], retry_queue_depth(conn))
        except SQLAlchemyError:
            up.add_metric([], 0)
            yield up
            return
        for name, behind in sorted(lags.items()):
            projection_lag.add_metric([name], behind)
        up.add_metric([], 1)
        yield from (projection_lag, dispatcher, retries, up)


class _Together(Collector):
    """Several collectors exposed as one, so one scrape shows them all."""

    def __init__(self, collectors: Iterable[Collector]) -> None:
        self.collectors = list(collectors)

    def collect(self) -> Iterator[Metric]:
        for collector in self.collectors:
            yield from collector.collect()


def exposition(database: DatabaseCollector) -> bytes:
    """The shared registry, the process metrics and the database's, as one text."""
    return generate_latest(_Together([REGISTRY, PROCESS_REGISTRY, database]))
