"""The <Transfer> table (calls/transfer.py): each transition by example, then invariants over
generated interleavings of what 1-8 targets and the original call (A) report, in any order."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switchboard.calls.transfer import (
    Abandon,
    Effect,
    EndTarget,
    Finished,
    Join,
    Message,
    Phase,
    Proceed,
    TargetAnswered,
    TargetEnded,
    TargetReady,
    Transfer,
    start,
    step,
)

B = ("b1", "b2", "b3")


def run(targets: Sequence[str], messages: Sequence[Message]) -> tuple[Transfer, list[Effect]]:
    transfer = start(tuple(targets))
    effects: list[Effect] = []
    for message in messages:
        transfer, produced = step(transfer, message)
        effects.extend(produced)
    return transfer, effects


# -- examples --------------------------------------------------------------------------------
def test_a_new_transfer_dials_every_target() -> None:
    transfer = start(B)
    assert (transfer.phase, transfer.winner, transfer.live_targets) == (Phase.DIALING, None, B)


def test_the_first_target_to_answer_wins_and_the_others_are_cancelled() -> None:
    transfer, effects = step(start(B), TargetAnswered("b2"))
    assert (transfer.phase, transfer.winner) == (Phase.ANSWERED, "b2")
    assert effects == [Proceed("b2"), EndTarget("b1", "cancel"), EndTarget("b3", "cancel")]


def test_a_target_that_already_failed_is_not_cancelled_when_another_answers() -> None:
    transfer, effects = run(B, [TargetEnded("b1", "busy"), TargetAnswered("b3")])
    assert transfer.winner == "b3"
    assert effects == [Proceed("b3"), EndTarget("b2", "cancel")]


def test_a_second_answer_loses_and_changes_nothing() -> None:
    answered, _ = step(start(B), TargetAnswered("b1"))
    assert step(answered, TargetAnswered("b2")) == (answered, [])


def test_targets_failing_one_by_one_finish_the_transfer_only_with_the_last() -> None:
    transfer, effects = run(B, [TargetEnded("b2", "busy"), TargetEnded("b1", "rejected")])
    assert (transfer.phase, effects) == (Phase.DIALING, [])  # b3 still rings
    transfer, effects = step(transfer, TargetEnded("b3", "timeout", "no answer", "e-1"))
    assert transfer.phase is Phase.ENDED
    assert effects == [Finished("timeout", "b3", "no answer", "e-1")]


def test_a_single_target_refused_before_dialing_finishes_the_transfer_at_once() -> None:
    """start()'s contract: a refused target is one of the targets, reported as TargetEnded."""
    transfer, effects = step(start(("b1",)), TargetEnded("b1", "account-limit", "too many", "e"))
    assert transfer.phase is Phase.ENDED
    assert effects == [Finished("account-limit", "b1", "too many", "e")]


def test_the_winners_ready_joins_it_to_the_original_call() -> None:
    transfer, effects = run(B, [TargetAnswered("b1"), TargetReady("b1")])
    assert (transfer.phase, transfer.winner) == (Phase.BRIDGED, "b1")
    assert effects[-1:] == [Join("b1")]


def test_a_losers_ready_joins_nothing() -> None:
    answered, _ = step(start(B), TargetAnswered("b1"))
    assert step(answered, TargetReady("b2")) == (answered, [])


def test_the_winner_hanging_up_after_the_bridge_finishes_with_its_cause() -> None:
    transfer, effects = run(B, [TargetAnswered("b2"), TargetReady("b2")])
    transfer, effects = step(transfer, TargetEnded("b2", "hangup"))
    assert transfer.phase is Phase.ENDED
    assert effects == [Finished("hangup", "b2")]


def test_the_winner_ending_during_its_transfer_answer_bxml_finishes_without_a_join() -> None:
    transfer, effects = run(B, [TargetAnswered("b2"), TargetEnded("b2", "callback-error", "x")])
    assert transfer.phase is Phase.ENDED
    assert [e for e in effects if not isinstance(e, EndTarget)] == [
        Proceed("b2"),
        Finished("callback-error", "b2", "x"),
    ]


