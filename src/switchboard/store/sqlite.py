"""The embedded store: one SQLite file, a single writer thread with group commit.

Why a writer thread: every call insert must be durable before the API answers 201, and one
commit per request caps throughput far below what the API can serve. The writer takes every
write waiting in its queue, runs them in one transaction, commits once, then wakes all the
waiting requests (group commit). Reads are point lookups on their own connection. WAL
checkpoints run in a third thread (see `_Checkpointer`), so that no commit waits for the fsync
of one.
"""

from __future__ import annotations

import asyncio
import functools
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

from switchboard.calls.listing import CallFilter, PageCursor
from switchboard.calls.model import Call
from switchboard.calls.timeline import TimelineEntry
from switchboard.limits.call_bounds import CallBounds
from switchboard.provisioning.models import Snapshot
from switchboard.recordings.model import Recording
from switchboard.store import call_queries, provisioning_db, schema
from switchboard.store.rows import call_row, event_row, recording_row, timeline_rows
from switchboard.webhooks.outbox import OutboxEntry

_Write = Callable[[sqlite3.Connection], object]
_Item = tuple[_Write, asyncio.Future[None], asyncio.AbstractEventLoop]
_Outcome = tuple[asyncio.Future[None], BaseException | None]
_MAX_BATCH = 512
DEFAULT_WAL_MAX_BYTES = CallBounds().wal_max_bytes
# The columns `call_row` gives, in its order.
_CALL_COLUMNS = (
    "call_id, account_id, state, enqueued_time, start_time, to_number, from_number, "
    "disconnect_cause, data, end_time, queue_wait"
)
_CALL_PLACEHOLDERS = "(" + ",".join("?" * len(_CALL_COLUMNS.split(","))) + ")"
# A run of call inserts goes in as multi-row INSERTs of at most this many rows (11 parameters
# each: far below SQLite's 32,766).
_MAX_ROWS_PER_INSERT = 256


@functools.cache
def _insert_calls_sql(rows: int) -> str:
    return f"INSERT INTO calls ({_CALL_COLUMNS}) VALUES " + ",".join([_CALL_PLACEHOLDERS] * rows)


_INSERT_CALL = _insert_calls_sql(1)


class _Statement:
    """A write that is one SQL statement: the writer runs a run of equal ones together
    (`_run_statements`)."""

    __slots__ = ("parameters", "sql")

    def __init__(self, sql: str, parameters: Sequence[Any]) -> None:
        self.sql = sql
        self.parameters = parameters

    def __call__(self, connection: sqlite3.Connection) -> object:
        return connection.execute(self.sql, self.parameters)


def _run_together(connection: sqlite3.Connection, batch: list[_Item]) -> None:
    """Every write of the batch in order, raising at the first that fails."""
    index, end = 0, len(batch)
    while index < end:
        write = batch[index][0]
        index += 1
        if isinstance(write, _Statement):
            parameters = [write.parameters]
            while index < end:
                other = batch[index][0]
                if not isinstance(other, _Statement) or other.sql != write.sql:
                    break
                parameters.append(other.parameters)
                index += 1
            if len(parameters) > 1:
                _run_statements(connection, write.sql, parameters)
                continue
        write(connection)


def _run_statements(connection: sqlite3.Connection, sql: str, rows: list[Sequence[Any]]) -> None:
    """A run of the same statement. Call inserts (the bulk of the writes under load) go in as
    multi-row INSERTs: executemany steps SQLite once per row, and each step lets go of the GIL
    and takes it back; one statement for the run was 6% of a create-call's instructions.
    Chunks are powers of two, so that a few statements serve every run length from the
    connection's statement cache. A failing row fails its whole statement, as it fails the
    whole batch: `_run_batch` then replays the batch one write at a time."""
    if sql != _INSERT_CALL:
        connection.executemany(sql, rows)
        return
    start, end = 0, len(rows)
    while start < end:
        size = min(_MAX_ROWS_PER_INSERT, 1 << ((end - start).bit_length() - 1))
        values = [value for row in rows[start : start + size] for value in row]
        connection.execute(_insert_calls_sql(size), values)
        start += size


