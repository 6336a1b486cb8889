"""Benchmark of POST /api/v2/accounts/{id}/calls against a hello-world of the same stack (issue 2).

    .venv/bin/python bench/create_call.py [--duration 10] [--calls 100000]     (or: make bench)

What it does, all on 127.0.0.1 and all in one run (each server pinned to the server core, wrk
to the client core, a warm-up before each measurement):
1. hello-world (bench/hello_app.py: Starlette + uvicorn + httptools + uvloop with the settings of
   `switchboard serve`), through a Starlette route and through a raw ASGI layer in front of the
   same app (as Switchboard answers create-call); and the floor: the raw answer after one
   durable insert of a call row through Switchboard's own store, nothing else.
2. create-call on the real server (`switchboard serve --config <temp config> --port <free
   port>`, a provisioned account, user, application and number): the first call by hand (it
   verifies the password with the slow hash; later ones hit the credential cache), then the
   load. The simulated callee rings without answering through the measurement: the call is
   stored and picked up by the engine, its later life (issue 3) is not measured here.
   Then the hello-world's Starlette route once more: the share is taken against the mean of
   the two hello-world figures, since this VM's speed drifts from minute to minute.
3. Memory: a fresh server filled to `--calls` stored calls whose callee rejects at once, then
   its resident memory (VmRSS).
4. create-call with every call living its life (answered after 2 s, answer webhook to a closed
   port): reported, not judged by issue 2's targets (`--skip-life` leaves it out).
5. Prints requests/s, p50 and p99, create-call as a share of hello-world, and the targets of
   issue 2 as PASS/FAIL. Every process it started is stopped by its PID, also on error or
   Ctrl-C, and the temporary directory is removed. See docs/benchmarks.md, "Create call".

wrk is required (`sudo scripts/install-bench-deps.sh`); nothing is installed from here.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import secrets
import signal
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from common import (
    CALLEE,
    CALLS_PATH,
    HELLO_INSERT_PATH,
    HELLO_PATH,
    HELLO_RAW_PATH,
    OTHER_CPU_LIMIT,
    UNLIMITED_LIMITS,
    WRK,
    BenchError,
    Processes,
    Server,
    Wrk,
    WrkResult,
    add_run_arguments,
    api_headers,
    bench_main,
    call_body,
    options_from,
    post,
    print_checks,
    proc_status_mb,
    progress,
    read_rows,
    start_hello,
    start_switchboard,
    write_config,
    wrk_script,
)

# The callees of the simulated network (see callees): the seed's `to` (CALLEE) rings for
# the whole measurement (its callTimeout, 30 s, is longer than warm-up and measurement); FILL_TO
# rejects at once, so the calls that fill the store end as soon as they start.
FILL_TO = "+15555551414"

TARGET_SHARE = 0.60  # create-call req/s at least 60% of hello-world
TARGET_P99_MS = 20.0  # create-call p99 under 20 ms at 64 connections
TARGET_RSS_MB = 200.0  # server memory under 200 MB after 100k calls


@dataclass(frozen=True, slots=True)
class Options:
    duration: int
    warmup: int
    connections: int
    calls: int
    fill_timeout: int
    server_cpu: int
    client_cpu: int
    verbose: bool
    keep: bool
    check: bool
    skip_life: bool


@dataclass(frozen=True, slots=True)
class Memory:
    calls: int
    rss_mb: float
    peak_mb: float
    idle_rss_mb: float
    # The create-call server right after its measurement, with its calls still ringing.
    ringing_rss_mb: float = 0.0
    ringing_calls: int = 0


def callees(*, ringing: bool) -> str:
    """The `[simulator]` of this benchmark. `ringing`: the seed's callee rings without answering
    (see CALLEE); otherwise it answers after the simulator's default 2 s. FILL_TO rejects."""
    ring = f'[[simulator.phones]]\nnumber = "{CALLEE}"\noutcome = "no-answer"\n'
    return (
        "[simulator]\n"
        + (ring if ringing else "")
        + f'[[simulator.phones]]\nnumber = "{FILL_TO}"\noutcome = "reject"\nanswer_after = 0\n'
    )


