"""Admission control of one node (limits/overload.py), decided from measurements passed in:
node capacity, loop lag and backlog with their hysteresis, the queued call's bound, and the
`[overload]` table of the config file."""

from __future__ import annotations

from pathlib import Path

import pytest

from switchboard.config import ConfigError, load_settings
from switchboard.limits.overload import (
    BACKLOG,
    CAPACITY,
    LOOP_LAG,
    PLACE,
    OverloadGate,
    OverloadSettings,
    QueuedTurn,
)

SETTINGS = OverloadSettings(
    max_live_calls=10,
    max_loop_lag_seconds=0.2,
    max_backlog=100,
    queued_call_wait_seconds=5.0,
)


def gate(**changes: float) -> OverloadGate:
    settings = OverloadSettings(
        **{
            "max_live_calls": SETTINGS.max_live_calls,
            "max_loop_lag_seconds": SETTINGS.max_loop_lag_seconds,
            "max_backlog": SETTINGS.max_backlog,
            "queued_call_wait_seconds": SETTINGS.queued_call_wait_seconds,
            **changes,
        }
    )
    return OverloadGate(settings)


def refusing(gate: OverloadGate) -> str | None:
    """The reason a new call is refused now (with no calls live), or None."""
    refusal = gate.check(0)
    return None if refusal is None else refusal.reason


# -- node capacity ----------------------------------------------------------------------------


def test_capacity_refuses_at_max_live_calls_and_admits_below_it() -> None:
    node = gate()
    assert node.refusal(9, "create") is None
    refusal = node.refusal(10, "create")
    assert refusal is not None and refusal.reason == CAPACITY
    assert refusal.retry_after == 1
    assert refusal.description == (
        "Managing too many concurrent calls: this Switchboard node is running 10 calls, its "
        "capacity ([overload] max_live_calls); retry in a few seconds, or on another node"
    )
    assert node.refusal(11, "inbound") is refusal
    assert node.refusal(9, "create") is None  # a call ended: room again, at once
    assert node.refused == {("create", CAPACITY): 1, ("inbound", CAPACITY): 1}


def test_no_cap_when_max_live_calls_is_zero() -> None:
    assert gate(max_live_calls=0).check(10**9) is None


# -- loop lag and backlog, with hysteresis ---------------------------------------------------


def test_one_late_probe_is_not_overload_two_in_a_row_are() -> None:
    node = gate()
    node.observe(0.5, 0)
    assert refusing(node) is None  # a GC pause, a neighbour on the core
    node.observe(0.0, 0)
    node.observe(0.5, 0)
    assert refusing(node) is None  # not in a row
    node.observe(0.25, 0)
    assert refusing(node) == LOOP_LAG
    refusal = node.check(0)
    assert refusal is not None
    assert refusal.why == (
        "this Switchboard node is falling behind (its event loop runs 250 ms late, over the "
        "200 ms of [overload] max_loop_lag_seconds), so it takes no new calls until it "
        "catches up"
    )


def test_the_limit_itself_counts_as_over() -> None:
    node = gate()
    node.observe(0.2, 0)
    node.observe(0.2, 0)
    assert refusing(node) == LOOP_LAG


def test_it_stays_overloaded_in_the_band_and_resumes_after_two_probes_under_half() -> None:
    node = gate()
    node.observe(0.3, 0)
    node.observe(0.3, 0)
    # Between half the limit and the limit: neither over nor caught up (no flapping).
    for lag in (0.15, 0.11, 0.19, 0.15):
        node.observe(lag, 0)
        assert refusing(node) == LOOP_LAG
    node.observe(0.1, 0)  # half the limit: caught up, once
    assert refusing(node) == LOOP_LAG
    node.observe(0.15, 0)  # not in a row
    node.observe(0.05, 0)
    assert refusing(node) == LOOP_LAG
    node.observe(0.0, 0)
    assert refusing(node) is None
    node.observe(0.3, 0)  # and it takes two in a row again to refuse
    assert refusing(node) is None


def test_backlog_over_its_limit_is_overload_and_must_fall_under_half() -> None:
    node = gate()
    node.observe(0.0, 100)
    node.observe(0.0, 250)
    refusal = node.check(0)
    assert refusal is not None and refusal.reason == BACKLOG
    assert "250 call events wait to be handled, over the 100 of [overload] max_backlog" in (
        refusal.why
    )
    node.observe(0.0, 51)
    node.observe(0.0, 51)
    assert refusing(node) == BACKLOG
    node.observe(0.0, 50)
    node.observe(0.0, 10)
    assert refusing(node) is None


def test_caught_up_means_under_half_of_every_limit() -> None:
    node = gate()
    node.observe(0.3, 0)
    node.observe(0.3, 0)
    for _ in range(5):
        node.observe(0.0, 60)  # the loop is on time, but the backlog is not under half
    assert refusing(node) == LOOP_LAG
    node.observe(0.0, 0)
    node.observe(0.0, 0)
    assert refusing(node) is None


