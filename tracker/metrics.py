"""What operators watch, as Prometheus metrics (`GET /metrics` renders the registry).

One module so every layer counts into the same registry without importing the API.
Facts that live in the database (lags, the retry queue) are not kept here: they are
read when /metrics is scraped (api/metrics.py), so every process reports them alike.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = [
    "DELIVERIES",
    "DELIVERY_LATENCY",
    "EVENTS_APPENDED",
    "FEED_POLLS",
    "HTTP_REQUEST_DURATION",
    "REGISTRY",
]

REGISTRY = CollectorRegistry(auto_describe=True)

EVENTS_APPENDED = Counter(
    "tracker_events_appended", "Events appended to the log", ["type"], registry=REGISTRY
)
FEED_POLLS = Counter(
    "tracker_feed_polls", "Feed polls by outcome", ["feed", "outcome"], registry=REGISTRY
)
DELIVERIES = Counter(
    "tracker_webhook_deliveries",
    "Webhook delivery attempts by outcome",
    ["outcome"],
    registry=REGISTRY,
)
DELIVERY_LATENCY = Histogram(
    "tracker_webhook_end_to_end_seconds",
    "From event recorded to webhook accepted by the receiver",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
    registry=REGISTRY,
)
HTTP_REQUEST_DURATION = Histogram(
    "tracker_http_request_duration_seconds",
    "API request latency",
    ["route", "method", "status"],
    registry=REGISTRY,
)
