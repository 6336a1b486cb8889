"""10,000 calls held answered at once: memory per call, and event-to-webhook delay (issue 3).

    .venv/bin/python bench/concurrency.py [--calls 10000] [--samples 500]
    (or: make bench-concurrency)

What runs, all on 127.0.0.1:
- the server, `switchboard serve --config <temp> --port <free>`, pinned to --server-cpu, with a
  temporary data dir, `[simulator] time_scale = 1` and every phone answering after 0.1 s; the
  account's limits are raised to --cps calls per second and --concurrent calls (the outbound
  queue on), and the ramp-up never asks for more than --rate calls per second (<= --cps);
- the application, bench/webhook_app.py (aiohttp + uvloop, own process) on --client-cpu, which
  answers every call with <StartGather dtmfUrl="dtmf"/> + <Pause duration="3600"/>;
- the load driver, this process (aiohttp client + uvloop), also on --client-cpu.

Steps: one call by hand (the slow password hash) and --warmup calls that hang up at once; the
server's RSS when they are over is "idle". Then --calls calls are created and held (each one's
answer webhook has arrived, /metrics shows them answered); the RSS then, minus idle, over the
number of calls, is the memory per call. While they are held, two samples of --samples live
calls each, one at a time every --interval seconds:
- dtmf: POST /switchboard/v1/accounts/{a}/calls/{c}/callee {"action":"press","digits":"1"}, and
  the delay from sending that request to the `dtmf` webhook reaching the application;
- redirect: POST /api/v2/accounts/{a}/calls/{c} {"redirectUrl": ...} (updateCall), and the
  delay from sending it to the `redirect` webhook reaching the application.
Both clocks are this machine's CLOCK_MONOTONIC. Every process is stopped by its PID, also on
error or Ctrl-C (the held calls die with the server); the temp dir is removed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import secrets
import sys
import time
from collections import Counter
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import orjson
import uvloop

from common import (
    ACCOUNT_ID,
    CALLEE,
    CALLS_PATH,
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
    print_checks,
    proc_status_mb,
    progress,
    start_switchboard,
    start_webhook_app,
    write_config,
)
from webhook_app import HANGUP_NUMBER  # calls it answers with <Hangup/>; the others are held

TARGET_KB_PER_CALL = 50.0
TARGET_P99_MS = 50.0
ANSWERED_GAUGE = re.compile(rb'^switchboard_calls\{state="answered"\} (\S+)$', re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Options:
    calls: int
    warmup: int
    samples: int
    interval: float
    rate: float
    cps: int
    concurrent: int
    connections: int
    timeout: float
    server_cpu: int
    client_cpu: int
    keep: bool
    check: bool


@dataclass(frozen=True, slots=True)
class Sample:
    name: str
    sent: int
    arrived: int
    delays_ms: list[float]
    request_ms: list[float]  # the control request itself, to its answer
    errors: dict[str, int]
    cpu: CpuShare

    @property
    def p50(self) -> float:
        return percentile(self.delays_ms, 0.50)

    @property
    def p99(self) -> float:
        return percentile(self.delays_ms, 0.99)

    @property
    def worst(self) -> float:
        return max(self.delays_ms, default=0.0)


@dataclass(frozen=True, slots=True)
class Result:
    options: Options
    held: int
    answered_gauge: float
    ramp_s: float
    create_p50_ms: float
    create_p99_ms: float
    create_errors: dict[str, int]
    idle_rss_mb: float
    held_rss_mb: float
    peak_rss_mb: float
    ramp_cpu: CpuShare
    samples: list[Sample]

    @property
    def kb_per_call(self) -> float:
        return (self.held_rss_mb - self.idle_rss_mb) * 1024 / max(1, self.held)


@dataclass(slots=True)
class Tracking:
    """What the driver knows of the calls of one kind (tag prefix)."""

    answered: dict[int, str] = field(default_factory=dict)  # index -> callId
    ended: Counter[str] = field(default_factory=Counter)  # cause -> calls
    arrivals: dict[tuple[str, int], int] = field(default_factory=dict)  # (event, index) -> ns
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class Driver:
    def __init__(self, options: Options, server: Server, app: Server, password: str) -> None:
        self.options = options
        self.server = server
        self.app = app
        self.headers = api_headers(password)
        self.kinds: dict[str, Tracking] = {"h": Tracking(), "w": Tracking(), "c": Tracking()}

    def on_callback(self, callback: Callback) -> None:
        tracking = self.kinds.get(callback.tag[:1])
        if tracking is None or not callback.tag[1:].isdigit():
            return
        index = int(callback.tag[1:])
        if callback.event_type == "answer":
            tracking.answered[index] = callback.call_id
        elif callback.event_type == "disconnect":
            tracking.ended[callback.extra] += 1
        else:
            tracking.arrivals.setdefault((callback.event_type, index), callback.arrival_ns)
        tracking.changed.set()

    async def wait_for(self, kind: str, done: str, count: int, seconds: float) -> None:
        """Until `count` calls of `kind` were answered (done="answered") or ended."""
        tracking = self.kinds[kind]
        deadline = time.monotonic() + seconds
        while True:
            have = len(tracking.answered) if done == "answered" else tracking.ended.total()
            if have >= count:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BenchError(
                    f"only {have} of {count} calls ({kind}) {done} within {seconds:.0f} s; "
                    f"causes so far: {dict(tracking.ended)}"
                )
            tracking.changed.clear()
            try:
                await asyncio.wait_for(tracking.changed.wait(), remaining)
            except TimeoutError:
                continue

    def body(self, to: str, tag: str) -> bytes:
        return orjson.dumps(call_request(to, app=self.app.url(""), tag=tag))

    async def create_many(
        self, session: aiohttp.ClientSession, to: str, prefix: str, count: int
    ) -> tuple[list[float], Counter[str]]:
        """Create `count` calls at no more than --rate per second, --connections at a time."""
        latencies: list[float] = []
        errors: Counter[str] = Counter()
        slots = asyncio.Semaphore(self.options.connections)
        url = self.server.url(CALLS_PATH)

        async def one(index: int) -> None:
            started = time.perf_counter()
            try:
                async with session.post(url, data=self.body(to, f"{prefix}{index}")) as response:
                    await response.read()
                    if response.status != 201:
                        errors[f"HTTP {response.status}"] += 1
                        return
            except (aiohttp.ClientError, TimeoutError) as error:
                errors[type(error).__name__] += 1
                return
            finally:
                slots.release()
            latencies.append((time.perf_counter() - started) * 1000)

        tasks: list[asyncio.Task[None]] = []
        begin = time.monotonic()
        for index in range(count):
            due = begin + index / self.options.rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await slots.acquire()
            tasks.append(asyncio.create_task(one(index)))
        await asyncio.gather(*tasks)
        return latencies, errors

    async def answered_gauge(self, session: aiohttp.ClientSession) -> float:
        async with session.get(self.server.url("/metrics")) as response:
            text = await response.read()
        match = ANSWERED_GAUGE.search(text)
        return float(match.group(1)) if match else -1.0

    async def sample(
        self,
        session: aiohttp.ClientSession,
        name: str,
        event_type: str,
        indexes: list[int],
        pids: dict[str, int],
    ) -> Sample:
        """One control request at a time; the delay to the webhook it causes."""
        tracking = self.kinds["c"]
        sent_ns: dict[int, int] = {}
        request_ms: list[float] = []
        errors: Counter[str] = Counter()
        meter = CpuMeter(pids)
        begin = time.monotonic()
        for number, index in enumerate(indexes):
            delay = begin + number * self.options.interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            call_id = tracking.answered[index]
            if name == "dtmf":
                url = self.server.url(
                    f"/switchboard/v1/accounts/{ACCOUNT_ID}/calls/{call_id}/callee"
                )
                body = b'{"action":"press","digits":"1"}'
                expect = 204
            else:
                url = self.server.url(f"{CALLS_PATH}/{call_id}")
                body = orjson.dumps({"redirectUrl": self.app.url("/redirect")})
                expect = 200
            sent = time.monotonic_ns()
            sent_ns[index] = sent
            try:
                async with session.post(url, data=body) as response:
                    await response.read()
                    if response.status != expect:
                        errors[f"HTTP {response.status}"] += 1
            except (aiohttp.ClientError, TimeoutError) as error:
                errors[type(error).__name__] += 1
            request_ms.append((time.monotonic_ns() - sent) / 1e6)
        # Let the last webhooks arrive.
        deadline = time.monotonic() + 10
        while any((event_type, index) not in tracking.arrivals for index in indexes):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            tracking.changed.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(tracking.changed.wait(), remaining)
        cpu = meter.stop()
        delays = [
            (tracking.arrivals[(event_type, index)] - sent) / 1e6
            for index, sent in sent_ns.items()
            if (event_type, index) in tracking.arrivals
        ]
        return Sample(
            name=f"{name} -> {event_type} webhook",
            sent=len(sent_ns),
            arrived=len(delays),
            delays_ms=delays,
            request_ms=request_ms,
            errors=dict(errors),
            cpu=cpu,
        )

    async def run(self, pids: dict[str, int]) -> Result:
        options = self.options
        server_pid = pids["server"]
        connector = aiohttp.TCPConnector(limit=options.connections + 2)
        async with aiohttp.ClientSession(
            connector=connector, headers=self.headers, timeout=aiohttp.ClientTimeout(total=60)
        ) as session:
            ready = asyncio.Event()
            follower = asyncio.create_task(
                follow_callbacks(session, self.app.url("/stream"), self.on_callback, ready)
            )
            try:
                await asyncio.wait_for(ready.wait(), 10)
                # The first call verifies the password with the slow hash.
                _, errors = await self.create_many(session, HANGUP_NUMBER, "h", 1)
                if errors:
                    raise BenchError(f"the first call was refused: {dict(errors)}")
                await self.wait_for("h", "ended", 1, 30)
                if options.warmup:
                    progress(f"warm-up: {options.warmup} calls that hang up at once")
                    await self.create_many(session, HANGUP_NUMBER, "w", options.warmup)
                    await self.wait_for("w", "ended", options.warmup, 60)
                await asyncio.sleep(1.0)
                idle_rss_mb = proc_status_mb(server_pid, "VmRSS")

                progress(f"ramp-up: {options.calls:,} held calls at <= {options.rate:g}/s")
                meter = CpuMeter(pids)
                started = time.monotonic()
                latencies, create_errors = await self.create_many(
                    session, CALLEE, "c", options.calls
                )
                created = options.calls - create_errors.total()
                await self.wait_for("c", "answered", created, options.timeout)
                ramp_s = time.monotonic() - started
                ramp_cpu = meter.stop()
                await asyncio.sleep(2.0)  # the last answers' BXML runs, timelines are written
                gauge = await self.answered_gauge(session)
                held_rss_mb = proc_status_mb(server_pid, "VmRSS")
                progress(f"held: {len(self.kinds['c'].answered):,} calls; sampling")

                ended = self.kinds["c"].ended.total()
                if ended:
                    raise BenchError(
                        f"{ended} held calls ended early: {dict(self.kinds['c'].ended)}"
                    )
                chosen = random.Random(3).sample(
                    sorted(self.kinds["c"].answered), min(2 * options.samples, created)
                )
                half = len(chosen) // 2
                samples = [
                    await self.sample(session, "dtmf", "dtmf", chosen[:half], pids),
                    await self.sample(session, "redirect", "redirect", chosen[half:], pids),
                ]
                peak_rss_mb = proc_status_mb(server_pid, "VmHWM")
            finally:
                follower.cancel()
        return Result(
            options=options,
            held=len(self.kinds["c"].answered),
            answered_gauge=gauge,
            ramp_s=ramp_s,
            create_p50_ms=percentile(latencies, 0.50),
            create_p99_ms=percentile(latencies, 0.99),
            create_errors=dict(create_errors),
            idle_rss_mb=idle_rss_mb,
            held_rss_mb=held_rss_mb,
            peak_rss_mb=peak_rss_mb,
            ramp_cpu=ramp_cpu,
            samples=samples,
        )


def run(options: Options, processes: Processes, work: Path) -> Result:
    os.sched_setaffinity(0, {options.client_cpu})
    password = secrets.token_hex(16)
    config = write_config(
        work,
        password,
        limits=(
            f"  calls_per_second = {options.cps}\n"
            f"  concurrent_calls = {options.concurrent}\n"
            "  queue = true"
        ),
        simulator="[simulator]\ntime_scale = 1.0\n[simulator.default]\nanswer_after = 0.1\n",
    )
    server = start_switchboard(processes, config, options.server_cpu, work)
    app = start_webhook_app(processes, "hold", options.client_cpu, work)
    driver = Driver(options, server, app, password)
    pids = {"server": server.process.pid, "app": app.process.pid}
    result = uvloop.run(driver.run(pids))
    server.check_running()
    app.check_running()
    return result


def report(result: Result) -> bool:
    options = result.options
    print()
    print(
        f"Server on CPU {options.server_cpu}; webhook app and load driver on CPU "
        f"{options.client_cpu}; time_scale 1, phones answer after 0.1 s; account limits "
        f"{options.cps} CPS / {options.concurrent} concurrent, ramp-up at <= {options.rate:g}/s"
    )
    ramp_rate = result.held / result.ramp_s if result.ramp_s else 0.0
    cpu = result.ramp_cpu
    print(
        f"ramp-up: {result.held:,} calls answered and held in {result.ramp_s:.1f} s "
        f"({ramp_rate:,.0f}/s); create p50 {result.create_p50_ms:.1f} ms, p99 "
        f"{result.create_p99_ms:.1f} ms; server {cpu.by_process['server']:.2f} cores, "
        f"other {cpu.other:.2f}; /metrics answered: {result.answered_gauge:,.0f}"
    )
    if result.create_errors:
        print(f"create-call errors: {result.create_errors}")
    print(
        f"server RSS: idle {result.idle_rss_mb:.1f} MB, with {result.held:,} calls "
        f"{result.held_rss_mb:.1f} MB, peak {result.peak_rss_mb:.1f} MB"
    )
    print()
    header = (
        f"{'event -> webhook':<30}{'sent':>6}{'arrived':>9}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'max ms':>9}{'request p50':>13}{'server':>8}{'other':>7}"
    )
    print(header)
    print("-" * len(header))
    for sample in result.samples:
        print(
            f"{sample.name:<30}{sample.sent:>6}{sample.arrived:>9}{sample.p50:>9.2f}"
            f"{sample.p99:>9.2f}{sample.worst:>9.2f}"
            f"{percentile(sample.request_ms, 0.5):>13.2f}"
            f"{sample.cpu.by_process['server']:>8.2f}{sample.cpu.other:>7.2f}"
        )
        if sample.errors:
            print(f"  errors: {sample.errors}")
    print("(request p50: the control request to its answer; server/other: CPU in cores)")
    print()
    held_all = result.held >= options.calls and not result.create_errors
    memory_ok = held_all and result.kb_per_call < TARGET_KB_PER_CALL
    checks = [
        (
            f"server memory per held call: {result.kb_per_call:.1f} KB",
            f"target < {TARGET_KB_PER_CALL:.0f} KB",
            memory_ok,
        )
    ]
    for sample in result.samples:
        complete = sample.arrived == sample.sent and not sample.errors
        checks.append(
            (
                f"{sample.name} p99: {sample.p99:.2f} ms",
                f"target < {TARGET_P99_MS:.0f} ms",
                complete and sample.p99 < TARGET_P99_MS,
            )
        )
    passed = print_checks(checks, target_width=16)
    if not held_all:
        print(f"only {result.held:,} of {options.calls:,} calls were held: memory does not count")
    disturbed = [result.ramp_cpu, *(sample.cpu for sample in result.samples)]
    if any(share.disturbed for share in disturbed):
        print(
            "other processes used CPU during the measurements (column 'other', in cores): "
            "the figures are disturbed; rerun on a quiet machine"
        )
    return passed


def parse_options(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        description="Memory per held call and event-to-webhook delay with 10,000 live calls."
    )
    parser.add_argument("--calls", type=int, default=10_000, help="calls held (10000)")
    parser.add_argument("--warmup", type=int, default=500, help="warm-up calls (500)")
    parser.add_argument(
        "--samples", type=int, default=500, help="calls sampled per event kind (500)"
    )
    parser.add_argument(
        "--interval", type=float, default=0.01, help="seconds between sampled requests (0.01)"
    )
    parser.add_argument(
        "--rate", type=float, default=1000.0, help="most calls created per second (1000)"
    )
    parser.add_argument("--cps", type=int, default=2000, help="account CPS limit (2000)")
    parser.add_argument(
        "--concurrent", type=int, default=20_000, help="account concurrent-call limit (20000)"
    )
    parser.add_argument("--connections", type=int, default=64, help="driver's connections (64)")
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="longest wait for the ramp-up (120 s)"
    )
    add_run_arguments(parser, "app + driver")
    args = parser.parse_args(argv)
    if min(args.calls, args.samples, args.connections, args.cps, args.concurrent) < 1:
        parser.error("calls, samples, connections and limits must be positive")
    if args.rate <= 0 or args.rate > args.cps:
        parser.error("--rate must be positive and at most --cps")
    if args.calls > args.concurrent:
        parser.error("--calls must be at most --concurrent")
    if args.interval < 0 or args.timeout <= 0 or args.warmup < 0:
        parser.error("--interval, --warmup and --timeout must not be negative")
    return options_from(Options, args)


def main(argv: list[str] | None = None) -> int:
    return bench_main(parse_options(argv), run, report)


if __name__ == "__main__":
    sys.exit(main())
