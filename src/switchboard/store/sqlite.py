"""The embedded store: one SQLite file, a single writer thread with group commit.

Why a writer thread: every call insert must be durable before the API answers 201, and one
commit per request caps throughput far below what the API can serve. The writer takes every
write waiting in its queue, runs them in one transaction, commits once, then wakes all the
waiting requests (group commit). Reads are point lookups on their own connection.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

from switchboard.calls.model import Call
from switchboard.calls.timeline import TimelineEntry
from switchboard.provisioning.models import Snapshot
from switchboard.store import provisioning_db, schema

_Write = Callable[[sqlite3.Connection], object]
_MAX_BATCH = 512


class SqliteStore:
    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._writes: queue.SimpleQueue[
            tuple[_Write, asyncio.Future[None], asyncio.AbstractEventLoop] | None
        ] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._reader: sqlite3.Connection | None = None
        self._seen_data_version = -1
        self._seen_generation = -1

    # -- life cycle -------------------------------------------------------------------------
    async def open(self) -> None:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        writer_connection = schema.connect(self.path)
        schema.migrate(writer_connection)
        self._reader = schema.connect(self.path)
        self._writer = threading.Thread(
            target=self._write_loop, args=(writer_connection,), name="sqlite-writer", daemon=True
        )
        self._writer.start()

    async def close(self) -> None:
        if self._writer is not None:
            self._writes.put(None)
            await asyncio.to_thread(self._writer.join)
            self._writer = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def _write_loop(self, connection: sqlite3.Connection) -> None:
        try:
            while True:
                item = self._writes.get()
                if item is None:
                    return
                batch = [item]
                stop = False
                while len(batch) < _MAX_BATCH:
                    try:
                        nxt = self._writes.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is None:
                        stop = True
                        break
                    batch.append(nxt)
                self._commit_batch(connection, batch)
                if stop:
                    return
        finally:
            connection.close()

    @staticmethod
    def _commit_batch(
        connection: sqlite3.Connection,
        batch: list[tuple[_Write, asyncio.Future[None], asyncio.AbstractEventLoop]],
    ) -> None:
        errors: list[BaseException | None] = []
        connection.execute("BEGIN IMMEDIATE")
        for write, _, _ in batch:
            # A savepoint per write: one bad write fails alone, the rest of the batch commits.
            connection.execute("SAVEPOINT one_write")
            try:
                write(connection)
                connection.execute("RELEASE one_write")
                errors.append(None)
            except Exception as write_error:
                connection.execute("ROLLBACK TO one_write")
                connection.execute("RELEASE one_write")
                errors.append(write_error)
        try:
            connection.execute("COMMIT")
        except Exception as commit_error:
            connection.execute("ROLLBACK")
            errors = [commit_error] * len(batch)
        for (_, future, loop), error in zip(batch, errors, strict=True):
            loop.call_soon_threadsafe(_settle, future, error)

    async def _write(self, write: _Write) -> None:
        if self._writer is None:
            raise RuntimeError("store is not open")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._writes.put((write, future, loop))
        await future

    @property
    def _read(self) -> sqlite3.Connection:
        if self._reader is None:
            raise RuntimeError("store is not open")
        return self._reader

    # -- provisioning -----------------------------------------------------------------------
    def provisioning_changed(self) -> bool:
        # data_version moves whenever another connection commits (our writer or another
        # process); only then is the generation counter worth reading.
        (data_version,) = self._read.execute("PRAGMA data_version").fetchone()
        if data_version == self._seen_data_version:
            return False
        self._seen_data_version = data_version
        return provisioning_db.generation(self._read) != self._seen_generation

    async def load_provisioning(self) -> Snapshot:
        connection = self._read
        connection.execute("BEGIN")
        try:
            self._seen_generation = provisioning_db.generation(connection)
            return provisioning_db.load_snapshot(connection)
        finally:
            connection.execute("COMMIT")

    async def provision(self, change: Callable[[sqlite3.Connection], Any]) -> None:
        """Run a provisioning change (functions of store/provisioning_db.py) in the writer."""
        await self._write(change)

    # -- calls ------------------------------------------------------------------------------
    async def insert_call(self, call: Call) -> None:
        row = _call_row(call)
        await self._write(
            lambda connection: connection.execute(
                "INSERT INTO calls (call_id, account_id, state, enqueued_time, start_time, "
                "to_number, from_number, disconnect_cause, data) VALUES (?,?,?,?,?,?,?,?,?)",
                row,
            )
        )

    async def save_call(self, call: Call) -> None:
        call_id, _, state, _, start_time, _, _, cause, data = _call_row(call)
        await self._write(
            lambda connection: connection.execute(
                "UPDATE calls SET state = ?, start_time = ?, disconnect_cause = ?, data = ? "
                "WHERE call_id = ?",
                (state, start_time, cause, data, call_id),
            )
        )

    async def get_call(self, call_id: str) -> Call | None:
        row = self._read.execute("SELECT data FROM calls WHERE call_id = ?", (call_id,)).fetchone()
        return Call.from_row(orjson.loads(row[0])) if row else None

    async def calls_in_states(self, states: Sequence[str]) -> list[Call]:
        marks = ",".join("?" * len(states))
        rows = self._read.execute(
            f"SELECT data FROM calls WHERE state IN ({marks}) ORDER BY enqueued_time", tuple(states)
        ).fetchall()
        return [Call.from_row(orjson.loads(data)) for (data,) in rows]

    async def append_timeline(self, call_id: str, entries: Sequence[TimelineEntry]) -> None:
        rows = [
            (call_id, entry.sequence, entry.at, entry.kind, orjson.dumps(entry.data).decode())
            for entry in entries
        ]
        await self._write(
            lambda connection: connection.executemany(
                "INSERT OR REPLACE INTO call_timeline (call_id, sequence, at, kind, data) "
                "VALUES (?, ?, ?, ?, ?)",
                rows,
            )
        )

    async def timeline(self, call_id: str) -> list[TimelineEntry]:
        rows = self._read.execute(
            "SELECT sequence, at, kind, data FROM call_timeline WHERE call_id = ? "
            "ORDER BY sequence",
            (call_id,),
        ).fetchall()
        return [
            TimelineEntry(sequence, at, kind, orjson.loads(data))
            for sequence, at, kind, data in rows
        ]


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


def _call_row(call: Call) -> tuple[Any, ...]:
    data = call.to_row()
    return (
        call.call_id,
        call.account_id,
        call.state,
        data["enqueued_time"],
        data["start_time"],
        call.request.to,
        call.request.from_,
        call.disconnect_cause,
        orjson.dumps(data).decode(),
    )
