"""What the per-account limit check costs on the create-call path (issue 4).

    .venv/bin/python bench/limits_overhead.py [--duration 10]   (or: make bench-limits)

Issue 4: "the limit check is an O(1) in-process step before the insert; the create-call
benchmark runs with limits raised and shows that the check costs under 5%".

1. In process (this process, pinned to --server-cpu while the server is not running): the
   check as the server runs it, `Engine.admit` (the account's limiter through `limits_for`,
   as switchboard.server wires it: account_limits(defaults, snapshot account)) and the
   `ended` that gives the place back when the call is over (`Engine.release` runs the same
   `AccountLimiter.ended`), with limits raised as in the benchmarks, at the pace of the
   measured create-call rate (the sliding window holds a second of starts); and the bare
   `AccountLimiter.admit` + `ended`. Best of 5 runs of --ops calls each, microseconds per call.
2. The create-call request cost, measured here with wrk like bench/create_call.py (server on
   --server-cpu, wrk on --client-cpu, 64 connections, limits raised): the server's CPU time
   (utime + stime from /proc) over the measurement divided by the calls created. The phones
   do not answer (outcome "no-answer", callTimeout 30 s > the run), so the engine's share of
   each request is the least it can be (start a runner, dial, save): the denominator is
   small and the percentage conservative. The same for bench/hello_app.py (the bare stack) as
   a floor: a share of a hello-world request bounds the share of any request of this stack.
3. Scaling: one AccountLimiter at Bandwidth's 5 CPS with its queue on (room for 5 x 300 =
   1,500 calls): the cost of admit (queueing) as the queue grows from 0 to 1,500, of a
   refused admit when it is full, of dequeue, remove_queued and ended with 1,500 queued.
Targets: the check under 5% of the create-call request's CPU; flat (O(1)/O(log n)) costs
with 1,500 queued. Every process is stopped by its PID, also on error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

from common import (
    ACCOUNT_ID,
    CALLS_PATH,
    HELLO_PATH,
    UNLIMITED,
    UNLIMITED_LIMITS,
    WRK,
    BenchError,
    CpuShare,
    Processes,
    Server,
    Wrk,
    WrkResult,
    add_run_arguments,
    api_headers,
    bench_main,
    call_request,
    options_from,
    post,
    print_checks,
    progress,
    start_hello,
    start_switchboard,
    write_config,
    wrk_script,
)
from switchboard.calls.create_request import parse_create_call
from switchboard.calls.engine import Engine
from switchboard.calls.ids import new_call_id
from switchboard.calls.model import Call
from switchboard.limits.account import AccountLimiter, Decision, LimitSettings, account_limits
from switchboard.provisioning.models import Account

TARGET_SHARE = 0.05
QUEUE_CPS = 5.0  # Bandwidth's default: a queue of 1,500
REPEATS = 5


@dataclass(frozen=True, slots=True)
class Options:
    ops: int
    duration: int
    warmup: int
    connections: int
    server_cpu: int
    client_cpu: int
    keep: bool
    check: bool


@dataclass(frozen=True, slots=True)
class Load:
    name: str
    result: WrkResult

    @property
    def cpu(self) -> CpuShare:
        assert self.result.cpu is not None  # Wrk.measure's
        return self.result.cpu

    @property
    def server_us(self) -> float:
        """Server CPU microseconds per request."""
        cpu = self.cpu.by_process["server"] * self.cpu.seconds
        return cpu / self.result.requests * 1e6 if self.result.requests else 0.0


@dataclass(frozen=True, slots=True)
class Result:
    options: Options
    engine_us: float
    limiter_us: float
    loads: list[Load]
    scaling: list[tuple[str, float]]


# -- 1. in process --------------------------------------------------------------------------
class _Clock:
    """The engine's clock as `Engine.admit` reads it: the call-time monotonic clock."""

    def __init__(self, pace: float) -> None:
        self.now = 0.0
        self.pace = pace

    def monotonic(self) -> float:
        self.now += self.pace  # one call per `pace` seconds, as at the measured rate
        return self.now


def best_of(run: Callable[[], float]) -> float:
    return min(run() for _ in range(REPEATS))


