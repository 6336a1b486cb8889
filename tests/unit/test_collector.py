"""The collector's schedule: survivors of a collection are frozen; a full collection frees the
cycles that were frozen while in use."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import pytest

from switchboard import collector


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture
def tuned() -> Iterator[None]:
    """The policy installed for one test, CPython's own schedule restored after it."""
    thresholds = gc.get_threshold()
    callbacks = list(gc.callbacks)
    collector.tune_garbage_collector()
    try:
        yield
    finally:
        gc.callbacks[:] = callbacks
        gc.set_threshold(*thresholds)
        gc.unfreeze()
        gc.collect()


def cycle() -> weakref.ref[Node]:
    first, second = Node(), Node()
    first.other, second.other = second, first
    return weakref.ref(first)


def test_survivors_of_a_collection_are_frozen(tuned: None) -> None:
    frozen_before = gc.get_freeze_count()
    alive = [Node() for _ in range(100)]
    gc.collect(0)
    assert gc.get_freeze_count() >= frozen_before + len(alive)
    assert gc.get_count()[1:] == (0, 0)  # nothing is left in the older generations


def test_a_cycle_that_is_already_garbage_is_freed_by_a_young_collection(tuned: None) -> None:
    dead = cycle()
    gc.collect(0)
    assert dead() is None


def test_a_frozen_cycle_waits_for_the_full_collection(tuned: None) -> None:
    first, second = Node(), Node()
    first.other, second.other = second, first
    gc.collect(0)  # both alive: frozen
    watched = weakref.ref(first)
    del first, second
    gc.collect(0)
    assert watched() is not None  # young collections no longer see it
    assert collector.full_collection() >= 2
    assert watched() is None
    assert gc.get_freeze_count() > 0  # what survived the full collection is frozen again


def test_full_collections_run_on_the_event_loop_until_stopped(tuned: None) -> None:
    def frozen_garbage() -> weakref.ref[Node]:
        first, second = Node(), Node()
        first.other, second.other = second, first
        gc.collect(0)  # alive: frozen
        return weakref.ref(first)

    async def scenario() -> tuple[bool, bool]:
        schedule = collector.FullCollections(interval=0.0)
        schedule.start()
        watched = frozen_garbage()
        for _ in range(3):
            await asyncio.sleep(0)  # let the loop run its due timers
        freed_while_running = watched() is None
        schedule.stop()
        watched = frozen_garbage()
        for _ in range(3):
            await asyncio.sleep(0)
        return freed_while_running, watched() is None

    freed_while_running, freed_after_stop = asyncio.run(scenario())
    assert freed_while_running
    assert not freed_after_stop


def test_tuning_twice_installs_one_callback(tuned: None) -> None:
    collector.tune_garbage_collector()
    assert gc.callbacks.count(collector._freeze_survivors) == 1


def test_full_collections_leave_an_untuned_host_alone() -> None:
    """Hosted by anything but `switchboard serve` (tests, an embedding), the app keeps its
    hands off the host's collector: what the host froze stays frozen."""
    assert collector._freeze_survivors not in gc.callbacks

    async def scenario() -> None:
        schedule = collector.FullCollections(interval=0.0)
        schedule.start()
        for _ in range(3):
            await asyncio.sleep(0)  # let the loop run its due timers
        schedule.stop()

    # A cycle the host froze and then dropped: only a full collection (unfreeze, collect) can
    # free it, so whether it is still there tells "left alone" from "unfrozen and refrozen",
    # which a count of frozen objects cannot.
    first, second = Node(), Node()
    first.other, second.other = second, first
    gc.freeze()
    watched = weakref.ref(first)
    del first, second
    try:
        asyncio.run(scenario())
        assert watched() is not None
    finally:
        gc.unfreeze()
    gc.collect()
    assert watched() is None  # it was garbage all along: the check above could fail
