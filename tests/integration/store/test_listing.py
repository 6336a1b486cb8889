"""listCalls and retention from the store: an account's calls, oldest first, each filter alone
and combined, paged with a cursor, cut at the retention; and the purge that ends retention."""

from __future__ import annotations

import asyncio
import random
from dataclasses import asdict, replace
from datetime import datetime, timedelta
from typing import Any

from switchboard.calls.ids import format_time
from switchboard.calls.listing import CallFilter, PageCursor
from switchboard.calls.model import DISCONNECTED, INITIATED, Call
from switchboard.calls.timeline import TimelineEntry
from switchboard.calls.views import call_state, call_state_from_row
from tests.integration.store.contract import AnyStore
from tests.unit.store.calls import ACCOUNT, FROMS, NUMBERS, T0, make_call

OTHER = "9900002"
CAUSES = [None, "hangup", "busy", "timeout"]
RETAINED_SINCE = format_time(T0 + timedelta(seconds=5))
EVERYTHING = format_time(T0 - timedelta(days=1))  # a retention cut before every call


def at(seconds: float) -> str:
    return format_time(T0 + timedelta(seconds=seconds))


def ids(rows: list[dict[str, Any]]) -> list[str]:
    return [row["call_id"] for row in rows]


async def insert_all(store: AnyStore, calls: list[Call]) -> None:
    await asyncio.gather(*(store.insert_call(call) for call in calls))


# -- every filter against a plain scan (moved from tests/unit/store/test_call_listing.py) ------
def random_calls(count: int) -> list[Call]:
    rng = random.Random(4)
    calls = []
    for number in range(count):
        # Few distinct instants: many calls share an enqueued_time (the keyset's tie-break).
        enqueued = T0 + timedelta(seconds=rng.randrange(40))
        # Some calls wait long in the queue (enqueued well before a window they start in).
        wait = timedelta(seconds=rng.randrange(0, 6) if rng.random() < 0.95 else 25.5)
        started = enqueued + wait if rng.random() < 0.8 else None
        ended = (started or enqueued) + timedelta(seconds=rng.randrange(1, 30))
        calls.append(
            make_call(
                number,
                account=ACCOUNT if rng.random() < 0.8 else OTHER,
                enqueued=enqueued,
                to=rng.choice(NUMBERS),
                from_=rng.choice(FROMS),
                started=started,
                ended=ended if rng.random() < 0.7 else None,
                cause=rng.choice(CAUSES[1:]),
            )
        )
    return calls


def expected(calls: list[Call], call_filter: CallFilter) -> list[str]:
    def matches(call: Call) -> bool:
        row: dict[str, Any] = call.to_row()
        start = row["start_time"] or ""  # no start: outside any window
        low, high = call_filter.min_start_time, call_filter.max_start_time
        return (
            call.account_id == ACCOUNT
            and (row["end_time"] is None or row["end_time"] >= RETAINED_SINCE)
            and call_filter.to in (None, call.request.to)
            and call_filter.from_ in (None, call.request.from_)
            and call_filter.disconnect_cause in (None, call.disconnect_cause)
            and (low is None or (start != "" and start >= low))
            and (high is None or (start != "" and start <= high))
        )

    chosen = sorted((format_time(c.enqueued_time), c.call_id) for c in calls if matches(c))
    return [call_id for _, call_id in chosen]


async def walk(store: AnyStore, call_filter: CallFilter, page_size: int) -> list[str]:
    """Every page, as the API walks them: one row more than the page, to know of a next."""
    listed: list[str] = []
    after: PageCursor | None = None
    while True:
        rows = await store.list_calls(ACCOUNT, call_filter, page_size + 1, after, RETAINED_SINCE)
        page = rows[:page_size]
        listed += ids(page)
        if len(rows) <= page_size:
            return listed
        after = PageCursor(page[-1]["enqueued_time"], page[-1]["call_id"])


FILTERS = [
    CallFilter(),
    CallFilter(to=NUMBERS[1]),
    CallFilter(to="+19999999999"),
    CallFilter(from_=FROMS[1]),
    CallFilter(disconnect_cause="busy"),
    CallFilter(disconnect_cause="no-such-cause"),
    CallFilter(min_start_time=at(20)),
    CallFilter(max_start_time=at(12)),
    CallFilter(min_start_time=at(10), max_start_time=at(22)),
    CallFilter(min_start_time=at(500)),
    CallFilter(to=NUMBERS[2], from_=FROMS[0], disconnect_cause="hangup"),
    CallFilter(from_=FROMS[0], disconnect_cause="timeout", min_start_time=at(8)),
    CallFilter(to=NUMBERS[0], min_start_time=at(5), max_start_time=at(30)),
    CallFilter(from_=FROMS[1], max_start_time=at(25)),
]


