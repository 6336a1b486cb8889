"""Send-time statistics: how late each RTP packet left against its ideal 20 ms schedule.

A histogram with 0.1 ms buckets up to 100 ms (and one overflow bucket) rather than a list of
samples: recording is O(1) with no allocation, memory stays fixed over a 10-minute call, and
percentiles are exact to a tenth of a millisecond, which is all a jitter benchmark needs.

Each RTP session has its own; the media clock has one more that every session of the loop also
records into (its totals are what /metrics shows: observability/metrics.py).
"""

from __future__ import annotations

from collections.abc import Sequence

_BUCKET_SECONDS = 0.0001
_BUCKETS = 1000  # 0-100 ms; later packets land in the overflow bucket
LATE_SECONDS = 0.020


class SendStats:
    __slots__ = ("_histogram", "count", "late_over_20ms", "max_lateness", "total_lateness")

    def __init__(self) -> None:
        self._histogram = [0] * (_BUCKETS + 1)
        self.count = 0
        self.late_over_20ms = 0
        self.max_lateness = 0.0
        self.total_lateness = 0.0  # seconds, the sum of the positive latenesses

    def record(self, lateness: float) -> None:
        """Note one packet sent `lateness` seconds after its deadline (negative counts as 0)."""
        self.count += 1
        if lateness <= 0.0:
            self._histogram[0] += 1
            return
        self.total_lateness += lateness
        if lateness > self.max_lateness:
            self.max_lateness = lateness
        if lateness > LATE_SECONDS:
            self.late_over_20ms += 1
        self._histogram[min(int(lateness / _BUCKET_SECONDS), _BUCKETS)] += 1

    def percentile(self, fraction: float) -> float:
        """Lateness in seconds below which `fraction` (0-1) of packets were sent (bucket top)."""
        if self.count == 0:
            return 0.0
        wanted = fraction * self.count
        seen = 0
        for index, number in enumerate(self._histogram):
            seen += number
            if seen >= wanted and number:
                return self.max_lateness if index == _BUCKETS else (index + 1) * _BUCKET_SECONDS
        return self.max_lateness

    def cumulative(self, bounds: Sequence[float]) -> list[int]:
        """For each bound (seconds, ascending, at most 100 ms), how many packets were sent at
        most that late: a Prometheus histogram's buckets. Exact for multiples of 0.1 ms."""
        counts: list[int] = []
        seen = 0
        index = 0
        for bound in bounds:
            end = min(round(bound / _BUCKET_SECONDS), _BUCKETS)
            seen += sum(self._histogram[index:end])
            index = max(index, end)
            counts.append(seen)
        return counts

    @property
    def p99(self) -> float:
        return self.percentile(0.99)

    def merge(self, other: SendStats) -> None:
        """Add `other`'s packets to these (for totals over many sessions)."""
        for index, number in enumerate(other._histogram):
            self._histogram[index] += number
        self.count += other.count
        self.late_over_20ms += other.late_over_20ms
        self.total_lateness += other.total_lateness
        self.max_lateness = max(self.max_lateness, other.max_lateness)
