"""listCalls and getCall with 1,000,000 calls stored (issue 4), on SQLite or PostgreSQL (issue 18).

    .venv/bin/python bench/list_calls.py [--calls 1000000] [--requests 50] [--store postgres]
    (or: make bench-list)

1. Fills a temporary SQLite database with --calls ended calls, written directly (not through
   the API) but in exactly the store's shape: the schema from switchboard.store.schema.migrate,
   each row from `Call.to_row` through the store's own row builder (switchboard.store.sqlite's
   `call_row`, the one `insert_call` and `save_call` use, end_time and queue_wait included),
   inserted with executemany. The calls are spread over 4 accounts (half of them in the
   measured one), 20,000 `to` numbers, 10 `from` numbers per account, start times over the
   last 6 days (inside the 7-day retention) and Bandwidth's disconnect causes (hangup 85%, busy 5%,
   timeout 4%, cancel, rejected 2% each, callback-error, error 1% each).
2. Starts `switchboard serve --config <temp> --port <free>` on it, pinned to --server-cpu; the
   client (this process, http.client on one keep-alive connection, one request at a time)
   runs on --client-cpu.
3. For each query: GET /api/v2/accounts/{a}/calls with pageSize=1000 (first page; a deep page
   through pageToken; each filter, open-ended start-time windows of an hour, 3 days and a week,
   `from` with a rare cause, and filters that match nothing) and GET one call, --requests
   times each (less if one query takes more than --budget seconds): latency p50/p99, rows, body
   size; and the SQL alone (the store's `list_call_rows`, in this process on its own read
   connection). Queries over 50 ms at p99 are listed with their EXPLAIN QUERY PLAN.
Every process is stopped by its PID, also on error or Ctrl-C; the temp dir is removed.

With --store postgres the same run on PostgreSQL 15: a throwaway cluster started by
`scripts/postgres.sh start DIR` in a temporary directory (pinned to --server-cpu, with the
server: the server side gets one core whichever database it uses), filled in the store's shape
(the schema from switchboard.store.pg_schema.migrate, the same `call_row` tuples, by COPY in
chunks, then VACUUM ANALYZE and CHECKPOINT, as autovacuum would have left a table that old),
the server given `[store] url`; "SQL 1st" and "SQL ms" the store's own `PostgresStore.list_calls`
in this process (on one reader connection: its runs 1-3, and 11-15, which psycopg has prepared
and PostgreSQL may plan generically, as the server's long-lived readers do), slow queries shown
with both plans (EXPLAIN ANALYZE with the values, and generic), and the cluster's CPU during
each query in the "db" column. The cluster is stopped by
the same script (also on SIGKILL of this process: a watchdog holds the stop) and its directory
removed (kept with --keep).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import os
import random
import re
import secrets
import sqlite3
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlencode

from psycopg.sql import Literal as sql_literal

from common import (
    ACCOUNT_ID,
    APPLICATION_ID,
    FROM_NUMBER,
    HOST,
    USERNAME,
    BenchError,
    CpuMeter,
    CpuShare,
    Processes,
    Server,
    add_run_arguments,
    basic_auth,
    bench_main,
    options_from,
    percentile,
    progress,
    read_rows,
    start_switchboard,
    verdict,
    write_config,
)
from switchboard.calls.create_request import parse_create_call
from switchboard.calls.ids import format_time, new_call_id
from switchboard.calls.listing import PageCursor, parse_list_query
from switchboard.calls.model import DISCONNECTED, Call
from switchboard.store import call_queries, pg_schema, schema
from switchboard.store.postgres import PostgresStore
from switchboard.store.rows import call_row
from switchboard.store.sql import pyformat
from switchboard.store.sqlite import _INSERT_CALL

TARGET_MS = 50.0
PAGE_SIZE = 1000
RETENTION_DAYS = 7.0
SPAN_DAYS = 6.0
OTHER_ACCOUNTS = ("9900002", "9900003", "9900004")
FROM_NUMBERS = 10  # per account
TO_NUMBERS = 20_000
NO_SUCH_NUMBER = "+19999999999"
CAUSES = (
    ("hangup", 85),
    ("busy", 5),
    ("timeout", 4),
    ("cancel", 2),
    ("rejected", 2),
    ("callback-error", 1),
    ("error", 1),
)
CHUNK = 20_000
# `call_row`'s columns, in its order (the stores' call INSERTs).
CALL_COLUMNS = (
    "call_id, account_id, state, enqueued_time, start_time, to_number, from_number, "
    "disconnect_cause, data, end_time, queue_wait"
)


@dataclass(frozen=True, slots=True)
class Options:
    calls: int
    requests: int
    budget: float
    server_cpu: int
    client_cpu: int
    keep: bool
    check: bool
    store: str


@dataclass(frozen=True, slots=True)
class Query:
    name: str
    path: str
    params: dict[str, str]
    listing: bool = True


@dataclass(frozen=True, slots=True)
class Measured:
    query: Query
    latencies_ms: list[float]
    rows: int
    body_kb: float
    sql_ms: float  # the listing's query alone, median of a few runs (0 for getCall)
    plan: list[str]
    cpu: CpuShare
    sql_first_ms: float = 0.0  # PostgreSQL: its first runs (planned with their values)

    @property
    def db_cores(self) -> float:
        """The PostgreSQL cluster's CPU during the requests (0 on SQLite: in the server)."""
        return self.cpu.by_process.get("db", 0.0)

    @property
    def p50(self) -> float:
        return percentile(self.latencies_ms, 0.50)

    @property
    def p99(self) -> float:
        return percentile(self.latencies_ms, 0.99)

    @property
    def slow(self) -> bool:
        return self.p99 > TARGET_MS