# -- memory ---------------------------------------------------------------------------------
def stored_calls(database: Path) -> int:
    ((count,),) = read_rows(database, "SELECT count(*) FROM calls")
    return int(count)


def fill(
    wrk: Wrk,
    options: Options,
    server: Server,
    database: Path,
    headers: dict[str, str],
    work: Path,
    idle_rss_mb: float,
) -> Memory:
    """Create calls until the store holds `--calls` of them, then read the server's memory."""
    missing = options.calls - stored_calls(database)
    if missing > 0:
        progress(f"{server.name}: creating {missing:,} more calls (to {options.calls:,})")
        script = work / "fill.lua"
        script.write_text(wrk_script(headers, stop_after=missing, body=call_body(FILL_TO)))
        deadline = time.monotonic() + options.fill_timeout
        with wrk.running(server.url(CALLS_PATH), script, options.fill_timeout) as process:
            while process.poll() is None and time.monotonic() < deadline:
                if stored_calls(database) >= options.calls:
                    break
                time.sleep(0.2)
            if process.poll() is None:
                process.send_signal(signal.SIGINT)  # wrk stops and reports
            result = wrk.finish(process, options.fill_timeout)
        if result.status_errors or result.socket_errors:
            progress(
                f"warning: {result.status_errors} error responses and "
                f"{result.socket_errors} socket errors while creating calls"
            )
    server.check_running("under load")
    pid = server.process.pid
    return Memory(
        calls=stored_calls(database),
        rss_mb=proc_status_mb(pid, "VmRSS"),
        peak_mb=proc_status_mb(pid, "VmHWM"),
        idle_rss_mb=idle_rss_mb,
    )


# -- the run --------------------------------------------------------------------------------
def check_modules() -> None:
    for module in ("switchboard", "uvicorn", "starlette", "httptools", "uvloop"):
        if importlib.util.find_spec(module) is None:
            raise BenchError(
                f"{module} is not importable by {sys.executable}: run with .venv/bin/python "
                "(or `make bench`)"
            )


@dataclass(frozen=True, slots=True)
class Results:
    hello: WrkResult  # Starlette route, before create-call
    hello_raw: WrkResult  # raw ASGI in front of the same Starlette app
    hello_insert: WrkResult  # the raw answer after one durable insert of a call row
    hello_after: WrkResult  # the Starlette route again, right after create-call
    call: WrkResult  # create-call, callees ringing through the measurement
    life: WrkResult | None  # create-call, every call living its life (answer after 2 s)
    memory: Memory


def start_create_call(
    processes: Processes, options: Options, name: str, directory: Path, ringing: bool
) -> tuple[Server, dict[str, str]]:
    """A Switchboard server with the benchmark's account; its first calls sent by hand (the
    first verifies the password with the slow hash, later ones hit the credential cache)."""
    directory.mkdir(parents=True, exist_ok=True)
    password = secrets.token_hex(16)
    config = write_config(
        directory, password, limits=UNLIMITED_LIMITS, simulator=callees(ringing=ringing)
    )
    server = start_switchboard(processes, config, options.server_cpu, directory, name)
    headers = api_headers(password)
    first_ms, _ = post(server.url(CALLS_PATH), headers, expect=201)
    second_ms, _ = post(server.url(CALLS_PATH), headers, expect=201)
    progress(
        f"{name}: first request {first_ms:.1f} ms (slow password hash), "
        f"second {second_ms:.1f} ms (cached credential)"
    )
    return server, headers


