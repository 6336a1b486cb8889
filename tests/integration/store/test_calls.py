"""Calls in the store, as the API and the engine see them: a call reads back with every field
it was stored with, a save replaces its state together with the timeline entries and the event
it owes, a duplicate id fails alone, and the engine finds the calls it must drive again."""

from __future__ import annotations

import asyncio
from dataclasses import MISSING, fields, replace
from datetime import timedelta

import pytest

from switchboard.calls.create_request import CreateCallRequest, MachineDetection
from switchboard.calls.listing import CallFilter
from switchboard.calls.model import ANSWERED, DISCONNECTED, INITIATED, QUEUED, Call
from switchboard.calls.timeline import TimelineEntry
from tests.integration.store.conftest import Backend
from tests.integration.store.contract import INTEGRITY_ERRORS, AnyStore, event
from tests.unit.store.calls import ACCOUNT, T0, make_call

MS = timedelta(milliseconds=1)  # the stored times' precision (Bandwidth's format)


def every_field_call(number: int = 1, tag: str = "tag with ünïcödé ☎") -> Call:
    """A call whose every field, and every field of its request, differs from its default."""
    call_id = f"c-{number:08x}-00000000-0000-4000-8000-000000000000"
    request = CreateCallRequest(
        to="+15555550002",
        from_="+15555551212",
        application_id="04e88489-df02-4e34-a0ee-27a91849555f",
        answer_url="http://127.0.0.1:9/answer",
        answer_method="GET",
        privacy=True,
        display_name="Front desk",
        uui="bXl1dWk=;encoding=base64",
        username="answer-user",
        password="answer-secret",
        answer_fallback_url="http://127.0.0.1:9/fallback",
        answer_fallback_method="GET",
        fallback_username="fallback-user",
        fallback_password="fallback-secret",
        disconnect_url="http://127.0.0.1:9/disconnect",
        disconnect_method="GET",
        call_timeout=12.5,
        callback_timeout=7,
        machine_detection=MachineDetection(
            mode="sync",
            detection_timeout=4.5,
            silence_timeout=3,
            speech_threshold=6,
            speech_end_threshold=2.25,
            machine_speech_end_threshold=1.5,
            delay_result=True,
            callback_url="http://127.0.0.1:9/amd",
            callback_method="GET",
            username="amd-user",
            password="amd-secret",
            fallback_url="http://127.0.0.1:9/amd-fallback",
            fallback_method="GET",
            fallback_username="amd-fallback-user",
            fallback_password="amd-fallback-secret",
        ),
        priority=2,
        tag=tag,
        url_credentials={"answerUrl": ["url-user", "url-secret"]},
    )
    return Call(
        call_id=call_id,
        account_id=ACCOUNT,
        request=request,
        call_url=f"http://127.0.0.1/api/v2/accounts/{ACCOUNT}/calls/{call_id}",
        enqueued_time=T0,
        state=DISCONNECTED,
        direction="inbound",
        tag=tag,
        start_time=T0 + 1500 * MS,
        answer_time=T0 + 3001 * MS,
        end_time=T0 + 60_999 * MS,
        disconnect_cause="hangup",
        error_message="It ended",
        error_id="e-0001",
        last_update=T0 + 61_000 * MS,
        extra={"transferCallerId": "+15555550111", "legs": [{"id": "l-1", "n": 2}], "x": None},
    )


def test_the_round_trip_call_sets_every_field() -> None:
    """So that the round trip below covers each field, also one added later."""
    call = every_field_call()
    request = call.request
    assert request.machine_detection is not None
    for value in (call, request, request.machine_detection):
        for item in fields(value):
            if item.default is not MISSING:
                assert getattr(value, item.name) != item.default, item.name
            elif item.default_factory is not MISSING:
                assert getattr(value, item.name) != item.default_factory(), item.name


async def test_a_call_reads_back_with_every_field(any_store: AnyStore) -> None:
    call = every_field_call()
    await any_store.insert_call(call)
    assert await any_store.get_call(call.call_id) == call