def test_a_limit_of_zero_is_not_measured() -> None:
    node = gate(max_loop_lag_seconds=0, max_backlog=0)
    for _ in range(5):
        node.observe(30.0, 10**6)
    assert refusing(node) is None


def test_capacity_is_told_before_lag() -> None:
    node = gate()
    node.observe(1.0, 0)
    node.observe(1.0, 0)
    refusal = node.refusal(10, "create")
    assert refusal is not None and refusal.reason == CAPACITY
    refusal = node.refusal(3, "create")
    assert refusal is not None and refusal.reason == LOOP_LAG
    assert node.refused == {("create", CAPACITY): 1, ("create", LOOP_LAG): 1}


def test_the_last_measurement_is_kept_for_metrics() -> None:
    node = gate()
    node.observe(0.012, 7)
    assert (node.last_lag, node.last_backlog) == (0.012, 7)


# -- a queued call whose turn came -------------------------------------------------------------


def test_a_queued_call_is_placed_when_the_node_has_room() -> None:
    assert gate().queued_turn(0.0, 9) == PLACE


def test_a_short_overload_delays_a_queued_call_and_a_long_one_ends_it() -> None:
    node = gate()
    assert node.queued_turn(100.0, 10) == QueuedTurn(wait=1.0)
    assert node.queued_turn(101.0, 10) == QueuedTurn(wait=1.0)
    assert node.queued_turn(104.5, 12) == QueuedTurn(wait=0.5)  # the bound, not a second
    turn = node.queued_turn(105.0, 10)
    assert turn.wait is None
    assert turn.end == (
        "The call could not be placed: this Switchboard node is running 10 calls, its "
        "capacity ([overload] max_live_calls), for longer than the 5 s a queued call waits "
        "for room ([overload] queued_call_wait_seconds)"
    )
    assert node.queued_turn(106.0, 10).end is not None  # until the node has room again
    assert node.refused == {("queued", CAPACITY): 2}


def test_room_in_between_starts_the_bound_again() -> None:
    node = gate()
    assert node.queued_turn(0.0, 10).wait == 1.0
    assert node.queued_turn(4.0, 10).wait == 1.0
    assert node.queued_turn(4.5, 5) == PLACE
    assert node.queued_turn(6.0, 10).wait == 1.0  # blocked since 6.0 now, not since 0.0
    assert node.queued_turn(10.5, 10).wait == 0.5


def test_a_loop_behind_blocks_the_queue_too() -> None:
    node = gate(queued_call_wait_seconds=0)
    node.observe(1.0, 0)
    node.observe(1.0, 0)
    turn = node.queued_turn(0.0, 0)
    assert turn.end is not None and "event loop runs 1000 ms late" in turn.end


# -- the [overload] table ----------------------------------------------------------------------


def load(tmp_path: Path, table: str) -> OverloadSettings:
    config = tmp_path / "switchboard.toml"
    config.write_text(f"[overload]\n{table}\n")
    return load_settings(config).overload


def test_defaults_never_refuse_a_normal_server(tmp_path: Path) -> None:
    assert load(tmp_path, "") == OverloadSettings(
        max_live_calls=20_000,
        max_loop_lag_seconds=0.5,
        max_backlog=10_000,
        probe_interval_seconds=0.1,
        queued_call_wait_seconds=30.0,
        retry_after_seconds=1,
    )


def test_every_key_is_read(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        "max_live_calls = 300\nmax_loop_lag_seconds = 0.05\nmax_backlog = 0\n"
        "probe_interval_seconds = 0.02\nqueued_call_wait_seconds = 10\n"
        "retry_after_seconds = 2",
    )
    assert settings == OverloadSettings(300, 0.05, 0, 0.02, 10.0, 2)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("max_live_calls = -1", "overload.max_live_calls must be 0 or more, got -1"),
        ("max_live_calls = 1.5", "overload.max_live_calls must be a whole number, got 1.5"),
        ("max_backlog = true", "overload.max_backlog must be a number, got True"),
        ("max_loop_lag_seconds = nan", "overload.max_loop_lag_seconds must be 0 or more"),
        ("max_loop_lag_seconds = inf", "overload.max_loop_lag_seconds must be 0 or more"),
        ('queued_call_wait_seconds = "30"', "overload.queued_call_wait_seconds must be a number"),
        ("probe_interval_seconds = 0", "overload.probe_interval_seconds must be from 0.01 to 60"),
        ("retry_after_seconds = 0", "overload.retry_after_seconds must be at least 1"),
        ("max_calls = 3", "[overload]: unknown key(s) max_calls; known keys are max_live_calls"),
    ],
)
def test_mistakes_say_which_key_and_why(tmp_path: Path, table: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, table)
    assert message in str(caught.value)
