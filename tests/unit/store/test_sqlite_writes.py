"""The SQLite store's write path: group commit, a bad write failing alone, fresh provisioning.
What any store must do (concurrent writers, a duplicate failing alone, close and restart, writes
after close) is tested on both backends in tests/integration/store."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from switchboard.calls.create_request import parse_create_call
from switchboard.calls.model import Call
from switchboard.provisioning.models import Account
from switchboard.store import provisioning_db, schema
from switchboard.store.rows import call_row
from switchboard.store.sqlite import _INSERT_CALL, SqliteStore, _Item, _Statement
from tests.support.create_call_cases import seed_body


def make_call(number: int) -> Call:
    moment = datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    call_id = f"c-{number:08x}-00000000-0000-4000-8000-000000000000"
    return Call(
        call_id=call_id,
        account_id="9900001",
        request=parse_create_call(seed_body(tag=f"call {number}")),
        call_url=f"http://127.0.0.1/api/v2/accounts/9900001/calls/{call_id}",
        enqueued_time=moment,
        last_update=moment,
    )


def stored_states(path: str) -> list[str]:
    connection = sqlite3.connect(path)
    try:
        rows = connection.execute("SELECT state FROM calls ORDER BY call_id").fetchall()
    finally:
        connection.close()
    return [state for (state,) in rows]


@pytest.mark.parametrize("count", [1, 2, 3, 255, 256, 257, 600])
async def test_a_turn_of_call_inserts_of_any_length_stores_each_call_once(
    store: SqliteStore, count: int
) -> None:
    """A turn's inserts go in as multi-row INSERTs of power-of-two sizes (at most 256 rows),
    in transactions of at most 512 writes: every length must come out whole."""
    calls = [make_call(number) for number in range(count)]
    await asyncio.gather(*(store.insert_call(call) for call in calls))
    connection = sqlite3.connect(store.path)
    try:
        stored = connection.execute("SELECT call_id FROM calls ORDER BY call_id").fetchall()
    finally:
        connection.close()
    assert stored == [(call.call_id,) for call in calls]
    assert await store.get_call(calls[-1].call_id) == Call.from_row(calls[-1].to_row())


async def test_a_bad_write_in_a_batch_fails_alone(tmp_path: Path) -> None:
    path = str(tmp_path / "switchboard.db")
    connection = schema.connect(path)
    schema.migrate(connection)
    loop = asyncio.get_running_loop()

    def item(write: Callable[[sqlite3.Connection], object]) -> _Item:
        return (write, loop.create_future(), loop)

    def ring_all(connection: sqlite3.Connection) -> object:
        return connection.execute("UPDATE calls SET state = 'initiated' WHERE call_id LIKE 'c-%'")

    batch = [
        item(_Statement(_INSERT_CALL, call_row(make_call(1)))),
        item(_Statement(_INSERT_CALL, call_row(make_call(1)))),  # the same call id again
        item(_Statement(_INSERT_CALL, call_row(make_call(2)))),
        item(ring_all),
        item(_Statement(_INSERT_CALL, call_row(make_call(3)))),
    ]
    SqliteStore._commit_batch(connection, batch)()  # commit, then wake the waiters
    connection.close()
    outcomes = await asyncio.gather(*(future for _, future, _ in batch), return_exceptions=True)
    assert outcomes[0] is None and outcomes[2:] == [None, None, None]
    assert isinstance(outcomes[1], sqlite3.IntegrityError)
    # In order: the update saw calls 1 and 2, not 3, which was inserted after it.
    assert stored_states(path) == ["initiated", "initiated", "queued"]


async def test_provisioning_changes_are_seen_by_the_next_turn_of_the_loop(
    store: SqliteStore,
) -> None:
    await store.load_provisioning()
    assert store.provisioning_changed() is False
    other = schema.connect(store.path)  # as the CLI would, from another process
    try:
        provisioning_db.put_account(other, Account("9900009", "Elsewhere"))
    finally:
        other.close()
    # A request in the same turn as the last look was read before the change was made.
    assert store.provisioning_changed() is False
    await asyncio.sleep(0)
    assert store.provisioning_changed() is True
    await store.load_provisioning()
    await asyncio.sleep(0)
    assert store.provisioning_changed() is False


async def test_writes_of_one_turn_commit_in_the_order_they_were_made(store: SqliteStore) -> None:
    seen: list[int] = []

    def count(connection: sqlite3.Connection) -> None:
        seen.append(connection.execute("SELECT count(*) FROM calls").fetchone()[0])

    await asyncio.gather(
        store.insert_call(make_call(1)),
        store._write(count),
        store.insert_call(make_call(2)),
        store.insert_call(make_call(3)),
        store._write(count),
    )
    assert seen == [1, 3]
