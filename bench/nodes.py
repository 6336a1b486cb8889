"""Many nodes (issue 18): complete calls per CPU-second on SQLite, PostgreSQL and 2 nodes, and
the takeover time after a SIGKILL.

    .venv/bin/python bench/nodes.py [--calls 2000] [--rounds 2]   (or: make bench-nodes)

Issue 18: "complete calls per CPU-second with 1 node on SQLite, 1 node on PostgreSQL and 2 nodes
on PostgreSQL in the same run (targets: PostgreSQL costs at most 1.5x SQLite's CPU per complete
call; 2 nodes cost at most 1.15x one node's per call, i.e. scaling is linear in CPU), and the
takeover time after a SIGKILL."

One complete call: POST /api/v2/accounts/{id}/calls -> the simulated callee answers -> `answer`
webhook -> <SpeakSentence>Hello</SpeakSentence><Hangup/> -> `disconnect` webhook (cause hangup)
received. The webhook receiver is in this process (aiohttp on 127.0.0.1, the same event loop
as the load driver, uvloop), and so is the load: a closed loop keeping --in-flight calls alive
(a new call is created when one's disconnect arrives), each call sent to the next node in turn
(the load balancer's stand-in: with two nodes, the client alternates them).

Setups, each --rounds times (2), the order reversed every other round (the VM's speed drifts from
minute to minute), each on fresh state (a new data dir; a new PostgreSQL schema, dropped after):
- sqlite:      one node, the embedded default (SQLite in its data dir);
- postgres:    one node, `[store] url` to the run's cluster, `[node]` with the default lease;
- postgres x2: two nodes on the same schema, the load split between them;
- pg x2 2x alive: two nodes on the same schema with twice --in-flight calls alive (the same
  per node as the one-node setups). Scaling out adds a node *and* its load: with the same
  total load, each of two nodes runs half the calls at once, and a node's CPU per call grows
  as its load shrinks (fewer events per loop turn, smaller group commits; bench/overload.py
  shows the same curve on one node), which is not a cost of running two nodes. The 1.15x
  target is judged here; the "postgres x2" ratio is shown beside it.
Every node is pinned to --server-cpu (0): one node or two, the nodes share one core, so the two
setups' nodes get the same CPU and the same load; PostgreSQL (a throwaway cluster of
scripts/postgres.sh, fsync on) and this process on --client-cpu (1). Per setup: one call by hand
on each node (the slow password hash; it must end with a hangup), --warmup calls, a CHECKPOINT
(each measurement starts with no dirty pages of an earlier one), --idle seconds at rest (3: the
CPU the nodes and the database use with no call alive), then --calls measured calls.

Measured over the --calls: complete calls/s (calls whose disconnect arrived with cause hangup /
wall time from the first create to the last disconnect), create-call p50/p99, and the CPU time
(user + sys, from /proc) of every node process, of PostgreSQL (postmaster and its backends,
read as bench/pg_drivers.py reads it), of this process, and of anything else ("other", in cores:
above 0.1 someone else used the machine during the measurement). CPU per complete call is
node CPU-s / complete calls; the targets compare it between setups, over all rounds (and the
table shows each round's ratio, the spread). Also PostgreSQL's commits and rows written per
complete call (pg_stat_database, over the whole setup: read once the nodes' backends ended).

Takeover, for each --takeover-leases pair (lease/heartbeat seconds; 2/0.5 and the defaults
10/2): two nodes on a fresh schema, --takeover-calls calls created on node A and answered,
waiting in <Pause duration="86400"/> (the database shows every one answered, owned by A), then
node A is SIGKILLed. Measured from the SIGKILL: how much of A's lease was left (the database's
lease_until - now()), and when A's calls' disconnect webhooks arrived from node B (first, p50,
last); each must arrive exactly once (checked 1 s after the last), with cause error. Also shown:
A's events still pending in the outbox at the SIGKILL (delivered or not, not yet recorded so),
and how many answer webhooks arrived a second time (B redelivering them).

--profile DIR: py-spy (not a project dependency; --py-spy names it) samples each node during
round 1's measurements into DIR/<setup>-<node>.txt (collapsed stacks); those rounds' figures
then carry py-spy's own CPU beside this process, so quote the figures of a run without it.

Bounded: a hard limit of --time-limit seconds (600) on the whole run; every process it starts
(nodes, the cluster) is stopped by its PID or by scripts/postgres.sh, also on error or Ctrl-C;
the cluster also by a watchdog if this process is SIGKILLed. Only 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import psycopg
import uvloop
from aiohttp import web
from psycopg import sql

from common import (
    CALLS_PATH,
    HOST,
    UNLIMITED_LIMITS,
    BenchError,
    Processes,
    Server,
    _machine_busy,
    _process_cpu,
    add_run_arguments,
    answers_ok,
    api_headers,
    call_request,
    check_cpus,
    free_port,
    percentile,
    progress,
    run_bench,
    start_server,
    switchboard_argv,
    verdict,
    write_config,
)
from pg_drivers import _server_cpu, throwaway_cluster

POSTGRES_TARGET = 1.5  # PostgreSQL's node CPU per complete call, against SQLite's
TWO_NODES_TARGET = 1.15  # two nodes' CPU per complete call, against one PostgreSQL node's
SCALED = "pg x2 2x alive"  # two nodes, twice the calls alive: the same load per node
SETUPS = ("sqlite", "postgres", "postgres x2", SCALED)
XML = "application/xml"
SPEAK_HANGUP = (
    b'<?xml version="1.0" encoding="UTF-8"?><Response>'
    b"<SpeakSentence>Hello</SpeakSentence><Hangup/></Response>"
)
HOLD = b'<?xml version="1.0" encoding="UTF-8"?><Response><Pause duration="86400"/></Response>'
HOLD_PREFIX = "/hold"
TAKEOVER_ERROR = (
    "The Switchboard node running the call stopped while the call was answered; its media was lost"
)
ANSWERED_WAIT_S = 60.0  # for every takeover call to be answered and stored so
DUPLICATE_WAIT_S = 1.0  # after the last disconnect, for a second one of any call
SCRIPT_TIMEOUT_S = 90
STATS_WAIT_S = 10.0
DATABASE_STATS = (
    "SELECT xact_commit, tup_inserted + tup_updated + tup_deleted FROM pg_stat_database "
    "WHERE datname = current_database()"
)
OTHER_CLIENTS = (
    "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
    "AND pid != pg_backend_pid()"
)
# What the takeover reads of the database ({} is the schema, %s node A).
OWNED_ANSWERED = "SELECT count(*) FROM {}.calls WHERE owner_node = %s AND state = 'answered'"
LEASE_LEFT = "SELECT extract(epoch FROM lease_until - now()) FROM {}.nodes WHERE node_id = %s"
PENDING_EVENTS = (
    "SELECT o.event_type, count(*) FROM {0}.outbox o JOIN {0}.calls c USING (call_id) "
    "WHERE o.status = 'pending' AND c.owner_node = %s GROUP BY o.event_type"
)
SHARED_KEYS = ("token-signing.key", "secrets.key")


@dataclass(frozen=True, slots=True)
class Options:
    calls: int
    warmup: int
    in_flight: int
    rounds: int
    time_scale: float
    idle: float
    takeover_calls: int
    takeover_leases: tuple[tuple[float, float], ...]
    timeout: float
    time_limit: int
    profile: Path | None
    py_spy: str
    py_spy_args: str
    server_cpu: int
    client_cpu: int
    pg_cpu: int
    keep: bool
    check: bool


# -- what the receiver saw ------------------------------------------------------------------
@dataclass(slots=True)
class Batch:
    """Calls tagged `prefix`-index: what the driver and the receiver saw of each."""

    prefix: str
    size: int
    in_flight: int
    create_ms: list[float] = field(default_factory=list)
    create_errors: Counter[str] = field(default_factory=Counter)
    call_ids: dict[int, str] = field(default_factory=dict)
    answered: set[int] = field(default_factory=set)
    answers: Counter[int] = field(default_factory=Counter)
    ended_ns: dict[int, int] = field(default_factory=dict)
    disconnects: Counter[int] = field(default_factory=Counter)
    causes: Counter[str] = field(default_factory=Counter)
    messages: Counter[str] = field(default_factory=Counter)
    first_sent_ns: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)
    slots: asyncio.Semaphore | None = None

    @property
    def finished(self) -> int:
        return len(self.ended_ns) + sum(self.create_errors.values())

    def settle(self) -> None:
        if self.slots is not None:
            self.slots.release()
        if self.finished >= self.size:
            self.done.set()


class Receiver:
    """The application's webhooks: answer -> BXML (speak + hang up, or a long pause under
    /hold), disconnect -> the call's batch settles."""

    def __init__(self) -> None:
        self.batches: dict[str, Batch] = {}
        self.port = free_port()
        self.runner: web.AppRunner | None = None

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("POST", "/{path:.*}", self.callback)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, HOST, self.port, backlog=1024).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    def find(self, tag: str) -> tuple[Batch, int] | None:
        prefix, _, index = tag.rpartition("-")
        batch = self.batches.get(prefix)
        if batch is None or not index.isdigit():
            return None
        return batch, int(index)

    async def callback(self, request: web.Request) -> web.Response:
        arrival_ns = time.monotonic_ns()
        payload = orjson.loads(await request.read())
        event_type = payload.get("eventType")
        found = self.find(str(payload.get("tag") or ""))
        if event_type == "answer":
            if found is not None:
                found[0].answered.add(found[1])
                found[0].answers[found[1]] += 1
            hold = request.path.startswith(HOLD_PREFIX + "/")
            return web.Response(body=HOLD if hold else SPEAK_HANGUP, content_type=XML)
        if event_type == "disconnect" and found is not None:
            batch, index = found
            batch.disconnects[index] += 1
            if index not in batch.ended_ns:
                batch.ended_ns[index] = arrival_ns
                batch.causes[str(payload.get("cause"))] += 1
                batch.messages[str(payload.get("errorMessage") or "")] += 1
                batch.settle()
        return web.Response(status=200)