def test_a_cancelled_loser_reporting_its_end_does_not_finish_the_transfer() -> None:
    transfer, _ = run(B, [TargetAnswered("b1"), TargetReady("b1")])
    transfer, effects = step(transfer, TargetEnded("b2", "cancel"))
    assert (transfer.phase, transfer.ended, effects) == (Phase.BRIDGED, frozenset({"b2"}), [])
    # The winner's cause, not a loser's, is what A hears.
    transfer, effects = step(transfer, TargetEnded("b1", "hangup"))
    assert effects == [Finished("hangup", "b1")]


def test_abandon_while_dialing_cancels_every_target_still_ringing() -> None:
    transfer, effects = run(B, [TargetEnded("b2", "busy"), Abandon()])
    assert transfer.phase is Phase.ENDED
    assert effects == [EndTarget("b1", "cancel"), EndTarget("b3", "cancel")]


def test_abandon_while_the_winner_runs_its_bxml_hangs_it_up() -> None:
    transfer, _ = run(B, [TargetAnswered("b1"), TargetEnded("b2", "cancel")])
    transfer, effects = step(transfer, Abandon())
    assert transfer.phase is Phase.ENDED
    # b3 was cancelled when b1 won and has not reported its end yet: it is told again (harmless,
    # see test_end_target_guarantee), b2 already ended and is not.
    assert effects == [EndTarget("b1", "hangup"), EndTarget("b3", "cancel")]


def test_abandon_during_the_bridge_hangs_up_the_winner() -> None:
    transfer, _ = run(
        B,
        [
            TargetAnswered("b3"),
            TargetEnded("b1", "cancel"),
            TargetEnded("b2", "cancel"),
            TargetReady("b3"),
        ],
    )
    transfer, effects = step(transfer, Abandon())
    assert (transfer.phase, effects) == (Phase.ENDED, [EndTarget("b3", "hangup")])


def test_abandon_after_the_winner_left_changes_nothing() -> None:
    transfer, _ = run(B, [TargetAnswered("b3"), TargetReady("b3"), TargetEnded("b3", "hangup")])
    assert step(transfer, Abandon()) == (transfer, [])


def test_everything_after_abandon_changes_nothing() -> None:
    abandoned, _ = run(B, [TargetAnswered("b1"), Abandon()])
    for message in (
        TargetReady("b1"),
        TargetEnded("b1", "hangup"),
        TargetEnded("b2", "cancel"),
        TargetAnswered("b2"),
        Abandon(),
    ):
        assert step(abandoned, message) == (abandoned, [])


@pytest.mark.parametrize(
    ("before", "late"),
    [
        # Late: the target already reported its end.
        ([TargetEnded("b1", "busy")], TargetAnswered("b1")),
        ([TargetEnded("b1", "busy")], TargetEnded("b1", "busy")),
        ([TargetAnswered("b1"), TargetEnded("b2", "cancel")], TargetEnded("b2", "cancel")),
        # Out of phase: ready before any answer, an answer after the bridge.
        ([], TargetReady("b1")),
        ([TargetAnswered("b1"), TargetReady("b1")], TargetAnswered("b1")),
        ([TargetAnswered("b1"), TargetReady("b1")], TargetAnswered("b2")),
        # Duplicates.
        ([TargetAnswered("b1")], TargetAnswered("b1")),
        ([TargetAnswered("b1"), TargetReady("b1")], TargetReady("b1")),
        # Foreign: not one of this transfer's targets (another transfer's, a stale id).
        ([], TargetAnswered("x")),
        ([], TargetEnded("x", "hangup")),
        ([TargetAnswered("b1")], TargetReady("x")),
        ([TargetAnswered("b1"), TargetReady("b1")], TargetEnded("x", "hangup")),
        # Anything once the transfer is over.
        ([TargetEnded(t, "busy") for t in B], TargetAnswered("b1")),
        ([TargetEnded(t, "busy") for t in B], Abandon()),
        ([TargetAnswered("b1"), TargetEnded("b1", "hangup")], TargetEnded("b2", "cancel")),
        ([TargetAnswered("b1"), TargetEnded("b1", "hangup")], TargetEnded("b1", "hangup")),
    ],
)
def test_late_duplicate_and_foreign_messages_change_nothing(
    before: list[Message], late: Message
) -> None:
    transfer, _ = run(B, before)
    assert step(transfer, late) == (transfer, [])