def engine_check_us(ops: int, rate: float) -> float:
    """Engine.admit + Engine.release per call, in microseconds, wired as switchboard.server."""
    defaults = LimitSettings()  # [limits]: Bandwidth's defaults
    accounts = {
        ACCOUNT_ID: Account(
            ACCOUNT_ID, "Benchmark", calls_per_second=UNLIMITED, concurrent_calls=UNLIMITED
        )
    }

    def limits_for(account_id: str) -> LimitSettings:
        return account_limits(defaults, accounts.get(account_id))

    request = parse_create_call(call_request())
    template = Call(
        call_id="",
        account_id=ACCOUNT_ID,
        request=request,
        call_url="",
        enqueued_time=cast(Any, None),
    )
    calls = [replace(template, call_id=new_call_id()) for _ in range(ops)]

    def run() -> float:
        clock = _Clock(1.0 / rate)
        engine = Engine(
            cast(Any, None),
            cast(Any, None),
            cast(Any, None),
            cast(Any, clock),
            limits_for=limits_for,
        )
        admit, release = engine.admit, engine.release
        started = time.perf_counter()
        for call in calls:
            admit(call.account_id, call.call_id, call.request.priority)
            release(call)
        return (time.perf_counter() - started) / ops * 1e6

    return best_of(run)


def limiter_check_us(ops: int, rate: float) -> float:
    """AccountLimiter.admit + ended alone, per call, in microseconds."""
    settings = LimitSettings(UNLIMITED, UNLIMITED, True)
    call_ids = [new_call_id() for _ in range(ops)]
    moments = [index / rate for index in range(ops)]

    def run() -> float:
        limiter = AccountLimiter(settings)
        admit, ended = limiter.admit, limiter.ended
        started = time.perf_counter()
        for now, call_id in zip(moments, call_ids, strict=True):
            if admit(now, call_id, 5).decision is not Decision.START:
                raise BenchError("the raised limits refused a call")
            ended(call_id)
        return (time.perf_counter() - started) / ops * 1e6

    return best_of(run)


