"""Reading calls in bulk: listCalls pages and retention purges (SQL on a given connection).

listCalls is keyset-paginated on (enqueued_time, call_id): a page costs the same on the
millionth call as on the first. Each query names its index (SQLite's own choice depends on
whether ANALYZE has run, and without a filter's values it cannot tell a selective one):

- `to`: calls_by_account_to (a number has few calls); else `disconnectCause`:
  calls_by_account_cause (a rare or unknown cause reads few rows; with `from` as well it reads
  at most about 10 rows per match); else `from`: calls_by_account_from; each in page order.
- otherwise calls_by_account_time, in page order.

Start-time windows bound enqueued_time, which orders the page. A call starts after it is
enqueued, so `enqueued_time <= maxStartTime`; and no call waited in the queue longer than the
account's longest wait W (start_time - enqueued_time in whole seconds, the stored queue_wait:
one seek in calls_by_account_wait, which holds only the calls that waited, so no row means 0),
so `enqueued_time >= minStartTime - W - 2 s` (1 s for the truncation, 1 for rounding). The walk
then reads the window's calls plus those enqueued up to W before it. Only the first page needs
that bound: a page token already starts the walk past it.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from switchboard.calls.listing import CallFilter, PageCursor


def list_call_rows(
    connection: sqlite3.Connection,
    account_id: str,
    call_filter: CallFilter,
    limit: int,
    after: PageCursor | None,
    retained_since: str,
) -> list[str]:
    """The `data` JSON of up to `limit` calls of the account, oldest first."""
    sql, parameters = list_calls_sql(account_id, call_filter, limit, after, retained_since)
    return [data for (data,) in connection.execute(sql, parameters)]


def list_calls_sql(
    account_id: str,
    call_filter: CallFilter,
    limit: int,
    after: PageCursor | None,
    retained_since: str,
    dialect: str = "sqlite",
    earliest_enqueued: str | None = None,
) -> tuple[str, list[Any]]:
    """The SELECT `list_call_rows` runs, and its parameters (`?` placeholders). On PostgreSQL
    (`dialect="postgres"`) the same query but for the index hints (its planner sees the
    filter's values), and a minStartTime window's lower bound comes worked out by the caller
    (`earliest_enqueued`, see PostgresStore.list_calls_query): as a subquery, the planner
    could not see how narrow the window is."""
    clauses = ["account_id = ?"]
    parameters: list[Any] = [account_id]
    # The index's equality column first: its rows are then in page order.
    if call_filter.to is not None:
        index = "calls_by_account_to"
    elif call_filter.disconnect_cause is not None:
        index = "calls_by_account_cause"
    elif call_filter.from_ is not None:
        index = "calls_by_account_from"
    else:
        index = "calls_by_account_time"
    if call_filter.to is not None:
        clauses.append("to_number = ?")
        parameters.append(call_filter.to)
    if call_filter.from_ is not None:
        clauses.append("from_number = ?")
        parameters.append(call_filter.from_)
    if call_filter.disconnect_cause is not None:
        clauses.append("disconnect_cause = ?")
        parameters.append(call_filter.disconnect_cause)
    if after is not None:
        clauses.append("(enqueued_time, call_id) > (?, ?)")
        parameters += [after.enqueued_time, after.call_id]
    window: list[str] = []
    window_parameters: list[Any] = []
    if call_filter.min_start_time is not None:
        window.append("start_time >= ?")
        window_parameters.append(call_filter.min_start_time)
    if call_filter.max_start_time is not None:
        window.append("start_time <= ?")
        window_parameters.append(call_filter.max_start_time)
        clauses.append("enqueued_time <= ?")  # a call starts after it is enqueued
        parameters.append(call_filter.max_start_time)
    if earliest_enqueued is not None:  # worked out by the caller (see PostgresStore)
        clauses.append("enqueued_time >= ?")
        parameters.append(earliest_enqueued)
    elif call_filter.min_start_time is not None and after is None:
        if dialect != "sqlite":
            raise ValueError("a minStartTime window on PostgreSQL needs earliest_enqueued")
        clauses.append(_EARLIEST_ENQUEUED)
        parameters += [call_filter.min_start_time, account_id]
    clauses += window
    parameters += window_parameters
    clauses.append("(end_time IS NULL OR end_time >= ?)")
    parameters.append(retained_since)
    hint = f" INDEXED BY {index}" if dialect == "sqlite" else ""
    sql = (
        f"SELECT data FROM calls{hint} WHERE "
        + " AND ".join(clauses)
        + " ORDER BY enqueued_time, call_id LIMIT ?"
    )
    parameters.append(limit)
    return sql, parameters


# The earliest enqueued time a call that started at or after minStartTime can have (see the
# module docstring): minStartTime less the account's longest queue wait, less 2 s.
_EARLIEST_ENQUEUED = (
    "enqueued_time >= strftime('%Y-%m-%dT%H:%M:%fZ', julianday(?) - (coalesce((SELECT "
    "max(queue_wait) FROM calls INDEXED BY calls_by_account_wait WHERE account_id = ? "
    "AND queue_wait > 0), 0) + 2) / 86400.0)"
)


def purge_ended_before(connection: sqlite3.Connection, cutoff: str, batch: int = 5000) -> int:
    """Delete up to `batch` calls (and their timelines) that ended before `cutoff`."""
    call_ids = [
        call_id
        for (call_id,) in connection.execute(
            "SELECT call_id FROM calls WHERE end_time IS NOT NULL AND end_time < ? LIMIT ?",
            (cutoff, batch),
        )
    ]
    if not call_ids:
        return 0
    marks = ",".join("?" * len(call_ids))
    connection.execute(f"DELETE FROM call_timeline WHERE call_id IN ({marks})", call_ids)
    connection.execute(f"DELETE FROM calls WHERE call_id IN ({marks})", call_ids)
    return len(call_ids)
