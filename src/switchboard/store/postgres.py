"""The PostgreSQL store (issue 18): the Store seam on a database that several nodes share.

The same contract as SqliteStore (store/base.py), with the same group commit: the writes made
while the event loop runs go to one writer connection, which runs everything waiting in one
transaction, pipelined (psycopg's pipeline mode: one round trip for the lot, not one per
statement), commits once and wakes every waiter. A write that fails alone is found by redoing
its batch one write per transaction, so it fails alone and the rest commit.

Reads go to a few connections of their own (a psycopg connection runs one query at a time).
Two things SQLite answers synchronously are kept fresh from the database instead:
`provisioning_changed` (a NOTIFY from the provisioning triggers, and a poll of the generation
every second in case a notification was missed while the listener reconnected) and
`pending_event_count` (for /metrics, read every second).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
import psycopg

from switchboard.calls.ids import format_time, parse_time
from switchboard.calls.listing import CallFilter, PageCursor
from switchboard.calls.model import INITIATED, Call
from switchboard.calls.timeline import TimelineEntry
from switchboard.calls.transfer_targets import PARENT_CALL_ID
from switchboard.errors import RateLimitError, SharedRateLimited
from switchboard.limits.account import CONCURRENCY_LIMITED, RATE_LIMITED, LimitSettings
from switchboard.provisioning.models import Snapshot
from switchboard.recordings.model import Recording
from switchboard.store import call_queries, pg_schema, provisioning_db
from switchboard.store.rows import call_row, event_row, recording_row, timeline_rows
from switchboard.store.sql import SqlConnection, pyformat
from switchboard.webhooks.outbox import OutboxEntry

logger = logging.getLogger("switchboard.store")

_Connection = psycopg.AsyncConnection[Any]
_Write = Callable[[_Connection], Awaitable[object]]
_Pending = tuple[_Write, "asyncio.Future[object]"]
_MAX_BATCH = 512
_READERS = 4
_REFRESH_SECONDS = 1.0

_INSERT_CALL = pyformat(
    "INSERT INTO calls (call_id, account_id, state, enqueued_time, start_time, to_number, "
    "from_number, disconnect_cause, data, end_time, queue_wait, owner_node, owner_epoch) "
    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
# Fencing (DESIGN.md, "Scale-out"): every write about a call names its owner and the owner's
# epoch, and does nothing when another node has taken the call over since. A call not in the
# table (a test's bare timeline) is nobody's, and fences nothing.
_OWNED = "owner_node IS NOT DISTINCT FROM ? AND owner_epoch IS NOT DISTINCT FROM ?"
_NOT_TAKEN = (
    "NOT EXISTS (SELECT 1 FROM calls WHERE call_id = ? AND (owner_node IS DISTINCT FROM ? "
    "OR owner_epoch IS DISTINCT FROM ?))"
)
_SAVE_CALL = pyformat(
    "UPDATE calls SET state = ?, start_time = ?, disconnect_cause = ?, data = ?, "
    f"end_time = ?, queue_wait = ? WHERE call_id = ? AND {_OWNED}"
)
# As SqliteStore's: history is never overwritten, but for the one growing "entries-dropped".
_INSERT_TIMELINE = pyformat(
    "INSERT INTO call_timeline (call_id, sequence, at, kind, data) "
    f"SELECT ?,?,?,?,? WHERE {_NOT_TAKEN} "
    "ON CONFLICT (call_id, sequence) DO UPDATE SET at = excluded.at, data = excluded.data "
    "WHERE call_timeline.kind = 'entries-dropped' AND excluded.kind = 'entries-dropped' "
    "AND (excluded.data::json->>'dropped')::bigint > (call_timeline.data::json->>'dropped')::bigint"
)
# The id comes with the row (see `_event_id`): nothing to read back, so a batch's events go
# out pipelined with the rest instead of each waiting for its own round trip.
_INSERT_EVENT = pyformat(
    f"INSERT INTO outbox (id, call_id, event_type, data) SELECT ?, ?, ?, ? WHERE {_NOT_TAKEN}"
)
_EVENT_IDS_AT_ONCE = 256
_SAVE_RECORDING = pyformat(
    "INSERT INTO recordings "
    "(recording_id, account_id, call_id, start_time, end_time, status, data) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (recording_id) DO UPDATE SET "
    "account_id = excluded.account_id, call_id = excluded.call_id, "
    "start_time = excluded.start_time, end_time = excluded.end_time, "
    "status = excluded.status, data = excluded.data"
)


# Seconds until the soonest running lease of another node (the parameter: this node) ends.
_SOONEST_OTHER_LEASE_END = (
    "SELECT EXTRACT(EPOCH FROM min(lease_until) - now())::float8 FROM nodes "
    "WHERE state != 'dead' AND node_id != %s AND lease_until > now()"
)


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """What renewing the lease found: whether it was renewed, and in how many seconds (from
    the renewal, by the database's clock) the soonest running lease of another node ends
    (None: none; leases that ended already are this beat's adoption's)."""

    renewed: bool
    others_expire_in: float | None


class _Statement:
    """A write that is one SQL statement: a run of equal ones goes as one executemany."""

    __slots__ = ("parameters", "sql")

    def __init__(self, sql: str, parameters: Sequence[Any]) -> None:
        self.sql = sql
        self.parameters = parameters

    async def __call__(self, connection: _Connection) -> object:
        return await connection.execute(self.sql, self.parameters)


class _AdmittedInsert:
    """A createCall placed at once, on many nodes: the account's limits are held in the
    database, in the insert's own transaction (rateLimits.mdx; DESIGN.md, "Scale-out").

    Under a transaction-scoped lock on the account: its live calls owned by live nodes are
    counted (a count, not a counter: a node that dies stops counting when its lease ends, and
    nothing can leak), and a token is taken from its calls-per-second bucket (`burst` tokens,
    refilled at the rate, on the database's clock). Either refused: a 429 as one node gives."""

    __slots__ = ("account_id", "limits", "queueable", "values")

    def __init__(
        self,
        account_id: str,
        limits: LimitSettings,
        values: Sequence[Any],
        queueable: bool = True,
    ) -> None:
        self.account_id = account_id
        self.limits = limits
        self.values = values
        # An inbound call starts now or not at all: over the rate it is refused, never queued.
        self.queueable = queueable

    def refusal(self, live: int, tokens: float) -> RateLimitError | None:
        """Why the call may not be placed, with the account's live calls and tokens; None: it
        may. Over the rate with the queue on: it waits queued instead (calls/service.py)."""
        limits = self.limits
        if live >= limits.concurrent_calls:
            return RateLimitError(CONCURRENCY_LIMITED, 1)
        if tokens < 1.0:
            wait = max(1, math.ceil((1.0 - tokens) / limits.calls_per_second))
            if limits.queue_enabled and self.queueable:
                return SharedRateLimited(RATE_LIMITED, wait)
            return RateLimitError(RATE_LIMITED, wait)
        return None

    async def __call__(self, connection: _Connection) -> None:
        """Alone (a batch redone one write at a time): admitted, or raises the refusal."""
        (result,) = await _admit_together(connection, [self])
        if isinstance(result, _Refused):
            raise result.error


class _Refused:
    """A write of a batch that was refused on its own (an admission over the limits)."""

    __slots__ = ("error",)

    def __init__(self, error: RateLimitError) -> None:
        self.error = error


async def _admit_together(connection: _Connection, inserts: list[_AdmittedInsert]) -> list[object]:
    """A run of admitted inserts in one round trip, not one each: every account's lock and
    count are asked for together (pipelined; accounts in order, so two nodes' batches never
    wait for each other's locks in a cycle), each call is decided in order against what the
    calls before it in the run took, then the admitted ones and the buckets are written."""
    by_account: dict[str, LimitSettings] = {}
    for insert in inserts:
        by_account.setdefault(insert.account_id, insert.limits)
    cursors = {
        account_id: await _ask_admission(connection, account_id, by_account[account_id])
        for account_id in sorted(by_account)
    }
    state: dict[str, list[float]] = {}
    for account_id, cursor in cursors.items():
        row = await cursor.fetchone()  # the first one waits for the lot
        assert row is not None
        state[account_id] = [float(row[0]), float(row[1])]
    results: list[object] = []
    admitted: list[Sequence[Any]] = []
    for insert in inserts:
        live_and_tokens = state[insert.account_id]
        refusal = insert.refusal(int(live_and_tokens[0]), live_and_tokens[1])
        if refusal is not None:
            results.append(_Refused(refusal))
            continue
        live_and_tokens[0] += 1
        live_and_tokens[1] -= 1.0
        admitted.append(insert.values)
        results.append(None)
    if admitted:
        async with connection.cursor() as cursor:
            await cursor.executemany(_INSERT_CALL, admitted)
        for account_id, (_, tokens) in state.items():
            await connection.execute(_TAKE_TOKEN, {"account": account_id, "tokens": tokens})
    return results


async def _ask_admission(
    connection: _Connection, account_id: str, limits: LimitSettings
) -> psycopg.AsyncCursor[Any]:
    """Lock the account for this transaction and ask its live calls and tokens (one row; in
    pipeline mode the answer is read later, with others)."""
    await connection.execute(
        "SELECT pg_advisory_xact_lock(hashtext('account:' || %s))", (account_id,)
    )
    return await connection.execute(
        _ADMISSION,
        {"account": account_id, "rate": limits.calls_per_second, "burst": limits.burst},
    )


_ADMISSION = (
    "SELECT (SELECT count(*) FROM calls WHERE account_id = %(account)s "
    " AND state IN ('initiated', 'answered') AND owner_node IN "
    " (SELECT node_id FROM nodes WHERE state != 'dead' AND lease_until > now())), "
    " coalesce((SELECT least(%(burst)s, tokens + "
    " extract(epoch FROM now() - updated) * %(rate)s) "
    " FROM account_rates WHERE account_id = %(account)s), %(burst)s)"
)
_TAKE_TOKEN = (
    "INSERT INTO account_rates (account_id, tokens, updated) "
    "VALUES (%(account)s, %(tokens)s, now()) ON CONFLICT (account_id) DO UPDATE "
    "SET tokens = excluded.tokens, updated = excluded.updated"
)


class PostgresStore:
    def __init__(self, url: str, *, schema: str | None = None, readers: int = _READERS) -> None:
        """`schema`: keep every table in this PostgreSQL schema (created if need be), e.g. one
        per test; None: the connection's default search path."""
        self.url = url
        self.schema = schema
        self._reader_count = readers
        self._writer: _Connection | None = None
        self._readers: asyncio.Queue[_Connection] | None = None
        self._pending_writes: list[_Pending] = []
        self._event_ids: list[int] = []  # outbox ids reserved for this store (_event_id)
        self._close_retries = 0
        self._write_wanted = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._seen_generation = -1
        self._generation = -1
        self._pending_events = 0
        self._closing = False
        # This node and its epoch (nodes/registry.py sets them); None: nobody's (tests).
        self.node_id: str | None = None
        self.epoch: int | None = None
        # Each account's limits, for admission in the database (server.py sets it with the
        # node registry); None: the engine's in-process limits alone (one node).
        self.limits_for: Callable[[str], LimitSettings] | None = None

    # -- life cycle -------------------------------------------------------------------------
    async def open(self) -> None:
        await asyncio.to_thread(self._migrate)
        options = pg_schema.connection_options(self.schema)
        self._writer = await psycopg.AsyncConnection.connect(self.url, **options)
        self._readers = asyncio.Queue()
        for _ in range(self._reader_count):
            reader = await self._new_reader()
            self._readers.put_nowait(reader)
        await self._refresh()
        self._seen_generation = self._generation
        self._closing = False
        self._tasks = [
            asyncio.get_running_loop().create_task(self._write_loop(), name="pg-writer"),
            asyncio.get_running_loop().create_task(self._watch(), name="pg-watch"),
        ]

    def _migrate(self) -> None:
        connection = pg_schema.connect(self.url, self.schema)
        try:
            pg_schema.migrate(connection)
        finally:
            connection.close()

    async def close(self) -> None:
        self._closing = True
        self._write_wanted.set()
        tasks, self._tasks = self._tasks, []
        if tasks:
            await tasks[0]  # the writer finishes what was asked of it
            tasks[1].cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await tasks[1]
        # The readers as they are now (a broken one may have been replaced), and the writer.
        connections = [self._writer] if self._writer else []
        while self._readers is not None and not self._readers.empty():
            connections.append(self._readers.get_nowait())
        for connection in connections:
            await connection.close()
        self._readers = None
        self._writer = None

    # -- writes -----------------------------------------------------------------------------
    async def _write(self, write: _Write) -> object:
        """Run `write` in the writer's next transaction; return once it is committed."""
        if self._writer is None or self._closing:
            raise RuntimeError("store is not open")
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._pending_writes.append((write, future))
        self._write_wanted.set()
        return await future

    async def _write_loop(self) -> None:
        assert self._writer is not None
        while True:
            await self._write_wanted.wait()
            # Let the rest of this turn's writes join the batch.
            await asyncio.sleep(0)
            self._write_wanted.clear()
            batch, self._pending_writes = (
                self._pending_writes[:_MAX_BATCH],
                self._pending_writes[_MAX_BATCH:],
            )
            if self._pending_writes:
                self._write_wanted.set()
            if batch:
                await self._commit_until_done(batch)
            if self._closing and not self._pending_writes:
                return  # everything asked before close() is committed

    async def _commit_until_done(self, batch: list[_Pending]) -> None:
        """Commit the batch; while the database is away (restarting, unreachable), keep it and
        try again, backing off up to a second: a call's write waits for the database rather
        than failing, so no call is left half-ended when it comes back. (At least once: a
        batch whose COMMIT was sent just as the connection died is written again.)"""
        backoff = 0.05
        while batch:
            try:
                connection = self._writer = await self._usable(self._writer)
                batch = await self._commit(connection, batch)
            except psycopg.OperationalError as error:
                logger.warning("store: the database is away (%s); writes wait", error)
            if batch:
                if self._closing and self._gave_up_at_close():
                    away = RuntimeError("the database stayed away while the store closed")
                    for _, future in batch:
                        _settle(future, None, away)
                    return
                await asyncio.sleep(backoff)
                backoff = min(1.0, backoff * 2)

    def _gave_up_at_close(self) -> bool:
        self._close_retries += 1
        return self._close_retries > 20

    async def _commit(self, connection: _Connection, batch: list[_Pending]) -> list[_Pending]:
        """Commit what it can; returns the writes still to do when the database went away."""
        try:
            results = await self._run_together(connection, [write for write, _ in batch])
        except psycopg.OperationalError:
            return batch
        except Exception:
            # One write failed: redo them one per transaction, so it fails alone.
            for index, (write, future) in enumerate(batch):
                try:
                    async with connection.transaction():
                        result = await write(connection)
                except psycopg.OperationalError:
                    return batch[index:]
                except Exception as error:
                    _settle(future, None, error)
                else:
                    _settle(future, result, None)
            return []
        for (_, future), result in zip(batch, results, strict=True):
            if isinstance(result, _Refused):  # an admission refused (the rest committed)
                _settle(future, None, result.error)
            else:
                _settle(future, result, None)
        return []

    @staticmethod
    async def _run_together(connection: _Connection, writes: list[_Write]) -> list[object]:
        results: list[object] = []
        async with connection.transaction(), connection.pipeline():
            index, end = 0, len(writes)
            while index < end:
                write = writes[index]
                if isinstance(write, _Statement):
                    run = [write.parameters]
                    index += 1
                    while index < end:
                        following = writes[index]
                        if not isinstance(following, _Statement) or following.sql != write.sql:
                            break
                        run.append(following.parameters)
                        index += 1
                    async with connection.cursor() as cursor:
                        await cursor.executemany(write.sql, run)
                    results += [None] * len(run)
                elif isinstance(write, _AdmittedInsert):
                    admissions = [write]
                    index += 1
                    while index < end and isinstance(writes[index], _AdmittedInsert):
                        following_insert = writes[index]
                        assert isinstance(following_insert, _AdmittedInsert)
                        admissions.append(following_insert)
                        index += 1
                    results += await _admit_together(connection, admissions)
                else:
                    results.append(await write(connection))
                    index += 1
        return results

    # -- reads ------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def _reader(self) -> AsyncIterator[_Connection]:
        if self._readers is None:
            raise RuntimeError("store is not open")
        readers = self._readers
        connection = await readers.get()
        try:
            connection = await self._usable(connection, reader=True)
            yield connection
        finally:
            readers.put_nowait(connection)

    async def _new_reader(self) -> _Connection:
        """A reader whose queries are planned with their values every time: a prepared
        (generic) plan of listCalls walked the wrong index for selective filters (`from` +
        a rare cause: 0.25-0.5 s at 1M calls, against 17-74 ms planned with the values)."""
        options = pg_schema.connection_options(self.schema)
        reader = await psycopg.AsyncConnection.connect(self.url, **options)
        reader.prepare_threshold = None
        return reader

    async def _usable(self, connection: _Connection | None, *, reader: bool = False) -> _Connection:
        """The connection, or a new one if the old one broke (the database restarted, the
        network blipped): a node outlives its database's restarts."""
        if connection is not None and not connection.broken and not connection.closed:
            return connection
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()
        logger.warning("store: reconnecting to PostgreSQL")
        if reader:
            return await self._new_reader()
        return await psycopg.AsyncConnection.connect(
            self.url, **pg_schema.connection_options(self.schema)
        )

    async def _fetch(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        async with self._reader() as connection:
            cursor = await connection.execute(sql, parameters)
            return await cursor.fetchall()

    # -- what is kept fresh from the database ------------------------------------------------
    async def _refresh(self) -> None:
        rows = await self._fetch(
            "SELECT (SELECT value FROM meta WHERE key = 'provisioning_generation'), "
            "(SELECT count(*) FROM outbox WHERE status = 'pending')"
        )
        self._generation, self._pending_events = int(rows[0][0]), int(rows[0][1])

    async def _watch(self) -> None:
        """Listen for provisioning changes; refresh the generation and the pending count every
        second whatever happens (a lost listener connection is opened again)."""
        options = pg_schema.connection_options(self.schema)
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.url, **options) as listener:
                    await listener.execute(f"LISTEN {pg_schema.PROVISIONING_CHANNEL}")
                    while True:
                        async for _ in listener.notifies(timeout=_REFRESH_SECONDS, stop_after=1):
                            pass
                        await self._refresh()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the database restarted, the network blipped: retry
                logger.warning("store: watching provisioning changes failed (%s); retrying", error)
                await asyncio.sleep(_REFRESH_SECONDS)

    # -- provisioning -----------------------------------------------------------------------
    def provisioning_changed(self) -> bool:
        """Cheap: compares generations, no query (the watcher keeps `_generation` fresh)."""
        return self._generation != self._seen_generation

    async def load_provisioning(self) -> Snapshot:
        return await asyncio.to_thread(self._load_provisioning)

    def _load_provisioning(self) -> Snapshot:
        connection = pg_schema.connect(self.url, self.schema)
        try:
            with connection.raw.transaction():
                generation = provisioning_db.generation(connection)
                snapshot = provisioning_db.load_snapshot(connection)
        finally:
            connection.close()
        self._seen_generation = generation
        self._generation = max(self._generation, generation)
        return snapshot

    async def provision(self, change: Callable[[SqlConnection], Any]) -> None:
        """Run a provisioning change (functions of store/provisioning_db.py) in a transaction."""

        def run() -> int:
            connection = pg_schema.connect(self.url, self.schema)
            try:
                with connection.raw.transaction():
                    change(connection)
                return provisioning_db.generation(connection)
            finally:
                connection.close()

        generation = await asyncio.to_thread(run)
        self._generation = max(self._generation, generation)

    # -- calls ------------------------------------------------------------------------------
    def _fence(self, call_id: str) -> tuple[Any, ...]:
        return (call_id, self.node_id, self.epoch)

    async def insert_call(self, call: Call) -> None:
        values = (*call_row(call), self.node_id, self.epoch)
        limits = self.limits_for
        if limits is None or self.node_id is None or call.state != INITIATED:
            await self._write(_Statement(_INSERT_CALL, values))
            return
        # Inbound calls and a <Transfer>'s targets count against the same limits
        # (rateLimits.mdx: "inbound and outbound calls per second"; a transfer over them is
        # reported to transferCompleteUrl); they start now or not at all, never queued.
        await self._write(
            _AdmittedInsert(
                call.account_id,
                limits(call.account_id),
                values,
                queueable=call.direction == "outbound" and PARENT_CALL_ID not in call.extra,
            )
        )

    async def save_call(
        self,
        call: Call,
        timeline: Sequence[TimelineEntry] = (),
        event: OutboxEntry | None = None,
    ) -> int | None:
        call_id, _, state, _, start_time, _, _, cause, data, end_time, queue_wait = call_row(call)
        fence = self._fence(call_id)
        entry_rows = [(*row, *fence) for row in timeline_rows(call.call_id, timeline)]
        event_id = await self._event_id() if event is not None else None
        event_values = (event_id, *event_row(event), *fence) if event is not None else None
        owner = fence[1:]

        async def save(connection: _Connection) -> None:
            await connection.execute(
                _SAVE_CALL, (state, start_time, cause, data, end_time, queue_wait, call_id, *owner)
            )
            if entry_rows:
                async with connection.cursor() as cursor:
                    await cursor.executemany(_INSERT_TIMELINE, entry_rows)
            if event_values is not None:
                await connection.execute(_INSERT_EVENT, event_values)

        await self._write(save)
        if event_values is not None:
            self._pending_events += 1
        return event_id

    async def record_event(self, event: OutboxEntry) -> int:
        event_id = await self._event_id()
        await self._write(
            _Statement(_INSERT_EVENT, (event_id, *event_row(event), *self._fence(event.call_id)))
        )
        self._pending_events += 1
        return event_id

    async def _event_id(self) -> int:
        """An outbox id of this store's own: taken from the table's sequence a few hundred at a
        time (one round trip each), so each event's insert reads nothing back. Ids stay unique
        and grow on each node; across nodes they interleave, as ids of concurrent inserts do.
        (A fenced insert writes nothing: this node stops sending once its lease may have run
        out, nodes/registry.py, before another node can have taken the call.)"""
        if not self._event_ids:
            # Part of a write: it waits for the database as the writer does (see
            # _commit_until_done), so a call that owes an event is not left half-ended.
            backoff = 0.05
            while True:
                try:
                    rows = await self._fetch(
                        "SELECT nextval(pg_get_serial_sequence('outbox', 'id')) "
                        "FROM generate_series(1, %s)",
                        (_EVENT_IDS_AT_ONCE,),
                    )
                    break
                except psycopg.OperationalError:
                    if self._closing:
                        raise
                    await asyncio.sleep(backoff)
                    backoff = min(1.0, backoff * 2)
            if not self._event_ids:  # (another task may have filled it meanwhile)
                self._event_ids = sorted((int(row[0]) for row in rows), reverse=True)
        return self._event_ids.pop()

    async def finish_event(self, event_id: int, status: str, attempts: int) -> None:
        await self._write(
            _Statement(
                pyformat("UPDATE outbox SET status = ?, attempts = attempts + ? WHERE id = ?"),
                (status, attempts, event_id),
            )
        )
        self._pending_events = max(0, self._pending_events - 1)

    async def pending_events(self) -> list[OutboxEntry]:
        rows = await self._fetch(
            "SELECT id, call_id, event_type, data FROM outbox WHERE status = 'pending' ORDER BY id"
        )
        return [
            OutboxEntry.from_json(entry_id, call_id, event_type, orjson.loads(data))
            for entry_id, call_id, event_type, data in rows
        ]

    def pending_event_count(self) -> int:
        return self._pending_events

    async def event_statuses(self, call_id: str) -> list[tuple[str, str, int]]:
        rows = await self._fetch(
            pyformat(
                "SELECT event_type, status, attempts FROM outbox WHERE call_id = ? ORDER BY id"
            ),
            (call_id,),
        )
        return [(str(kind), str(status), int(attempts)) for kind, status, attempts in rows]

    async def list_calls(
        self,
        account_id: str,
        call_filter: CallFilter,
        limit: int,
        after: PageCursor | None,
        retained_since: str,
    ) -> list[dict[str, Any]]:
        sql, parameters = await self.list_calls_query(
            account_id, call_filter, limit, after, retained_since
        )
        rows = await self._fetch(pyformat(sql), parameters)
        loads = orjson.loads
        return [loads(data) for (data,) in rows]

    async def list_calls_query(
        self,
        account_id: str,
        call_filter: CallFilter,
        limit: int,
        after: PageCursor | None,
        retained_since: str,
    ) -> tuple[str, list[Any]]:
        """The SELECT `list_calls` runs (`?` placeholders) and its parameters."""
        earliest = None
        if call_filter.min_start_time is not None and after is None:
            # The window's lower bound as a value, not a subquery: the planner then sees how
            # narrow it is (with the subquery it scanned and sorted every call: ~0.8 s at 1M).
            rows = await self._fetch(
                "SELECT coalesce(max(queue_wait), 0) FROM calls "
                "WHERE account_id = %s AND queue_wait > 0",
                (account_id,),
            )
            wait = timedelta(seconds=int(rows[0][0]) + 2)
            earliest = format_time(parse_time(call_filter.min_start_time) - wait)
        return call_queries.list_calls_sql(
            account_id,
            call_filter,
            limit,
            after,
            retained_since,
            dialect="postgres",
            earliest_enqueued=earliest,
        )

    async def purge_calls(self, ended_before: str) -> int:
        """Delete calls (and timelines) that ended before `ended_before`; returns how many."""
        purge_sql = pyformat(
            "WITH doomed AS (SELECT call_id FROM calls WHERE end_time IS NOT NULL "
            "AND end_time < ? LIMIT 5000), "
            "timelines AS (DELETE FROM call_timeline "
            "WHERE call_id IN (SELECT call_id FROM doomed)) "
            "DELETE FROM calls WHERE call_id IN (SELECT call_id FROM doomed) RETURNING 1"
        )

        async def purge(connection: _Connection) -> int:
            # Counted from RETURNING: in pipeline mode rowcount is not known yet.
            cursor = await connection.execute(purge_sql, (ended_before,))
            return len(await cursor.fetchall())

        total = 0
        while True:
            purged = await self._write(purge)
            assert isinstance(purged, int)
            total += purged
            if purged == 0:
                return total

    async def get_call(self, call_id: str) -> Call | None:
        rows = await self._fetch("SELECT data FROM calls WHERE call_id = %s", (call_id,))
        return Call.from_row(orjson.loads(rows[0][0])) if rows else None

    async def calls_in_states(self, states: Sequence[str]) -> list[Call]:
        rows = await self._fetch(
            "SELECT data FROM calls WHERE state = ANY(%s) ORDER BY enqueued_time", (list(states),)
        )
        return [Call.from_row(orjson.loads(data)) for (data,) in rows]

    # -- many nodes (nodes/registry.py) ------------------------------------------------------
    async def register_node(self, node_id: str, address: str, lease_seconds: float) -> int:
        """Join as `node_id` with a new epoch (a node that restarts fences its former self)."""
        rows = await self._fetch(
            "INSERT INTO nodes (node_id, epoch, address, state, lease_until) "
            "VALUES (%s, 1, %s, 'live', now() + make_interval(secs => %s)) "
            "ON CONFLICT (node_id) DO UPDATE SET epoch = nodes.epoch + 1, "
            "address = excluded.address, state = 'live', lease_until = excluded.lease_until "
            "RETURNING epoch",
            (node_id, address, lease_seconds),
        )
        self.node_id, self.epoch = node_id, int(rows[0][0])
        return self.epoch

    async def differing_keys(self, fingerprints: dict[str, str]) -> list[str]:
        """The names of keys whose fingerprint differs from the one the first node recorded
        (each recorded by whichever node came first)."""
        async with self._reader() as connection, connection.transaction():
            differing = []
            for name, fingerprint in sorted(fingerprints.items()):
                await connection.execute(
                    "INSERT INTO shared_keys (name, fingerprint) VALUES (%s, %s) "
                    "ON CONFLICT (name) DO NOTHING",
                    (name, fingerprint),
                )
                cursor = await connection.execute(
                    "SELECT fingerprint FROM shared_keys WHERE name = %s", (name,)
                )
                row = await cursor.fetchone()
                if row is None or row[0] != fingerprint:
                    differing.append(name)
        return differing

    async def heartbeat(self, lease_seconds: float, state: str = "live") -> Heartbeat:
        """Renew this node's lease (not renewed: it was lost, another node took over), and
        say in how many seconds the soonest lease of another node ends (the database's clock),
        so that the node can adopt its calls then rather than at its next heartbeat."""
        rows = await self._fetch(
            "UPDATE nodes SET lease_until = now() + make_interval(secs => %s), state = %s "
            f"WHERE node_id = %s AND epoch = %s RETURNING ({_SOONEST_OTHER_LEASE_END})",
            (lease_seconds, state, self.node_id, self.epoch, self.node_id),
        )
        if not rows:
            return Heartbeat(renewed=False, others_expire_in=None)
        return Heartbeat(renewed=True, others_expire_in=rows[0][0])

    async def next_lease_end(self) -> float | None:
        """In how many seconds the soonest running lease of another node ends (the database's
        clock); None when no other node holds one."""
        rows = await self._fetch(_SOONEST_OTHER_LEASE_END, (self.node_id,))
        return None if not rows or rows[0][0] is None else float(rows[0][0])

    async def leave(self) -> None:
        """Stopping for good: the lease ends now, so another node adopts at once what is left
        (queued calls stay queued while a node drains; they are not lost when it goes)."""
        await self._fetch(
            "UPDATE nodes SET state = 'dead', epoch = epoch + 1, lease_until = now() "
            "WHERE node_id = %s AND epoch = %s RETURNING 1",
            (self.node_id, self.epoch),
        )

    async def adopt_calls(self, states: Sequence[str]) -> tuple[list[Call], list[OutboxEntry]]:
        """Calls in `states`, and calls with events still pending, that belonged to this node's
        earlier epochs or to a node whose lease ran out: each becomes this node's (in one
        transaction, rows locked SKIP LOCKED, so two survivors never adopt the same call)."""
        if self.node_id is None:
            return await self.calls_in_states(states), await self.pending_events()
        async with self._reader() as connection, connection.transaction():
            await connection.execute(
                "UPDATE nodes SET state = 'dead', epoch = epoch + 1 "
                "WHERE state != 'dead' AND lease_until < now() AND node_id != %s",
                (self.node_id,),
            )
            cursor = await connection.execute(
                "WITH gone AS "
                "(SELECT node_id FROM nodes WHERE state = 'dead' OR node_id = %(me)s), "
                "orphans AS ("
                " SELECT call_id FROM calls WHERE state != 'disconnected' "
                " AND owner_node IN (SELECT node_id FROM gone) "
                " AND (owner_node, owner_epoch) IS DISTINCT FROM (%(me)s, %(epoch)s) "
                " UNION SELECT o.call_id FROM outbox o JOIN calls c USING (call_id) "
                " WHERE o.status = 'pending' AND c.owner_node IN (SELECT node_id FROM gone) "
                " AND (c.owner_node, c.owner_epoch) IS DISTINCT FROM (%(me)s, %(epoch)s)), "
                "locked AS (SELECT call_id FROM calls "
                " WHERE call_id IN (SELECT call_id FROM orphans) FOR UPDATE SKIP LOCKED) "
                "UPDATE calls SET owner_node = %(me)s, owner_epoch = %(epoch)s FROM locked "
                "WHERE calls.call_id = locked.call_id RETURNING calls.state, calls.data",
                {"me": self.node_id, "epoch": self.epoch},
            )
            adopted = [(state, orjson.loads(data)) for state, data in await cursor.fetchall()]
            wanted = set(states)
            calls = [Call.from_row(row) for state, row in adopted if state in wanted]
            calls.sort(key=lambda call: call.enqueued_time)
            ids = [row["call_id"] for _, row in adopted]
            cursor = await connection.execute(
                "SELECT id, call_id, event_type, data FROM outbox "
                "WHERE status = 'pending' AND call_id = ANY(%s) ORDER BY id",
                (ids,),
            )
            events = [
                OutboxEntry.from_json(entry_id, call_id, event_type, orjson.loads(data))
                for entry_id, call_id, event_type, data in await cursor.fetchall()
            ]
        return calls, events

    async def take_queued_turn(
        self, account_id: str, limits: LimitSettings, local_ids: Sequence[str]
    ) -> tuple[Call | None, list[str], float]:
        """This node's turn to place one of the account's queued calls, on several nodes: the
        outbound queue drains in priority order (1 first, then the oldest) across every node,
        under the account's shared limits (see `_AdmittedInsert`).

        Returns the call to place now (the best queued call of the account on any node, now
        this node's; None when the limits say wait, or none is queued), the calls of
        `local_ids` (this node's queue) that are no longer queued here (another node took
        them, or they ended), and how many seconds until the shared rate allows one more."""
        async with self._reader() as connection, connection.transaction():
            admission = await _ask_admission(connection, account_id, limits)
            cursor = await connection.execute(
                "SELECT c FROM unnest(%s::text[]) AS c WHERE NOT EXISTS (SELECT 1 FROM calls "
                "WHERE call_id = c AND state = 'queued' AND owner_node = %s)",
                (list(local_ids), self.node_id),
            )
            stale = [str(row[0]) for row in await cursor.fetchall()]
            row = await admission.fetchone()
            assert row is not None
            live, tokens = int(row[0]), float(row[1])
            if live >= limits.concurrent_calls:
                return None, stale, 1.0
            if tokens < 1.0:
                return None, stale, (1.0 - tokens) / limits.calls_per_second
            cursor = await connection.execute(
                "SELECT call_id, data FROM calls WHERE account_id = %s AND state = 'queued' "
                "ORDER BY (data::json->'request'->>'priority')::int, enqueued_time, call_id "
                "LIMIT 1 FOR UPDATE SKIP LOCKED",
                (account_id,),
            )
            best = await cursor.fetchone()
            if best is None:
                return None, stale, 0.0
            await connection.execute(
                "UPDATE calls SET owner_node = %s, owner_epoch = %s WHERE call_id = %s",
                (self.node_id, self.epoch, best[0]),
            )
            await connection.execute(_TAKE_TOKEN, {"account": account_id, "tokens": tokens - 1})
        return Call.from_row(orjson.loads(best[1])), stale, 0.0

    async def queued_call_count(self, account_id: str) -> int:
        """The account's queued calls on every node (getCallStatistics on several nodes)."""
        rows = await self._fetch(
            "SELECT count(*) FROM calls WHERE account_id = %s AND state = 'queued'", (account_id,)
        )
        return int(rows[0][0])

    async def owner_address(self, call_id: str) -> str | None:
        """The address of the live node, other than this one, that runs `call_id`."""
        rows = await self._fetch(
            "SELECT n.address FROM calls c JOIN nodes n ON n.node_id = c.owner_node "
            "WHERE c.call_id = %s AND c.state != 'disconnected' AND n.state != 'dead' "
            "AND n.lease_until > now() AND c.owner_node IS DISTINCT FROM %s",
            (call_id, self.node_id),
        )
        return str(rows[0][0]) if rows else None

    async def append_timeline(self, call_id: str, entries: Sequence[TimelineEntry]) -> None:
        fence = self._fence(call_id)
        entry_rows = [(*row, *fence) for row in timeline_rows(call_id, entries)]

        async def append(connection: _Connection) -> None:
            async with connection.cursor() as cursor:
                await cursor.executemany(_INSERT_TIMELINE, entry_rows)

        await self._write(append)

    async def last_timeline_sequence(self, call_id: str) -> int:
        rows = await self._fetch(
            "SELECT max(sequence) FROM call_timeline WHERE call_id = %s", (call_id,)
        )
        return int(rows[0][0] or 0)

    async def timeline(self, call_id: str, after: int = 0, limit: int = -1) -> list[TimelineEntry]:
        rows = await self._fetch(
            "SELECT sequence, at, kind, data FROM call_timeline WHERE call_id = %s "
            "AND sequence > %s ORDER BY sequence LIMIT %s",
            (call_id, after, None if limit < 0 else limit),
        )
        return [
            TimelineEntry(int(sequence), at, kind, orjson.loads(data))
            for sequence, at, kind, data in rows
        ]

    # -- recordings -------------------------------------------------------------------------
    async def save_recording(self, recording: Recording) -> None:
        await self._write(_Statement(_SAVE_RECORDING, recording_row(recording)))

    async def get_recording(self, recording_id: str) -> Recording | None:
        rows = await self._fetch(
            "SELECT data FROM recordings WHERE recording_id = %s", (recording_id,)
        )
        return Recording.from_row(orjson.loads(rows[0][0])) if rows else None

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
        clauses = ["account_id = %s"]
        parameters: list[Any] = [account_id]
        for clause, value in (
            ("call_id = %s", call_id),
            ("start_time >= %s", min_start_time),
            ("start_time <= %s", max_start_time),
            ("data::json->>'to' = %s", to),
            ("data::json->>'from' = %s", from_),
        ):
            if value is not None:
                clauses.append(clause)
                parameters.append(value)
        parameters.append(limit)
        rows = await self._fetch(
            "SELECT data FROM recordings WHERE "
            + " AND ".join(clauses)
            + " ORDER BY start_time, recording_id LIMIT %s",
            parameters,
        )
        return [Recording.from_row(orjson.loads(data)) for (data,) in rows]

    async def delete_recording(self, recording_id: str) -> bool:
        async def delete(connection: _Connection) -> int:
            cursor = await connection.execute(
                "DELETE FROM recordings WHERE recording_id = %s RETURNING 1", (recording_id,)
            )
            return len(await cursor.fetchall())

        return bool(await self._write(delete))

    async def recordings_in_status(self, status: str) -> list[Recording]:
        rows = await self._fetch(
            "SELECT data FROM recordings WHERE status = %s ORDER BY start_time", (status,)
        )
        return [Recording.from_row(orjson.loads(data)) for (data,) in rows]

    async def recordings_ended_before(self, cutoff: str, limit: int = 500) -> list[Recording]:
        rows = await self._fetch(
            "SELECT data FROM recordings WHERE coalesce(end_time, start_time) < %s "
            "AND status != 'processing' ORDER BY coalesce(end_time, start_time) LIMIT %s",
            (cutoff, limit),
        )
        return [Recording.from_row(orjson.loads(data)) for (data,) in rows]


def _settle(future: asyncio.Future[object], result: object, error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)