# -- properties over generated interleavings -------------------------------------------------
# Fast and the same on every run: a fixed derivation of examples, no example database written.
TABLE = settings(max_examples=300, deadline=None, derandomize=True, database=None)

CAUSES = ("hangup", "busy", "timeout", "cancel", "rejected", "error", "callback-error")
FOREIGN = ("x1", "x2")


def target_names(n: int) -> tuple[str, ...]:
    return tuple(f"b{i}" for i in range(1, n + 1))


def _ended(target: str, cause: str, detailed: bool) -> TargetEnded:
    if detailed:
        return TargetEnded(target, cause, f"{target} ended", f"id-{target}")
    return TargetEnded(target, cause)


def ended(who: st.SearchStrategy[str]) -> st.SearchStrategy[TargetEnded]:
    return st.builds(_ended, who, st.sampled_from(CAUSES), st.booleans())


def any_message(names: Sequence[str]) -> st.SearchStrategy[Message]:
    who = st.sampled_from(tuple(names) + FOREIGN)
    return st.one_of(
        st.builds(TargetAnswered, who),
        st.builds(TargetReady, who),
        ended(who),
        st.just(Abandon()),
    )


@st.composite
def anything_goes(draw: st.DrawFn) -> tuple[tuple[str, ...], list[Message]]:
    """Any messages in any order: duplicates, foreign ids, ready before answer, end before
    answer, several Abandons. The table must hold its invariants even under nonsense."""
    names = target_names(draw(st.integers(1, 8)))
    return names, draw(st.lists(any_message(names), max_size=40))


@st.composite
def plausible(draw: st.DrawFn, *, abandon: bool = True) -> tuple[tuple[str, ...], list[Message]]:
    """What the engine can really deliver: each target reports in its own order (answered,
    then ready, then ended; or only ended), the targets' reports interleave arbitrarily, A may
    abandon at any point, and duplicates and foreign messages are sprinkled in."""
    names = target_names(draw(st.integers(1, 8)))
    scripts: dict[str, list[Message]] = {}
    for name in names:
        script: list[Message] = []
        if draw(st.booleans()):
            script.append(TargetAnswered(name))
            if draw(st.booleans()):
                script.append(TargetReady(name))
        if draw(st.integers(0, 4)) > 0:  # mostly: a target still up at the end is rarer
            script.append(draw(ended(st.just(name))))
        scripts[name] = script
    # Interleave: a permutation of "whose turn", each name as many times as its script is long.
    turns = draw(st.permutations([n for n in names for _ in scripts[n]]))
    position = Counter[str]()
    messages: list[Message] = []
    for name in turns:
        messages.append(scripts[name][position[name]])
        position[name] += 1
    if abandon and draw(st.booleans()):
        messages.insert(draw(st.integers(0, len(messages))), Abandon())
    for _ in range(draw(st.integers(0, 4))):
        # Noise: a duplicate of a message already there, or one for a foreign id, or Abandon.
        noise = draw(st.sampled_from(messages) if messages else any_message(names))
        noise = draw(st.just(noise) | any_message(FOREIGN))
        messages.insert(draw(st.integers(0, len(messages))), noise)
    return names, messages


interleavings = st.one_of(anything_goes(), plausible())