# -- 3. scaling with a queue ----------------------------------------------------------------
def queue_scaling() -> list[tuple[str, float]]:
    settings = LimitSettings(QUEUE_CPS, 100, True)
    size = settings.max_queue_size  # 1500
    rows: list[tuple[str, float]] = []
    segments = [(0, 100), (size // 2 - 50, size // 2 + 50), (size - 100, size)]
    repeats = 200

    def filled(count: int, prefix: str = "q") -> AccountLimiter:
        limiter = AccountLimiter(settings)
        for index in range(int(QUEUE_CPS)):  # the window's starts: later calls queue
            limiter.admit(0.0, f"s{index}", 5)
        for index in range(count):
            limiter.admit(0.0, f"{prefix}{index}", 1 + index % 5)
        return limiter

    for low, high in segments:

        def run(low: int = low, high: int = high) -> float:
            total = 0.0
            for _ in range(repeats):
                limiter = filled(low)
                started = time.perf_counter()
                for index in range(low, high):
                    limiter.admit(0.0, f"n{index}", 1 + index % 5)
                total += time.perf_counter() - started
            return total / (repeats * (high - low)) * 1e6

        rows.append((f"admit -> queued, queue at {low:,}..{high:,}", best_of(run)))

    def timed(operation: Callable[[AccountLimiter, int], object], count: int, queued: int) -> float:
        def run() -> float:
            total = 0.0
            for _ in range(20):
                limiter = filled(queued)
                started = time.perf_counter()
                for index in range(count):
                    operation(limiter, index)
                total += time.perf_counter() - started
            return total / (20 * count) * 1e6

        return best_of(run)

    def refuse(limiter: AccountLimiter, index: int) -> None:
        if limiter.admit(0.0, f"x{index}", 1).decision is not Decision.REJECT:
            raise BenchError("a full queue accepted a call")

    def dequeue(limiter: AccountLimiter, index: int) -> None:
        # One start every 0.2 s keeps the window at 5 per second: one call per dequeue.
        for call_id in limiter.dequeue(1.0 + index * 0.2):
            limiter.ended(call_id)

    def remove(limiter: AccountLimiter, index: int) -> None:
        limiter.remove_queued(f"q{index * 7 % size}")

    def end_active(limiter: AccountLimiter, index: int) -> None:
        limiter.ended(f"s{index % int(QUEUE_CPS)}")

    for name, operation, count, queued in (
        (f"admit -> 429, queue full ({size:,})", refuse, 500, size),
        (f"dequeue, {size:,} queued", dequeue, 100, size),
        ("dequeue, 15 queued", dequeue, 15, 15),
        (f"remove_queued, {size:,} queued", remove, 100, size),
        (f"ended, {size:,} queued", end_active, 5, size),
    ):
        rows.append((name, timed(operation, count, queued)))
    return rows


# -- 2. the request cost --------------------------------------------------------------------
def wrk_load(
    wrk: Wrk, options: Options, server: Server, path: str, headers: dict[str, str], work: Path
) -> Load:
    script = work / f"{server.name}.lua"
    script.write_text(wrk_script(headers))
    result = wrk.measure(server, path, script, options.duration, options.warmup)
    return Load(server.name, result)


def run(options: Options, processes: Processes, work: Path) -> Result:
    # The in-process figures first, on the server's core while nothing else of ours runs.
    os.sched_setaffinity(0, {options.server_cpu})
    progress("timing the limit check in process")
    scaling = queue_scaling()
    # At the pace of a fast create-call rate: the sliding window then holds 4,000 starts.
    engine_us = engine_check_us(options.ops, 4000.0)
    limiter_us = limiter_check_us(options.ops, 4000.0)

    os.sched_setaffinity(0, {options.client_cpu})
    wrk = Wrk(processes, options.client_cpu, options.connections)
    json_headers = {"Content-Type": "application/json"}
    hello = start_hello(processes, options.server_cpu, work / "hello.log")
    post(hello.url(HELLO_PATH), json_headers, expect=200)
    hello_load = wrk_load(wrk, options, hello, HELLO_PATH, json_headers, work)
    processes.stop(hello.process)

    password = secrets.token_hex(16)
    config = write_config(
        work,
        password,
        limits=UNLIMITED_LIMITS,
        simulator='[simulator]\n[simulator.default]\noutcome = "no-answer"\n',
    )
    server = start_switchboard(processes, config, options.server_cpu, work, "create-call")
    call_headers = api_headers(password)
    post(server.url(CALLS_PATH), call_headers, expect=201)  # the slow password hash
    call_load = wrk_load(wrk, options, server, CALLS_PATH, call_headers, work)
    processes.stop(server.process)
    return Result(options, engine_us, limiter_us, [hello_load, call_load], scaling)


def report(result: Result) -> bool:
    options = result.options
    hello, call = result.loads
    print()
    print(
        f"In process (CPU {options.server_cpu}, best of {REPEATS} x {options.ops:,} calls, "
        "limits raised):"
    )
    print(f"  Engine.admit + Engine.release (as the server wires it): {result.engine_us:.2f} us")
    print(f"  AccountLimiter.admit + ended alone:                    {result.limiter_us:.2f} us")
    print()
    print(
        f"Requests (server on CPU {options.server_cpu}, wrk on CPU {options.client_cpu}, "
        f"{options.connections} connections, {options.duration} s):"
    )
    header = (
        f"  {'endpoint':<14}{'req/s':>9}{'server CPU':>12}{'us/request':>12}{'check share':>13}"
        f"{'errors':>8}{'other':>7}"
    )
    print(header)
    print("  " + "-" * (len(header) - 2))
    for load in result.loads:
        share = result.engine_us / load.server_us if load.server_us else 0.0
        print(
            f"  {load.name:<14}{load.result.rate:>9,.0f}{load.cpu.by_process['server']:>12.2f}"
            f"{load.server_us:>12.1f}{share:>13.2%}{load.result.errors:>8}{load.cpu.other:>7.2f}"
        )
    print("  (server CPU in cores; us/request: server CPU time per request)")
    print()
    print(f"AccountLimiter at {QUEUE_CPS:g} CPS with its queue on (microseconds per operation):")
    for name, micros in result.scaling:
        print(f"  {name:<42}{micros:>8.2f}")
    print()
    share = result.engine_us / call.server_us if call.server_us else 1.0
    floor = result.engine_us / hello.server_us if hello.server_us else 1.0
    queue_costs = [micros for name, micros in result.scaling if name.startswith("admit -> q")]
    flat = max(queue_costs) < 2 * min(queue_costs)
    checks = [
        (
            f"limit check / create-call request CPU: {share:.2%}",
            f"target < {TARGET_SHARE:.0%}",
            share < TARGET_SHARE and call.result.errors == 0,
        ),
        (
            f"queued admit at 1,500 vs at 0: {queue_costs[-1] / queue_costs[0]:.2f}x",
            "target < 2x (O(log n))",
            flat,
        ),
    ]
    passed = print_checks(checks, target_width=26)
    print(
        f"(and {floor:.2%} of a hello-world request of the same stack, the floor of any "
        "request: no target)"
    )
    if any(load.cpu.disturbed for load in result.loads):
        print("other processes used CPU during the wrk runs: the request figures are disturbed")
    return passed


def parse_options(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(description="The limit check's share of a create-call.")
    parser.add_argument("--ops", type=int, default=200_000, help="calls per timing run (200000)")
    parser.add_argument("--duration", type=int, default=10, help="seconds of wrk load (10)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up (2)")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (64)")
    add_run_arguments(parser, "wrk")
    args = parser.parse_args(argv)
    if min(args.ops, args.duration, args.connections) < 1 or args.warmup < 0:
        parser.error("--ops, --duration and --connections must be positive")
    return options_from(Options, args)


def main(argv: list[str] | None = None) -> int:
    return bench_main(parse_options(argv), run, report, tools=[WRK])


if __name__ == "__main__":
    sys.exit(main())
