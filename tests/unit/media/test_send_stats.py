"""SendStats: the histogram behind the RTP lateness figures of /metrics and the benchmark."""

from __future__ import annotations

import pytest

from switchboard.media.stats import SendStats


def test_cumulative_counts_packets_at_most_each_bound() -> None:
    stats = SendStats()
    for lateness in (-0.001, 0.0, 0.00005, 0.0015, 0.0049, 0.012, 0.030, 0.5):
        stats.record(lateness)
    assert stats.cumulative((0.0001, 0.001, 0.002, 0.005, 0.02, 0.1)) == [3, 3, 4, 5, 6, 7]
    assert stats.count == 8  # the last packet (500 ms) is only in +Inf
    assert stats.late_over_20ms == 2
    assert stats.max_lateness == 0.5
    assert stats.total_lateness == pytest.approx(0.00005 + 0.0015 + 0.0049 + 0.012 + 0.030 + 0.5)


def test_merge_adds_the_sum_too() -> None:
    first, second = SendStats(), SendStats()
    first.record(0.002)
    second.record(0.003)
    first.merge(second)
    assert first.cumulative((0.0025, 0.0035)) == [1, 2]
    assert first.total_lateness == pytest.approx(0.005)