@dataclass(frozen=True, slots=True)
class Step:
    message: Message
    before: Transfer
    after: Transfer
    effects: list[Effect]


def trace(names: tuple[str, ...], messages: list[Message]) -> list[Step]:
    transfer = start(names)
    steps = []
    for message in messages:
        after, effects = step(transfer, message)
        steps.append(Step(message, transfer, after, effects))
        transfer = after
    return steps


def first_abandon(steps: list[Step]) -> int:
    return next((i for i, s in enumerate(steps) if isinstance(s.message, Abandon)), len(steps))


def effects_of(steps: list[Step], kind: type[Effect]) -> list[tuple[int, Effect]]:
    return [(i, e) for i, s in enumerate(steps) for e in s.effects if isinstance(e, kind)]


def finished_at_most_once_and_never_after_abandon(
    names: tuple[str, ...], messages: list[Message], steps: list[Step]
) -> None:
    """(a) A hears that the transfer is over once at most, and only while it still wants it."""
    finished = effects_of(steps, Finished)
    assert len(finished) <= 1
    for i, effect in finished:
        assert i < first_abandon(steps)
        # It is the step that ends the transfer, caused by a target ending, with that end's cause.
        message = steps[i].message
        assert isinstance(message, TargetEnded) and isinstance(effect, Finished)
        assert (effect.target, effect.cause) == (message.target, message.cause)
        assert (effect.error_message, effect.error_id) == (message.error_message, message.error_id)
        assert steps[i].after.phase is Phase.ENDED and steps[i].effects == [effect]


def nothing_changes_once_ended(
    names: tuple[str, ...], messages: list[Message], steps: list[Step]
) -> None:
    """(b) ENDED is final: the same transfer comes back and nothing is to be done."""
    for s in steps:
        if s.before.phase is Phase.ENDED:
            assert (s.after, s.effects) == (s.before, [])
        if isinstance(s.message, Abandon):
            assert s.after.phase is Phase.ENDED


def one_join_only_for_the_winner_after_its_answer(
    names: tuple[str, ...], messages: list[Message], steps: list[Step]
) -> None:
    """(c) The winner's ready is the only thing that joins, once, while A and it are both up."""
    joins = effects_of(steps, Join)
    assert len(joins) <= 1
    for i, join in joins:
        assert isinstance(join, Join)
        winner = steps[i].before.winner
        assert join.target == winner and steps[i].message == TargetReady(winner)
        answered = [j for j, s in enumerate(steps) if s.message == TargetAnswered(winner)]
        assert answered and answered[0] < i
        assert i < first_abandon(steps)
        assert winner not in steps[i].after.ended  # never join a target that left
        assert steps[i].after.phase is Phase.BRIDGED


def end_target_guarantee(
    names: tuple[str, ...], messages: list[Message], steps: list[Step]
) -> None:
    """(d) What each target is told, precisely.

    - EndTarget names only this transfer's targets, never one that already reported its end,
      and never two for one target in one step.
    - The winner is told `hangup`, at most once, and only by Abandon: while A wants the
      transfer, the winner ends on its own.
    - A loser is told `cancel`, never `hangup`: once when the winner is chosen, and again if A
      abandons before the loser reported its end. That repeat is accepted rather than tracked:
      the table only knows what targets report, and posting an end to a call that is already
      ending does nothing (the runner's `_end` returns once the call is disconnected, and a
      finished runner reads no more messages). So a target is told at most twice, and twice
      only in that case.
    - Nobody is left ringing: once the transfer leaves DIALING every loser still up has been
      told to end, and once it is ENDED every target still up has been.
    """
    told: dict[str, list[tuple[int, str]]] = {t: [] for t in names}
    for i, s in enumerate(steps):
        in_step = [e.target for e in s.effects if isinstance(e, EndTarget)]
        assert len(in_step) == len(set(in_step))
        for e in s.effects:
            if isinstance(e, EndTarget):
                assert e.target in names and e.target not in s.before.ended
                told[e.target].append((i, e.cause))
    winner = steps[-1].after.winner if steps else None
    chosen_at = next((i for i, s in enumerate(steps) if s.after.winner is not None), None)
    abandon = first_abandon(steps)
    for target, orders in told.items():
        if target == winner:
            assert orders in ([], [(abandon, "hangup")])
        elif not orders:
            continue
        else:
            assert {cause for _, cause in orders} == {"cancel"}
            assert [i for i, _ in orders] in ([chosen_at], [abandon], [chosen_at, abandon])
    said: set[str] = set()
    for i, s in enumerate(steps):
        said |= {e.target for e in s.effects if isinstance(e, EndTarget)}
        still_up = set(s.after.live_targets)
        if s.after.phase is not Phase.DIALING:
            assert still_up - {s.after.winner} <= said
        if i >= abandon:
            assert still_up <= said


