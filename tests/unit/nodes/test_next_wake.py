"""When a node's heartbeat task wakes (nodes/registry.py `next_wake`): at its next heartbeat,
or earlier, right after another node's lease ends, to adopt that node's calls at once."""

from __future__ import annotations

from switchboard.nodes.registry import next_wake


def test_no_other_lease_ending_first_wakes_for_the_heartbeat() -> None:
    assert next_wake(next_beat=12.0, adopt_at=None) == (12.0, True)
    assert next_wake(next_beat=12.0, adopt_at=19.5) == (12.0, True)  # renewed by then


def test_another_lease_ending_before_the_next_beat_wakes_then_only_to_adopt() -> None:
    assert next_wake(next_beat=12.0, adopt_at=10.25) == (10.25, False)


def test_a_tie_beats_which_adopts_as_well() -> None:
    assert next_wake(next_beat=12.0, adopt_at=12.0) == (12.0, True)
