"""Prometheus metrics of one server (a registry per app, so tests can run several servers)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25)


class _LiveGauges(Collector):
    """Values read at scrape time from the engine: calls by state, queue and outbox depth."""

    def __init__(self, read: Callable[[], dict[str, dict[str, float]]]) -> None:
        self.read = read

    def collect(self) -> Iterable[Metric]:
        values = self.read()
        calls = GaugeMetricFamily("switchboard_calls", "Live calls by state", labels=["state"])
        for state, count in sorted(values.get("calls", {}).items()):
            calls.add_metric([state], count)
        yield calls
        queue = GaugeMetricFamily(
            "switchboard_call_queue_depth", "Calls waiting in outbound queues", labels=["account"]
        )
        for account, depth in sorted(values.get("queue", {}).items()):
            queue.add_metric([account], depth)
        yield queue
        yield GaugeMetricFamily(
            "switchboard_webhooks_in_flight",
            "Webhook deliveries and other engine IO not yet finished",
            value=values.get("engine", {}).get("in_flight", 0),
        )
        yield GaugeMetricFamily(
            "switchboard_outbox_depth",
            "Events recorded in the outbox and not yet delivered (or given up on)",
            value=values.get("engine", {}).get("outbox_pending", 0),
        )


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "switchboard_api_requests",
            "API requests by route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "switchboard_api_request_seconds",
            "API request latency by route",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.webhooks = Counter(
            "switchboard_webhook_deliveries",
            "Webhook delivery attempts by event type and outcome",
            ["event_type", "outcome"],
            registry=self.registry,
        )
        self.webhook_seconds = Histogram(
            "switchboard_webhook_delivery_seconds",
            "Webhook delivery attempt latency",
            ["event_type"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def watch(self, read: Callable[[], dict[str, dict[str, float]]]) -> None:
        self.registry.register(_LiveGauges(read))

    def render(self) -> bytes:
        return generate_latest(self.registry)