def run(options: Options, processes: Processes, work: Path) -> Results:
    check_modules()
    # This process and wrk share the client core; the servers have theirs to themselves.
    os.sched_setaffinity(0, {options.client_cpu})
    wrk = Wrk(processes, options.client_cpu, options.connections, options.verbose)
    json_headers = {"Content-Type": "application/json"}

    def measure(server: Server, path: str, script: Path) -> WrkResult:
        return wrk.measure(server, path, script, options.duration, options.warmup)

    # (a) hello-world, same stack, same settings: through a Starlette route, and answered by a
    # raw ASGI layer in front of the same app (as Switchboard answers create-call).
    hello_script = work / "hello.lua"
    hello_script.write_text(wrk_script(json_headers))

    def measure_hello(paths: tuple[str, ...], log: str) -> dict[str, WrkResult]:
        data_dir = work / "hello-insert" if HELLO_INSERT_PATH in paths else None
        hello = start_hello(processes, options.server_cpu, work / log, data_dir)
        measured: dict[str, WrkResult] = {}
        for path in paths:
            post(hello.url(path), json_headers, expect=201 if path == HELLO_INSERT_PATH else 200)
            hello = replace(hello, name=f"hello-world {path}")
            measured[path] = measure(hello, path, hello_script)
        processes.stop(hello.process)
        return measured

    results = measure_hello((HELLO_PATH, HELLO_RAW_PATH, HELLO_INSERT_PATH), "hello.log")

    # (b) create-call on the real server, the callees ringing through the measurement.
    switchboard, call_headers = start_create_call(
        processes, options, "create-call", work / "ringing", ringing=True
    )
    call_script = work / "create_call.lua"
    call_script.write_text(wrk_script(call_headers))
    call_result = measure(switchboard, CALLS_PATH, call_script)

    ringing_rss_mb = proc_status_mb(switchboard.process.pid, "VmRSS")
    ringing_calls = stored_calls(work / "ringing" / "data" / "switchboard.db")
    processes.stop(switchboard.process)
    # The VM's speed drifts by a quarter from minute to minute: the baseline is measured on
    # both sides of create-call, and the share is taken against their mean.
    hello_after = measure_hello((HELLO_PATH,), "hello-after.log")[HELLO_PATH]

    # (c) memory after --calls calls, on a server of its own: the calls that fill it end at
    # once (see FILL_TO), so this is the memory of stored calls, not of live ones.
    switchboard, call_headers = start_create_call(
        processes, options, "memory", work / "memory", ringing=True
    )
    idle_rss_mb = proc_status_mb(switchboard.process.pid, "VmRSS")
    database = work / "memory" / "data" / "switchboard.db"
    memory = fill(wrk, options, switchboard, database, call_headers, work, idle_rss_mb)
    memory = replace(memory, ringing_rss_mb=ringing_rss_mb, ringing_calls=ringing_calls)
    processes.stop(switchboard.process)

    # (d) create-call with every call living its life on the same core: it rings 2 s, is
    # answered, its answer webhook to the closed port 9 fails, and it ends.
    life_result = None
    if not options.skip_life:
        switchboard, call_headers = start_create_call(
            processes, options, "create-call (calls' life)", work / "life", ringing=False
        )
        life_script = work / "life.lua"
        life_script.write_text(wrk_script(call_headers))
        life_result = measure(switchboard, CALLS_PATH, life_script)
        processes.stop(switchboard.process)
    return Results(
        results[HELLO_PATH],
        results[HELLO_RAW_PATH],
        results[HELLO_INSERT_PATH],
        hello_after,
        call_result,
        life_result,
        memory,
    )


