"""What /metrics shows of a node among many: its lease, its epoch, the calls it adopted."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from switchboard.nodes.registry import NodeRegistry


class NodeMetrics(Collector):
    def __init__(self, registry: NodeRegistry) -> None:
        self.nodes = registry

    def collect(self) -> Iterable[Metric]:
        nodes = self.nodes
        yield GaugeMetricFamily(
            "switchboard_node_lease_held",
            "1 while this node is sure it holds its lease (it takes new calls and sends events)",
            value=1.0 if nodes.holds_lease() else 0.0,
        )
        yield GaugeMetricFamily(
            "switchboard_node_epoch",
            "This node's epoch: it grows each time the node joins (a restart, a lost lease)",
            value=float(nodes.epoch or 0),
        )
        yield CounterMetricFamily(
            "switchboard_node_calls_adopted",
            "Calls this node took over from nodes whose lease ran out",
            value=float(nodes.takeovers),
        )