@pytest.mark.parametrize(
    "tag", ["", "quote ' \" back\\slash %s ? $1", "emoji 😀 and \u2028 line sep", "nul \x00 byte"]
)
async def test_any_text_a_client_may_send_reads_back_as_sent(any_store: AnyStore, tag: str) -> None:
    """A tag is the client's free text (createCall does not restrict its characters); it is
    stored in the call's row and comes back in getCall, listCalls and every webhook."""
    call = every_field_call(tag=tag)
    await any_store.insert_call(call)
    assert await any_store.get_call(call.call_id) == call
    rows = await any_store.list_calls(ACCOUNT, CallFilter(), 10, None, "")
    assert [row["tag"] for row in rows] == [tag]
    await any_store.record_event(event(call.call_id, tag=tag))
    (pending,) = await any_store.pending_events()
    assert pending.primary.payload["tag"] == tag
    await any_store.append_timeline(
        call.call_id, [TimelineEntry(1, "2025-01-02T03:04:05.678Z", "webhook", {"tag": tag})]
    )
    assert [entry.data for entry in await any_store.timeline(call.call_id)] == [{"tag": tag}]


async def test_an_unknown_call_is_none(any_store: AnyStore) -> None:
    assert await any_store.get_call("c-00000000-00000000-0000-4000-8000-000000000000") is None


async def test_a_save_replaces_the_state_and_keeps_the_request(any_store: AnyStore) -> None:
    queued = make_call(1)
    await any_store.insert_call(queued)
    assert await any_store.get_call(queued.call_id) == queued
    steps = [
        replace(queued, state=INITIATED, start_time=T0 + 40 * MS, last_update=T0 + 40 * MS),
        replace(queued, state=ANSWERED, start_time=T0 + 40 * MS, answer_time=T0 + 2 * MS * 1000),
        replace(
            queued,
            state=DISCONNECTED,
            start_time=T0 + 40 * MS,
            answer_time=T0 + 2000 * MS,
            end_time=T0 + 9000 * MS,
            disconnect_cause="error",
            error_message="Service unavailable",
            error_id="e-42",
            extra={"note": "changed"},
        ),
    ]
    for step in steps:
        assert await any_store.save_call(step) is None  # no event owed
        assert await any_store.get_call(queued.call_id) == step


async def test_a_save_stores_its_timeline_and_event_with_the_state(any_store: AnyStore) -> None:
    call = make_call(1)
    await any_store.insert_call(call)
    ended = replace(
        call, state=DISCONNECTED, start_time=T0, end_time=T0 + MS, disconnect_cause="hangup"
    )
    entries = [
        TimelineEntry(1, "2025-01-02T03:04:05.678Z", "state", {"state": "initiated"}),
        TimelineEntry(2, "2025-01-02T03:04:05.679Z", "state", {"state": "disconnected"}),
    ]
    owed = event(call.call_id)
    event_id = await any_store.save_call(ended, entries, owed)
    assert isinstance(event_id, int)
    assert await any_store.get_call(call.call_id) == ended
    assert await any_store.timeline(call.call_id) == entries
    assert await any_store.pending_events() == [replace(owed, id=event_id)]
    # Each save's event has an id of its own, above the last.
    second = await any_store.save_call(ended, (), event(call.call_id, "dtmf"))
    assert isinstance(second, int) and second > event_id


async def test_a_save_of_an_unknown_call_stores_nothing_of_it(any_store: AnyStore) -> None:
    """The engine saves only calls it inserted; a save never creates a call out of nothing."""
    call = make_call(1)
    await any_store.save_call(replace(call, state=INITIATED, start_time=T0))
    assert await any_store.get_call(call.call_id) is None
    assert await any_store.calls_in_states([QUEUED, INITIATED]) == []


async def test_a_duplicate_call_id_fails_alone(any_store: AnyStore) -> None:
    """The writes made together with it (one turn of the event loop: on SQLite, transactions
    of up to 512 writes) are all committed; only the duplicate fails, with the driver's
    integrity error."""
    calls = [make_call(number) for number in range(1200)]
    first = calls[0]
    await any_store.insert_call(first)
    with pytest.raises(INTEGRITY_ERRORS):
        await any_store.insert_call(replace(first, state=INITIATED))
    others = calls[1:]
    outcomes = await asyncio.gather(
        *(any_store.insert_call(call) for call in others[:600]),
        any_store.insert_call(others[300]),  # the same call id again, in the same turn
        any_store.record_event(event(first.call_id)),
        *(any_store.insert_call(call) for call in others[600:]),
        return_exceptions=True,
    )
    assert isinstance(outcomes[600], INTEGRITY_ERRORS), outcomes[600]
    assert isinstance(outcomes[601], int)
    assert outcomes[:600] + outcomes[602:] == [None] * len(others)
    for call in calls:
        assert await any_store.get_call(call.call_id) == call  # first kept its state: queued
    assert any_store.pending_event_count() == 1