# -- the load -------------------------------------------------------------------------------
class Driver:
    def __init__(
        self, options: Options, receiver: Receiver, session: aiohttp.ClientSession
    ) -> None:
        self.options = options
        self.receiver = receiver
        self.session = session
        self.batch_count = 0

    def new_batch(self, size: int, in_flight: int) -> Batch:
        self.batch_count += 1
        batch = Batch(f"b{self.batch_count}", size, in_flight)
        self.receiver.batches[batch.prefix] = batch
        return batch

    async def create(self, node: Server, batch: Batch, index: int, app: str) -> None:
        sent = time.monotonic_ns()
        body = orjson.dumps(call_request(app=app, tag=f"{batch.prefix}-{index}"))
        try:
            async with self.session.post(node.url(CALLS_PATH), data=body) as response:
                answer = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as error:
            batch.create_errors[type(error).__name__] += 1
            batch.settle()
            return
        batch.create_ms.append((time.monotonic_ns() - sent) / 1e6)
        if status != 201:
            batch.create_errors[f"HTTP {status}"] += 1
            batch.settle()
            return
        batch.call_ids[index] = orjson.loads(answer)["callId"]

    async def run(
        self, nodes: list[Server], batch: Batch, app: str, wait_for_ends: bool = True
    ) -> None:
        """Create `batch.size` calls, the nodes in turn, at most `batch.in_flight` alive at
        once; with `wait_for_ends`, wait until each ended (or --timeout)."""
        batch.slots = slots = asyncio.Semaphore(batch.in_flight)
        tasks: set[asyncio.Task[None]] = set()
        batch.first_sent_ns = time.monotonic_ns()
        for index in range(batch.size):
            await slots.acquire()
            node = nodes[index % len(nodes)]
            task = asyncio.create_task(self.create(node, batch, index, app))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks, timeout=self.options.timeout)
        if wait_for_ends:
            try:
                await asyncio.wait_for(batch.done.wait(), self.options.timeout)
            except TimeoutError:
                progress(
                    f"timed out: {len(batch.ended_ns)} of {batch.size} calls ended within "
                    f"{self.options.timeout:.0f} s"
                )
        for task in tasks:
            task.cancel()


