"""listCalls and getCall with 1,000,000 calls stored (issue 4).

    .venv/bin/python bench/list_calls.py [--calls 1000000] [--requests 50]
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
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import secrets
import sqlite3
import sys
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlencode

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
from switchboard.store import call_queries, schema
from switchboard.store.rows import call_row
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


@dataclass(frozen=True, slots=True)
class Options:
    calls: int
    requests: int
    budget: float
    server_cpu: int
    client_cpu: int
    keep: bool
    check: bool


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
    sql_ms: float  # list_call_rows alone, median of a few runs (0 for getCall)
    plan: list[str]
    cpu: CpuShare

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


# -- filling the database -------------------------------------------------------------------
def numbers_of(account_index: int) -> list[str]:
    return [f"+1555{account_index:03d}{n:04d}" for n in range(FROM_NUMBERS)]


def fill(database: Path, calls: int, now: datetime) -> None:
    """Write `calls` ended calls in the store's shape, oldest first."""
    connection = schema.connect(str(database))
    schema.migrate(connection)
    connection.execute("PRAGMA cache_size=-262144")  # 256 MB while filling
    connection.execute("PRAGMA synchronous=OFF")
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
            _insert(connection, rows)
            rows = []
    if rows:
        _insert(connection, rows)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.execute("ANALYZE")
    connection.close()


def _insert(connection: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    connection.execute("BEGIN")
    connection.executemany(_INSERT_CALL, rows)
    connection.execute("COMMIT")


# -- the queries ----------------------------------------------------------------------------
def queries(database: Path, now: datetime) -> list[Query]:
    """What to ask for, with values taken from the filled database."""
    ((account_calls,),) = read_rows(
        database, "SELECT count(*) FROM calls WHERE account_id = ?", (ACCOUNT_ID,)
    )
    deep = account_calls * 4 // 5
    ((enqueued_time, call_id),) = read_rows(
        database,
        "SELECT enqueued_time, call_id FROM calls INDEXED BY calls_by_account_time "
        "WHERE account_id = ? ORDER BY enqueued_time, call_id LIMIT 1 OFFSET ?",
        (ACCOUNT_ID, deep),
    )
    ((to_number,),) = read_rows(
        database, "SELECT to_number FROM calls WHERE account_id = ? LIMIT 1", (ACCOUNT_ID,)
    )
    ((one_call,),) = read_rows(
        database,
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
    server: Server, headers: dict[str, str], query: Query, options: Options, pid: int
) -> tuple[list[float], int, float, CpuShare]:
    url = query.path + ("?" + urlencode(query.params) if query.params else "")
    connection = http.client.HTTPConnection(HOST, server.port, timeout=120)
    latencies: list[float] = []
    rows = 0
    size = 0
    meter = CpuMeter({"server": pid})
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
    return latencies, rows, size / 1024, meter.stop()


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
    os.sched_setaffinity(0, {options.client_cpu})
    password = secrets.token_hex(16)
    extra_accounts = "".join(
        f'\n[[accounts]]\nid = "{account}"\nname = "Other {index}"\n'
        f"numbers = [{', '.join(f'{chr(34)}{n}{chr(34)}' for n in numbers_of(index))}]\n"
        for index, account in enumerate(OTHER_ACCOUNTS, start=1)
    )
    numbers = ", ".join(f'"{n}"' for n in numbers_of(0)[1:])
    config = write_config(
        work,
        password,
        limits="  calls_per_second = 1000\n  concurrent_calls = 100000",
        accounts=extra_accounts,
        server=f"retention_days = {RETENTION_DAYS:g}",
    )
    # The measured account owns its 10 from numbers (the first is the benchmark's usual one).
    text = config.read_text().replace(
        f'numbers = ["{FROM_NUMBER}"]', f'numbers = ["{FROM_NUMBER}", {numbers}]', 1
    )
    config.write_text(text)
    database = work / "data" / "switchboard.db"
    database.parent.mkdir(parents=True)
    now = datetime.now(UTC)
    progress(f"filling the database with {options.calls:,} calls")
    started = time.monotonic()
    fill(database, options.calls, now)
    fill_s = time.monotonic() - started
    database_mb = database.stat().st_size / 1e6
    progress(f"filled in {fill_s:.0f} s ({database_mb:,.0f} MB); starting the server")
    server = start_switchboard(processes, config, options.server_cpu, work)
    headers = {"Authorization": basic_auth(USERNAME, password)}
    check_link(server, headers)  # also: the first request pays the slow password hash
    plan_queries = queries(database, now)
    ((stored, account_calls),) = read_rows(
        database, "SELECT count(*), sum(account_id = ?) FROM calls", (ACCOUNT_ID,)
    )
    measured: list[Measured] = []
    for query in plan_queries:
        progress(f"measuring: {query.name}")
        latencies, rows, body_kb, cpu = measure(server, headers, query, options, server.process.pid)
        sql_ms, plan = sql_alone(database, query, now) if query.listing else (0.0, [])
        measured.append(Measured(query, latencies, rows, body_kb, sql_ms, plan, cpu))
    server.check_running()
    return Result(options, stored, account_calls, fill_s, database_mb, measured)


def report(result: Result) -> bool:
    options = result.options
    print()
    print(
        f"{result.stored:,} calls stored ({result.database_mb:,.0f} MB, filled in "
        f"{result.fill_s:.0f} s), {result.account_calls:,} of them in the measured account; "
        f"server on CPU {options.server_cpu}, client on CPU {options.client_cpu}, one request "
        f"at a time, pageSize={PAGE_SIZE}"
    )
    print()
    header = (
        f"{'query':<34}{'n':>4}{'p50 ms':>9}{'p99 ms':>9}{'rows':>6}{'KB':>7}{'SQL ms':>8}"
        f"{'other':>7}  verdict"
    )
    print(header)
    print("-" * len(header))
    for item in result.measured:
        print(
            f"{item.query.name:<34}{len(item.latencies_ms):>4}{item.p50:>9.1f}{item.p99:>9.1f}"
            f"{item.rows:>6}{item.body_kb:>7.0f}{item.sql_ms:>8.1f}{item.cpu.other:>7.2f}  "
            f"{verdict(not item.slow)}"
        )
    print(
        f"(SQL ms: the store's list_call_rows alone, in process; target: p99 < {TARGET_MS:.0f} "
        "ms; 'other': CPU of other processes, in cores)"
    )
    slow = [item for item in result.measured if item.slow]
    for item in slow:
        if item.plan:
            print()
            print(f"{item.query.name}: EXPLAIN QUERY PLAN")
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
    add_run_arguments(parser, "the client")
    args = parser.parse_args(argv)
    if args.calls < 10_000 or args.requests < 1 or args.budget <= 0:
        parser.error("--calls must be at least 10000; --requests and --budget positive")
    return options_from(Options, args)


def main(argv: list[str] | None = None) -> int:
    return bench_main(parse_options(argv), run, report)


if __name__ == "__main__":
    sys.exit(main())