def _run_one_by_one(
    connection: sqlite3.Connection, batch: list[_Item]
) -> list[BaseException | None]:
    errors: list[BaseException | None] = []
    for write, _, _ in batch:
        connection.execute("SAVEPOINT one_write")
        try:
            write(connection)
            connection.execute("RELEASE one_write")
            errors.append(None)
        except Exception as write_error:
            connection.execute("ROLLBACK TO one_write")
            connection.execute("RELEASE one_write")
            errors.append(write_error)
    return errors


class SqliteStore:
    def __init__(self, path: Path | str, wal_max_bytes: int = DEFAULT_WAL_MAX_BYTES) -> None:
        """`wal_max_bytes`: past this the WAL is checkpointed with TRUNCATE ([calls])."""
        self.path = str(path)
        self._wal_max_bytes = wal_max_bytes
        self._writes: queue.SimpleQueue[list[_Item] | None] = queue.SimpleQueue()
        # Writes made during the current turn of each event loop, handed to the writer together
        # when the turn ends (see _write).
        self._this_turn: dict[asyncio.AbstractEventLoop, list[_Item]] = {}
        self._writer: threading.Thread | None = None
        self._checkpointer: _Checkpointer | None = None
        self._reader: sqlite3.Connection | None = None
        self._seen_data_version = -1
        self._seen_generation = -1
        self._looked_this_turn = False

    # -- life cycle -------------------------------------------------------------------------
    async def open(self) -> None:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        writer_connection = schema.connect(self.path)
        schema.migrate(writer_connection)
        # Checkpoints (copying the WAL back into the database, with an fsync) run in a thread
        # of their own, so that no commit waits for one.
        writer_connection.execute("PRAGMA wal_autocheckpoint=0")
        self._checkpointer = _Checkpointer(self.path, self._wal_max_bytes)
        self._reader = schema.connect(self.path)
        self._writer = threading.Thread(
            target=self._write_loop, args=(writer_connection,), name="sqlite-writer", daemon=True
        )
        self._writer.start()

    async def close(self) -> None:
        writer, self._writer = self._writer, None  # from here on, a write fails: not open
        if writer is not None:
            # Writes made in this turn are still waiting for its end: they go first (one event
            # loop uses a store).
            self._hand_over(asyncio.get_running_loop())
            self._writes.put(None)
            await asyncio.to_thread(writer.join)
        if self._checkpointer is not None:
            await asyncio.to_thread(self._checkpointer.stop)
            self._checkpointer = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def _write_loop(self, connection: sqlite3.Connection) -> None:
        try:
            while True:
                first = self._writes.get()
                if first is None:
                    return
                batch = list(first)
                stop = False
                while len(batch) < _MAX_BATCH:
                    try:
                        more = self._writes.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        stop = True
                        break
                    batch += more
                # A turn can hand over thousands of writes (every live call saving at once
                # while draining): one transaction each _MAX_BATCH, so that a failing write
                # replays at most that many one by one.
                wakes = [
                    self._commit_batch(connection, batch[start : start + _MAX_BATCH])
                    for start in range(0, len(batch), _MAX_BATCH)
                ]
                try:
                    checkpointer = self._checkpointer
                    if checkpointer is not None and checkpointer.committed(len(batch)):
                        # The WAL is at twice its limit: the checkpoint thread cannot win the
                        # write lock from a storm this fast. Writes wait for this one (back
                        # pressure), and the WAL never passes ~2x wal_max_bytes plus a batch.
                        checkpointer.truncate(connection)
                finally:
                    # Waiters wake once the checkpointer has seen their writes: whoever awaited
                    # a write, then asks whether a checkpoint is due, gets the true answer.
                    for wake in wakes:
                        wake()
                if stop:
                    return
        finally:
            connection.close()

    @staticmethod
    def _commit_batch(connection: sqlite3.Connection, batch: list[_Item]) -> Callable[[], None]:
        """Commit the batch; return what wakes its waiters on their event loops."""
        errors = _run_batch(connection, batch)
        # One wake-up per event loop for the whole batch, not one per write.
        outcomes: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
        for (_, future, loop), error in zip(batch, errors, strict=True):
            outcomes.setdefault(loop, []).append((future, error))

        def wake() -> None:
            for loop, settled in outcomes.items():
                loop.call_soon_threadsafe(_settle_all, settled)

        return wake

    async def _write(self, write: _Write) -> None:
        """Run `write` in the writer thread's next transaction; return once it is committed.

        The writes of one turn of the event loop go to the writer together, at the end of the
        turn: handed over one by one, the writer woke for the first few and committed batches
        of ~20 under load, each commit with its own WAL frames and its own hand-off of the GIL;
        a turn's worth is all the requests that arrived together (up to one per connection)."""
        if self._writer is None:
            raise RuntimeError("store is not open")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        this_turn = self._this_turn.get(loop)
        if this_turn is None:
            this_turn = self._this_turn[loop] = []
            loop.call_soon(self._hand_over, loop)
        this_turn.append((write, future, loop))
        await future

    def _hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        batch = self._this_turn.pop(loop, None)
        if batch:
            self._writes.put(batch)

    @property
    def _read(self) -> sqlite3.Connection:
        if self._reader is None:
            raise RuntimeError("store is not open")
        return self._reader

    # -- provisioning -----------------------------------------------------------------------
    def provisioning_changed(self) -> bool:
        """Asked on every authenticated request; looks at the database once per turn of the
        event loop. That is as fresh as looking every time: the requests handled in one turn
        were all read from their sockets before the turn began, so a change committed before
        any of them was sent is seen by the turn's first look. (Every SQLite call lets the
        writer thread take the GIL; under load one per request was a sixth of the CPU.)"""
        if self._looked_this_turn:
            return False
        changed = self._provisioning_changed_now()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return changed  # not on an event loop: look every time
        self._looked_this_turn = True
        loop.call_soon(self._next_turn)
        return changed

    def _next_turn(self) -> None:
        self._looked_this_turn = False

    def _provisioning_changed_now(self) -> bool:
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
        await self._write(_Statement(_INSERT_CALL, call_row(call)))

    async def save_call(
        self,
        call: Call,
        timeline: Sequence[TimelineEntry] = (),
        event: OutboxEntry | None = None,
    ) -> int | None:
        """Store a call's new state, with its new timeline entries and the event it now owes,
        in one transaction. Returns the event's outbox id."""
        call_id, _, state, _, start_time, _, _, cause, data, end_time, queue_wait = call_row(call)
        entry_rows = timeline_rows(call.call_id, timeline)
        event_values = event_row(event) if event is not None else None
        ids: list[int] = []

        def save(connection: sqlite3.Connection) -> None:
            connection.execute(
                "UPDATE calls SET state = ?, start_time = ?, disconnect_cause = ?, data = ?, "
                "end_time = ?, queue_wait = ? WHERE call_id = ?",
                (state, start_time, cause, data, end_time, queue_wait, call_id),
            )
            if entry_rows:
                connection.executemany(_INSERT_TIMELINE, entry_rows)
            if event_values is not None:
                ids.append(connection.execute(_INSERT_EVENT, event_values).lastrowid or 0)

        await self._write(save)
        return ids[0] if ids else None

    async def record_event(self, event: OutboxEntry) -> int:
        row = event_row(event)
        ids: list[int] = []
        await self._write(
            lambda connection: ids.append(connection.execute(_INSERT_EVENT, row).lastrowid or 0)
        )
        return ids[0]

    async def finish_event(self, event_id: int, status: str, attempts: int) -> None:
        await self._write(
            _Statement(
                "UPDATE outbox SET status = ?, attempts = attempts + ? WHERE id = ?",
                (status, attempts, event_id),
            )
        )

    async def pending_events(self) -> list[OutboxEntry]:
        rows = self._read.execute(
            "SELECT id, call_id, event_type, data FROM outbox WHERE status = 'pending' ORDER BY id"
        ).fetchall()
        return [
            OutboxEntry.from_json(entry_id, call_id, event_type, orjson.loads(data))
            for entry_id, call_id, event_type, data in rows
        ]

    def pending_event_count(self) -> int:
        (count,) = self._read.execute(
            "SELECT count(*) FROM outbox WHERE status = 'pending'"
        ).fetchone()
        return int(count)

    async def event_statuses(self, call_id: str) -> list[tuple[str, str, int]]:
        """(event type, status, attempts) of a call's events, oldest first."""
        rows = self._read.execute(
            "SELECT event_type, status, attempts FROM outbox WHERE call_id = ? ORDER BY id",
            (call_id,),
        ).fetchall()
        return [(str(kind), str(status), int(attempts)) for kind, status, attempts in rows]

    async def list_calls(
        self,
        account_id: str,
        call_filter: CallFilter,
        limit: int,
        after: PageCursor | None,
        retained_since: str,
    ) -> list[dict[str, Any]]:
        found = call_queries.list_call_rows(
            self._read, account_id, call_filter, limit, after, retained_since
        )
        loads = orjson.loads
        return [loads(data) for data in found]

    async def purge_calls(self, ended_before: str) -> int:
        """Delete calls (and timelines) that ended before `ended_before`; returns how many."""
        purged: list[int] = []

        def purge(connection: sqlite3.Connection) -> None:
            purged.append(call_queries.purge_ended_before(connection, ended_before))

        total = 0
        while True:
            await self._write(purge)
            total += purged[-1]
            if purged[-1] == 0:
                return total

    async def get_call(self, call_id: str) -> Call | None:
        row = self._read.execute("SELECT data FROM calls WHERE call_id = ?", (call_id,)).fetchone()
        return Call.from_row(orjson.loads(row[0])) if row else None

    async def calls_in_states(self, states: Sequence[str]) -> list[Call]:
        marks = ",".join("?" * len(states))
        rows = self._read.execute(
            f"SELECT data FROM calls WHERE state IN ({marks}) ORDER BY enqueued_time", tuple(states)
        ).fetchall()
        return [Call.from_row(orjson.loads(data)) for (data,) in rows]

    async def adopt_calls(self, states: Sequence[str]) -> tuple[list[Call], list[OutboxEntry]]:
        """One node: everything a previous run left behind is this node's."""
        return await self.calls_in_states(states), await self.pending_events()

    async def append_timeline(self, call_id: str, entries: Sequence[TimelineEntry]) -> None:
        entry_rows = timeline_rows(call_id, entries)
        await self._write(lambda connection: connection.executemany(_INSERT_TIMELINE, entry_rows))

    async def last_timeline_sequence(self, call_id: str) -> int:
        row = self._read.execute(
            "SELECT max(sequence) FROM call_timeline WHERE call_id = ?", (call_id,)
        ).fetchone()
        return int(row[0] or 0)

    async def timeline(self, call_id: str, after: int = 0, limit: int = -1) -> list[TimelineEntry]:
        """Entries with a sequence above `after`, in order; at most `limit` (-1: all)."""
        rows = self._read.execute(
            "SELECT sequence, at, kind, data FROM call_timeline WHERE call_id = ? "
            "AND sequence > ? ORDER BY sequence LIMIT ?",
            (call_id, after, limit),
        ).fetchall()
        return [
            TimelineEntry(sequence, at, kind, orjson.loads(data))
            for sequence, at, kind, data in rows
        ]

    # -- recordings (recordings/store.py's RecordingStore) ----------------------------------
    async def save_recording(self, recording: Recording) -> None:
        await self._write(_Statement(_SAVE_RECORDING, recording_row(recording)))

    async def get_recording(self, recording_id: str) -> Recording | None:
        row = self._read.execute(
            "SELECT data FROM recordings WHERE recording_id = ?", (recording_id,)
        ).fetchone()
        return Recording.from_row(orjson.loads(row[0])) if row else None

    async def list_recordings(
        self,
        account_id: str,
        *,
        call_id: str | None = None,
        to: str | None = None,
        from_: str | None = None,
        min_start_time: str | None = None,
        max_start_time: str | None = None,
        limit: int = 1000,
    ) -> list[Recording]:
        """Oldest first. `to`/`from` are read from the JSON: the listing walks the account's
        (or the call's) recordings by start time anyway, and filters only thin it."""
        clauses = ["account_id = ?"]
        parameters: list[Any] = [account_id]
        if call_id is not None:
            clauses.append("call_id = ?")
            parameters.append(call_id)
        if min_start_time is not None:
            clauses.append("start_time >= ?")
            parameters.append(min_start_time)
        if max_start_time is not None:  # inclusive, as listCalls' maxStartTime
            clauses.append("start_time <= ?")
            parameters.append(max_start_time)
        if to is not None:
            clauses.append("json_extract(data, '$.to') = ?")
            parameters.append(to)
        if from_ is not None:
            clauses.append("json_extract(data, '$.from') = ?")
            parameters.append(from_)
        index = "recordings_by_call" if call_id is not None else "recordings_by_account_start"
        parameters.append(limit)
        rows = self._read.execute(
            f"SELECT data FROM recordings INDEXED BY {index} WHERE "
            + " AND ".join(clauses)
            + " ORDER BY start_time, recording_id LIMIT ?",
            parameters,
        ).fetchall()
        return [Recording.from_row(orjson.loads(data)) for (data,) in rows]

    async def delete_recording(self, recording_id: str) -> bool:
        deleted: list[int] = []

        def delete(connection: sqlite3.Connection) -> None:
            cursor = connection.execute(
                "DELETE FROM recordings WHERE recording_id = ?", (recording_id,)
            )
            deleted.append(cursor.rowcount)

        await self._write(delete)
        return bool(deleted and deleted[0])

    async def recordings_in_status(self, status: str) -> list[Recording]:
        rows = self._read.execute(
            "SELECT data FROM recordings WHERE status = ? ORDER BY start_time", (status,)
        ).fetchall()
        return [Recording.from_row(orjson.loads(data)) for (data,) in rows]

    async def recordings_ended_before(self, cutoff: str, limit: int = 500) -> list[Recording]:
        """Recordings past their retention: ended before `cutoff` (one that never ended, e.g.
        marked `error` after a crash, counts from its start). Never one still `processing`."""
        rows = self._read.execute(
            "SELECT data FROM recordings WHERE coalesce(end_time, start_time) < ? "
            "AND status != 'processing' ORDER BY coalesce(end_time, start_time) LIMIT ?",
            (cutoff, limit),
        ).fetchall()
        return [Recording.from_row(orjson.loads(data)) for (data,) in rows]