# -- CPU ------------------------------------------------------------------------------------
def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True, slots=True)
class CpuMark:
    wall: float
    nodes: tuple[float, ...]
    postgres: float
    bench: float
    machine: float

    @classmethod
    def take(cls, pids: list[int], postmaster: int) -> CpuMark:
        return cls(
            time.monotonic(),
            tuple(_process_cpu(pid) for pid in pids),
            _server_cpu(postmaster),
            _own_cpu(),
            _machine_busy(),
        )


# -- a measurement --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Measurement:
    setup: str
    round: int
    calls: int
    hangups: int
    wall_s: float
    create_p50_ms: float
    create_p99_ms: float
    causes: dict[str, int]
    create_errors: dict[str, int]
    node_cpu: tuple[float, ...]  # CPU-s of each node over the measurement
    postgres_cpu: float
    bench_cpu: float
    cpu_wall_s: float
    machine_cpu: float
    idle_node_cores: float  # every node's CPU at rest, in cores
    idle_postgres_cores: float
    # PostgreSQL's commits and rows written over the whole setup (calls by hand, warm-up and
    # measured calls, all complete), per complete call
    commits_per_call: float
    rows_per_call: float

    @property
    def complete(self) -> bool:
        return self.hangups == self.calls and not self.create_errors

    @property
    def rate(self) -> float:
        return self.hangups / self.wall_s if self.wall_s > 0 else 0.0

    def per_call_ms(self, cpu: float) -> float:
        return cpu / self.hangups * 1000 if self.hangups else 0.0

    @property
    def node_ms(self) -> float:
        return self.per_call_ms(sum(self.node_cpu))

    @property
    def postgres_ms(self) -> float:
        return self.per_call_ms(self.postgres_cpu)

    @property
    def other(self) -> float:
        ours = sum(self.node_cpu) + self.postgres_cpu + self.bench_cpu
        return max(0.0, self.machine_cpu - ours) / self.cpu_wall_s


