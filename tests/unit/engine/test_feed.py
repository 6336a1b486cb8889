"""The live feed (issue 14): a timeline entry reaches its account's listeners at once, others
never; a listener that falls behind loses the backlog and is told so; closing ends waits."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from switchboard.calls.feed import CallFeed
from switchboard.calls.timeline import Timeline, TimelineEntry

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


async def test_entries_reach_their_accounts_listeners_only() -> None:
    feed = CallFeed()
    mine, theirs = feed.subscribe("111"), feed.subscribe("222")
    timeline = Timeline("c-1", 4, feed.listener("111", "c-1"))
    timeline.add(T0, "state", state="initiated")
    batch = await mine.next_batch(1.0)
    assert [(call_id, e.sequence, e.kind, e.data) for call_id, e in batch] == [
        ("c-1", 5, "state", {"state": "initiated"})
    ]
    assert timeline.pending[0] is batch[0][1]  # the feed sees what the store will get
    assert await theirs.next_batch(0) == []


async def test_a_listener_far_behind_is_told_it_lagged_and_memory_stays_bounded() -> None:
    feed = CallFeed(limit=3)
    slow = feed.subscribe("111")
    timeline = Timeline("c-1", 0, feed.listener("111", "c-1"))
    for n in range(7):
        timeline.add(T0, "verb", n=n)
    batch = await slow.next_batch(0)
    assert slow.lagged and [e.data["n"] for _, e in batch] == [6]


async def test_unsubscribed_listeners_get_nothing_and_close_wakes_waiters() -> None:
    feed = CallFeed()
    gone = feed.subscribe("111")
    gone.close()
    feed.publish("111", "c-1", _entry())
    assert await gone.next_batch(0) == []
    waiting = feed.subscribe("111")
    task = asyncio.ensure_future(waiting.next_batch(3600))
    await asyncio.sleep(0)
    feed.close()
    assert await asyncio.wait_for(task, 1) == []


def _entry() -> TimelineEntry:
    timeline = Timeline("c-1")
    timeline.add(T0, "state", state="initiated")
    return timeline.pending[0]