def _run_batch(connection: sqlite3.Connection, batch: list[_Item]) -> list[BaseException | None]:
    """Every write of the batch in one transaction; what each one raised (None: committed)."""
    errors: list[BaseException | None]
    connection.execute("BEGIN IMMEDIATE")
    try:
        # Fast path: the whole batch in one go (runs of the same statement as executemany).
        _run_together(connection, batch)
        errors = [None] * len(batch)
    except Exception:
        # A write failed: undo the batch and redo it with a savepoint per write, so that
        # the bad write fails alone and the rest of the batch commits.
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        connection.execute("BEGIN IMMEDIATE")
        errors = _run_one_by_one(connection, batch)
    try:
        connection.execute("COMMIT")
    except Exception as commit_error:
        connection.execute("ROLLBACK")
        errors = [commit_error] * len(batch)
    return errors


class _Checkpointer:
    """Copies the WAL back into the database from a thread of its own every few hundred writes.

    SQLite's own autocheckpoint (every 1000 WAL pages) runs inside the commit that crosses the
    limit, with an fsync of the WAL and of the database: every write waiting in that batch, and
    so every request waiting for one, waited for the disk. A passive checkpoint on another
    connection copies what it can while the writer goes on committing."""

    # A write dirties a handful of pages, many of them the same as the last write's (index
    # roots, the last page of each index: call ids and times grow). Every 1000 writes copies
    # those once where every 250 copied them four times (measured: 3 vs 6 us per create-call);
    # the WAL stays a few MB.
    EVERY_WRITES = 1000

    # Issue 23: under a write storm (a Redirect loop: 25 MB/s of timeline rows) passive
    # checkpoints never caught up and the WAL reached 3.4 GB: a passive checkpoint copies only
    # frames no reader still needs, and never shrinks the file. Past `max_bytes` the next
    # checkpoint is a TRUNCATE: it waits (busy_timeout) for readers and the writer to let go,
    # copies everything, and empties the file. The writer checks the size after every batch,
    # so a storm of large writes is caught before its thousandth.
    def __init__(self, path: str, max_bytes: int = DEFAULT_WAL_MAX_BYTES) -> None:
        self._path = path
        self._wal_path = path + "-wal"
        self._max_bytes = max_bytes
        self._due = threading.Event()
        self._idle = threading.Event()  # no checkpoint due or running (for tests)
        self._idle.set()
        self._running = threading.Lock()  # one checkpoint at a time (see truncate)
        self._stopping = False
        self._writes = 0
        self.truncations = 0
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
        self._thread.start()

    def committed(self, writes: int) -> bool:
        """Called by the writer after each batch; True: the writer must checkpoint now."""
        self._writes += writes
        size = self._wal_size()
        if size > 2 * self._max_bytes:
            return True
        if not self._due.is_set() and (self._writes >= self.EVERY_WRITES or size > self._max_bytes):
            self._writes = 0
            self._idle.clear()
            self._due.set()
        return False

    def truncate(self, connection: sqlite3.Connection) -> None:
        """Checkpoint everything and empty the WAL, once no other checkpoint runs (SQLite
        answers a second checkpointer SQLITE_BUSY at once instead of waiting for the first)."""
        with self._running:
            busy = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            if not busy:
                self.truncations += 1

    def wait_idle(self, timeout: float) -> bool:
        return self._idle.wait(timeout)

    def _wal_size(self) -> int:
        try:
            return os.stat(self._wal_path).st_size
        except OSError:
            return 0

    def stop(self) -> None:
        self._stopping = True
        self._due.set()
        self._thread.join()

    def _run(self) -> None:
        connection = schema.connect(self._path)
        try:
            while True:
                self._due.wait()
                self._due.clear()
                if self._stopping:
                    break
                with self._running:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
                if self._wal_size() > self._max_bytes:
                    self.truncate(connection)
                if not self._due.is_set():
                    self._idle.set()
        finally:
            connection.close()