@dataclass(frozen=True, slots=True)
class Takeover:
    lease_s: float
    heartbeat_s: float
    calls: int
    answered: int
    lease_left_s: float  # of A's lease when it was killed (the database's clock)
    pending_at_kill: dict[str, int]  # A's events in the outbox not yet recorded delivered
    answers_again: int  # answer webhooks received more than once (redelivered by B)
    arrivals_s: list[float]  # each of A's calls' first disconnect, seconds after the SIGKILL
    duplicates: int  # disconnects beyond the first, of any call
    causes: dict[str, int]
    messages: dict[str, int]
    takeovers_logged: str

    @property
    def ok(self) -> bool:
        return (
            len(self.arrivals_s) == self.calls
            and self.duplicates == 0
            and self.causes == {"error": self.calls}
            and self.messages == {TAKEOVER_ERROR: self.calls}
        )


@dataclass(frozen=True, slots=True)
class Result:
    options: Options
    measurements: list[Measurement]
    takeovers: list[Takeover]


class Bench:
    """One cluster for the run; nodes started and stopped per setup."""

    def __init__(
        self, options: Options, processes: Processes, work: Path, url: str, postmaster: int
    ) -> None:
        self.options = options
        self.processes = processes
        self.work = work
        self.url = url
        self.postmaster = postmaster
        self.password = secrets.token_hex(16)
        self.receiver = Receiver()
        self.count = 0

    # -- nodes ------------------------------------------------------------------------------
    def config(self, name: str, schema: str | None, lease: tuple[float, float] | None) -> Path:
        self.count += 1
        directory = self.work / f"{self.count:02d}-{name}"
        directory.mkdir()
        tables = f"[simulator]\ntime_scale = {self.options.time_scale}\n"
        tables += "[simulator.default]\nanswer_after = 1.0\n"
        if schema is not None:
            tables += f'[store]\nurl = "{self.url}"\nschema = "{schema}"\n'
            tables += f'[node]\nid = "{name}"\n'
            if lease is not None:
                tables += f"lease_seconds = {lease[0]}\nheartbeat_seconds = {lease[1]}\n"
        return write_config(
            directory,
            self.password,
            limits=UNLIMITED_LIMITS,  # no call is refused or queued
            simulator=tables,
            server="drain_seconds = 1.0",
        )

    def start_nodes(
        self, count: int, schema: str | None, lease: tuple[float, float] | None = None
    ) -> list[Server]:
        nodes: list[Server] = []
        for index in range(count):
            name = f"node-{'ab'[index]}"
            config = self.config(name, schema, lease)
            if nodes:
                # The keys every node of a deployment shares (docs/operations.md, Several
                # nodes): the first node made them; the others get copies before they start.
                first, data = nodes[0].log.parent / "data", config.parent / "data"
                data.mkdir()
                for key in SHARED_KEYS:
                    shutil.copy2(first / key, data / key)
            port = free_port()
            nodes.append(
                start_server(
                    self.processes,
                    name,
                    switchboard_argv(config, port),
                    port,
                    self.options.server_cpu,
                    config.parent / "switchboard.log",
                    ready=partial(answers_ok, f"http://{HOST}:{port}/readyz"),
                )
            )
        return nodes

    def profile(
        self, setup: str, round_: int, nodes: list[Server]
    ) -> list[subprocess.Popen[bytes]]:
        """With --profile, py-spy samples each node of round 1 (not the figures to quote:
        py-spy takes CPU beside this process) into collapsed stacks, one file per node."""
        if self.options.profile is None or round_ != 1:
            return []
        self.options.profile.mkdir(parents=True, exist_ok=True)
        profilers = []
        for node in nodes:
            output = self.options.profile / f"{setup.replace(' ', '-')}-{node.name}.txt"
            argv = [self.options.py_spy, "record", *self.options.py_spy_args.split()]
            argv += ["--format", "raw"]
            argv += ["--rate", "200", "--pid", str(node.process.pid), "--output", str(output)]
            profilers.append(self.processes.start(argv))
        time.sleep(0.5)  # py-spy attaches
        return profilers

    def stop_nodes(self, nodes: list[Server]) -> None:
        for node in nodes:
            self.processes.stop(node.process)

    # -- the database -----------------------------------------------------------------------
    async def admin(self, statement: sql.Composed | str) -> None:
        async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as db:
            await db.execute(statement)

    async def database_stats(self) -> tuple[int, int]:
        """The database's commits and rows written (inserted, updated, deleted) so far, read
        once no other client is connected: a backend reports its counts when it ends (while it
        runs, at most every second or so)."""
        async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as db:
            deadline = time.monotonic() + STATS_WAIT_S
            while time.monotonic() < deadline:
                row = await (await db.execute(OTHER_CLIENTS)).fetchone()
                if row is not None and row[0] == 0:
                    break
                await asyncio.sleep(0.05)  # the nodes' backends are ending
            row = await (await db.execute(DATABASE_STATS)).fetchone()
            assert row is not None
            return int(row[0]), int(row[1])

    async def drop(self, schema: str) -> None:
        await self.admin(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))

    # -- complete calls ---------------------------------------------------------------------
    async def measure(self, driver: Driver, setup: str, round_: int) -> Measurement:
        options = self.options
        count = 2 if "x2" in setup else 1
        in_flight = options.in_flight * (2 if setup == SCALED else 1)
        schema = None if setup == "sqlite" else f"nodes_{round_}_{count}_{secrets.token_hex(3)}"
        progress(f"round {round_}: {setup}: starting {count} node(s)")
        stats_before = await self.database_stats()
        nodes = self.start_nodes(count, schema)
        try:
            app = self.receiver.base
            # One call by hand on each node: the password's slow hash, and the flow works.
            first = driver.new_batch(count, count)
            await driver.run(nodes, first, app)
            if first.causes.get("hangup") != count:
                raise BenchError(
                    f"{setup}: the first calls did not end with a hangup: causes "
                    f"{dict(first.causes)}, create errors {dict(first.create_errors)}\n"
                    + nodes[0].log_tail()
                )
            if options.warmup:
                await driver.run(nodes, driver.new_batch(options.warmup, in_flight), app)
            await self.admin("CHECKPOINT")
            pids = [node.process.pid for node in nodes]
            # At rest (no call alive): what the nodes and the database cost by the second
            # (heartbeats, polls), which a slower setup spreads over fewer calls.
            rest = CpuMark.take(pids, self.postmaster)
            await asyncio.sleep(options.idle)
            rested = CpuMark.take(pids, self.postmaster)
            progress(
                f"round {round_}: {setup}: measuring {options.calls} calls, {in_flight} in flight"
            )
            batch = driver.new_batch(options.calls, in_flight)
            profilers = self.profile(setup, round_, nodes)
            before = CpuMark.take(pids, self.postmaster)
            try:
                await driver.run(nodes, batch, app)
                after = CpuMark.take(pids, self.postmaster)
            finally:
                for profiler in profilers:  # py-spy writes its samples on SIGINT
                    profiler.send_signal(signal.SIGINT)
                    profiler.wait(SCRIPT_TIMEOUT_S)
                    self.processes.stop(profiler)
            for node in nodes:
                node.check_running(f"during {setup}")
        finally:
            self.stop_nodes(nodes)
            stats_after = await self.database_stats()
            if schema is not None:
                await self.drop(schema)
        ended = sorted(batch.ended_ns.values())
        setup_calls = count + options.warmup + options.calls
        return Measurement(
            setup=setup,
            round=round_,
            calls=options.calls,
            hangups=batch.causes.get("hangup", 0),
            wall_s=(ended[-1] - batch.first_sent_ns) / 1e9 if ended else 0.0,
            create_p50_ms=percentile(batch.create_ms, 0.50),
            create_p99_ms=percentile(batch.create_ms, 0.99),
            causes=dict(batch.causes),
            create_errors=dict(batch.create_errors),
            node_cpu=tuple(b - a for a, b in zip(before.nodes, after.nodes, strict=True)),
            postgres_cpu=after.postgres - before.postgres,
            bench_cpu=after.bench - before.bench,
            cpu_wall_s=after.wall - before.wall,
            machine_cpu=after.machine - before.machine,
            idle_node_cores=(sum(rested.nodes) - sum(rest.nodes)) / (rested.wall - rest.wall),
            idle_postgres_cores=(rested.postgres - rest.postgres) / (rested.wall - rest.wall),
            commits_per_call=(stats_after[0] - stats_before[0]) / setup_calls,
            rows_per_call=(stats_after[1] - stats_before[1]) / setup_calls,
        )

    # -- takeover ---------------------------------------------------------------------------
    async def query(self, schema: str, text: str, node_id: str) -> list[tuple[Any, ...]]:
        """Rows of `text` ({} names `schema`'s tables, %s the node) on a connection of its own."""
        async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as db:
            statement = sql.SQL(text).format(sql.Identifier(schema))
            cursor = await db.execute(statement, (node_id,))
            return await cursor.fetchall()

    async def takeover(self, driver: Driver, lease: tuple[float, float]) -> Takeover:
        options = self.options
        schema = f"takeover_{secrets.token_hex(3)}"
        progress(f"takeover, lease {lease[0]:g} s / heartbeat {lease[1]:g} s: starting 2 nodes")
        node_a, node_b = nodes = self.start_nodes(2, schema, lease)
        try:
            # All created at once: a held call never ends by itself to free a slot.
            batch = driver.new_batch(options.takeover_calls, options.takeover_calls)
            await driver.run([node_a], batch, self.receiver.base + HOLD_PREFIX, False)
            if batch.create_errors:
                raise BenchError(f"takeover: create-call errors {dict(batch.create_errors)}")
            deadline = time.monotonic() + ANSWERED_WAIT_S
            answered = 0
            while time.monotonic() < deadline:
                (row,) = await self.query(schema, OWNED_ANSWERED, "node-a")
                answered = int(row[0])
                if answered == batch.size and len(batch.answered) == batch.size:
                    break
                await asyncio.sleep(0.05)  # the nodes answer and store in real time
            else:
                raise BenchError(
                    f"takeover: {answered} of {batch.size} calls answered on node A in "
                    f"{ANSWERED_WAIT_S:.0f} s"
                )
            progress(f"takeover: {batch.size} calls answered on node A; SIGKILL node A")
            killed_ns = time.monotonic_ns()
            self.processes.kill(node_a.process)
            ((left,),) = await self.query(schema, LEASE_LEFT, "node-a")
            pending = dict(await self.query(schema, PENDING_EVENTS, "node-a"))
            try:
                await asyncio.wait_for(batch.done.wait(), lease[0] + lease[1] + 30)
            except TimeoutError:
                progress(f"takeover: {len(batch.ended_ns)} of {batch.size} calls ended")
            await asyncio.sleep(DUPLICATE_WAIT_S)  # a second disconnect of any call?
            node_b.check_running("after the takeover")
            log = node_b.log.read_text(errors="replace")
            adopted = [line for line in log.splitlines() if "adopted" in line]
        finally:
            self.stop_nodes(nodes)
            await self.drop(schema)
        return Takeover(
            lease_s=lease[0],
            heartbeat_s=lease[1],
            calls=batch.size,
            answered=answered,
            lease_left_s=float(left),
            pending_at_kill={str(kind): int(count) for kind, count in pending.items()},
            answers_again=sum(batch.answers.values()) - len(batch.answers),
            arrivals_s=sorted((ended - killed_ns) / 1e9 for ended in batch.ended_ns.values()),
            duplicates=sum(batch.disconnects.values()) - len(batch.disconnects),
            causes=dict(batch.causes),
            messages=dict(batch.messages),
            takeovers_logged="; ".join(
                line.split(" switchboard.nodes ", 1)[-1] for line in adopted[:3]
            ),
        )

    async def run(self) -> Result:
        options = self.options
        await self.receiver.start()
        connector = aiohttp.TCPConnector(limit=2 * options.in_flight + 10)
        try:
            async with aiohttp.ClientSession(
                connector=connector,
                headers=api_headers(self.password),
                timeout=aiohttp.ClientTimeout(total=30),
            ) as session:
                driver = Driver(options, self.receiver, session)
                measurements = []
                for round_ in range(1, options.rounds + 1):
                    order = SETUPS if round_ % 2 else tuple(reversed(SETUPS))
                    for setup in order:
                        measurements.append(await self.measure(driver, setup, round_))
                takeovers = [
                    await self.takeover(driver, lease) for lease in options.takeover_leases
                ]
        finally:
            await self.receiver.stop()
        return Result(options, measurements, takeovers)


