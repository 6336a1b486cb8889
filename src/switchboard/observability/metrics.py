"""Prometheus metrics of one server (a registry per app, so tests can run several servers)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from switchboard.media.clock import MediaClock

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25)
# RTP send lateness: fine below 5 ms (the jitter target), coarse above; multiples of 0.1 ms,
# which the clock's histogram (media/stats.py) counts exactly.
RTP_LATENESS_BUCKETS = (
    0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.05, 0.1
)  # fmt: skip


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
        refused = CounterMetricFamily(
            "switchboard_inbound_calls_refused",
            "Inbound calls refused: unknown number, no application, over the account's limits",
            labels=["account", "reason"],
        )
        for key, count in sorted(values.get("inbound_refused", {}).items()):
            account, _, reason = key.partition(" ")
            refused.add_metric([account, reason], count)
        yield refused
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


class _MediaGauges(Collector):
    """The media clock's totals, read at scrape time: the clock itself records nothing for
    Prometheus, so the per-frame path pays for no metric objects (media/stats.py)."""

    def __init__(self, clock: MediaClock) -> None:
        self.clock = clock

    def collect(self) -> Iterable[Metric]:
        clock = self.clock
        stats = clock.stats
        yield GaugeMetricFamily(
            "switchboard_rtp_sessions", "RTP sessions sending on the media clock", value=len(clock)
        )
        lateness = HistogramMetricFamily(
            "switchboard_rtp_send_lateness_seconds",
            "How late each RTP packet was sent after its 20 ms deadline",
        )
        counts = stats.cumulative(RTP_LATENESS_BUCKETS)
        buckets = [
            (repr(bound), float(count))
            for bound, count in zip(RTP_LATENESS_BUCKETS, counts, strict=True)
        ]
        buckets.append(("+Inf", float(stats.count)))
        lateness.add_metric([], buckets, stats.total_lateness)
        yield lateness
        yield CounterMetricFamily(
            "switchboard_rtp_frames_late",
            "RTP packets sent more than 20 ms after their deadline",
            value=stats.late_over_20ms,
        )
        yield GaugeMetricFamily(
            "switchboard_rtp_send_lateness_max_seconds",
            "The latest any RTP packet was sent after its deadline since the start",
            value=stats.max_lateness,
        )
        yield CounterMetricFamily(
            "switchboard_rtp_ticks_skipped",
            "Media clock ticks skipped after a stall longer than 100 ms (no audio sent for them)",
            value=clock.ticks_skipped,
        )


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._media: _MediaGauges | None = None
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

    def watch_media(self, clock: MediaClock) -> None:
        """Show `clock`'s RTP sessions and send lateness (only servers on the SIP network)."""
        if self._media is None:
            self._media = _MediaGauges(clock)
            self.registry.register(self._media)
        else:
            self._media.clock = clock

    def render(self) -> bytes:
        return generate_latest(self.registry)
