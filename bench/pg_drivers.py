"""asyncpg against psycopg 3 on the PostgreSQL store's two hot paths (issue 18).

    .venv/bin/python bench/pg_drivers.py [--rows 10000] [--outbox 50000] [--rounds 2]

Issue 18: "A real driver made for asyncio: asyncpg or psycopg 3 (pipeline mode); measure both
on the create-call and claim paths and write down the choice." One run, one throwaway cluster
(scripts/postgres.sh in a temporary directory, fsync and synchronous_commit on; stopped at the
end, also on error, Ctrl-C or SIGKILL), both drivers against the same server, each measurement
--rounds times (2), the drivers' order alternating (the VM's speed drifts from minute to minute).
About a minute in all (a hard bound of 170 s):

0. baseline: `SELECT 1` round trips on one connection, one after another (each driver's floor,
   and the machine's speed in this run).
1. create-call: 200 asyncio tasks, each inserting a call row like Switchboard's `calls` (every
   column and index of src/switchboard/store/schema.py at its last migration; `data` ~1 KB of
   JSON text) and awaiting its commit before the next, --rows rows in all, into an emptied
   table after a CHECKPOINT:
   - pool: --pool connections shared by the tasks, one autocommitted INSERT per row (the
     server's WAL flush groups concurrent commits by itself);
   - group commit: one connection; a writer takes every waiting insert (up to 200) into one
     transaction: one statement after another, or all sent at once (psycopg's pipeline mode,
     asyncpg's executemany), or one COPY of them all (psycopg's cursor.copy and write_row,
     asyncpg's copy_records_to_table: a new call needs no RETURNING nor ON CONFLICT).
   Every run checks that each row was stored.
2. claim: the outbox (SQLite's table plus an owner) filled with --outbox pending rows, then 2
   and 4 claimers, each with its own connection, repeating `UPDATE outbox SET owner, status
   ... WHERE id IN (SELECT id ... WHERE status = 'pending' ORDER BY id LIMIT 50 FOR UPDATE SKIP
   LOCKED) RETURNING ...` until nothing is left. One statement waits for its answer, so there
   is nothing to pipeline: each driver's plain execute.

Each figure: rows/s (wall clock), and CPU seconds per 1,000 rows of this Python process
(getrusage: the driver, asyncio and the load generator, which is the same for both drivers) and
of the PostgreSQL server (postmaster and backends, from /proc). "other" is the machine's CPU
used by neither, in cores: above ~0.1 someone else disturbed the measurement. PostgreSQL runs
on --pg-cpu and this process on --bench-cpu (taskset), as the other benchmarks pin server and
client. Both drivers prepare statements on the server (asyncpg always; psycopg after its
prepare_threshold of 5 executions); both use the same trivial pool (a queue of connections),
so the drivers are measured, not their pools.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import psycopg
import uvloop

from common import BenchError, Processes, _machine_busy, progress, run_bench

REPOSITORY = Path(__file__).resolve().parents[1]
SCRIPT = REPOSITORY / "scripts" / "postgres.sh"
SCRIPT_TIMEOUT_S = 90  # scripts/postgres.sh bounds its own waits at 60 s
POSTGRES_BIN = Path(os.environ.get("SWITCHBOARD_POSTGRES_BIN", "/usr/lib/postgresql/15/bin"))
TASKS = 200  # concurrent create-call tasks, as the load
CLAIM_BATCH = 50
TIME_LIMIT_S = 170  # a hard bound on the whole run, whatever hangs
WATCHDOG = 'cat >/dev/null; sh "$1" stop "$2" && if [ "$3" = remove ]; then rm -rf "$2"; fi'

# The calls table at SQLite's last migration, in PostgreSQL's dialect (as
# src/switchboard/store/pg_schema.py writes it): a new call touches the primary key and four
# indexes (account/time, state, to, from); the others hold ended or queued calls only.
# Autovacuum is off on both tables: a vacuum that starts in one run and not the next would
# count in one driver's server CPU; each run starts from an emptied table, the claims' after
# an explicit VACUUM ANALYZE.
SCHEMA = """
DROP TABLE IF EXISTS calls;
DROP TABLE IF EXISTS outbox;
CREATE TABLE calls (
    call_id TEXT COLLATE "C" PRIMARY KEY,
    account_id TEXT COLLATE "C" NOT NULL,
    state TEXT COLLATE "C" NOT NULL,
    enqueued_time TEXT COLLATE "C" NOT NULL,
    start_time TEXT COLLATE "C",
    to_number TEXT COLLATE "C" NOT NULL,
    from_number TEXT COLLATE "C" NOT NULL,
    disconnect_cause TEXT COLLATE "C",
    data TEXT NOT NULL,
    end_time TEXT COLLATE "C",
    queue_wait INTEGER
) WITH (autovacuum_enabled = false);
CREATE INDEX calls_by_state ON calls (state) WHERE state != 'disconnected';
CREATE INDEX calls_by_end_time ON calls (end_time) WHERE end_time IS NOT NULL;
CREATE INDEX calls_by_account_time ON calls (account_id, enqueued_time, call_id);
CREATE INDEX calls_by_account_to ON calls (account_id, to_number, enqueued_time, call_id);
CREATE INDEX calls_by_account_from ON calls (account_id, from_number, enqueued_time, call_id);
CREATE INDEX calls_by_account_wait ON calls (account_id, queue_wait) WHERE queue_wait > 0;
CREATE INDEX calls_by_account_cause ON calls (account_id, disconnect_cause, enqueued_time, call_id)
    WHERE disconnect_cause IS NOT NULL;