def run(options: Options, processes: Processes, work: Path) -> Result:
    with throwaway_cluster("nodes", options.pg_cpu) as cluster:
        os.sched_setaffinity(0, {options.client_cpu})
        bench = Bench(options, processes, work, cluster.url, cluster.postmaster)
        try:
            return uvloop.run(bench.run())
        finally:
            processes.stop_all()  # the nodes first: they hold connections to the cluster


# -- the report -----------------------------------------------------------------------------
def totals(measurements: list[Measurement], setup: str) -> tuple[float, float, int]:
    """Node CPU-s, PostgreSQL CPU-s and complete calls of `setup` over every round."""
    chosen = [m for m in measurements if m.setup == setup]
    return (
        sum(sum(m.node_cpu) for m in chosen),
        sum(m.postgres_cpu for m in chosen),
        sum(m.hangups for m in chosen),
    )


def ratio(a: float, b: float) -> float:
    return a / b if b else float("inf")


def report(result: Result) -> bool:
    options = result.options
    print()
    print(
        f"Nodes on CPU {options.server_cpu}; PostgreSQL on CPU {options.pg_cpu}; this process "
        f"(load and webhook receiver) on CPU {options.client_cpu}. {options.calls:,} measured "
        f"calls per setup and round after {options.warmup} warm-up, {options.in_flight} in "
        f"flight, time_scale {options.time_scale}"
    )
    print()
    header = (
        f"{'setup':<16}{'round':>6}{'calls/s':>9}{'create p50':>11}{'p99 ms':>8}"
        f"{'node cores':>12}{'node ms/call':>13}{'pg ms/call':>11}{'node+pg':>9}"
        f"{'calls/node-CPU-s':>17}{'idle node/pg':>14}{'pg commits, rows':>17}"
        f"{'bench':>7}{'other':>7}"
    )
    print(header)
    print("-" * len(header))
    for m in sorted(result.measurements, key=lambda m: (SETUPS.index(m.setup), m.round)):
        cores = "+".join(f"{cpu / m.cpu_wall_s:.2f}" for cpu in m.node_cpu)
        idle = f"{m.idle_node_cores:.3f}/{m.idle_postgres_cores:.3f}"
        written = f"{m.commits_per_call:.2f}, {m.rows_per_call:.1f}"
        print(
            f"{m.setup:<16}{m.round:>6}{m.rate:>9,.0f}{m.create_p50_ms:>11.2f}"
            f"{m.create_p99_ms:>8.2f}{cores:>12}{m.node_ms:>13.3f}{m.postgres_ms:>11.3f}"
            f"{m.node_ms + m.postgres_ms:>9.3f}"
            f"{1000 / m.node_ms if m.node_ms else 0:>17,.0f}{idle:>14}{written:>17}"
            f"{m.bench_cpu / m.cpu_wall_s:>7.2f}{m.other:>7.2f}"
        )
    print(
        "(node cores: each node's CPU in cores during the measurement; ms/call: CPU ms per "
        "complete call;\n idle node/pg: cores used at rest before it; pg commits, rows: "
        "PostgreSQL's commits and rows written per complete call over the whole setup; bench, "
        "other: cores)"
    )
    incomplete = [m for m in result.measurements if not m.complete]
    for m in incomplete:
        print(
            f"{m.setup} round {m.round}: of {m.calls:,} calls {m.hangups:,} ended with a "
            f"hangup (causes {m.causes}, create errors {m.create_errors}): it does not count"
        )
    disturbed = [m for m in result.measurements if m.other > 0.10]
    if disturbed:
        print(
            "disturbed (other > 0.10 core): "
            + ", ".join(f"{m.setup} round {m.round} ({m.other:.2f})" for m in disturbed)
        )

    sqlite_node, _, sqlite_calls = totals(result.measurements, "sqlite")
    pg_node, pg_pg, pg_calls = totals(result.measurements, "postgres")
    two_node, two_pg, two_calls = totals(result.measurements, "postgres x2")
    scaled_node, scaled_pg, scaled_calls = totals(result.measurements, SCALED)
    per = {
        "sqlite": ratio(sqlite_node, sqlite_calls),
        "postgres": ratio(pg_node, pg_calls),
        "postgres+pg": ratio(pg_node + pg_pg, pg_calls),
        "x2": ratio(two_node, two_calls),
        "x2+pg": ratio(two_node + two_pg, two_calls),
        "x2 2x": ratio(scaled_node, scaled_calls),
        "x2 2x+pg": ratio(scaled_node + scaled_pg, scaled_calls),
    }
    print()
    print("Per round (same round, minutes apart):")
    for round_ in range(1, options.rounds + 1):
        by = {m.setup: m for m in result.measurements if m.round == round_}
        s, p, two, scaled = by["sqlite"], by["postgres"], by["postgres x2"], by[SCALED]
        both, scaled_both = two.node_ms + two.postgres_ms, scaled.node_ms + scaled.postgres_ms
        print(
            f"  round {round_}: postgres/sqlite node {ratio(p.node_ms, s.node_ms):.2f}x, "
            f"node+pg {ratio(p.node_ms + p.postgres_ms, s.node_ms):.2f}x; 2 nodes/1 node "
            f"node {ratio(two.node_ms, p.node_ms):.2f}x "
            f"(2x alive {ratio(scaled.node_ms, p.node_ms):.2f}x), "
            f"node+pg {ratio(both, p.node_ms + p.postgres_ms):.2f}x "
            f"(2x alive {ratio(scaled_both, p.node_ms + p.postgres_ms):.2f}x)"
        )
    print()
    postgres_ratio = ratio(per["postgres"], per["sqlite"])
    two_ratio = ratio(per["x2"], per["postgres"])
    scaled_ratio = ratio(per["x2 2x"], per["postgres"])
    complete = not incomplete
    checks = [
        (
            f"PostgreSQL node CPU per call: {postgres_ratio:.2f}x SQLite's "
            f"({per['postgres'] * 1000:.3f} vs {per['sqlite'] * 1000:.3f} ms)",
            f"<= {POSTGRES_TARGET}x",
            complete and postgres_ratio <= POSTGRES_TARGET,
        ),
        (
            f"2 nodes' CPU per call, {2 * options.in_flight} alive: {scaled_ratio:.2f}x one "
            f"PostgreSQL node's ({per['x2 2x'] * 1000:.3f} vs {per['postgres'] * 1000:.3f} ms)",
            f"<= {TWO_NODES_TARGET}x",
            complete and scaled_ratio <= TWO_NODES_TARGET,
        ),
    ]
    width = max(len(figure) for figure, _, _ in checks) + 3
    for figure, target, ok in checks:
        print(f"{figure:<{width}}{target:<10}{verdict(ok)}")
    print(
        f"(the same {options.in_flight} alive split over 2 nodes: {two_ratio:.2f}x one node's, "
        f"{per['x2'] * 1000:.3f} ms/call: each node at half the load; not judged, see the "
        "docstring)"
    )
    print(
        f"with PostgreSQL's CPU: 1 node {per['postgres+pg'] * 1000:.3f} ms/call "
        f"({ratio(per['postgres+pg'], per['sqlite']):.2f}x SQLite's node), 2 nodes "
        f"{per['x2+pg'] * 1000:.3f} ms/call ({ratio(per['x2+pg'], per['postgres+pg']):.2f}x "
        f"one node's), 2 nodes at 2x alive {per['x2 2x+pg'] * 1000:.3f} ms/call "
        f"({ratio(per['x2 2x+pg'], per['postgres+pg']):.2f}x)"
    )
    passed = all(ok for _, _, ok in checks)

    if result.takeovers:
        print()
        print(
            f"Takeover after a SIGKILL of node A ({options.takeover_calls} answered calls in a "
            "<Pause>), seconds after the SIGKILL:"
        )
        header = (
            f"{'lease/heartbeat':<16}{'lease left':>11}{'first':>8}{'p50':>8}{'last':>8}"
            f"{'last-lease left':>16}{'ended':>7}{'dupes':>6}  causes"
        )
        print(header)
        print("-" * len(header))
        for k in result.takeovers:
            arrivals = k.arrivals_s
            first = arrivals[0] if arrivals else float("nan")
            last = arrivals[-1] if arrivals else float("nan")
            print(
                f"{f'{k.lease_s:g} s / {k.heartbeat_s:g} s':<16}{k.lease_left_s:>11.2f}"
                f"{first:>8.2f}{percentile(arrivals, 0.5):>8.2f}{last:>8.2f}"
                f"{last - k.lease_left_s:>16.2f}{len(arrivals):>7}{k.duplicates:>6}  {k.causes}"
            )
            print(
                f"  events of A's calls pending in the outbox at the SIGKILL: "
                f"{k.pending_at_kill or 'none'}; answer webhooks received again: {k.answers_again}"
            )
            if k.takeovers_logged:
                print(f"  node B logged: {k.takeovers_logged}")
            ok = k.ok
            print(
                f"  every call ended once, cause error, 'media was lost': {verdict(ok)}; "
                f"last {last:.2f} s after the SIGKILL = {last / k.lease_s:.2f} x the lease"
            )
            passed = passed and ok
    return passed


