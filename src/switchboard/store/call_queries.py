"""Reading calls in bulk: listCalls pages and retention purges (SQL on a given connection).

listCalls is keyset-paginated on (enqueued_time, call_id) over the calls_by_account_time
index, so a page costs the same on the millionth call as on the first.
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
    clauses = ["account_id = ?", "(end_time IS NULL OR end_time >= ?)"]
    parameters: list[Any] = [account_id, retained_since]
    if after is not None:
        clauses.append("(enqueued_time, call_id) > (?, ?)")
        parameters += [after.enqueued_time, after.call_id]
    if call_filter.to is not None:
        clauses.append("to_number = ?")
        parameters.append(call_filter.to)
    if call_filter.from_ is not None:
        clauses.append("from_number = ?")
        parameters.append(call_filter.from_)
    if call_filter.min_start_time is not None:
        clauses.append("start_time >= ?")
        parameters.append(call_filter.min_start_time)
    if call_filter.max_start_time is not None:
        clauses.append("start_time <= ?")
        parameters.append(call_filter.max_start_time)
    if call_filter.disconnect_cause is not None:
        clauses.append("disconnect_cause = ?")
        parameters.append(call_filter.disconnect_cause)
    sql = (
        "SELECT data FROM calls INDEXED BY calls_by_account_time WHERE "
        + " AND ".join(clauses)
        + " ORDER BY enqueued_time, call_id LIMIT ?"
    )
    parameters.append(limit)
    return [data for (data,) in connection.execute(sql, parameters)]


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
