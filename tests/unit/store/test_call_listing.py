"""listCalls from the stored rows: the callState built straight from a row equals the one built
from the Call, and every filter (alone, combined, paged) returns what a plain scan would, in
(enqueued_time, call_id) order, on the index meant for it."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import orjson
import pytest

from switchboard.calls.ids import format_time
from switchboard.calls.listing import CallFilter, PageCursor
from switchboard.calls.model import ANSWERED, Call
from switchboard.calls.views import call_state, call_state_from_row
from switchboard.store import call_queries, schema
from switchboard.store.sqlite import _INSERT_CALL, _call_row
from tests.unit.store.calls import ACCOUNT, FROMS, NUMBERS, T0, make_call

OTHER = "9900002"
CAUSES = [None, "hangup", "busy", "timeout"]
RETAINED_SINCE = format_time(T0 + timedelta(seconds=5))


@pytest.mark.parametrize(
    "call",
    [
        make_call(1),
        make_call(2, started=T0 + timedelta(seconds=1)),
        replace(
            make_call(
                3, started=T0 + timedelta(microseconds=1500), ended=T0 + timedelta(seconds=9)
            ),
            answer_time=T0 + timedelta(seconds=2, microseconds=999_999),
            state=ANSWERED,
            error_id="e-1",
            direction="inbound",
        ),
        make_call(4, started=T0, ended=T0 + timedelta(seconds=3), cause="busy"),
    ],
)
def test_call_state_from_row_equals_call_state(call: Call) -> None:
    row = orjson.loads(orjson.dumps(call.to_row()))  # as stored and read back
    assert call_state_from_row(row) == call_state(call)
    assert list(call_state_from_row(row)) == list(call_state(call))  # same key order
    assert call_state_from_row(row) == call_state(Call.from_row(row))


@pytest.fixture
def connection() -> Iterator[sqlite3.Connection]:
    opened = sqlite3.connect(":memory:", isolation_level=None)
    schema.migrate(opened)
    yield opened
    opened.close()


def store(connection: sqlite3.Connection, calls: list[Call]) -> None:
    connection.executemany(_INSERT_CALL, [_call_row(call) for call in calls])


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


def walk(connection: sqlite3.Connection, call_filter: CallFilter, page_size: int) -> list[str]:
    listed: list[str] = []
    after: PageCursor | None = None
    while True:
        rows = [
            orjson.loads(data)
            for data in call_queries.list_call_rows(
                connection, ACCOUNT, call_filter, page_size + 1, after, RETAINED_SINCE
            )
        ]
        page = rows[:page_size]
        listed += [row["call_id"] for row in page]
        if len(rows) <= page_size:
            return listed
        after = PageCursor(page[-1]["enqueued_time"], page[-1]["call_id"])


def at(seconds: float) -> str:
    return format_time(T0 + timedelta(seconds=seconds))


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


@pytest.mark.parametrize("call_filter", FILTERS)
@pytest.mark.parametrize("page_size", [1, 7, 1000])
def test_every_filter_pages_like_a_plain_scan(
    connection: sqlite3.Connection, call_filter: CallFilter, page_size: int
) -> None:
    calls = random_calls(600)
    store(connection, calls)
    assert walk(connection, call_filter, page_size) == expected(calls, call_filter)


@pytest.mark.parametrize(
    ("call_filter", "index"),
    [
        (CallFilter(), "calls_by_account_time"),
        (CallFilter(min_start_time=at(1)), "calls_by_account_time"),
        (CallFilter(min_start_time=at(1), max_start_time=at(9)), "calls_by_account_time"),
        (CallFilter(max_start_time=at(1)), "calls_by_account_time"),
        (CallFilter(to=NUMBERS[0], disconnect_cause="busy"), "calls_by_account_to"),
        (CallFilter(from_=FROMS[0], disconnect_cause="busy"), "calls_by_account_cause"),
        (CallFilter(from_=FROMS[0], min_start_time=at(1)), "calls_by_account_from"),
    ],
)
def test_each_filter_walks_its_index_in_page_order(
    connection: sqlite3.Connection, call_filter: CallFilter, index: str
) -> None:
    for after in (None, PageCursor(at(3), "c-0")):
        sql, parameters = call_queries.list_calls_sql(ACCOUNT, call_filter, 11, after, at(0))
        plan = [row[3] for row in connection.execute(f"EXPLAIN QUERY PLAN {sql}", parameters)]
        assert any(f"USING INDEX {index} (" in line for line in plan), plan
        assert not any("TEMP B-TREE" in line for line in plan), plan  # no sort: index order
        # The first page of a minStartTime window starts at minStartTime less the longest wait.
        bounded = call_filter.min_start_time is not None and after is None
        assert any("INDEX calls_by_account_wait (" in line for line in plan) == bounded
        if index == "calls_by_account_time" and bounded:
            assert any("(account_id=? AND enqueued_time>?" in line for line in plan), plan
