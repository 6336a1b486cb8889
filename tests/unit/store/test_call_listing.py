"""listCalls from the stored rows: the callState built straight from a row equals the one built
from the Call, and each filter walks the SQLite index meant for it, in (enqueued_time, call_id)
order. What every filter returns (alone, combined, paged) is tested on both backends in
tests/integration/store/test_listing.py."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import orjson
import pytest

from switchboard.calls.ids import format_time
from switchboard.calls.listing import CallFilter, PageCursor
from switchboard.calls.model import ANSWERED, Call
from switchboard.calls.views import call_state, call_state_from_row
from switchboard.store import call_queries, schema
from tests.unit.store.calls import ACCOUNT, FROMS, NUMBERS, T0, make_call


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


def at(seconds: float) -> str:
    return format_time(T0 + timedelta(seconds=seconds))


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