def describe(call_filter: CallFilter) -> str:
    chosen = {name: value for name, value in asdict(call_filter).items() if value is not None}
    return ",".join(f"{name}={value}" for name, value in chosen.items()) or "none"


async def test_every_filter_pages_like_a_plain_scan(any_store: AnyStore) -> None:
    """One database for every filter and page size (a fresh PostgreSQL schema costs ~0.2 s)."""
    calls = random_calls(600)
    await insert_all(any_store, calls)
    for call_filter in FILTERS:
        wanted = expected(calls, call_filter)
        for page_size in (1, 7, 1000):
            listed = await walk(any_store, call_filter, page_size)
            assert listed == wanted, (describe(call_filter), page_size)


# -- what a listed row is, and the edges of each cut ------------------------------------------
async def test_a_listed_row_is_the_stored_call_as_it_is_now(any_store: AnyStore) -> None:
    call = make_call(1, enqueued=T0)
    await any_store.insert_call(call)
    (row,) = await any_store.list_calls(ACCOUNT, CallFilter(), 10, None, EVERYTHING)
    assert Call.from_row(row) == call
    ended = replace(
        call, state=DISCONNECTED, start_time=T0, end_time=T0 + timedelta(seconds=8),
        disconnect_cause="busy", error_message="Callee is busy",
    )  # fmt: skip
    await any_store.save_call(ended)
    (row,) = await any_store.list_calls(ACCOUNT, CallFilter(), 10, None, EVERYTHING)
    assert Call.from_row(row) == ended
    # listCalls builds each callState from the row as it is (calls.views).
    assert call_state_from_row(row) == call_state(ended)
    assert list(call_state_from_row(row)) == list(call_state(ended))


async def test_only_the_accounts_own_calls_are_listed(any_store: AnyStore) -> None:
    mine = [make_call(n, enqueued=T0 + timedelta(seconds=n)) for n in range(3)]
    theirs = [make_call(10 + n, account=OTHER, enqueued=T0) for n in range(3)]
    await insert_all(any_store, theirs + mine)
    assert ids(await any_store.list_calls(ACCOUNT, CallFilter(), 10, None, EVERYTHING)) == ids(
        [call.to_row() for call in mine]
    )
    to_them = CallFilter(to=NUMBERS[0], from_=FROMS[0])
    assert len(await any_store.list_calls(OTHER, to_them, 10, None, EVERYTHING)) == 3
    assert await any_store.list_calls("9900003", CallFilter(), 10, None, EVERYTHING) == []