def _settle_all(settled: list[_Outcome]) -> None:
    for future, error in settled:
        _settle(future, error)


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


_INSERT_TIMELINE = (
    # Never OR REPLACE: an entry, once written, is history. A conflict is ignored, not an error: the
    # entries share a transaction with the call's state and the event it owes, which must not
    # be lost to a numbering bug (runners continue from the stored sequence, so none collide).
    "INSERT INTO call_timeline (call_id, sequence, at, kind, data) VALUES (?,?,?,?,?) "
    # ... except a timeline's one "entries-dropped" summary (calls/timeline.py), whose count
    # grows in place; never down (a runner that resumed a call counts its drops afresh).
    "ON CONFLICT (call_id, sequence) DO UPDATE SET at = excluded.at, data = excluded.data "
    "WHERE call_timeline.kind = 'entries-dropped' AND excluded.kind = 'entries-dropped' "
    "AND json_extract(excluded.data, '$.dropped') > json_extract(call_timeline.data, '$.dropped')"
)
_INSERT_EVENT = "INSERT INTO outbox (call_id, event_type, data) VALUES (?, ?, ?)"


_SAVE_RECORDING = (
    "INSERT OR REPLACE INTO recordings "
    "(recording_id, account_id, call_id, start_time, end_time, status, data) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