def report(options: Options, results: Results) -> bool:
    hello, call, memory = results.hello, results.call, results.memory
    baseline = (hello.rate + results.hello_after.rate) / 2
    share = call.rate / baseline if baseline else 0.0
    clean = call.errors == 0
    checks = [
        (
            f"create-call / hello-world req/s (mean of before and after): {share:6.1%}",
            f"target >= {TARGET_SHARE:.0%}",
            share >= TARGET_SHARE and clean,
        ),
        (
            f"create-call p99: {call.p99_ms:.2f} ms",
            f"target < {TARGET_P99_MS:.0f} ms at {options.connections} connections",
            call.p99_ms < TARGET_P99_MS and clean,
        ),
        (
            f"server RSS after {memory.calls:,} calls: {memory.rss_mb:.1f} MB",
            f"target < {TARGET_RSS_MB:.0f} MB",
            memory.rss_mb < TARGET_RSS_MB and memory.calls >= options.calls,
        ),
    ]
    print()
    print(
        f"Server on CPU {options.server_cpu}, wrk on CPU {options.client_cpu}, "
        f"{options.connections} connections, {options.duration} s per measurement "
        f"after {options.warmup} s warm-up"
    )
    print()
    header = (
        f"{'endpoint':<30}{'requests/s':>12}{'p50 ms':>10}{'p99 ms':>10}{'errors':>9}"
        f"{'other CPU':>11}"
    )
    print(header)
    print("-" * len(header))
    rows = [
        ("hello-world (Starlette)", hello),
        ("hello-world (raw ASGI)", results.hello_raw),
        ("durable insert only (floor)", results.hello_insert),
        ("create-call (ringing)", call),
        ("hello-world (Starlette) after", results.hello_after),
    ]
    if results.life is not None:
        rows.append(("create-call (calls' life)", results.life))
    for name, result in rows:
        print(
            f"{name:<30}{result.rate:>12,.0f}{result.p50_ms:>10.2f}{result.p99_ms:>10.2f}"
            f"{result.errors:>9}{result.other_cpu:>11.2f}"
        )
    print()
    raw_share = call.rate / results.hello_raw.rate if results.hello_raw.rate else 0.0
    print(f"create-call (ringing) / hello-world (raw ASGI): {raw_share:.1%}")
    floor_share = results.hello_insert.rate / baseline if baseline else 0.0
    print(
        f"durable insert only / hello-world (mean of before and after): {floor_share:.1%} "
        "(the floor: what create-call would reach if it only stored the call)"
    )
    if results.life is not None:
        life_share = results.life.rate / baseline if baseline else 0.0
        print(
            f"create-call (calls' life) / hello-world: {life_share:.1%} "
            "(the calls' later life is issue 3's: not judged by these targets)"
        )
    print()
    passed = print_checks(checks)
    print(
        f"(server RSS idle after start: {memory.idle_rss_mb:.1f} MB; peak: {memory.peak_mb:.1f} MB;"
        f" the create-call server after its measurement, {memory.ringing_calls:,} calls stored"
        f" and most still ringing: {memory.ringing_rss_mb:.1f} MB)"
    )
    if max(result.other_cpu for _, result in rows) > OTHER_CPU_LIMIT:
        print(
            "other processes used CPU during the measurements (column 'other CPU', in cores):\n"
            "the figures are disturbed; rerun on a quiet machine"
        )
    if not clean:
        print("create-call had errors under load: its figures do not count (see --verbose)")
    if memory.calls < options.calls:
        print(f"only {memory.calls:,} of {options.calls:,} calls were stored in time")
    return passed


def parse_options(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        description="Create-call throughput, latency and memory against a hello-world baseline."
    )
    parser.add_argument(
        "--duration", type=int, default=10, help="seconds per measurement (default 10)"
    )
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up (default 2)")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (64)")
    parser.add_argument(
        "--calls", type=int, default=100_000, help="stored calls before reading RSS (100000)"
    )
    parser.add_argument(
        "--fill-timeout", type=int, default=180, help="longest time to create them (180 s)"
    )
    parser.add_argument(
        "--skip-life",
        action="store_true",
        help="skip the measurement of create-call with every call living its life",
    )
    parser.add_argument("--verbose", action="store_true", help="print wrk's own output")
    add_run_arguments(parser, "wrk")
    args = parser.parse_args(argv)
    if args.duration < 1 or args.warmup < 0 or args.connections < 1 or args.calls < 0:
        parser.error("durations, connections and calls must be positive")
    if args.fill_timeout < 1:
        parser.error("--fill-timeout must be positive")
    return options_from(Options, args)


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    return bench_main(options, run, lambda results: report(options, results), tools=[WRK])


if __name__ == "__main__":
    sys.exit(main())