async def test_pages_follow_on_from_the_cursor_through_ties(any_store: AnyStore) -> None:
    """Oldest first; calls enqueued at the same instant in call id order; a cursor's page
    starts just after it, also in the middle of a tie."""
    calls = [make_call(n, enqueued=T0 + timedelta(seconds=n // 3)) for n in range(9)]
    await insert_all(any_store, list(reversed(calls)))
    every = [call.call_id for call in calls]

    async def page(after: PageCursor | None, limit: int) -> list[str]:
        return ids(await any_store.list_calls(ACCOUNT, CallFilter(), limit, after, EVERYTHING))

    assert await page(None, 100) == every
    assert await page(None, 4) == every[:4]
    assert await page(PageCursor(at(1), calls[3].call_id), 3) == every[4:7]
    assert await page(PageCursor(at(1), calls[5].call_id), 100) == every[6:]
    assert await page(PageCursor(at(0.5), "c-~"), 2) == every[3:5]  # between two instants
    assert await page(PageCursor(at(2), calls[8].call_id), 100) == []


async def test_the_retention_cut_keeps_calls_ended_at_it_and_live_ones(any_store: AnyStore) -> None:
    cut = T0 + timedelta(days=7)
    ms = timedelta(milliseconds=1)
    before = make_call(1, started=T0, ended=cut - ms, cause="hangup")
    on_it = make_call(2, started=T0, ended=cut, cause="hangup")
    after = make_call(3, started=T0, ended=cut + ms, cause="hangup")
    live = make_call(4, started=T0)
    queued = make_call(5)
    await insert_all(any_store, [before, on_it, after, live, queued])
    listed = await any_store.list_calls(ACCOUNT, CallFilter(), 10, None, format_time(cut))
    assert ids(listed) == [call.call_id for call in (on_it, after, live, queued)]
    hung_up = CallFilter(disconnect_cause="hangup", min_start_time=format_time(T0))
    listed = await any_store.list_calls(ACCOUNT, hung_up, 10, None, format_time(cut))
    assert ids(listed) == [on_it.call_id, after.call_id]


async def test_start_time_windows_are_inclusive_and_skip_calls_not_started(
    any_store: AnyStore,
) -> None:
    early = make_call(1, started=T0 + timedelta(seconds=1))
    late = make_call(2, started=T0 + timedelta(seconds=3))
    queued = make_call(3)
    await insert_all(any_store, [early, late, queued])

    async def window(low: float | None, high: float | None) -> list[str]:
        call_filter = CallFilter(
            min_start_time=None if low is None else at(low),
            max_start_time=None if high is None else at(high),
        )
        return ids(await any_store.list_calls(ACCOUNT, call_filter, 10, None, EVERYTHING))

    assert await window(1, 3) == [early.call_id, late.call_id]
    assert await window(1.001, None) == [late.call_id]
    assert await window(None, 2.999) == [early.call_id]
    assert await window(3, 3) == [late.call_id]
    assert await window(3.001, None) == []


# -- queue waits (moved from tests/unit/store/test_queue_wait.py) ------------------------------
async def listed_since(store: AnyStore, since: datetime) -> list[str]:
    rows = await store.list_calls(
        ACCOUNT, CallFilter(min_start_time=format_time(since)), 100, None, format_time(T0)
    )
    return ids(rows)


async def test_a_call_that_waited_long_lists_in_the_window_it_started_in(
    any_store: AnyStore,
) -> None:
    waited, at_once = make_call(1), make_call(2)
    await insert_all(any_store, [waited, at_once])
    started = T0 + timedelta(minutes=10, milliseconds=700)
    await any_store.save_call(replace(waited, state=INITIATED, start_time=started))
    await any_store.save_call(replace(at_once, state=INITIATED, start_time=T0))
    # Enqueued ten minutes before the window: found through the account's longest wait.
    assert await listed_since(any_store, started - timedelta(seconds=1)) == [waited.call_id]
    assert await listed_since(any_store, started) == [waited.call_id]
    assert await listed_since(any_store, started + timedelta(milliseconds=1)) == []
    assert await listed_since(any_store, T0) == [waited.call_id, at_once.call_id]


async def test_with_no_call_that_waited_a_window_still_lists_the_calls_started_in_it(
    any_store: AnyStore,
) -> None:
    call = make_call(1)
    await any_store.insert_call(replace(call, state=INITIATED, start_time=T0))
    assert await listed_since(any_store, T0) == [call.call_id]
    assert await listed_since(any_store, T0 + timedelta(seconds=1)) == []


async def test_a_wait_just_under_a_whole_second_more_still_lists(any_store: AnyStore) -> None:
    """Waits are stored in whole seconds, truncated: the window's bound allows for it. (The
    other account's call, which waited a day, is in no list of this account's.)"""
    theirs = make_call(1, account=OTHER, started=T0 + timedelta(days=1))
    mine = make_call(2, enqueued=T0, started=T0 + timedelta(seconds=2, milliseconds=999))
    await insert_all(any_store, [theirs, mine])
    assert await listed_since(any_store, T0 + timedelta(seconds=2, milliseconds=999)) == [
        mine.call_id
    ]


# -- purging -------------------------------------------------------------------------------
async def test_a_purge_removes_calls_ended_before_the_cut_with_their_timelines(
    any_store: AnyStore,
) -> None:
    cut = T0 + timedelta(days=7)
    ms = timedelta(milliseconds=1)
    gone = [
        make_call(1, started=T0, ended=T0, cause="hangup"),
        make_call(2, account=OTHER, started=T0, ended=cut - ms, cause="busy"),
    ]
    kept = [
        make_call(3, started=T0, ended=cut, cause="hangup"),
        make_call(4, started=T0),
        make_call(5),
    ]
    await insert_all(any_store, gone + kept)
    for call in gone + kept:
        await any_store.append_timeline(call.call_id, [TimelineEntry(1, at(0), "state", {})])
    assert await any_store.purge_calls(format_time(cut)) == 2
    for call in gone:
        assert await any_store.get_call(call.call_id) is None
        assert await any_store.timeline(call.call_id) == []
        assert await any_store.last_timeline_sequence(call.call_id) == 0
    for call in kept:
        assert await any_store.get_call(call.call_id) == call
        assert len(await any_store.timeline(call.call_id)) == 1
    listed = await any_store.list_calls(ACCOUNT, CallFilter(), 10, None, EVERYTHING)
    assert ids(listed) == [call.call_id for call in kept]
    assert await any_store.purge_calls(format_time(cut)) == 0


async def test_a_purge_of_many_calls_removes_them_all(any_store: AnyStore) -> None:
    """More than one batch of the purge (5,000 on SQLite)."""
    calls = [make_call(n, started=T0, ended=T0, cause="hangup") for n in range(5003)]
    await insert_all(any_store, calls)
    assert await any_store.purge_calls(at(1)) == 5003
    assert await any_store.list_calls(ACCOUNT, CallFilter(), 10, None, EVERYTHING) == []