def parse_leases(text: str) -> tuple[tuple[float, float], ...]:
    leases = []
    for item in filter(None, text.split(",")):
        lease, _, heartbeat = item.partition(":")
        leases.append((float(lease), float(heartbeat)))
    return tuple(leases)


def parse_options(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=2000, help="measured calls per setup")
    parser.add_argument("--warmup", type=int, default=300, help="warm-up calls per setup")
    parser.add_argument("--in-flight", type=int, default=100, help="calls alive at once (100)")
    parser.add_argument("--rounds", type=int, default=2, help="each setup's measurements (2)")
    parser.add_argument(
        "--time-scale", type=float, default=0.01, help="[simulator] time_scale (0.01)"
    )
    parser.add_argument(
        "--idle", type=float, default=3.0, help="seconds at rest measured per setup (3)"
    )
    parser.add_argument(
        "--takeover-calls", type=int, default=100, help="calls live on the killed node (100)"
    )
    parser.add_argument(
        "--takeover-leases",
        default="2:0.5,10:2",
        help="lease:heartbeat seconds of each takeover ('2:0.5,10:2'; '' for none)",
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="longest wait for a batch")
    parser.add_argument("--time-limit", type=int, default=600, help="hard bound on the run")
    parser.add_argument(
        "--profile",
        type=Path,
        help="py-spy each node of round 1 into this directory (collapsed stacks; slows the run)",
    )
    parser.add_argument("--py-spy", default="py-spy", help="the py-spy to run (py-spy)")
    parser.add_argument(
        "--py-spy-args",
        default="--nonblocking --gil",
        help="py-spy record's sampling options ('--nonblocking --gil': the thread holding the "
        "GIL, without stopping the node)",
    )
    parser.add_argument("--pg-cpu", type=int, default=1, help="core of PostgreSQL (1)")
    add_run_arguments(parser, "this process (load + webhooks)")
    args = parser.parse_args(argv)
    if min(args.calls, args.in_flight, args.rounds, args.takeover_calls) < 1 or args.warmup < 0:
        parser.error("calls, in-flight, rounds and takeover-calls must be positive")
    if not 0 < args.time_scale <= 1:
        parser.error("--time-scale must be in (0, 1]")
    return Options(
        **{
            name: getattr(args, name)
            for name in Options.__dataclass_fields__
            if name != "takeover_leases"
        },
        takeover_leases=parse_leases(args.takeover_leases),
    )


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    # As bench_main, with a hard bound on the whole run (whatever hangs).
    try:
        check_cpus(options.server_cpu, options.client_cpu)
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    return run_bench(
        lambda processes, work: run(options, processes, work),
        report,
        keep=options.keep,
        check=options.check,
        time_limit=options.time_limit,
    )


if __name__ == "__main__":
    sys.exit(main())
