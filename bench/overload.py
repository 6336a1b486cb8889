"""No collapse under overload (issue 18): open-loop load from 0.5x to 3x the measured capacity.

    .venv/bin/python bench/overload.py [--steps 0.5,1,1.5,2,2.5,3] [--step-seconds 8]

One complete call is bench/call_flow.py's: createCall -> the simulated callee answers ->
`answer` -> <SpeakSentence> + <Gather maxDigits="1"> + <Hangup/> -> the callee presses 1 ->
`gather` -> <Hangup/> -> `disconnect` (cause hangup), with the same webhook application
(bench/webhook_app.py, mode "flow") and `[simulator] time_scale` 0.01.

What it does, all on 127.0.0.1, the server pinned to --server-cpu and the webhook application
and this driver on --client-cpu:
1. Capacity, on a server with admission control off ([overload] limits all 0): closed loop
   (a new call when one's disconnect arrives) at each of --levels calls alive at once,
   --warmup calls then --capacity-calls measured at each; capacity = the highest complete
   calls/s, and the knee = the fewest calls alive that reach KNEE_SHARE of it. Then the same
   sweep as in 3 on that server when --compare is given: what an uncontrolled node does.
2. A fresh server with admission control as configured (--max-loop-lag, --max-backlog,
   --probe-interval, and --max-live-calls, by default the knee: how docs/operations.md says
   to size it). Unloaded: open loop at --unloaded x capacity for --unloaded-seconds; the
   createCall p99 there is "unloaded p99".
3. The sweep: for each step, open loop at step x capacity for --step-seconds: requests are
   sent on a fixed schedule whatever the answers (a request is late only when this driver is),
   then the driver waits until every admitted call of the step has ended (or --drain-seconds)
   and the node is empty before the next step.
Figures per step: goodput = calls whose disconnect (cause hangup) arrived in the step's
window after its first second / (window - 1 s); createCall latency p99 of admitted calls
(201) and of refusals (503), from the moment the request was due; the refused share; other
answers and timeouts; CPU of the server and of others. Targets (issue 18): goodput at 2x and 3x
>= 90% of the peak step's; admitted p99 within 2x of the unloaded p99; refusals < 10 ms p99.
The whole run is bounded (--time-limit); every process is stopped by its PID.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import secrets
import sys
import time
from collections import Counter
from collections.abc import Callable
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
    call_request,
    check_cpus,
    follow_callbacks,
    percentile,
    progress,
    run_bench,
    start_switchboard,
    start_webhook_app,
    verdict,
    write_config,
)

GOODPUT_SHARE = 0.90  # of the peak, at 2x and 3x
ADMITTED_P99_FACTOR = 2.0  # of the unloaded p99
REFUSAL_P99_MS = 10.0
WARM_WINDOW_S = 1.0  # the first second of a step is not counted in its goodput
REQUEST_TIMEOUT_S = 10.0
OFF = "max_live_calls = 0\nmax_loop_lag_seconds = 0\nmax_backlog = 0\n"
SAMPLE_S = 0.5
# The floor: GET /healthz (the same server stack's hello-world: no auth, no store, no call)
# every FLOOR_INTERVAL_S during a step, on a fixed schedule, on connections of its own. What
# any request waits on that loop at that load; a refusal cannot answer faster than this.
FLOOR_INTERVAL_S = 0.02
KNEE_SHARE = 0.95  # of the highest rate: the knee's level reaches this share of capacity


@dataclass(frozen=True, slots=True)
class Options:
    steps: tuple[float, ...]
    step_seconds: float
    drain_seconds: float
    capacity_calls: int
    warmup: int
    levels: tuple[int, ...]
    unloaded: float
    unloaded_seconds: float
    time_scale: float
    max_live_calls: int | None
    max_loop_lag: float
    max_backlog: int
    probe_interval: float
    connections: int
    compare: bool
    time_limit: int
    server_cpu: int
    client_cpu: int
    keep: bool
    check: bool


@dataclass(slots=True)
class Step:
    """One open-loop measurement: what the driver saw of each request and call."""

    name: str
    rate: float
    seconds: float
    prefix: str
    started_ns: int = 0
    admitted_ms: list[float] = field(default_factory=list)
    refused_ms: list[float] = field(default_factory=list)
    other: Counter[str] = field(default_factory=Counter)
    admitted: set[str] = field(default_factory=set)
    late_ms: list[float] = field(default_factory=list)  # how late this driver sent
    floor_ms: list[float] = field(default_factory=list)  # GET /healthz, from when it was due
    refusal_bodies: Counter[str] = field(default_factory=Counter)
    cpu: CpuShare | None = None
    goodput: float = 0.0
    ended: int = 0
    hangups: int = 0
    call_ms: list[float] = field(default_factory=list)
    # /metrics every SAMPLE_S during the step: loop lag (ms), backlog, live calls.
    samples: list[tuple[float, float, float]] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return len(self.admitted_ms) + len(self.refused_ms) + sum(self.other.values())


@dataclass(frozen=True, slots=True)
class Capacity:
    """One closed-loop measurement: `level` calls alive at once."""

    level: int
    rate: float
    calls: int
    hangups: int
    wall_s: float
    call_p50_ms: float
    cpu: CpuShare


@dataclass(frozen=True, slots=True)
class Result:
    options: Options
    levels: list[Capacity]
    capacity: Capacity  # the highest rate
    knee: Capacity  # the fewest calls alive reaching KNEE_SHARE of it
    max_live_calls: int
    unloaded: Step
    sweep: list[Step]
    uncontrolled: list[Step]


class Driver:
    def __init__(self, app: Server, password: str) -> None:
        self.app = app
        self.headers = api_headers(password)
        self.sent_ns: dict[str, int] = {}
        self.ended: dict[str, tuple[int, str]] = {}  # tag -> (arrival ns, cause)
        self.waiting: dict[str, Callable[[], None]] = {}
        self._counter = 0

    def tag(self, prefix: str, index: int) -> str:
        return f"{prefix}{index}"

    def on_callback(self, callback: Callback) -> None:
        if callback.event_type != "disconnect" or callback.tag in self.ended:
            return
        self.ended[callback.tag] = (callback.arrival_ns, callback.extra)
        wake = self.waiting.pop(callback.tag, None)
        if wake is not None:
            wake()

    async def post(
        self, session: aiohttp.ClientSession, server: Server, tag: str
    ) -> tuple[int, bytes]:
        body = orjson.dumps(call_request(app=self.app.url(""), tag=tag))
        self.sent_ns[tag] = time.monotonic_ns()
        async with session.post(server.url(CALLS_PATH), data=body) as response:
            return response.status, await response.read()

    # -- closed loop: capacity ------------------------------------------------------------
    async def closed_loop(
        self,
        session: aiohttp.ClientSession,
        server: Server,
        prefix: str,
        calls: int,
        in_flight: int,
    ) -> tuple[int, float, list[float]]:
        """`calls` calls, `in_flight` alive at once; (hangups, wall s, call durations ms)."""
        slots = asyncio.Semaphore(in_flight)
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        finished = 0
        tags = [self.tag(prefix, index) for index in range(calls)]

        def settle() -> None:
            nonlocal finished
            slots.release()
            finished += 1
            if finished >= calls and not done.done():
                done.set_result(None)

        async def one(tag: str) -> None:
            self.waiting[tag] = settle
            try:
                status, _ = await self.post(session, server, tag)
            except (aiohttp.ClientError, TimeoutError):
                status = 0
            if status != 201 and self.waiting.pop(tag, None) is not None:
                settle()

        first_ns = time.monotonic_ns()
        tasks = set()
        for tag in tags:
            await slots.acquire()
            task = asyncio.create_task(one(tag))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        try:
            await asyncio.wait_for(done, 120)
        except TimeoutError:
            progress(f"closed loop: {finished} of {calls} calls ended within 120 s")
        ends = [self.ended[tag] for tag in tags if tag in self.ended]
        hangups = sum(1 for _, cause in ends if cause == "hangup")
        wall_s = (max(arrival for arrival, _ in ends) - first_ns) / 1e9 if ends else 0.0
        durations = [
            (self.ended[tag][0] - self.sent_ns[tag]) / 1e6 for tag in tags if tag in self.ended
        ]
        return hangups, wall_s, durations

    # -- open loop: a step -----------------------------------------------------------------
    async def open_loop(
        self,
        session: aiohttp.ClientSession,
        server: Server,
        step: Step,
        drain_s: float,
        sent_all: asyncio.Event | None = None,
    ) -> None:
        loop = asyncio.get_running_loop()
        count = max(1, round(step.rate * step.seconds))
        interval = 1.0 / step.rate
        tasks: set[asyncio.Task[None]] = set()
        begin = loop.time() + 0.05
        step.started_ns = time.monotonic_ns() + 50_000_000

        async def one(index: int, due: float) -> None:
            tag = self.tag(step.prefix, index)
            step.late_ms.append((loop.time() - due) * 1000)
            try:
                status, body = await asyncio.wait_for(
                    self.post(session, server, tag), REQUEST_TIMEOUT_S
                )
            except (aiohttp.ClientError, TimeoutError) as error:
                step.other[type(error).__name__] += 1
                return
            elapsed_ms = (loop.time() - due) * 1000  # from when it was due: no omission
            if status == 201:
                step.admitted_ms.append(elapsed_ms)
                step.admitted.add(tag)
            elif status == 503:
                step.refused_ms.append(elapsed_ms)
                step.refusal_bodies[refusal_reason(orjson.loads(body).get("description", ""))] += 1
            else:
                step.other[f"HTTP {status}"] += 1

        for index in range(count):
            due = begin + index * interval
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(one(index, due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if sent_all is not None:
            sent_all.set()  # the floor is measured while the step's load is offered
        if tasks:
            await asyncio.wait(set(tasks), timeout=REQUEST_TIMEOUT_S + 1)
        # Every admitted call of the step ends before the next step (or the drain bound).
        all_ended = asyncio.Event()
        running = {tag for tag in step.admitted if tag not in self.ended}

        def ended(tag: str) -> None:
            running.discard(tag)
            if not running:
                all_ended.set()

        for tag in list(running):
            self.waiting[tag] = functools.partial(ended, tag)
        if running:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(all_ended.wait(), drain_s)
        window_start = step.started_ns + int(WARM_WINDOW_S * 1e9)
        window_end = step.started_ns + int(step.seconds * 1e9)
        in_window = 0
        for tag in step.admitted:
            end = self.ended.get(tag)
            if end is None:
                continue
            step.ended += 1
            if end[1] == "hangup":
                step.hangups += 1
                step.call_ms.append((end[0] - self.sent_ns[tag]) / 1e6)
                if window_start <= end[0] < window_end:
                    in_window += 1
        step.goodput = in_window / (step.seconds - WARM_WINDOW_S)


def refusal_reason(description: str) -> str:
    """Which of the node's limits a 503 names (limits/overload.py's descriptions)."""
    for words, reason in (
        ("max_live_calls", "capacity"),
        ("max_loop_lag_seconds", "loop lag"),
        ("max_backlog", "backlog"),
    ):
        if words in description:
            return reason
    return description[:60]


async def gauges(session: aiohttp.ClientSession, server: Server) -> dict[str, float]:
    """The overload gauges /metrics shows now."""
    async with session.get(server.url("/metrics")) as response:
        text = await response.text()
    values = {}
    for line in text.splitlines():
        if line.startswith(("switchboard_node_", "switchboard_overload_")) and "{" not in line:
            name, value = line.split()
            values[name] = float(value)
    return values


async def live_calls(session: aiohttp.ClientSession, server: Server) -> float:
    return (await gauges(session, server)).get("switchboard_node_live_calls", 0.0)


async def sample(
    session: aiohttp.ClientSession, server: Server, step: Step, until: asyncio.Event
) -> None:
    """What the node measured of itself during `step`, every SAMPLE_S."""
    while not until.is_set():
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            values = await gauges(session, server)
            step.samples.append(
                (
                    values.get("switchboard_overload_loop_lag_seconds", 0.0) * 1000,
                    values.get("switchboard_overload_backlog", 0.0),
                    values.get("switchboard_node_live_calls", 0.0),
                )
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(until.wait(), SAMPLE_S)


async def floor(server: Server, step: Step, until: asyncio.Event) -> None:
    """GET /healthz every FLOOR_INTERVAL_S until `until`, latency from when each was due."""
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()
    connector = aiohttp.TCPConnector(limit=20)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one(due: float) -> None:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(server.url("/healthz")) as response:
                    await response.read()
                    if response.status == 200:
                        step.floor_ms.append((loop.time() - due) * 1000)

        due = loop.time()
        while not until.is_set():
            task = asyncio.create_task(one(due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            due += FLOOR_INTERVAL_S
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(until.wait(), max(0.0, due - loop.time()))
        if tasks:
            await asyncio.wait(set(tasks), timeout=REQUEST_TIMEOUT_S + 1)


async def wait_empty(session: aiohttp.ClientSession, server: Server, seconds: float) -> None:
    """Until the node runs no call (as /metrics says), at most `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await live_calls(session, server) == 0:
            return
        await asyncio.sleep(0.1)
    progress("the node still ran calls when the next step started")


def knee(levels: list[Capacity]) -> Capacity:
    """The fewest calls alive at once that reach KNEE_SHARE of the highest rate: more only
    wait in the node's queues (docs/operations.md, "Overload and admission control")."""
    best = max(level.rate for level in levels)
    return min(
        (level for level in levels if level.rate >= KNEE_SHARE * best), key=lambda c: c.level
    )


def server_config(work: Path, password: str, options: Options, overload: str) -> Path:
    directory = work / f"server-{secrets.token_hex(3)}"
    directory.mkdir()
    return write_config(
        directory,
        password,
        limits=UNLIMITED_LIMITS,
        simulator=(
            f"[simulator]\ntime_scale = {options.time_scale}\n"
            '[simulator.default]\nanswer_after = 2.0\ndigits = "1"\ndigit_delay = 0.0\n'
            f"[overload]\n{overload}"
        ),
    )


async def sweep(
    driver: Driver,
    session: aiohttp.ClientSession,
    server: Server,
    options: Options,
    capacity: float,
    label: str,
    pids: dict[str, int],
) -> list[Step]:
    steps = []
    for number, multiple in enumerate(options.steps):
        step = Step(
            f"{multiple:g}x", multiple * capacity, options.step_seconds, f"{label}{number}-"
        )
        progress(f"{label}: {step.name} = {step.rate:,.0f} calls/s for {step.seconds:g} s")
        meter = CpuMeter(pids)
        stop_sampling = asyncio.Event()
        sampler = asyncio.create_task(sample(session, server, step, stop_sampling))
        stop_floor = asyncio.Event()
        floor_probe = asyncio.create_task(floor(server, step, stop_floor))
        await driver.open_loop(session, server, step, options.drain_seconds, stop_floor)
        stop_sampling.set()
        await sampler
        await floor_probe
        step.cpu = meter.stop()
        server.check_running()
        await wait_empty(session, server, options.drain_seconds)
        steps.append(step)
    return steps


async def measure(options: Options, processes: Processes, work: Path) -> Result:
    password = secrets.token_hex(16)
    app = start_webhook_app(processes, "flow", options.client_cpu, work)
    driver = Driver(app, password)
    connector = aiohttp.TCPConnector(limit=options.connections)
    async with aiohttp.ClientSession(
        connector=connector,
        headers=driver.headers,
        timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S + 5),
    ) as session:
        ready = asyncio.Event()
        follower = asyncio.create_task(
            follow_callbacks(session, app.url("/stream"), driver.on_callback, ready)
        )
        await asyncio.wait_for(ready.wait(), 10)
        try:
            # 1. Capacity, with admission control off.
            config = server_config(work, password, options, OFF)
            plain = start_switchboard(processes, config, options.server_cpu, config.parent)
            pids = {"server": plain.process.pid, "app": app.process.pid}
            hangups, _, _ = await driver.closed_loop(session, plain, "h", 1, 1)  # the hash
            if hangups != 1:
                raise BenchError("the first call did not end with a hangup")
            progress(f"capacity: {options.warmup} warm-up calls")
            await driver.closed_loop(session, plain, "w", options.warmup, max(options.levels))
            levels = []
            for number, level in enumerate(options.levels):
                meter = CpuMeter(pids)
                hangups, wall_s, durations = await driver.closed_loop(
                    session, plain, f"c{number}-", options.capacity_calls, level
                )
                measured = Capacity(
                    level=level,
                    rate=hangups / wall_s if wall_s else 0.0,
                    calls=options.capacity_calls,
                    hangups=hangups,
                    wall_s=wall_s,
                    call_p50_ms=percentile(durations, 0.5),
                    cpu=meter.stop(),
                )
                progress(f"capacity at {level} alive: {measured.rate:,.0f} complete calls/s")
                levels.append(measured)
            capacity = max(levels, key=lambda c: c.rate)
            if capacity.rate <= 0:
                raise BenchError("no call completed in the capacity measurement")
            sized = knee(levels)
            uncontrolled: list[Step] = []
            if options.compare:
                uncontrolled = await sweep(
                    driver, session, plain, options, capacity.rate, "off", pids
                )
            processes.stop(plain.process)

            # 2. A fresh server with admission control.
            cap = sized.level if options.max_live_calls is None else options.max_live_calls
            overload = (
                f"max_live_calls = {cap}\nmax_loop_lag_seconds = {options.max_loop_lag}\n"
                f"max_backlog = {options.max_backlog}\n"
                f"probe_interval_seconds = {options.probe_interval}\n"
            )
            progress(f"admission control: {overload.strip().replace(chr(10), ', ')}")
            config = server_config(work, password, options, overload)
            controlled = start_switchboard(processes, config, options.server_cpu, config.parent)
            pids = {"server": controlled.process.pid, "app": app.process.pid}
            await driver.closed_loop(session, controlled, "H", 1, 1)
            await driver.closed_loop(session, controlled, "W", options.warmup, 10)
            unloaded = Step(
                "unloaded", options.unloaded * capacity.rate, options.unloaded_seconds, "U-"
            )
            progress(f"unloaded: {unloaded.rate:,.0f} calls/s for {unloaded.seconds:g} s")
            meter = CpuMeter(pids)
            stop_floor = asyncio.Event()
            floor_probe = asyncio.create_task(floor(controlled, unloaded, stop_floor))
            await driver.open_loop(session, controlled, unloaded, options.drain_seconds, stop_floor)
            await floor_probe
            unloaded.cpu = meter.stop()
            steps = await sweep(driver, session, controlled, options, capacity.rate, "on", pids)
        finally:
            follower.cancel()
    return Result(options, levels, capacity, sized, cap, unloaded, steps, uncontrolled)


def run(options: Options, processes: Processes, work: Path) -> Result:
    os.sched_setaffinity(0, {options.client_cpu})
    return uvloop.run(measure(options, processes, work))


def _row(step: Step, peak: float, unloaded_p99: float) -> str:
    cpu = step.cpu.by_process["server"] if step.cpu else 0.0
    client = step.cpu.by_process["app"] + step.cpu.by_process["bench"] if step.cpu else 0.0
    other = step.cpu.other if step.cpu else 0.0
    admitted_p99 = percentile(step.admitted_ms, 0.99)
    return (
        f"{step.name:>6}{step.rate:>9,.0f}{step.sent:>8,}{len(step.admitted_ms):>9,}"
        f"{len(step.refused_ms):>9,}{sum(step.other.values()):>7,}{step.goodput:>10,.0f}"
        f"{(step.goodput / peak * 100 if peak else 0):>7.0f}%"
        f"{percentile(step.admitted_ms, 0.5):>9.1f}{admitted_p99:>8.1f}"
        f"{(admitted_p99 / unloaded_p99 if unloaded_p99 else 0):>6.1f}x"
        f"{percentile(step.refused_ms, 0.99):>9.1f}{percentile(step.floor_ms, 0.99):>9.1f}"
        f"{percentile(step.call_ms, 0.99):>9.0f}"
        f"{percentile(step.late_ms, 0.99):>8.1f}{cpu:>7.2f}{client:>7.2f}{other:>7.2f}"
    )


HEADER = (
    f"{'step':>6}{'offered':>9}{'sent':>8}{'admitted':>9}{'refused':>9}{'other':>7}"
    f"{'goodput':>10}{'of peak':>8}{'adm p50':>9}{'p99 ms':>8}{'/unl':>7}{'ref p99':>9}"
    f"{'floor99':>9}{'call p99':>9}{'late99':>8}{'server':>7}{'client':>7}{'others':>7}"
)


def print_sweep(steps: list[Step], unloaded_p99: float) -> float:
    peak = max((step.goodput for step in steps), default=0.0)
    print(HEADER)
    print("-" * len(HEADER))
    for step in steps:
        print(_row(step, peak, unloaded_p99))
    print("  the node's own gauges, sampled every 0.5 s (max / median):")
    for step in steps:
        lags, backlogs, lives = zip(*step.samples, strict=True) if step.samples else ((0,),) * 3
        print(
            f"  {step.name:>6}: loop lag {max(lags):.0f} / {percentile(lags, 0.5):.0f} ms, "
            f"backlog {max(backlogs):.0f} / {percentile(backlogs, 0.5):.0f}, live calls "
            f"{max(lives):.0f} / {percentile(lives, 0.5):.0f}"
        )
    for step in steps:
        if step.other:
            print(f"  {step.name}: other answers {dict(step.other)}")
        lost = len(step.admitted) - step.ended
        if lost:
            print(f"  {step.name}: {lost} admitted calls had not ended after the drain")
        if step.ended - step.hangups:
            print(f"  {step.name}: {step.ended - step.hangups} admitted calls ended without hangup")
    return peak


def report(result: Result) -> bool:
    options = result.options
    capacity = result.capacity
    print()
    print(
        f"Server on CPU {options.server_cpu}; webhook app and driver on CPU "
        f"{options.client_cpu}; time_scale {options.time_scale}; {options.step_seconds:g} s "
        "per step"
    )
    print("capacity, closed loop, admission control off:")
    for level in result.levels:
        print(
            f"  {level.level:>5} calls alive: {level.rate:>7,.0f} complete calls/s "
            f"({level.hangups:,} of {level.calls:,} in {level.wall_s:.1f} s, call p50 "
            f"{level.call_p50_ms:.0f} ms, server {level.cpu.by_process['server']:.2f} cores, "
            f"others {level.cpu.other:.2f})"
        )
    print(
        f"capacity {capacity.rate:,.0f} calls/s (at {capacity.level} alive); knee: "
        f"{result.knee.level} alive ({result.knee.rate:,.0f}/s >= {KNEE_SHARE:.0%} of it)"
    )
    print(
        f"[overload] max_live_calls = {result.max_live_calls}"
        + (" (the knee)" if options.max_live_calls is None else "")
        + f", max_loop_lag_seconds = {options.max_loop_lag:g}, max_backlog = "
        f"{options.max_backlog}, probe_interval_seconds = {options.probe_interval:g}"
    )
    unloaded = result.unloaded
    unloaded_p99 = percentile(unloaded.admitted_ms, 0.99)
    print(
        f"unloaded ({options.unloaded:g}x = {unloaded.rate:,.0f}/s, admission control on): "
        f"createCall p50 {percentile(unloaded.admitted_ms, 0.5):.1f} ms, p99 "
        f"{unloaded_p99:.1f} ms ({len(unloaded.admitted_ms)} admitted, "
        f"{len(unloaded.refused_ms)} refused); GET /healthz p99 "
        f"{percentile(unloaded.floor_ms, 0.99):.1f} ms"
    )
    if result.uncontrolled:
        print()
        print("Admission control OFF (the same server as the capacity measurement):")
        print_sweep(result.uncontrolled, unloaded_p99)
    print()
    print("Admission control ON:")
    peak = print_sweep(result.sweep, unloaded_p99)
    print(
        "(goodput: complete calls/s in the step after its first second; latencies in ms from "
        "when the request was due; '/unl': admitted p99 over the unloaded p99; 'floor99': "
        "GET /healthz of the same server during the step, p99; 'late99': how late this driver "
        "sent, p99 ms; CPU in cores, 'client': the webhook app and this driver, on their own CPU)"
    )
    for step in result.sweep:
        if step.refusal_bodies:
            reasons = ", ".join(f"{count:,} {why}" for why, count in step.refusal_bodies.items())
            print(f"  {step.name}: 503s by the limit they name: {reasons}")
    checks = []
    high = [step for step in result.sweep if step.rate >= 2 * capacity.rate - 1e-6]
    for step in high:
        share = step.goodput / peak if peak else 0.0
        checks.append(
            (f"goodput at {step.name}: {share * 100:.0f}% of peak", ">= 90%", share >= 0.9)
        )
    for step in result.sweep:
        p99 = percentile(step.admitted_ms, 0.99)
        checks.append(
            (
                f"admitted p99 at {step.name}: {p99:.1f} ms",
                f"<= {ADMITTED_P99_FACTOR:g} x {unloaded_p99:.1f} ms",
                p99 <= ADMITTED_P99_FACTOR * unloaded_p99,
            )
        )
    refusals = [ms for step in result.sweep for ms in step.refused_ms]
    refusal_p99 = percentile(refusals, 0.99)
    checks.append(
        (
            f"refusals p99 (all steps, {len(refusals):,}): {refusal_p99:.1f} ms",
            f"< {REFUSAL_P99_MS:g} ms",
            bool(refusals) and refusal_p99 < REFUSAL_P99_MS,
        )
    )
    print()
    ok = True
    width = max(len(figure) for figure, _, _ in checks) + 3
    for figure, target, passed in checks:
        print(f"{figure:<{width}}{target:<22}{verdict(passed)}")
        ok = ok and passed
    disturbed = [s.name for s in result.sweep if s.cpu is not None and s.cpu.disturbed]
    if disturbed:
        print(f"other processes used > 0.1 core during steps {', '.join(disturbed)}: disturbed")
    return ok


def parse_options(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", default="0.5,1,1.5,2,2.5,3", help="multiples of capacity")
    parser.add_argument("--step-seconds", type=float, default=8.0)
    parser.add_argument("--drain-seconds", type=float, default=20.0)
    parser.add_argument("--capacity-calls", type=int, default=1500, help="per level (1500)")
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument(
        "--levels", default="10,20,40,80,160", help="calls alive at once, closed loop"
    )
    parser.add_argument("--unloaded", type=float, default=0.1, help="x capacity (0.1)")
    parser.add_argument("--unloaded-seconds", type=float, default=10.0)
    parser.add_argument("--time-scale", type=float, default=0.01)
    parser.add_argument(
        "--max-live-calls", type=int, default=None, help="default: sized from the capacity"
    )
    parser.add_argument("--max-loop-lag", type=float, default=0.05, help="seconds (0.05)")
    parser.add_argument("--max-backlog", type=int, default=10_000)
    parser.add_argument("--probe-interval", type=float, default=0.05)
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--compare", action="store_true", help="also sweep with control off")
    parser.add_argument("--time-limit", type=int, default=420, help="hard bound, seconds")
    add_run_arguments(parser, "app + driver")
    args = parser.parse_args(argv)
    steps = tuple(float(value) for value in args.steps.split(","))
    levels = tuple(int(value) for value in args.levels.split(","))
    if not levels or min(levels) < 1:
        parser.error("--levels must be positive whole numbers")
    if not steps or min(steps) <= 0 or args.step_seconds <= WARM_WINDOW_S:
        parser.error("--steps must be positive multiples; --step-seconds over 1")
    return Options(
        steps=steps,
        step_seconds=args.step_seconds,
        drain_seconds=args.drain_seconds,
        capacity_calls=args.capacity_calls,
        warmup=args.warmup,
        levels=levels,
        unloaded=args.unloaded,
        unloaded_seconds=args.unloaded_seconds,
        time_scale=args.time_scale,
        max_live_calls=args.max_live_calls,
        max_loop_lag=args.max_loop_lag,
        max_backlog=args.max_backlog,
        probe_interval=args.probe_interval,
        connections=args.connections,
        compare=args.compare,
        time_limit=args.time_limit,
        server_cpu=args.server_cpu,
        client_cpu=args.client_cpu,
        keep=args.keep,
        check=args.check,
    )


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
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