CREATE TABLE outbox (
    id BIGSERIAL PRIMARY KEY,
    call_id TEXT COLLATE "C" NOT NULL,
    event_type TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    owner TEXT,
    data TEXT NOT NULL
) WITH (autovacuum_enabled = false);
CREATE INDEX outbox_pending ON outbox (id) WHERE status = 'pending';
"""

COLUMNS = (
    "call_id, account_id, state, enqueued_time, start_time, to_number, from_number, "
    "disconnect_cause, data, end_time, queue_wait"
)
INSERT_ASYNCPG = (
    f"INSERT INTO calls ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
)
INSERT_PSYCOPG = (
    f"INSERT INTO calls ({COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
COLUMN_NAMES = [name.strip() for name in COLUMNS.split(",")]
COPY_PSYCOPG = f"COPY calls ({COLUMNS}) FROM STDIN"
CLAIM = (
    "UPDATE outbox SET owner = {owner}, status = 'sending', attempts = attempts + 1 "
    "WHERE id IN (SELECT id FROM outbox WHERE status = 'pending' ORDER BY id "
    f"LIMIT {CLAIM_BATCH} FOR UPDATE SKIP LOCKED) RETURNING id, call_id, event_type, data"
)
CLAIM_ASYNCPG = CLAIM.format(owner="$1")
CLAIM_PSYCOPG = CLAIM.format(owner="%s")
# Each its own statement: VACUUM refuses to run in a multi-statement string.
FILL_OUTBOX = (
    "TRUNCATE outbox RESTART IDENTITY",
    "INSERT INTO outbox (call_id, event_type, data) SELECT 'c-' || n, 'disconnect', "
    'repeat(\'{"eventType":"disconnect","callId":"c-\' || n || \'"}\', 12) '
    "FROM generate_series(1, $1::integer) AS n",
    "VACUUM ANALYZE outbox",
    "CHECKPOINT",
)

Row = tuple[Any, ...]


def call_rows(count: int, tag: str) -> list[Row]:
    """`count` new calls as create-call stores them (state initiated, nothing ended yet)."""
    rows = []
    for n in range(count):
        call_id = f"c-{tag}-{n:08d}-5a1f-4d3e-9b7c-0123456789ab"
        enqueued = f"2026-12-06T20:{n // 60000 % 60:02d}:{n // 1000 % 60:02d}.{n % 1000:03d}Z"
        data = {
            "callId": call_id,
            "accountId": "9900001",
            "applicationId": "7fc9698a-b04a-468b-9e8f-91238c0d0086",
            "to": "+15555551313",
            "from": "+15555551212",
            "direction": "outbound",
            "state": "initiated",
            "enqueuedTime": enqueued,
            "answerUrl": "https://app.example.com/webhooks/answer",
            "answerMethod": "POST",
            "disconnectUrl": "https://app.example.com/webhooks/disconnect",
            "disconnectMethod": "POST",
            "callTimeout": 30.0,
            "callbackTimeout": 15.0,
            "answerFallbackUrl": None,
            "machineDetection": None,
            "priority": 5,
            "tag": "x" * 520,
        }
        rows.append(
            (
                call_id,
                "9900001",
                "initiated",
                enqueued,
                None,
                "+15555551313",
                "+15555551212",
                None,
                json.dumps(data, separators=(",", ":")),
                None,
                None,
            )
        )
    return rows


# -- CPU ------------------------------------------------------------------------------------
def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _stat(pid: int | str) -> list[str]:
    # The fields after the name: state is [0], ppid [1], utime [11], stime [12], cutime [13].
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _server_cpu(postmaster: int) -> float:
    """The postmaster's CPU, its reaped children's (backends that ended) and its live ones'.

    A backend reaped while /proc is read would be missed (read after it was gone, its CPU
    not yet in the postmaster's cutime when that was read) or counted twice: the postmaster is
    read before and after its children, and the reading repeated until no child was reaped in
    between (the postmaster's cutime did not move)."""
    ticks = os.sysconf("SC_CLK_TCK")
    while True:
        before = _stat(postmaster)
        children = 0
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit() or int(entry.name) == postmaster:
                continue
            try:
                fields = _stat(entry.name)
            except OSError:
                continue  # ended, and reaped by its parent if it was a backend: see below
            if int(fields[1]) == postmaster:
                children += int(fields[11]) + int(fields[12])
        after = _stat(postmaster)
        if after[13:15] == before[13:15]:
            own_and_reaped = sum(int(value) for value in after[11:15])
            return (own_and_reaped + children) / ticks


@dataclass(frozen=True)
class Figure:
    path: str
    variant: str
    round: int
    rows: int
    seconds: float
    bench_cpu: float
    server_cpu: float
    machine_cpu: float
    note: str = ""

    @property
    def rate(self) -> float:
        return self.rows / self.seconds

    def per_1k(self, cpu: float) -> float:
        return cpu / self.rows * 1000

    @property
    def other(self) -> float:
        return max(0.0, self.machine_cpu - self.bench_cpu - self.server_cpu) / self.seconds


class Meter:
    def __init__(self, postmaster: int) -> None:
        self.postmaster = postmaster

    async def measure(
        self, path: str, variant: str, round_: int, rows: int, work: Awaitable[str | None]
    ) -> Figure:
        wall, own = time.monotonic(), _own_cpu()
        server, machine = _server_cpu(self.postmaster), _machine_busy()
        note = await work
        return Figure(
            path,
            variant,
            round_,
            rows,
            time.monotonic() - wall,
            _own_cpu() - own,
            _server_cpu(self.postmaster) - server,
            _machine_busy() - machine,
            note or "",
        )


# -- the drivers ----------------------------------------------------------------------------
class Driver:
    """What a measurement needs of a driver; one subclass per driver."""

    name = ""

    def __init__(self, url: str) -> None:
        self.url = url

    async def connect(self) -> Any:
        raise NotImplementedError

    async def close(self, connection: Any) -> None:
        raise NotImplementedError

    async def select_1(self, connection: Any) -> None:
        raise NotImplementedError

    async def insert(self, connection: Any, row: Row) -> None:
        """One autocommitted insert: its own transaction, committed on return."""
        raise NotImplementedError

    async def insert_each(self, connection: Any, rows: Sequence[Row]) -> None:
        """One transaction, a round trip per row."""
        raise NotImplementedError

    async def insert_all(self, connection: Any, rows: Sequence[Row]) -> None:
        """One transaction, every row sent at once."""
        raise NotImplementedError

    async def copy_all(self, connection: Any, rows: Sequence[Row]) -> None:
        """One COPY of every row (a statement of its own, so committed on return)."""
        raise NotImplementedError

    async def claim(self, connection: Any, owner: str) -> int:
        raise NotImplementedError


class Asyncpg(Driver):
    name = "asyncpg"

    async def connect(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.url)

    async def close(self, connection: asyncpg.Connection) -> None:
        await connection.close()

    async def select_1(self, connection: asyncpg.Connection) -> None:
        await connection.fetchval("SELECT 1")

    async def insert(self, connection: asyncpg.Connection, row: Row) -> None:
        await connection.execute(INSERT_ASYNCPG, *row)

    async def insert_each(self, connection: asyncpg.Connection, rows: Sequence[Row]) -> None:
        async with connection.transaction():
            for row in rows:
                await connection.execute(INSERT_ASYNCPG, *row)

    async def insert_all(self, connection: asyncpg.Connection, rows: Sequence[Row]) -> None:
        async with connection.transaction():
            await connection.executemany(INSERT_ASYNCPG, rows)

    async def copy_all(self, connection: asyncpg.Connection, rows: Sequence[Row]) -> None:
        await connection.copy_records_to_table("calls", records=rows, columns=COLUMN_NAMES)

    async def claim(self, connection: asyncpg.Connection, owner: str) -> int:
        return len(await connection.fetch(CLAIM_ASYNCPG, owner))


class Psycopg(Driver):
    name = "psycopg"

    async def connect(self) -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(self.url, autocommit=True)

    async def close(self, connection: psycopg.AsyncConnection[Any]) -> None:
        await connection.close()

    async def select_1(self, connection: psycopg.AsyncConnection[Any]) -> None:
        await (await connection.execute("SELECT 1")).fetchone()

    async def insert(self, connection: psycopg.AsyncConnection[Any], row: Row) -> None:
        await connection.execute(INSERT_PSYCOPG, row)

    async def insert_each(
        self, connection: psycopg.AsyncConnection[Any], rows: Sequence[Row]
    ) -> None:
        async with connection.transaction():
            cursor = connection.cursor()
            for row in rows:
                await cursor.execute(INSERT_PSYCOPG, row)

    async def insert_all(
        self, connection: psycopg.AsyncConnection[Any], rows: Sequence[Row]
    ) -> None:
        # Pipeline mode: every INSERT and the COMMIT go out before the first answer is read.
        async with connection.pipeline(), connection.transaction():
            await connection.cursor().executemany(INSERT_PSYCOPG, rows)

    async def copy_all(self, connection: psycopg.AsyncConnection[Any], rows: Sequence[Row]) -> None:
        async with connection.cursor().copy(COPY_PSYCOPG) as copy:
            for row in rows:
                await copy.write_row(row)

    async def claim(self, connection: psycopg.AsyncConnection[Any], owner: str) -> int:
        cursor = await connection.execute(CLAIM_PSYCOPG, (owner,))
        return len(await cursor.fetchall())


# -- the measurements -----------------------------------------------------------------------
async def round_trips(driver: Driver, connection: Any, count: int) -> str | None:
    for _ in range(count):
        await driver.select_1(connection)
    return None


async def baseline(meter: Meter, driver: Driver, round_: int, count: int) -> Figure:
    # Connected before and closed after the measurement, as in the others: a backend that
    # starts or ends while it runs would count its start or its end.
    connection = await driver.connect()
    try:
        await round_trips(driver, connection, 200)  # warm: prepared, the loop's paths
        return await meter.measure(
            "baseline", driver.name, round_, count, round_trips(driver, connection, count)
        )
    finally:
        await driver.close(connection)


async def load(rows: Sequence[Row], submit: Callable[[Row], Awaitable[None]]) -> None:
    """TASKS tasks, each submitting its share of the rows one after another."""

    async def task(index: int) -> None:
        for row in rows[index::TASKS]:
            await submit(row)

    async with asyncio.TaskGroup() as group:
        for index in range(TASKS):
            group.create_task(task(index))


async def pooled(driver: Driver, connections: list[Any], rows: Sequence[Row]) -> str | None:
    pool: asyncio.Queue[Any] = asyncio.Queue()
    for connection in connections:
        pool.put_nowait(connection)

    async def submit(row: Row) -> None:
        connection = await pool.get()
        try:
            await driver.insert(connection, row)
        finally:
            pool.put_nowait(connection)

    await load(rows, submit)
    return None


async def group_committed(
    connection: Any, rows: Sequence[Row], write: Callable[[Any, Sequence[Row]], Awaitable[None]]
) -> str:
    """One writer: every insert waiting when it is free goes into its next transaction."""
    waiting: asyncio.Queue[tuple[Row, asyncio.Future[None]]] = asyncio.Queue()
    batches = 0

    async def writer() -> None:
        nonlocal batches
        while True:
            batch = [await waiting.get()]
            while not waiting.empty() and len(batch) < TASKS:
                batch.append(waiting.get_nowait())
            try:
                await write(connection, [row for row, _ in batch])
            except Exception as error:  # its waiters fail with it, rather than wait forever
                for _, done in batch:
                    done.set_exception(error)
                raise
            batches += 1
            for _, done in batch:
                done.set_result(None)

    async def submit(row: Row) -> None:
        done = asyncio.get_running_loop().create_future()
        waiting.put_nowait((row, done))
        await done

    writing = asyncio.create_task(writer())
    try:
        await load(rows, submit)
    finally:
        writing.cancel()
    return f"{len(rows) / max(1, batches):.0f} rows/transaction"


async def claiming(driver: Driver, connections: list[Any], total: int) -> str | None:
    claimed = 0

    async def claimer(index: int, connection: Any) -> None:
        nonlocal claimed
        while count := await driver.claim(connection, f"node-{index}"):
            claimed += count

    async with asyncio.TaskGroup() as group:
        for index, connection in enumerate(connections):
            group.create_task(claimer(index, connection))
    if claimed != total:
        raise BenchError(f"{driver.name}: claimed {claimed} rows of {total}")
    return None


# The create-call variants; each group commit's writer method (the pool inserts row by row).
GROUP_COMMITS = {
    "group commit, one by one": "insert_each",
    "group commit, pipelined": "insert_all",
    "group commit, COPY": "copy_all",
}
CREATE_VARIANTS = ("pool", *GROUP_COMMITS)


async def measure_all(url: str, postmaster: int, options: argparse.Namespace) -> list[Figure]:
    meter = Meter(postmaster)
    drivers: list[Driver] = [Asyncpg(url), Psycopg(url)]
    figures: list[Figure] = []
    admin = await drivers[0].connect()
    try:
        await admin.execute(SCHEMA)
        for round_ in range(1, options.rounds + 1):
            # Alternate the order: whoever goes first in one round goes last in the next.
            ordered = drivers if round_ % 2 else drivers[::-1]
            for driver in ordered:
                figures.append(await baseline(meter, driver, round_, options.selects))
            for variant in CREATE_VARIANTS:
                for driver in ordered:
                    figures.append(
                        await create_call(meter, admin, driver, variant, round_, options)
                    )
            for claimers in (2, 4):
                for driver in ordered:
                    figures.append(await claim(meter, admin, driver, claimers, round_, options))
    finally:
        await admin.close()
    return figures


async def create_call(
    meter: Meter,
    admin: asyncpg.Connection,
    driver: Driver,
    variant: str,
    round_: int,
    options: argparse.Namespace,
) -> Figure:
    progress(f"round {round_}: create-call, {driver.name}, {variant}")
    await admin.execute("TRUNCATE calls")
    await admin.execute("CHECKPOINT")  # every variant starts from the same clean pages
    size = options.pool if variant == "pool" else 1
    connections = [await driver.connect() for _ in range(size)]
    try:
        warm = call_rows(TASKS * 2, f"w{round_}")
        rows = call_rows(options.rows, f"r{round_}")
        write = getattr(driver, GROUP_COMMITS.get(variant, "insert_all"))

        def work(rows: Sequence[Row]) -> Awaitable[str | None]:
            if variant == "pool":
                return pooled(driver, connections, rows)
            return group_committed(connections[0], rows, write)

        await work(warm)  # prepares the statement on every connection
        figure = await meter.measure(
            "create-call", f"{driver.name}: {variant}", round_, len(rows), work(rows)
        )
        stored = await admin.fetchval("SELECT count(*) FROM calls")
        if stored != len(warm) + len(rows):
            raise BenchError(f"{figure.variant}: {stored} calls stored of {len(warm) + len(rows)}")
        return figure
    finally:
        for connection in connections:
            await driver.close(connection)


async def claim(
    meter: Meter,
    admin: asyncpg.Connection,
    driver: Driver,
    claimers: int,
    round_: int,
    options: argparse.Namespace,
) -> Figure:
    progress(f"round {round_}: claim, {driver.name}, {claimers} claimers")
    for statement in FILL_OUTBOX:
        await admin.execute(statement, *([options.outbox] if "$1" in statement else []))
    connections = [await driver.connect() for _ in range(claimers)]
    try:
        for connection in connections:
            await driver.select_1(connection)
        return await meter.measure(
            "claim",
            f"{driver.name}: {claimers} claimers",
            round_,
            options.outbox,
            claiming(driver, connections, options.outbox),
        )
    finally:
        for connection in connections:
            await driver.close(connection)


# -- the cluster and the report -------------------------------------------------------------
def pin(cpu: int | None) -> list[str]:
    return [] if cpu is None or shutil.which("taskset") is None else ["taskset", "-c", str(cpu)]


@dataclass(frozen=True, slots=True)
class Cluster:
    url: str
    postmaster: int  # its pid, for its CPU and its backends'
    directory: Path


@contextmanager
def throwaway_cluster(name: str, cpu: int | None, *, keep: bool = False) -> Iterator[Cluster]:
    """A PostgreSQL 15 cluster of scripts/postgres.sh for one benchmark run (bench/nodes.py and
    bench/list_calls.py use it too), pinned to `cpu`, stopped (and its directory removed, unless
    `keep`) at the end."""
    if not (POSTGRES_BIN / "postgres").is_file():
        raise BenchError(f"PostgreSQL 15 is not in {POSTGRES_BIN}: run scripts/install-postgres.sh")
    # Its own directory: run as root, the server runs as postgres, which cannot enter `work`.
    directory = Path(tempfile.mkdtemp(prefix=f"switchboard-pg-{name}-"))
    # Stops the cluster and removes its directory once this process is gone, however it ends
    # (SIGKILL too): it waits for the end of a pipe only this process holds. In a session of
    # its own, so that Ctrl-C does not end it before the run has stopped.
    watchdog = subprocess.Popen(
        [
            "sh",
            "-c",
            WATCHDOG,
            f"pg-{name}-watchdog",
            str(SCRIPT),
            str(directory),
            "keep" if keep else "remove",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    assert watchdog.stdin is not None
    try:
        started = subprocess.run(
            [*pin(cpu), "sh", str(SCRIPT), "start", str(directory)],
            capture_output=True,
            text=True,
            timeout=SCRIPT_TIMEOUT_S,
            check=False,
        )
        if started.returncode != 0:
            raise BenchError(f"scripts/postgres.sh start failed:\n{started.stderr}")
        url = started.stdout.splitlines()[-1]
        postmaster = int((directory / "data" / "postmaster.pid").read_text().split()[0])
        progress(f"PostgreSQL at {url} (in {directory}, on CPU {cpu})")
        yield Cluster(url, postmaster, directory)
    finally:
        watchdog.stdin.close()  # it stops the cluster now
        if watchdog.wait(timeout=SCRIPT_TIMEOUT_S) != 0:
            progress(f"stopping the cluster in {directory} failed: see above")
        elif keep:
            progress(f"kept {directory} (the cluster is stopped)")


def run(options: argparse.Namespace, processes: Processes, work: Path) -> list[Figure]:
    with throwaway_cluster("bench", options.pg_cpu) as cluster:
        if options.bench_cpu is not None:
            os.sched_setaffinity(0, {options.bench_cpu})
        return uvloop.run(measure_all(cluster.url, cluster.postmaster, options))


def report(figures: list[Figure]) -> bool:
    rounds = sorted({figure.round for figure in figures})
    header = (
        f"{'path':<12} {'driver: variant':<42} {'round':>5} {'rows/s':>9} "
        f"{'py CPU-s/1k':>11} {'pg CPU-s/1k':>11} {'other':>6}  note"
    )
    print(header)
    print("-" * len(header))
    keys = list(dict.fromkeys((figure.path, figure.variant) for figure in figures))
    for path, variant in keys:
        for round_ in rounds:
            for figure in figures:
                if (figure.path, figure.variant, figure.round) != (path, variant, round_):
                    continue
                rows = "round trips" if path == "baseline" else ""
                print(
                    f"{path:<12} {variant:<42} {round_:>5} {figure.rate:>9,.0f} "
                    f"{figure.per_1k(figure.bench_cpu):>11.4f} "
                    f"{figure.per_1k(figure.server_cpu):>11.4f} {figure.other:>6.2f}  "
                    f"{figure.note or rows}"
                )
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=10_000, help="calls per create-call run")
    parser.add_argument("--outbox", type=int, default=50_000, help="pending rows to claim")
    parser.add_argument("--selects", type=int, default=5_000, help="SELECT 1 round trips")
    parser.add_argument("--pool", type=int, default=20, help="connections of the pool variant")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--pg-cpu", type=int, default=0, help="PostgreSQL's core (0)")
    parser.add_argument("--bench-cpu", type=int, default=1, help="this process's core (1)")
    options = parser.parse_args()
    if len(os.sched_getaffinity(0)) < 2:
        options.pg_cpu = options.bench_cpu = None
    return run_bench(
        lambda processes, work: run(options, processes, work),
        report,
        keep=False,
        check=False,
        time_limit=TIME_LIMIT_S,
    )


if __name__ == "__main__":
    sys.exit(main())
