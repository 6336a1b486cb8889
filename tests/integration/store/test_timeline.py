"""A call's timeline in the store: entries in sequence order, paged by `after` and `limit`,
written once (a repeated sequence never overwrites history), except the one "entries-dropped"
summary, whose count only grows (calls/timeline.py, issue 23)."""

from __future__ import annotations

from dataclasses import replace

from switchboard.calls.model import DISCONNECTED
from switchboard.calls.timeline import DROPPED_KIND, Timeline, TimelineEntry
from tests.integration.store.contract import AnyStore, event
from tests.unit.store.calls import T0, make_call

AT = "2025-01-02T03:04:05.678Z"


def entry(sequence: int, kind: str = "verb", **data: object) -> TimelineEntry:
    return TimelineEntry(sequence, AT, kind, {"n": sequence, **data})


def dropped(sequence: int, count: int, at: str = AT) -> TimelineEntry:
    return TimelineEntry(
        sequence, at, DROPPED_KIND, {"dropped": count, "description": f"{count} entries dropped"}
    )


async def test_entries_read_back_in_order_and_page(any_store: AnyStore) -> None:
    call_id, other = make_call(1).call_id, make_call(2).call_id
    entries = [entry(n, data={"list": [n, "x"], "text": "ü ☎"}) for n in range(1, 13)]
    # Appended in several writes, not in order, with another call's entries between.
    await any_store.append_timeline(call_id, entries[6:])
    await any_store.append_timeline(other, [entry(1), entry(2)])
    await any_store.append_timeline(call_id, entries[:6])
    assert await any_store.timeline(call_id) == entries
    assert await any_store.timeline(call_id, after=4) == entries[4:]
    assert await any_store.timeline(call_id, after=4, limit=3) == entries[4:7]
    assert await any_store.timeline(call_id, limit=1) == entries[:1]
    assert await any_store.timeline(call_id, after=12) == []
    assert await any_store.timeline(other) == [entry(1), entry(2)]
    assert await any_store.timeline("c-none") == []


async def test_the_last_sequence_is_where_a_resumed_call_continues(any_store: AnyStore) -> None:
    call_id = make_call(1).call_id
    assert await any_store.last_timeline_sequence(call_id) == 0
    await any_store.append_timeline(call_id, [entry(1), entry(2), entry(7)])
    await any_store.append_timeline(make_call(2).call_id, [entry(9)])
    assert await any_store.last_timeline_sequence(call_id) == 7


async def test_a_written_entry_is_never_overwritten(any_store: AnyStore) -> None:
    """A repeated sequence is ignored, not an error: the entries share a transaction with the
    call's state and the event it owes, which must not be lost to a numbering bug."""
    call = make_call(1)
    await any_store.insert_call(call)
    await any_store.append_timeline(call.call_id, [entry(1), entry(2)])
    await any_store.append_timeline(call.call_id, [entry(2, note="again"), entry(3)])
    ended = replace(call, state=DISCONNECTED, start_time=T0, end_time=T0, disconnect_cause="busy")
    event_id = await any_store.save_call(ended, [entry(1, note="again"), entry(4)], event("x"))
    assert await any_store.timeline(call.call_id) == [entry(1), entry(2), entry(3), entry(4)]
    assert await any_store.get_call(call.call_id) == ended  # the save committed whole
    assert [pending.id for pending in await any_store.pending_events()] == [event_id]
    # Not even by a summary: an entry that is not one stays as it is.
    await any_store.append_timeline(call.call_id, [dropped(4, 99)])
    assert (await any_store.timeline(call.call_id))[-1] == entry(4)


async def test_the_dropped_summary_only_grows(any_store: AnyStore) -> None:
    call_id = make_call(1).call_id
    await any_store.append_timeline(call_id, [entry(1), dropped(5, 3)])
    # 10 > 3 as numbers (as text, "10" < "3").
    await any_store.append_timeline(call_id, [dropped(5, 10, "2025-01-02T03:04:06.000Z")])
    assert await any_store.timeline(call_id, after=1) == [
        dropped(5, 10, "2025-01-02T03:04:06.000Z")
    ]
    # A runner that resumed the call counts its drops afresh: a lower count changes nothing.
    await any_store.append_timeline(call_id, [dropped(5, 2, "2025-01-02T03:04:07.000Z")])
    await any_store.append_timeline(call_id, [dropped(5, 10, "2025-01-02T03:04:08.000Z")])
    assert await any_store.timeline(call_id, after=1) == [
        dropped(5, 10, "2025-01-02T03:04:06.000Z")
    ]
    # Nor does another kind of entry at its place.
    await any_store.append_timeline(call_id, [entry(5)])
    assert await any_store.timeline(call_id, after=1) == [
        dropped(5, 10, "2025-01-02T03:04:06.000Z")
    ]
    await any_store.append_timeline(call_id, [dropped(5, 11, "2025-01-02T03:04:09.000Z")])
    assert (await any_store.timeline(call_id))[-1] == dropped(5, 11, "2025-01-02T03:04:09.000Z")


async def test_a_bounded_timeline_stores_as_the_engine_writes_it(any_store: AnyStore) -> None:
    """The engine's own Timeline, past its limit, through save_call: the stored timeline keeps
    the first entries, one summary counting every dropped entry, and the state changes."""
    call = make_call(1)
    await any_store.insert_call(call)
    timeline = Timeline(call.call_id, max_entries=4)
    for batch in range(3):
        for n in range(5):
            timeline.add(T0, "verb", batch=batch, n=n)
        timeline.add(T0, "state", state=f"s{batch}")
        await any_store.save_call(call, timeline.take())
    stored = await any_store.timeline(call.call_id)
    assert [(item.sequence, item.kind) for item in stored] == [
        (1, "verb"),
        (2, "verb"),
        (3, "verb"),
        (4, DROPPED_KIND),
        (5, "state"),
        (6, "state"),
        (7, "state"),
    ]
    assert stored[3].data["dropped"] == 3 * 5 - 3
    assert await any_store.last_timeline_sequence(call.call_id) == 7
