"""The <Bridge> table (calls/bridge.py): each transition, and that nothing fits after the end."""

from __future__ import annotations

import pytest

from switchboard.calls import bridge as b

B = "c-b"


def test_accepted_joins_then_the_peer_leaving_finishes_it() -> None:
    joined, effects = b.step(b.Bridge(B), b.Accepted(B))
    assert (joined.phase, effects) == (b.Phase.JOINED, [b.Joined(B)])
    ended, effects = b.step(joined, b.PeerLeft(B))
    assert (ended.phase, effects) == (b.Phase.ENDED, [b.Finished("hangup")])


def test_a_refusal_finishes_it_with_the_reason() -> None:
    ended, effects = b.step(b.Bridge(B), b.Refused(B, "call c-b has ended"))
    assert (ended.phase, effects) == (b.Phase.ENDED, [b.Finished("unknown", "call c-b has ended")])


@pytest.mark.parametrize("phase", [b.Phase.REQUESTED, b.Phase.JOINED])
def test_the_owner_leaving_tells_the_target_even_before_it_answered(phase: b.Phase) -> None:
    ended, effects = b.step(b.Bridge(B, phase), b.Leave())
    assert (ended.phase, effects) == (b.Phase.ENDED, [b.TellOwnerLeft(B)])


@pytest.mark.parametrize(
    "message",
    [b.Accepted(B), b.Refused(B, "x"), b.PeerLeft(B), b.Leave(), b.Accepted("c-other")],
)
def test_after_the_end_or_from_another_call_nothing_changes(message: b.Message) -> None:
    ended = b.Bridge(B, b.Phase.ENDED)
    assert b.step(ended, message) == (ended, [])
    if isinstance(message, b.Accepted) and message.target != B:
        requested = b.Bridge(B)
        assert b.step(requested, message) == (requested, [])


def test_a_late_accept_after_joining_changes_nothing() -> None:
    joined = b.Bridge(B, b.Phase.JOINED)
    assert b.step(joined, b.Accepted(B)) == (joined, [])
    assert b.step(joined, b.Refused(B, "late")) == (joined, [])
