"""The shell of admission control (limits/overload.py): measures the node and shows it.

`OverloadProbe` runs a timer on the event loop every `probe_interval_seconds` and measures how
late it fired: the loop's lag, the time any callback that became due waited for the loop.
It reads the loop's own clock, not the engine's `Clock`: lag is real time spent behind
(`[simulator] time_scale` would scale the engine's clock by 100 at 0.01), and tests make a
loaded machine with tests/support/virtual_loop.py's `lateness`. With each lag it hands the
gate the backlog the engine reports (events waiting in calls' mailboxes).

`OverloadMetrics` shows the gate on /metrics, read at scrape time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from switchboard.limits.overload import OverloadGate


class OverloadProbe:
    def __init__(self, gate: OverloadGate, backlog: Callable[[], int]) -> None:
        self.gate = gate
        self.backlog = backlog
        self.interval = gate.settings.probe_interval_seconds
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._due = 0.0

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._schedule()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _schedule(self) -> None:
        assert self._loop is not None
        self._due = self._loop.time() + self.interval
        self._timer = self._loop.call_later(self.interval, self._tick)

    def _tick(self) -> None:
        assert self._loop is not None
        # asyncio may run a timer up to its clock's resolution early: never a negative lag.
        lag = max(0.0, self._loop.time() - self._due)
        self.gate.observe(lag, self.backlog())
        self._schedule()


class OverloadMetrics(Collector):
    def __init__(self, gate: OverloadGate, live_calls: Callable[[], int]) -> None:
        self.gate = gate
        self.live_calls = live_calls

    def collect(self) -> Iterable[Metric]:
        gate = self.gate
        yield GaugeMetricFamily(
            "switchboard_overload_loop_lag_seconds",
            "How late the event loop ran the overload probe's last timer",
            value=gate.last_lag,
        )
        yield GaugeMetricFamily(
            "switchboard_overload_backlog",
            "Events waiting in calls' mailboxes at the overload probe's last measurement",
            value=gate.last_backlog,
        )
        yield GaugeMetricFamily(
            "switchboard_overload_refusing",
            "1 while this node refuses new calls because it is falling behind (loop lag or "
            "backlog), else 0 (a full node is switchboard_node_live_calls at its capacity)",
            value=0 if gate.behind is None else 1,
        )
        yield GaugeMetricFamily(
            "switchboard_node_live_calls",
            "Calls running on this node, or admitted and being stored",
            value=self.live_calls(),
        )
        yield GaugeMetricFamily(
            "switchboard_node_capacity",
            "[overload] max_live_calls (0: no cap)",
            value=gate.settings.max_live_calls,
        )
        refused = CounterMetricFamily(
            "switchboard_overload_refusals",
            "New calls this node refused, or queued calls it ended, because it was full or "
            "falling behind; path: create, inbound, queued",
            labels=["path", "reason"],
        )
        for (path, reason), count in sorted(gate.refused.items()):
            refused.add_metric([path, reason], count)
        yield refused
