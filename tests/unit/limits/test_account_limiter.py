"""Calls per second, concurrent calls and the outbound queue, decided without a clock."""

from __future__ import annotations

from switchboard.limits.account import (
    CONCURRENCY_LIMITED,
    RATE_LIMITED,
    AccountLimiter,
    Decision,
    LimitSettings,
)


def test_five_per_second_start_then_the_rest_queue() -> None:
    limiter = AccountLimiter(LimitSettings(calls_per_second=5))
    decisions = [limiter.admit(0.0, f"c{i}", 5).decision for i in range(8)]
    assert decisions == [Decision.START] * 5 + [Decision.QUEUE] * 3
    assert limiter.queue_size == 3


def test_queue_drains_at_the_account_rate() -> None:
    limiter = AccountLimiter(LimitSettings(calls_per_second=5))
    for i in range(15):
        limiter.admit(0.0, f"c{i}", 5)
    assert limiter.dequeue(0.0) == []
    assert limiter.next_dequeue_in(0.0) == 1.0
    assert limiter.next_dequeue_in(0.25) == 0.75
    assert limiter.dequeue(0.5) == []  # the first five started less than a second ago
    started_per_second = [len(limiter.dequeue(float(second))) for second in (1, 2, 3)]
    assert started_per_second == [5, 5, 0]


def test_priority_order_then_first_in_first_out() -> None:
    limiter = AccountLimiter(LimitSettings(calls_per_second=1))
    limiter.admit(0.0, "first", 5)  # starts: the bucket holds one call
    for call_id, priority in [("low-a", 5), ("high", 1), ("mid", 3), ("low-b", 5), ("high-b", 1)]:
        assert limiter.admit(0.0, call_id, priority).decision is Decision.QUEUE
    order = [call for second in range(1, 6) for call in limiter.dequeue(float(second))]
    assert order == ["high", "high-b", "mid", "low-a", "low-b"]


def test_full_queue_is_refused_with_bandwidths_message() -> None:
    limiter = AccountLimiter(LimitSettings(calls_per_second=1, concurrent_calls=10_000))
    assert limiter.settings.max_queue_size == 300
    results = [limiter.admit(0.0, f"c{i}", 5) for i in range(302)]
    assert results[300].decision is Decision.QUEUE
    refused = results[301]
    assert refused.decision is Decision.REJECT and refused.reason == RATE_LIMITED
    assert refused.retry_after >= 1


def test_without_queue_over_rate_is_refused() -> None:
    limiter = AccountLimiter(LimitSettings(calls_per_second=2, queue_enabled=False))
    results = [limiter.admit(0.0, f"c{i}", 5) for i in range(3)]
    assert [r.decision for r in results] == [Decision.START, Decision.START, Decision.REJECT]
    assert results[2].reason == RATE_LIMITED
    half_a_second_later = limiter.admit(0.5, "later", 5)
    assert half_a_second_later.decision is Decision.REJECT
    assert half_a_second_later.retry_after == 1.0  # never less than a second
    assert limiter.admit(1.0, "later", 5).decision is Decision.START


def test_no_window_of_one_second_holds_more_than_the_rate() -> None:
    limiter = AccountLimiter(LimitSettings(calls_per_second=5, concurrent_calls=10**6))
    starts = []
    for step in range(400):  # a call asked for every 25 ms for 10 s
        now = step * 0.025
        if limiter.admit(now, f"c{step}", 5).decision is Decision.START:
            starts.append(now)
        starts += [now] * len(limiter.dequeue(now))
    assert len(starts) == 50
    assert all(
        later - earlier >= 1.0 - 1e-9 for earlier, later in zip(starts, starts[5:], strict=False)
    )


def test_a_fractional_rate_spreads_its_calls() -> None:
    limiter = AccountLimiter(LimitSettings(calls_per_second=0.5))
    assert limiter.settings.max_queue_size == 150
    assert [limiter.admit(0.0, c, 5).decision for c in "ab"] == [Decision.START, Decision.QUEUE]
    assert limiter.next_dequeue_in(0.0) == 2.0
    assert limiter.dequeue(1.9) == [] and limiter.dequeue(2.0) == ["b"]


def test_a_changed_rate_applies_to_the_next_decision() -> None:
    limiter = AccountLimiter(LimitSettings(calls_per_second=1, queue_enabled=False))
    assert limiter.admit(0.0, "a", 5).decision is Decision.START
    assert limiter.admit(0.0, "b", 5).decision is Decision.REJECT
    limiter.settings = LimitSettings(calls_per_second=3, queue_enabled=False)
    assert [limiter.admit(0.0, c, 5).decision for c in "bcd"] == [
        Decision.START,
        Decision.START,
        Decision.REJECT,
    ]


def test_concurrent_limit_counts_live_calls_and_frees_on_end() -> None:
    limiter = AccountLimiter(LimitSettings(calls_per_second=100, concurrent_calls=2))
    assert limiter.admit(0.0, "a", 5).decision is Decision.START
    assert limiter.admit(0.0, "b", 5).decision is Decision.START
    refused = limiter.admit(0.0, "c", 5)
    assert (refused.decision, refused.reason) == (Decision.REJECT, CONCURRENCY_LIMITED)
    limiter.ended("a")
    assert limiter.admit(0.0, "c", 5).decision is Decision.START


def test_removed_queued_call_never_starts() -> None:
    limiter = AccountLimiter(LimitSettings(calls_per_second=1))
    limiter.admit(0.0, "a", 5)
    limiter.admit(0.0, "b", 5)
    limiter.admit(0.0, "c", 5)
    assert limiter.remove_queued("b") and not limiter.remove_queued("b")
    assert limiter.dequeue(1.0) == ["c"]
    assert limiter.queue_size == 0


def test_rate_held_over_a_long_window() -> None:
    limiter = AccountLimiter(LimitSettings(calls_per_second=5, concurrent_calls=10**6))
    for i in range(1000):
        limiter.admit(0.0, f"c{i}", 5)
    started = sum(len(limiter.dequeue(t / 10)) for t in range(1, 1001))  # 100 s in 0.1 s steps
    assert started == 500  # 5 per second for 100 s, on top of the first second's burst


def test_inbound_calls_start_now_or_are_refused_never_queued() -> None:
    limiter = AccountLimiter(LimitSettings(calls_per_second=2, concurrent_calls=3))
    assert [limiter.admit_now(0.0, f"in{i}").decision for i in range(3)] == [
        Decision.START,
        Decision.START,
        Decision.REJECT,
    ]
    assert limiter.queue_size == 0
    refused = limiter.admit_now(0.5, "late")
    assert (refused.decision, refused.reason, refused.retry_after) == (
        Decision.REJECT,
        RATE_LIMITED,
        1.0,
    )
    assert limiter.admit_now(1.0, "next").decision is Decision.START  # the window moved on
    assert limiter.admit_now(1.0, "full").reason == CONCURRENCY_LIMITED  # 3 active now


def test_a_forward_leg_is_allowed_over_the_rate_but_counts_against_it() -> None:
    limiter = AccountLimiter(LimitSettings(calls_per_second=1))
    assert limiter.admit_now(0.0, "caller").decision is Decision.START
    limiter.count_start(0.1)  # its <Forward> leg: allowed though the second is used up
    limiter.count_start(0.2)
    assert limiter.admit_now(1.05, "next").decision is Decision.REJECT  # two starts still in
    assert limiter.admit_now(1.25, "later").decision is Decision.START