async def test_calls_in_states_are_the_ones_to_drive_oldest_first(any_store: AnyStore) -> None:
    queued_late = make_call(1, enqueued=T0 + 3 * MS)
    queued_early = make_call(2, enqueued=T0 + 1 * MS)
    started = make_call(3, enqueued=T0 + 2 * MS, started=T0 + 5 * MS)
    answered = replace(make_call(4, started=T0), state=ANSWERED, answer_time=T0 + MS)
    ended = make_call(5, started=T0, ended=T0 + MS, cause="hangup")
    for call in (queued_late, queued_early, started, answered, ended):
        await any_store.insert_call(call)
    assert await any_store.calls_in_states([QUEUED]) == [queued_early, queued_late]
    assert await any_store.calls_in_states([INITIATED, ANSWERED, QUEUED]) == [
        answered,
        queued_early,
        started,
        queued_late,
    ]
    assert await any_store.calls_in_states([DISCONNECTED]) == [ended]
    # A save moves a call out of (and into) the states asked for.
    await any_store.save_call(replace(queued_early, state=INITIATED, start_time=T0 + 9 * MS))
    assert await any_store.calls_in_states([QUEUED]) == [queued_late]


async def test_a_write_made_in_the_turn_the_store_closes_is_committed(backend: Backend) -> None:
    """close() lets every write already made finish: none is lost, none waits forever."""
    store = backend.make()
    await store.open()
    call = make_call(11)
    insert = asyncio.ensure_future(store.insert_call(call))
    await asyncio.sleep(0)  # the insert has begun, and is not yet committed
    await asyncio.wait_for(store.close(), 10)  # bounded: a close that hangs fails here
    await asyncio.wait_for(insert, 5)
    reopened = backend.make()
    await reopened.open()
    try:
        assert await reopened.get_call(call.call_id) == call
    finally:
        await reopened.close()


async def test_a_write_after_close_fails_at_once(backend: Backend) -> None:
    store = backend.make()
    await store.open()
    await store.close()
    with pytest.raises(RuntimeError, match="not open"):
        await asyncio.wait_for(store.insert_call(make_call(1)), 5)


async def test_what_was_committed_survives_a_restart(backend: Backend) -> None:
    store = backend.make()
    await store.open()
    call = every_field_call()
    try:
        await store.insert_call(call)
        event_id = await store.record_event(event(call.call_id))
    finally:
        await store.close()
    reopened = backend.make()
    await reopened.open()
    try:
        assert await reopened.get_call(call.call_id) == call
        assert [entry.id for entry in await reopened.pending_events()] == [event_id]
        assert reopened.pending_event_count() == 1
    finally:
        await reopened.close()


async def test_a_restarted_store_adopts_the_calls_and_events_left_behind(backend: Backend) -> None:
    """One node: after a restart, every call in the states asked for (oldest first) and every
    event still pending is this node's to drive again; ended calls and finished events are not."""
    store = backend.make()
    await store.open()
    live = make_call(1, enqueued=T0 + 2 * MS, started=T0 + 3 * MS)
    queued = make_call(2, enqueued=T0 + 1 * MS)
    ended = make_call(3, started=T0, ended=T0 + MS, cause="hangup")
    try:
        for call in (live, queued, ended):
            await store.insert_call(call)
        owed = await store.record_event(event(ended.call_id))
        done = await store.record_event(event(live.call_id, "answer"))
        await store.finish_event(done, "delivered", 1)
    finally:
        await store.close()
    reopened = backend.make()
    await reopened.open()
    try:
        calls, events = await reopened.adopt_calls([QUEUED, INITIATED, ANSWERED])
        assert calls == [queued, live]
        assert [entry.id for entry in events] == [owed]
        assert events[0].call_id == ended.call_id
    finally:
        await reopened.close()