@st.composite
def every_target_ends(draw: st.DrawFn) -> tuple[tuple[str, ...], list[Message]]:
    """Any interleaving without Abandon, then an end for every target, in any order (a
    target that had ended already reports a late duplicate)."""
    names, messages = draw(st.one_of(anything_goes(), plausible(abandon=False)))
    messages = [m for m in messages if not isinstance(m, Abandon)]
    for target in draw(st.permutations(names)):
        messages.append(draw(ended(st.just(target))))
    return names, messages


@TABLE
@given(every_target_ends())
def test_every_target_ending_without_abandon_finishes_exactly_once(
    case: tuple[tuple[str, ...], list[Message]],
) -> None:
    """(e) Nothing waits forever: when every target has ended and A never abandoned, A has
    heard exactly one Finished: at the winner's end if there was a winner, else at the end of
    the last target still ringing."""
    names, messages = case
    steps = trace(names, messages)
    finished = effects_of(steps, Finished)
    assert len(finished) == 1
    i, effect = finished[0]
    first_end: dict[str, int] = {}
    for j, m in enumerate(messages):
        if isinstance(m, TargetEnded) and m.target in names:
            first_end.setdefault(m.target, j)
    winner = steps[-1].after.winner
    expected = winner if winner is not None else max(first_end, key=first_end.__getitem__)
    assert i == first_end[expected]
    ending = messages[i]
    assert isinstance(effect, Finished) and isinstance(ending, TargetEnded)
    assert (effect.target, effect.cause) == (expected, ending.cause)


def the_winner_is_the_first_target_to_answer_while_dialing(
    names: tuple[str, ...], messages: list[Message], steps: list[Step]
) -> None:
    """(f) The winner is the first of this transfer's targets to answer while still ringing
    (before its own end was reported) and before A abandoned; once chosen it never changes."""
    expected = None
    gone: set[str] = set()
    for m in messages:
        if isinstance(m, Abandon):
            break
        if isinstance(m, TargetEnded):
            gone.add(m.target)
        if isinstance(m, TargetAnswered) and m.target in names and m.target not in gone:
            expected = m.target
            break
    winners = {s.after.winner for s in steps} - {None}
    assert winners == ({expected} if expected is not None else set())
    for s in steps:
        if s.before.winner is not None:
            assert s.after.winner == s.before.winner


@TABLE
@given(interleavings)
def test_invariants_hold_under_any_interleaving(
    case: tuple[tuple[str, ...], list[Message]],
) -> None:
    """(a)-(d) and (f) on one generated trace each: drawing the traces is most of the cost."""
    names, messages = case
    steps = trace(names, messages)
    finished_at_most_once_and_never_after_abandon(names, messages, steps)
    nothing_changes_once_ended(names, messages, steps)
    one_join_only_for_the_winner_after_its_answer(names, messages, steps)
    end_target_guarantee(names, messages, steps)
    the_winner_is_the_first_target_to_answer_while_dialing(names, messages, steps)
