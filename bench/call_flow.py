"""Complete calls per second, end to end (issue 3).

    .venv/bin/python bench/call_flow.py [--calls 5000] [--in-flight 100]  (or: make bench-call-flow)

One complete call: POST /api/v2/accounts/{id}/calls -> the simulated callee answers -> `answer`
webhook -> BXML <SpeakSentence> + <Gather gatherUrl maxDigits="1"> + <Hangup/> -> the callee
presses 1 -> `gather` webhook -> <Hangup/> -> `disconnect` webhook (cause hangup).

What runs, all on 127.0.0.1:
- the server, `switchboard serve --config <temp> --port <free>`, pinned to --server-cpu, with a
  temporary data dir, `[simulator] time_scale` 0.001 (ringing, speech and the key press cost
  microseconds of wall time) and the account's limits raised so that no call is refused;
- the application, bench/webhook_app.py (aiohttp + uvloop, own process) on --client-cpu;
- the load driver, this process (aiohttp client + uvloop), also on --client-cpu: it keeps
  --in-flight calls alive at once (a new call is created when one's disconnect webhook has
  reached the application) until --calls calls were made, after one call by hand (the slow
  password hash) and --warmup calls.

Measured: complete calls/s = calls whose disconnect webhook (cause hangup) arrived / wall time
from the first create request to the last disconnect; the create-call latency (request to
201) p50/p99 under that load; the whole call (create request to disconnect arrival) p50/p99;
CPU of each process and of others ("other CPU" above 0.1 core: the run was disturbed).
Every process is stopped by its PID, also on error or Ctrl-C; the temp dir is removed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import orjson
import uvloop

from common import (
    CALLS_PATH,
    UNLIMITED_LIMITS,
    BenchError,
    Callback,
    CpuMeter,
    CpuShare,
    Processes,
    Server,
    add_run_arguments,
    api_headers,
    bench_main,
    call_request,
    follow_callbacks,
    options_from,
    percentile,
    progress,
    start_switchboard,
    start_webhook_app,
    verdict,
    write_config,
)

TARGET_CALLS_PER_SECOND = 500.0


@dataclass(frozen=True, slots=True)
class Options:
    calls: int
    warmup: int
    in_flight: int
    connections: int
    time_scale: float
    timeout: float
    server_cpu: int
    client_cpu: int
    keep: bool
    check: bool


@dataclass(slots=True)
class Batch:
    """One run of calls: what the driver saw of each."""

    prefix: str
    size: int
    sent_ns: dict[int, int] = field(default_factory=dict)
    create_ms: list[float] = field(default_factory=list)
    create_errors: Counter[str] = field(default_factory=Counter)
    ended_ns: dict[int, int] = field(default_factory=dict)
    causes: Counter[str] = field(default_factory=Counter)
    gathers: Counter[str] = field(default_factory=Counter)
    first_sent_ns: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)
    slots: asyncio.Semaphore | None = None

    @property
    def finished(self) -> int:
        return len(self.ended_ns) + sum(self.create_errors.values())


@dataclass(frozen=True, slots=True)
class Result:
    options: Options
    calls: int
    completed: int
    hangups: int
    wall_s: float
    create_p50_ms: float
    create_p99_ms: float
    call_p50_ms: float
    call_p99_ms: float
    causes: dict[str, int]
    gathers: dict[str, int]
    create_errors: dict[str, int]
    cpu: CpuShare
    app_counts: dict[str, int]

    @property
    def rate(self) -> float:
        return self.hangups / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def server_ms_per_call(self) -> float:
        """Server CPU time per complete call (its whole life: API, engine, webhooks, store)."""
        busy = self.cpu.by_process["server"] * self.cpu.seconds
        return busy / self.hangups * 1000 if self.hangups else 0.0


class Driver:
    def __init__(self, options: Options, server: Server, app: Server, password: str) -> None:
        self.options = options
        self.server = server
        self.app = app
        self.headers = api_headers(password)
        self.batches: dict[str, Batch] = {}

    def body(self, tag: str) -> bytes:
        return orjson.dumps(call_request(app=self.app.url(""), tag=tag))

    def on_callback(self, callback: Callback) -> None:
        """Settle the call a callback belongs to (its tag: batch prefix + index)."""
        batch = self.batches.get(callback.tag[:1])
        if batch is None or not callback.tag[1:].isdigit():
            return
        index = int(callback.tag[1:])
        if callback.event_type == "gather":
            batch.gathers[callback.extra] += 1
        elif callback.event_type == "disconnect" and index not in batch.ended_ns:
            batch.ended_ns[index] = callback.arrival_ns
            batch.causes[callback.extra] += 1
            self._settle(batch)

    def _settle(self, batch: Batch) -> None:
        if batch.slots is not None:
            batch.slots.release()
        if batch.finished >= batch.size:
            batch.done.set()

    async def create(self, session: aiohttp.ClientSession, batch: Batch, index: int) -> None:
        sent = time.monotonic_ns()
        batch.sent_ns[index] = sent
        try:
            async with session.post(
                self.server.url(CALLS_PATH), data=self.body(f"{batch.prefix}{index}")
            ) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as error:
            batch.create_errors[type(error).__name__] += 1
            self._settle(batch)
            return
        batch.create_ms.append((time.monotonic_ns() - sent) / 1e6)
        if status != 201:
            batch.create_errors[f"HTTP {status}"] += 1
            self._settle(batch)

    async def run_batch(self, session: aiohttp.ClientSession, batch: Batch) -> None:
        """Create `batch.size` calls with at most --in-flight alive at once; wait for them."""
        self.batches[batch.prefix] = batch
        batch.slots = slots = asyncio.Semaphore(self.options.in_flight)
        tasks: set[asyncio.Task[None]] = set()
        batch.first_sent_ns = time.monotonic_ns()
        for index in range(batch.size):
            await slots.acquire()
            task = asyncio.create_task(self.create(session, batch, index))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        try:
            await asyncio.wait_for(batch.done.wait(), self.options.timeout)
        except TimeoutError:
            progress(
                f"timed out: {len(batch.ended_ns)} of {batch.size} calls ended within "
                f"{self.options.timeout:.0f} s"
            )
        for task in tasks:
            task.cancel()

    async def run(self, processes: dict[str, int]) -> Result:
        options = self.options
        connector = aiohttp.TCPConnector(limit=options.connections + 1)
        async with aiohttp.ClientSession(
            connector=connector,
            headers=self.headers,
            timeout=aiohttp.ClientTimeout(total=30),
        ) as session:
            ready = asyncio.Event()
            follower = asyncio.create_task(
                follow_callbacks(session, self.app.url("/stream"), self.on_callback, ready)
            )
            await asyncio.wait_for(ready.wait(), 10)
            try:
                # The first call verifies the password with the slow hash.
                first = Batch("h", 1)
                await self.run_batch(session, first)
                if first.causes.get("hangup") != 1:
                    raise BenchError(
                        f"the first call did not end with a hangup: causes {dict(first.causes)}, "
                        f"create errors {dict(first.create_errors)}, "
                        f"gathers {dict(first.gathers)}"
                    )
                if options.warmup:
                    progress(f"warm-up: {options.warmup} calls")
                    await self.run_batch(session, Batch("w", options.warmup))
                progress(
                    f"measuring: {options.calls} calls, {options.in_flight} in flight, "
                    f"time_scale {options.time_scale}"
                )
                batch = Batch("m", options.calls)
                meter = CpuMeter(processes)
                await self.run_batch(session, batch)
                cpu = meter.stop()
                async with session.get(self.app.url("/stats")) as response:
                    app_counts = orjson.loads(await response.read())
            finally:
                follower.cancel()
        ended = sorted(batch.ended_ns.values())
        wall_s = (ended[-1] - batch.first_sent_ns) / 1e9 if ended else 0.0
        durations = [
            (batch.ended_ns[index] - batch.sent_ns[index]) / 1e6 for index in batch.ended_ns
        ]
        return Result(
            options=options,
            calls=options.calls,
            completed=len(ended),
            hangups=batch.causes.get("hangup", 0),
            wall_s=wall_s,
            create_p50_ms=percentile(batch.create_ms, 0.50),
            create_p99_ms=percentile(batch.create_ms, 0.99),
            call_p50_ms=percentile(durations, 0.50),
            call_p99_ms=percentile(durations, 0.99),
            causes=dict(batch.causes),
            gathers=dict(batch.gathers),
            create_errors=dict(batch.create_errors),
            cpu=cpu,
            app_counts=app_counts,
        )


def run(options: Options, processes: Processes, work: Path) -> Result:
    os.sched_setaffinity(0, {options.client_cpu})
    password = secrets.token_hex(16)
    config = write_config(
        work,
        password,
        limits=UNLIMITED_LIMITS,  # no call is refused or queued
        simulator=(
            f"[simulator]\ntime_scale = {options.time_scale}\n"
            # Rings 2 s (call time), then presses 1 as soon as the Gather listens.
            '[simulator.default]\nanswer_after = 2.0\ndigits = "1"\ndigit_delay = 0.0\n'
        ),
    )
    server = start_switchboard(processes, config, options.server_cpu, work)
    app = start_webhook_app(processes, "flow", options.client_cpu, work)
    driver = Driver(options, server, app, password)
    pids = {"server": server.process.pid, "app": app.process.pid}
    result = uvloop.run(driver.run(pids))
    server.check_running()
    app.check_running()
    return result


def report(result: Result) -> bool:
    options = result.options
    cpu = result.cpu.by_process
    print()
    print(
        f"Server on CPU {options.server_cpu}; webhook app and load driver on CPU "
        f"{options.client_cpu}; {options.in_flight} calls in flight, time_scale "
        f"{options.time_scale}, {options.warmup} warm-up calls"
    )
    print()
    header = (
        f"{'calls':>7}{'complete':>10}{'wall s':>8}{'calls/s':>9}{'create p50':>12}"
        f"{'p99 ms':>8}{'call p50':>10}{'p99 ms':>8}{'server':>8}{'app':>6}{'driver':>8}"
        f"{'other':>7}"
    )
    print(header)
    print("-" * len(header))
    print(
        f"{result.calls:>7,}{result.hangups:>10,}{result.wall_s:>8.2f}{result.rate:>9,.0f}"
        f"{result.create_p50_ms:>12.2f}{result.create_p99_ms:>8.2f}{result.call_p50_ms:>10.2f}"
        f"{result.call_p99_ms:>8.2f}{cpu['server']:>8.2f}{cpu['app']:>6.2f}{cpu['bench']:>8.2f}"
        f"{result.cpu.other:>7.2f}"
    )
    print("(CPU columns in cores over the measurement; 'call' = create request to disconnect)")
    print(
        f"server CPU per complete call: {result.server_ms_per_call:.2f} ms "
        f"(= {1000 / result.server_ms_per_call if result.server_ms_per_call else 0:,.0f} "
        "calls/s per fully busy core)"
    )
    print(f"disconnect causes: {result.causes}; gather digits: {result.gathers}")
    print(f"callbacks received by the app (all runs): {result.app_counts}")
    if result.create_errors:
        print(f"create-call errors: {result.create_errors}")
    pressed = result.gathers.get("1", 0)
    complete = result.hangups == result.calls == pressed and not result.create_errors
    ok = result.rate >= TARGET_CALLS_PER_SECOND and complete
    print()
    print(
        f"complete calls/s: {result.rate:,.0f}   target >= {TARGET_CALLS_PER_SECOND:.0f}   "
        f"{verdict(ok)}"
    )
    if not complete:
        print(
            f"of {result.calls:,} calls, {result.hangups:,} ended with cause hangup and "
            f"{pressed:,} gathered the digit 1: the run does not count"
        )
    if result.cpu.disturbed:
        print(
            f"other processes used {result.cpu.other:.2f} cores during the measurement: "
            "the figures are disturbed; rerun on a quiet machine"
        )
    return ok


def parse_options(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(description="Complete calls per second, end to end.")
    parser.add_argument("--calls", type=int, default=5000, help="calls measured (5000)")
    parser.add_argument("--warmup", type=int, default=500, help="warm-up calls (500)")
    parser.add_argument("--in-flight", type=int, default=100, help="calls alive at once (100)")
    parser.add_argument(
        "--connections", type=int, default=64, help="driver's HTTP connections (64)"
    )
    parser.add_argument(
        "--time-scale", type=float, default=0.01, help="[simulator] time_scale (0.01)"
    )
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="longest wait for a batch (120 s)"
    )
    add_run_arguments(parser, "app + driver")
    args = parser.parse_args(argv)
    if min(args.calls, args.in_flight, args.connections) < 1 or args.warmup < 0:
        parser.error("calls, in-flight and connections must be positive")
    if not 0 < args.time_scale <= 1 or args.timeout <= 0:
        parser.error("--time-scale must be in (0, 1] and --timeout positive")
    return options_from(Options, args)


def main(argv: list[str] | None = None) -> int:
    return bench_main(parse_options(argv), run, report)


if __name__ == "__main__":
    sys.exit(main())