@dataclass(frozen=True, slots=True)
class Result:
    options: Options
    stored: int
    account_calls: int
    fill_s: float
    database_mb: float
    measured: list[Measured]
    store: str  # what the database was, for the report


# -- filling the database -------------------------------------------------------------------
def numbers_of(account_index: int) -> list[str]:
    return [f"+1555{account_index:03d}{n:04d}" for n in range(FROM_NUMBERS)]


def fill(database: Path, calls: int, now: datetime) -> None:
    """Write `calls` ended calls in the store's shape, oldest first."""
    connection = schema.connect(str(database))
    schema.migrate(connection)
    connection.execute("PRAGMA cache_size=-262144")  # 256 MB while filling
    connection.execute("PRAGMA synchronous=OFF")
    for rows in call_rows(calls, now):
        _insert(connection, rows)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.execute("ANALYZE")
    connection.close()


def fill_postgres(url: str, calls: int, now: datetime) -> None:
    """The same calls, in the PostgreSQL store's shape (its schema, the same rows), by COPY."""
    connection = pg_schema.connect(url)
    try:
        pg_schema.migrate(connection)
        raw = connection.raw
        for rows in call_rows(calls, now):
            with (
                raw.cursor() as cursor,
                cursor.copy(f"COPY calls ({CALL_COLUMNS}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
        # What autovacuum does to a table this old: statistics, and the visibility map.
        raw.execute("VACUUM ANALYZE calls")
        raw.execute("CHECKPOINT")
    finally:
        connection.close()


def call_rows(calls: int, now: datetime) -> Iterator[list[tuple[Any, ...]]]:
    """`calls` ended calls as the stores' row tuples, oldest first, in chunks of CHUNK."""
    accounts = [ACCOUNT_ID, *OTHER_ACCOUNTS]
    weights = [3, 1, 1, 1]  # half of the calls in the measured account
    templates = {
        account: [
            parse_create_call(
                {
                    "from": FROM_NUMBER if (index == 0 and n == 0) else number,
                    "to": "+15555551313",
                    "answerUrl": "https://app.example.com/answer",
                    "disconnectUrl": "https://app.example.com/disconnect",
                    "applicationId": APPLICATION_ID,
                }
            )
            for n, number in enumerate(numbers_of(index))
        ]
        for index, account in enumerate(accounts)
    }
    to_numbers = [f"+1777{n:07d}" for n in range(TO_NUMBERS)]
    causes = [cause for cause, _ in CAUSES]
    cause_weights = [weight for _, weight in CAUSES]
    rng = random.Random(4)
    oldest = now - timedelta(days=SPAN_DAYS)
    step = SPAN_DAYS * 86400 / calls
    rows: list[tuple[Any, ...]] = []
    for index in range(calls):
        account = rng.choices(accounts, weights)[0]
        request = replace(rng.choice(templates[account]), to=to_numbers[rng.randrange(TO_NUMBERS)])
        cause = rng.choices(causes, cause_weights)[0]
        enqueued = oldest + timedelta(seconds=index * step)
        started = enqueued + timedelta(milliseconds=rng.randrange(50, 900))
        answered = started + timedelta(seconds=rng.uniform(1, 10)) if cause == "hangup" else None
        ended = (answered or started) + timedelta(seconds=rng.uniform(1, 300))
        call_id = new_call_id()
        call = Call(
            call_id=call_id,
            account_id=account,
            request=request,
            call_url=f"https://voice.example.com/api/v2/accounts/{account}/calls/{call_id}",
            enqueued_time=enqueued,
            state=DISCONNECTED,
            start_time=started,
            answer_time=answered,
            end_time=ended,
            disconnect_cause=cause,
            error_message="Callee is busy" if cause == "busy" else None,
            last_update=ended,
        )
        rows.append(call_row(call))
        if len(rows) >= CHUNK:
            yield rows
            rows = []
    if rows:
        yield rows


def _insert(connection: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    connection.execute("BEGIN")
    connection.executemany(_INSERT_CALL, rows)
    connection.execute("COMMIT")


# -- the database, either kind --------------------------------------------------------------
class Database:
    """The filled database as the benchmark reads it (not through the server)."""

    name = ""

    def rows(self, sql: str, parameters: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """`sql` with `?` placeholders."""
        raise NotImplementedError

    def hint(self, index: str) -> str:
        """An index to read by, where the database takes hints."""
        return ""

    def size_mb(self) -> float:
        raise NotImplementedError

    def cpu_seconds(self) -> float:
        """CPU used so far by the database's own processes (none on SQLite: in the server)."""
        return 0.0

    def sql_alone(self, query: Query, now: datetime) -> tuple[float, float, list[str]]:
        """The listing's query alone: ms of its first runs, ms of later runs, its plan."""
        raise NotImplementedError


class SqliteDatabase(Database):
    name = "SQLite"

    def __init__(self, path: Path) -> None:
        self.path = path

    def rows(self, sql: str, parameters: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        return read_rows(self.path, sql, parameters)

    def hint(self, index: str) -> str:
        return f" INDEXED BY {index}"

    def size_mb(self) -> float:
        return self.path.stat().st_size / 1e6

    def sql_alone(self, query: Query, now: datetime) -> tuple[float, float, list[str]]:
        ms, plan = sql_alone(self.path, query, now)
        return ms, ms, plan


class PostgresDatabase(Database):
    name = "PostgreSQL 15"

    def __init__(self, url: str, postmaster: int) -> None:
        self.url = url
        self.postmaster = postmaster
        self._loop = asyncio.new_event_loop()
        self._store: PostgresStore | None = None

    def _connect(self) -> Any:
        import psycopg

        return psycopg.connect(self.url, autocommit=True)

    def rows(self, sql: str, parameters: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        with self._connect() as connection:
            return list(connection.execute(pyformat(sql), tuple(parameters)).fetchall())

    def size_mb(self) -> float:
        ((size,),) = self.rows("SELECT pg_database_size(current_database())")
        return int(size) / 1e6

    def cpu_seconds(self) -> float:
        """The postmaster's CPU, its reaped children's (backends that ended) and its live
        ones'. A child reaped while /proc is read would be missed or counted twice: the
        postmaster is read before and after its children, again until none was reaped in
        between (its cutime did not move), as bench/pg_drivers.py does."""
        ticks = os.sysconf("SC_CLK_TCK")
        while True:
            before = _stat(self.postmaster)
            children = 0
            for entry in os.scandir("/proc"):
                if not entry.name.isdigit() or int(entry.name) == self.postmaster:
                    continue
                try:
                    fields = _stat(entry.name)
                except OSError:
                    continue  # ended: reaped by the postmaster if it was a backend
                if int(fields[1]) == self.postmaster:
                    children += int(fields[11]) + int(fields[12])
            after = _stat(self.postmaster)
            if after[13:15] == before[13:15]:
                return (sum(int(value) for value in after[11:15]) + children) / ticks

    def store(self) -> PostgresStore:
        """The PostgreSQL store itself, open in this process on one reader connection (so
        that a few runs of a query reach what the server's long-lived readers run)."""
        if self._store is None:
            self._store = PostgresStore(self.url, readers=1)
            self._loop.run_until_complete(self._store.open())
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._loop.run_until_complete(self._store.close())
            self._store = None
        self._loop.close()

    def sql_alone(self, query: Query, now: datetime) -> tuple[float, float, list[str]]:
        """The store's own `list_calls` for a listing, timed alone: the median of runs 1-3
        and of runs 11-15. psycopg prepares a statement on its 6th run on a connection, and
        PostgreSQL may plan a prepared statement generically (without the values) from its
        6th: the server's readers run the later plan. Then the query's plans with its values
        (EXPLAIN ANALYZE, BUFFERS) and generic (EXPLAIN EXECUTE under force_generic_plan)."""
        parsed = parse_list_query(query.params)
        retained_since = format_time(now - timedelta(days=RETENTION_DAYS))
        # As the route asks: one more than the page, to know of a next page.
        arguments = (ACCOUNT_ID, parsed.filter, parsed.page_size + 1, parsed.after)
        store = self.store()
        timings = []
        for _ in range(15):
            started = time.perf_counter()
            self._loop.run_until_complete(store.list_calls(*arguments, retained_since))
            timings.append((time.perf_counter() - started) * 1000)
        sql, parameters = self._loop.run_until_complete(
            store.list_calls_query(*arguments, retained_since)
        )
        with self._connect() as connection:
            explained = connection.execute(
                "EXPLAIN (ANALYZE, BUFFERS) " + pyformat(sql), parameters
            )
            plan = [pyformat(sql), "with its values:"]
            plan += [f"  {line}" for (line,) in explained.fetchall()]
            numbered = iter(range(1, len(parameters) + 1))
            prepared = re.sub(r"\?", lambda _: f"${next(numbered)}", sql)
            connection.execute("SET plan_cache_mode = force_generic_plan")
            connection.execute("PREPARE listing AS " + prepared)
            values = ", ".join(sql_literal(value).as_string(connection) for value in parameters)
            explained = connection.execute(f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE listing({values})")
            plan += ["generic:", *(f"  {line}" for (line,) in explained.fetchall())]
        return statistics.median(timings[:3]), statistics.median(timings[-5:]), plan


def _stat(pid: int | str) -> list[str]:
    """/proc/PID/stat after the name: state [0], ppid [1], utime [11], stime [12], cutime
    [13], cstime [14]."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


@contextmanager
def postgres_cluster(cpu: int, keep: bool) -> Iterator[PostgresDatabase]:
    """A throwaway cluster (bench/pg_drivers.py), pinned to `cpu`; stopped at the end."""
    from pg_drivers import throwaway_cluster  # (asyncpg and psycopg: only for this store)

    with throwaway_cluster("list", cpu, keep=keep) as cluster:
        database = PostgresDatabase(cluster.url, cluster.postmaster)
        try:
            yield database
        finally:
            database.close()


# -- the queries ----------------------------------------------------------------------------
def queries(database: Database, now: datetime) -> list[Query]:
    """What to ask for, with values taken from the filled database."""
    ((account_calls,),) = database.rows(
        "SELECT count(*) FROM calls WHERE account_id = ?", (ACCOUNT_ID,)
    )
    deep = account_calls * 4 // 5
    ((enqueued_time, call_id),) = database.rows(
        f"SELECT enqueued_time, call_id FROM calls{database.hint('calls_by_account_time')} "
        "WHERE account_id = ? ORDER BY enqueued_time, call_id LIMIT 1 OFFSET ?",
        (ACCOUNT_ID, deep),
    )
    ((to_number,),) = database.rows(
        "SELECT to_number FROM calls WHERE account_id = ? LIMIT 1", (ACCOUNT_ID,)
    )
    ((one_call,),) = database.rows(
        "SELECT call_id FROM calls WHERE account_id = ? LIMIT 1 OFFSET ?",
        (ACCOUNT_ID, account_calls // 2),
    )
    middle = now - timedelta(days=SPAN_DAYS / 2)
    hour = timedelta(hours=1)
    calls = f"/api/v2/accounts/{ACCOUNT_ID}/calls"
    token = PageCursor(enqueued_time, call_id).token()
    size = {"pageSize": str(PAGE_SIZE)}
    return [
        Query("first page", calls, size),
        Query(f"deep page (after call {deep:,})", calls, {**size, "pageToken": token}),
        Query("to (a number with calls)", calls, {**size, "to": to_number}),
        Query("to (no such calls)", calls, {**size, "to": NO_SUCH_NUMBER}),
        Query("from (1 of 10 numbers)", calls, {**size, "from": numbers_of(0)[1]}),
        Query(
            "min+maxStartTime (1 h, mid)",
            calls,
            {**size, "minStartTime": _iso(middle), "maxStartTime": _iso(middle + hour)},
        ),
        Query("minStartTime (last hour)", calls, {**size, "minStartTime": _iso(now - hour)}),
        Query("minStartTime (last 3 days)", calls, {**size, "minStartTime": _iso(middle)}),
        Query(
            "minStartTime (a week: every call)",
            calls,
            {**size, "minStartTime": _iso(now - timedelta(days=RETENTION_DAYS))},
        ),
        Query("maxStartTime (first hour)", calls, {**size, "maxStartTime": _iso(now - hour * 143)}),
        Query("disconnectCause=busy", calls, {**size, "disconnectCause": "busy"}),
        Query(
            "from + disconnectCause=error",
            calls,
            {**size, "from": numbers_of(0)[1], "disconnectCause": "error"},
        ),
        Query(
            "disconnectCause (no such calls)",
            calls,
            {**size, "disconnectCause": "application-error"},
        ),
        Query("getCall", f"{calls}/{one_call}", {}, listing=False),
    ]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Recording:
    """A connection stand-in that remembers the SQL `list_call_rows` runs."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection
        self.statements: list[tuple[str, list[Any]]] = []

    def execute(self, sql: str, parameters: list[Any]) -> sqlite3.Cursor:
        self.statements.append((sql, list(parameters)))
        return self.connection.execute(sql, parameters)


def sql_alone(database: Path, query: Query, now: datetime) -> tuple[float, list[str]]:
    """The store's own query for a listing, timed alone (median of 3), and its query plan."""
    parsed = parse_list_query(query.params)
    retained_since = format_time(now - timedelta(days=RETENTION_DAYS))
    connection = schema.connect(str(database))
    recording = _Recording(connection)
    try:
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            call_queries.list_call_rows(
                cast(sqlite3.Connection, recording),
                ACCOUNT_ID,
                parsed.filter,
                parsed.page_size + 1,  # as the route asks: one more, to know of a next page
                parsed.after,
                retained_since,
            )
            timings.append((time.perf_counter() - started) * 1000)
        sql, parameters = recording.statements[0]
        plan = [
            f"{sql}",
            *(f"  {row[3]}" for row in connection.execute("EXPLAIN QUERY PLAN " + sql, parameters)),
        ]
        return sorted(timings)[1], plan
    finally:
        connection.close()


def measure(
    server: Server, headers: dict[str, str], query: Query, options: Options, database: Database
) -> tuple[list[float], int, float, CpuShare]:
    url = query.path + ("?" + urlencode(query.params) if query.params else "")
    connection = http.client.HTTPConnection(HOST, server.port, timeout=120)
    latencies: list[float] = []
    rows = 0
    size = 0
    meter = CpuMeter({"server": server.process.pid})
    database_cpu = database.cpu_seconds()
    deadline = time.monotonic() + options.budget
    try:
        for _ in range(options.requests):
            started = time.perf_counter()
            connection.request("GET", url, headers=headers)
            response = connection.getresponse()
            body = response.read()
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status != 200:
                raise BenchError(f"GET {url} answered {response.status}: {body[:300]!r}")
            size = len(body)
            if time.monotonic() > deadline:
                break
        rows = body.count(b'"callId"') if query.listing else 1
    finally:
        connection.close()
    cpu = meter.stop()
    # The database's CPU is ours, not another's: out of "other", into "db".
    db = (database.cpu_seconds() - database_cpu) / cpu.seconds
    share = CpuShare(cpu.seconds, {**cpu.by_process, "db": db}, max(0.0, cpu.other - db))
    return latencies, rows, size / 1024, share


def check_link(server: Server, headers: dict[str, str]) -> None:
    """The first page's Link header leads to the second page (the tokens work)."""
    connection = http.client.HTTPConnection(HOST, server.port, timeout=60)
    try:
        path = f"/api/v2/accounts/{ACCOUNT_ID}/calls?pageSize=10"
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        link = response.getheader("Link") or ""
        if response.status != 200 or 'rel="next"' not in link:
            raise BenchError(f"GET {path}: status {response.status}, Link {link!r}")
        next_url = link.split(">", 1)[0].lstrip("<")
        next_path = next_url[next_url.index("/api/") :]
        connection.request("GET", next_path, headers=headers)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise BenchError(f"GET {next_path} answered {response.status}")
    finally:
        connection.close()


def run(options: Options, processes: Processes, work: Path) -> Result:
    if options.store == "sqlite":
        database = work / "data" / "switchboard.db"
        database.parent.mkdir(parents=True)
        return run_on(options, processes, work, SqliteDatabase(database))
    with postgres_cluster(options.server_cpu, options.keep) as cluster:
        try:
            return run_on(options, processes, work, cluster)
        finally:
            processes.stop_all()  # the server first: its connections end before the cluster


def run_on(options: Options, processes: Processes, work: Path, database: Database) -> Result:
    os.sched_setaffinity(0, {options.client_cpu})
    password = secrets.token_hex(16)
    extra_accounts = "".join(
        f'\n[[accounts]]\nid = "{account}"\nname = "Other {index}"\n'
        f"numbers = [{', '.join(f'{chr(34)}{n}{chr(34)}' for n in numbers_of(index))}]\n"
        for index, account in enumerate(OTHER_ACCOUNTS, start=1)
    )
    numbers = ", ".join(f'"{n}"' for n in numbers_of(0)[1:])
    store = f'[store]\nurl = "{database.url}"\n' if isinstance(database, PostgresDatabase) else ""
    config = write_config(
        work,
        password,
        limits="  calls_per_second = 1000\n  concurrent_calls = 100000",
        accounts=extra_accounts,
        server=f"retention_days = {RETENTION_DAYS:g}",
        simulator=store,  # write_config's place for tables after the accounts
    )
    # The measured account owns its 10 from numbers (the first is the benchmark's usual one).
    text = config.read_text().replace(
        f'numbers = ["{FROM_NUMBER}"]', f'numbers = ["{FROM_NUMBER}", {numbers}]', 1
    )
    config.write_text(text)
    now = datetime.now(UTC)
    progress(f"filling the {database.name} database with {options.calls:,} calls")
    started = time.monotonic()
    if isinstance(database, SqliteDatabase):
        fill(database.path, options.calls, now)
    elif isinstance(database, PostgresDatabase):
        fill_postgres(database.url, options.calls, now)
    fill_s = time.monotonic() - started
    database_mb = database.size_mb()
    progress(f"filled in {fill_s:.0f} s ({database_mb:,.0f} MB); starting the server")
    server = start_switchboard(processes, config, options.server_cpu, work)
    headers = {"Authorization": basic_auth(USERNAME, password)}
    check_link(server, headers)  # also: the first request pays the slow password hash
    plan_queries = queries(database, now)
    ((stored, account_calls),) = database.rows(
        "SELECT count(*), sum(CASE WHEN account_id = ? THEN 1 ELSE 0 END) FROM calls",
        (ACCOUNT_ID,),
    )
    measured: list[Measured] = []
    for query in plan_queries:
        progress(f"measuring: {query.name}")
        latencies, rows, body_kb, cpu = measure(server, headers, query, options, database)
        first_ms, sql_ms, plan = database.sql_alone(query, now) if query.listing else (0.0, 0.0, [])
        measured.append(Measured(query, latencies, rows, body_kb, sql_ms, plan, cpu, first_ms))
    server.check_running()
    return Result(options, stored, int(account_calls), fill_s, database_mb, measured, database.name)


def report(result: Result) -> bool:
    options = result.options
    print()
    postgres = result.store != SqliteDatabase.name
    print(
        f"{result.stored:,} calls stored in {result.store} ({result.database_mb:,.0f} MB, filled "
        f"in {result.fill_s:.0f} s), {result.account_calls:,} of them in the measured account; "
        f"server{' and PostgreSQL' if postgres else ''} on CPU {options.server_cpu}, client on "
        f"CPU {options.client_cpu}, one request at a time, pageSize={PAGE_SIZE}"
    )
    print()
    db = f"{'db':>6}" if postgres else ""
    first = f"{'SQL 1st':>8}" if postgres else ""
    header = (
        f"{'query':<34}{'n':>4}{'p50 ms':>9}{'p99 ms':>9}{'rows':>6}{'KB':>7}{first}"
        f"{'SQL ms':>8}{db}{'other':>7}  verdict"
    )
    print(header)
    print("-" * len(header))
    for item in result.measured:
        db = f"{item.db_cores:>6.2f}" if postgres else ""
        first = f"{item.sql_first_ms:>8.1f}" if postgres else ""
        print(
            f"{item.query.name:<34}{len(item.latencies_ms):>4}{item.p50:>9.1f}{item.p99:>9.1f}"
            f"{item.rows:>6}{item.body_kb:>7.0f}{first}{item.sql_ms:>8.1f}{db}"
            f"{item.cpu.other:>7.2f}  {verdict(not item.slow)}"
        )
    if postgres:
        sql_note = (
            "SQL 1st / SQL ms: the store's list_calls alone in this process, runs 1-3 / 11-15 "
            "(prepared, maybe planned generically, as on the server's readers); "
            "'db': PostgreSQL's CPU; "
        )
    else:
        sql_note = "SQL ms: the store's list_call_rows alone, in process; "
    print(
        f"({sql_note}target: p99 < {TARGET_MS:.0f} ms; 'other': CPU of other processes, in cores)"
    )
    slow = [item for item in result.measured if item.slow]
    for item in slow:
        ranked = sorted(range(len(item.latencies_ms)), key=lambda i: -item.latencies_ms[i])[:3]
        print(
            f"{item.query.name}: the slowest requests, in order of arrival: "
            + ", ".join(f"#{i + 1} {item.latencies_ms[i]:.1f} ms" for i in sorted(ranked))
            + f" (the first: {item.latencies_ms[0]:.1f} ms)"
        )
    for item in slow:
        if item.plan:
            print()
            print(f"{item.query.name}: {'EXPLAIN' if postgres else 'EXPLAIN QUERY PLAN'}")
            for line in item.plan:
                print(f"  {line}")
    if any(item.cpu.disturbed for item in result.measured):
        print()
        print("other processes used CPU during the measurements: the figures are disturbed")
    return not slow


def parse_options(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(description="listCalls and getCall with 1M calls stored.")
    parser.add_argument("--calls", type=int, default=1_000_000, help="calls stored (1000000)")
    parser.add_argument("--requests", type=int, default=50, help="requests per query (50)")
    parser.add_argument("--budget", type=float, default=15.0, help="longest time per query (15 s)")
    parser.add_argument(
        "--store",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="the database (sqlite; postgres: a throwaway cluster from scripts/postgres.sh)",
    )
    add_run_arguments(parser, "the client")
    args = parser.parse_args(argv)
    if args.calls < 10_000 or args.requests < 1 or args.budget <= 0:
        parser.error("--calls must be at least 10000; --requests and --budget positive")
    return options_from(Options, args)


def main(argv: list[str] | None = None) -> int:
    return bench_main(parse_options(argv), run, report)


if __name__ == "__main__":
    sys.exit(main())
