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
import base64
import importlib.util
import json
import os
import re
import resource
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

HOST = "127.0.0.1"
BENCH_DIR = Path(__file__).resolve().parent
HELLO_APP = BENCH_DIR / "hello_app.py"
HELLO_PATH = "/hello"  # the Starlette route of bench/hello_app.py
HELLO_RAW_PATH = "/hello-raw"  # its raw ASGI answer, in front of the same Starlette app
HELLO_INSERT_PATH = "/hello-insert"  # the raw answer after one durable call insert (the floor)
LOG_LEVEL = "warning"  # the same for both servers

ACCOUNT_ID = "9900001"
USERNAME = "bench"
APPLICATION_ID = "7fc9698a-b04a-468b-9e8f-91238c0d0086"
FROM_NUMBER = "+15555551212"
CALLS_PATH = f"/api/v2/accounts/{ACCOUNT_ID}/calls"
# The callees of the simulated network (see write_config): the seed's `to` rings for the whole
# measurement (its callTimeout, 30 s, is longer than warm-up and measurement); FILL_TO rejects
# at once, so the calls that fill the store end as soon as they start.
RINGING_TO = "+15555551313"
FILL_TO = "+15555551414"


def call_body(to: str = RINGING_TO) -> str:
    """The seed's example request (../shared/seed/create-call.txt), from a number of the
    account, to `to`."""
    return json.dumps(
        {
            "from": FROM_NUMBER,
            "to": to,
            "answerUrl": "http://127.0.0.1:9/hello",
            "applicationId": APPLICATION_ID,
        },
        separators=(",", ":"),
    )


BODY = call_body()

UNLIMITED = 1_000_000_000
TARGET_SHARE = 0.60  # create-call req/s at least 60% of hello-world
TARGET_P99_MS = 20.0  # create-call p99 under 20 ms at 64 connections
TARGET_RSS_MB = 200.0  # server memory under 200 MB after 100k calls

OTHER_CPU_LIMIT = 0.10  # cores used by others during a measurement before we warn
STOP_TIMEOUT_S = 10.0
START_TIMEOUT_S = 30.0
WRK_GRACE_S = 20.0  # on top of a wrk run's own duration, before it is killed
RESULT_MARK = "SWITCHBOARD-BENCH"


class BenchError(Exception):
    """The benchmark could not run; the message says why (printed without a traceback)."""


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
    skip_life: bool = False


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests: int
    duration_s: float
    socket_errors: int
    status_errors: int  # responses with a status of 400 or more
    p50_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    # CPU time that neither the server nor the load generator used while this ran, in cores
    # (other processes, the hypervisor's steal): above ~0.1 the figures are disturbed.
    other_cpu: float = 0.0

    @property
    def rate(self) -> float:
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Memory:
    calls: int
    rss_mb: float
    peak_mb: float
    idle_rss_mb: float
    # The create-call server right after its measurement, with its calls still ringing.
    ringing_rss_mb: float = 0.0
    ringing_calls: int = 0


# -- processes ------------------------------------------------------------------------------
class Processes:
    """Every process the benchmark starts; each is stopped by its own PID, never by name."""

    def __init__(self) -> None:
        self._running: list[subprocess.Popen[bytes]] = []

    def start(self, argv: list[str], log: Path | None = None) -> subprocess.Popen[bytes]:
        # A session of its own: Ctrl-C reaches the benchmark only, which then stops it.
        # Servers write to a log file; anything else (wrk) to a pipe that the caller reads.
        if log is None:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        else:
            with log.open("wb") as output:
                process = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=output,
                    start_new_session=True,
                )
        self._running.append(process)
        return process

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        if process.poll() is None:
            with suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    process.kill()
                process.wait(STOP_TIMEOUT_S)
        if process.stdout is not None:
            process.stdout.close()
        if process in self._running:
            self._running.remove(process)

    def stop_all(self) -> None:
        for process in reversed(list(self._running)):
            self.stop(process)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


# -- servers --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def start_server(
    processes: Processes, name: str, argv: list[str], port: int, cpu: int, log: Path
) -> Server:
    process = processes.start(["taskset", "-c", str(cpu), *argv], log)
    server = Server(name, process, port, log)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(
                f"{name} exited with status {process.returncode} while starting:\n"
                + server.log_tail()
            )
        with suppress(OSError), socket.create_connection((HOST, port), timeout=0.2):
            return server
        time.sleep(0.05)
    raise BenchError(f"{name} did not listen on {HOST}:{port} in {START_TIMEOUT_S:.0f} s")


def switchboard_argv(config: Path, port: int) -> list[str]:
    script = Path(sys.executable).parent / "switchboard"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "switchboard.cli"]
    return [*command, "serve", "--config", str(config), "--port", str(port)]


def write_config(
    directory: Path,
    password: str,
    *,
    limits: str,
    simulator: str = "",
    accounts: str = "",
    server: str = "",
) -> Path:
    """A config with the benchmark account (its `[accounts.limits]` given), more accounts, and
    a `[simulator]` section, all as TOML text. Every benchmark writes its server's config here."""
    config = directory / "switchboard.toml"
    config.write_text(
        f"""\
[server]
data_dir = "data"
log_level = "{LOG_LEVEL}"
{server}
[[accounts]]
id = "{ACCOUNT_ID}"
name = "Benchmark"
numbers = ["{FROM_NUMBER}"]
  [[accounts.users]]
  username = "{USERNAME}"
  password = "{password}"
  [[accounts.applications]]
  id = "{APPLICATION_ID}"
  name = "Benchmark"
  [accounts.limits]
{limits}
{accounts}
{simulator}
"""
    )
    return config


def callees(*, ringing: bool) -> str:
    """The `[simulator]` of this benchmark. `ringing`: the seed's callee rings without answering
    (see RINGING_TO); otherwise it answers after the simulator's default 2 s. FILL_TO rejects."""
    ring = f'[[simulator.phones]]\nnumber = "{RINGING_TO}"\noutcome = "no-answer"\n'
    return (
        "[simulator]\n"
        + (ring if ringing else "")
        + f'[[simulator.phones]]\nnumber = "{FILL_TO}"\noutcome = "reject"\nanswer_after = 0\n'
    )


# Bandwidth's default limits (a few calls per second) would refuse most of the load with a 429;
# raised so that every call is admitted (the limiter's check still runs).
UNLIMITED_CALLS = f"  calls_per_second = {UNLIMITED}\n  concurrent_calls = {UNLIMITED}"


def post(url: str, headers: dict[str, str], expect: int, body: str = BODY) -> tuple[float, bytes]:
    """One request by hand: checks that the server answers as the load will expect."""
    request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    except OSError as error:
        raise BenchError(f"POST {url} failed: {error}") from None
    elapsed_ms = (time.perf_counter() - started) * 1000
    if status != expect:
        raise BenchError(f"POST {url} answered {status}, expected {expect}: {body[:500]!r}")
    return elapsed_ms, body


# -- load -----------------------------------------------------------------------------------
def wrk_script(headers: dict[str, str], stop_after: int | None = None, body: str = BODY) -> str:
    """wrk's Lua: POST the body with the headers; report the figures on one parseable line."""
    lines = ['wrk.method = "POST"', f"wrk.body = [==[{body}]==]"]
    lines += [f'wrk.headers["{name}"] = "{value}"' for name, value in headers.items()]
    if stop_after is not None:
        # Stop sending once enough answers came back (the caller then interrupts wrk).
        lines += [
            "local answered = 0",
            "response = function(status, headers, body)",
            "  answered = answered + 1",
            f"  if answered >= {stop_after} then wrk.thread:stop() end",
            "end",
        ]
    lines += [
        "done = function(summary, latency, requests)",
        "  local e = summary.errors",
        "  io.write(string.format(",
        f'    "{RESULT_MARK} requests=%d duration_us=%d connect=%d read=%d write=%d "',
        '    .. "timeout=%d status=%d p50_us=%d p99_us=%d mean_us=%d max_us=%d\\n",',
        "    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout,",
        "    e.status, latency:percentile(50), latency:percentile(99), latency.mean,",
        "    latency.max))",
        "end",
    ]
    return "\n".join(lines) + "\n"


def parse_wrk(output: str) -> WrkResult:
    line = next((line for line in output.splitlines() if line.startswith(RESULT_MARK)), None)
    if line is None:
        raise BenchError(f"wrk printed no result line:\n{output[-2000:]}")
    values = {key: int(value) for key, value in re.findall(r"(\w+)=(-?\d+)", line)}
    return WrkResult(
        requests=values["requests"],
        duration_s=values["duration_us"] / 1e6,
        socket_errors=values["connect"] + values["read"] + values["write"] + values["timeout"],
        status_errors=values["status"],
        p50_ms=values["p50_us"] / 1000,
        p99_ms=values["p99_us"] / 1000,
        mean_ms=values["mean_us"] / 1000,
        max_ms=values["max_us"] / 1000,
    )


@contextmanager
def running_wrk(
    processes: Processes,
    options: Options,
    url: str,
    script: Path,
    seconds: int,
) -> Iterator[subprocess.Popen[bytes]]:
    argv = [
        "taskset",
        "-c",
        str(options.client_cpu),
        "wrk",
        "--threads",
        "1",
        "--connections",
        str(options.connections),
        "--duration",
        f"{seconds}s",
        "--timeout",
        "5s",
        "--latency",
        "--script",
        str(script),
        url,
    ]
    process = processes.start(argv)
    try:
        yield process
    finally:
        processes.stop(process)


def finish_wrk(process: subprocess.Popen[bytes], seconds: int, verbose: bool) -> WrkResult:
    assert process.stdout is not None
    try:
        output, _ = process.communicate(timeout=seconds + WRK_GRACE_S)
    except subprocess.TimeoutExpired:
        raise BenchError(f"wrk did not finish within {seconds + WRK_GRACE_S:.0f} s") from None
    text = output.decode(errors="replace")
    if verbose:
        print(text, file=sys.stderr)
    if process.returncode != 0:
        raise BenchError(f"wrk exited with status {process.returncode}:\n{text[-2000:]}")
    return parse_wrk(text)


def load(processes: Processes, options: Options, url: str, script: Path, seconds: int) -> WrkResult:
    with running_wrk(processes, options, url, script, seconds) as process:
        return finish_wrk(process, seconds, options.verbose)


def measure(
    processes: Processes, options: Options, server: Server, path: str, script: Path
) -> WrkResult:
    url = server.url(path)
    if options.warmup > 0:
        progress(f"{server.name}: warm-up {options.warmup} s")
        load(processes, options, url, script, options.warmup)
    progress(f"{server.name}: measuring {options.duration} s at {options.connections} connections")
    before = CpuUse.now(server.process.pid)
    result = load(processes, options, url, script, options.duration)
    if server.process.poll() is not None:
        raise BenchError(f"{server.name} died under load:\n{server.log_tail()}")
    return replace(result, other_cpu=CpuUse.now(server.process.pid).others_since(before))


@dataclass(frozen=True, slots=True)
class CpuUse:
    """CPU seconds of the whole machine and of the benchmark's own processes, at one moment."""

    wall: float
    machine: float  # busy time of every CPU, including time stolen by the hypervisor
    ours: float  # the server, this process and its finished children (wrk)

    @staticmethod
    def now(server_pid: int) -> CpuUse:
        ticks = os.sysconf("SC_CLK_TCK")
        first = Path("/proc/stat").read_text().split("\n", 1)[0].split()
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, first[1:9])
        machine = (user + nice + system + irq + softirq + steal) / ticks
        # /proc/PID/stat: utime and stime are the 12th and 13th fields after the name.
        fields = Path(f"/proc/{server_pid}/stat").read_text().rsplit(")", 1)[1].split()
        server = (int(fields[11]) + int(fields[12])) / ticks
        own = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        ours = server + own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
        return CpuUse(time.monotonic(), machine, ours)

    def others_since(self, before: CpuUse) -> float:
        elapsed = self.wall - before.wall
        if elapsed <= 0:
            return 0.0
        return max(0.0, (self.machine - before.machine) - (self.ours - before.ours)) / elapsed


# -- memory ---------------------------------------------------------------------------------
def proc_status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024  # the kernel reports kB
    raise BenchError(f"/proc/{pid}/status has no {field}")


def stored_calls(database: Path) -> int:
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
    try:
        (count,) = connection.execute("SELECT count(*) FROM calls").fetchone()
        return int(count)
    finally:
        connection.close()


def fill(
    processes: Processes,
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
        with running_wrk(
            processes, options, server.url(CALLS_PATH), script, options.fill_timeout
        ) as process:
            while process.poll() is None and time.monotonic() < deadline:
                if stored_calls(database) >= options.calls:
                    break
                time.sleep(0.2)
            if process.poll() is None:
                process.send_signal(signal.SIGINT)  # wrk stops and reports
            result = finish_wrk(process, options.fill_timeout, options.verbose)
        if result.status_errors or result.socket_errors:
            progress(
                f"warning: {result.status_errors} error responses and "
                f"{result.socket_errors} socket errors while creating calls"
            )
    if server.process.poll() is not None:
        raise BenchError(f"{server.name} died under load:\n{server.log_tail()}")
    pid = server.process.pid
    return Memory(
        calls=stored_calls(database),
        rss_mb=proc_status_mb(pid, "VmRSS"),
        peak_mb=proc_status_mb(pid, "VmHWM"),
        idle_rss_mb=idle_rss_mb,
    )


# -- the run --------------------------------------------------------------------------------
def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def check_environment(options: Options) -> None:
    if shutil.which("wrk") is None:
        raise BenchError(
            "wrk is not installed. Install it with:  sudo scripts/install-bench-deps.sh"
        )
    if shutil.which("taskset") is None:
        raise BenchError("taskset (util-linux) is not installed")
    for module in ("switchboard", "uvicorn", "starlette", "httptools", "uvloop"):
        if importlib.util.find_spec(module) is None:
            raise BenchError(
                f"{module} is not importable by {sys.executable}: run with .venv/bin/python "
                "(or `make bench`)"
            )
    allowed = os.sched_getaffinity(0)
    for cpu in (options.server_cpu, options.client_cpu):
        if cpu not in allowed:
            raise BenchError(f"CPU {cpu} is not available here (allowed: {sorted(allowed)})")
    if options.server_cpu == options.client_cpu:
        raise BenchError("the server and the load generator need different CPUs")


@dataclass(frozen=True, slots=True)
class Results:
    hello: WrkResult  # Starlette route, before create-call
    hello_raw: WrkResult  # raw ASGI in front of the same Starlette app
    hello_insert: WrkResult  # the raw answer after one durable insert of a call row
    hello_after: WrkResult  # the Starlette route again, right after create-call
    call: WrkResult  # create-call, callees ringing through the measurement
    life: WrkResult | None  # create-call, every call living its life (answer after 2 s)
    memory: Memory


def start_switchboard(
    processes: Processes, options: Options, name: str, directory: Path, ringing: bool
) -> tuple[Server, dict[str, str]]:
    """A Switchboard server with the benchmark's account; its first calls sent by hand (the
    first verifies the password with the slow hash, later ones hit the credential cache)."""
    directory.mkdir(parents=True, exist_ok=True)
    password = secrets.token_hex(16)
    config = write_config(
        directory, password, limits=UNLIMITED_CALLS, simulator=callees(ringing=ringing)
    )
    port = free_port()
    server = start_server(
        processes,
        name,
        switchboard_argv(config, port),
        port,
        options.server_cpu,
        directory / "switchboard.log",
    )
    token = base64.b64encode(f"{USERNAME}:{password}".encode()).decode()
    headers = {"Content-Type": "application/json", "Authorization": f"Basic {token}"}
    first_ms, _ = post(server.url(CALLS_PATH), headers, expect=201)
    second_ms, _ = post(server.url(CALLS_PATH), headers, expect=201)
    progress(
        f"{name}: first request {first_ms:.1f} ms (slow password hash), "
        f"second {second_ms:.1f} ms (cached credential)"
    )
    return server, headers


def run(options: Options, processes: Processes, work: Path) -> Results:
    # This process and wrk share the client core; the servers have theirs to themselves.
    os.sched_setaffinity(0, {options.client_cpu})
    json_headers = {"Content-Type": "application/json"}

    # (a) hello-world, same stack, same settings: through a Starlette route, and answered by a
    # raw ASGI layer in front of the same app (as Switchboard answers create-call).
    hello_script = work / "hello.lua"
    hello_script.write_text(wrk_script(json_headers))

    def measure_hello(paths: tuple[str, ...], log: str) -> dict[str, WrkResult]:
        port = free_port()
        argv = [sys.executable, str(HELLO_APP), "--port", str(port), "--log-level", LOG_LEVEL]
        if HELLO_INSERT_PATH in paths:  # only then has the server a store (and its threads)
            argv += ["--data-dir", str(work / "hello-insert")]
        hello = start_server(
            processes,
            "hello-world",
            argv,
            port,
            options.server_cpu,
            work / log,
        )
        measured: dict[str, WrkResult] = {}
        for path in paths:
            post(hello.url(path), json_headers, expect=201 if path == HELLO_INSERT_PATH else 200)
            hello = replace(hello, name=f"hello-world {path}")
            measured[path] = measure(processes, options, hello, path, hello_script)
        processes.stop(hello.process)
        return measured

    results = measure_hello((HELLO_PATH, HELLO_RAW_PATH, HELLO_INSERT_PATH), "hello.log")

    # (b) create-call on the real server, the callees ringing through the measurement.
    switchboard, call_headers = start_switchboard(
        processes, options, "create-call", work / "ringing", ringing=True
    )
    call_script = work / "create_call.lua"
    call_script.write_text(wrk_script(call_headers))
    call_result = measure(processes, options, switchboard, CALLS_PATH, call_script)

    ringing_rss_mb = proc_status_mb(switchboard.process.pid, "VmRSS")
    ringing_calls = stored_calls(work / "ringing" / "data" / "switchboard.db")
    processes.stop(switchboard.process)
    # The VM's speed drifts by a quarter from minute to minute: the baseline is measured on
    # both sides of create-call, and the share is taken against their mean.
    hello_after = measure_hello((HELLO_PATH,), "hello-after.log")[HELLO_PATH]

    # (c) memory after --calls calls, on a server of its own: the calls that fill it end at
    # once (see FILL_TO), so this is the memory of stored calls, not of live ones.
    switchboard, call_headers = start_switchboard(
        processes, options, "memory", work / "memory", ringing=True
    )
    idle_rss_mb = proc_status_mb(switchboard.process.pid, "VmRSS")
    database = work / "memory" / "data" / "switchboard.db"
    memory = fill(processes, options, switchboard, database, call_headers, work, idle_rss_mb)
    memory = replace(memory, ringing_rss_mb=ringing_rss_mb, ringing_calls=ringing_calls)
    processes.stop(switchboard.process)

    # (d) create-call with every call living its life on the same core: it rings 2 s, is
    # answered, its answer webhook to the closed port 9 fails, and it ends.
    life_result = None
    if not options.skip_life:
        switchboard, call_headers = start_switchboard(
            processes, options, "create-call (calls' life)", work / "life", ringing=False
        )
        life_script = work / "life.lua"
        life_script.write_text(wrk_script(call_headers))
        life_result = measure(processes, options, switchboard, CALLS_PATH, life_script)
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


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def report(options: Options, results: Results) -> bool:
    hello, call, memory = results.hello, results.call, results.memory
    baseline = (hello.rate + results.hello_after.rate) / 2
    share = call.rate / baseline if baseline else 0.0
    clean = call.status_errors == 0 and call.socket_errors == 0
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
        errors = result.status_errors + result.socket_errors
        print(
            f"{name:<30}{result.rate:>12,.0f}{result.p50_ms:>10.2f}{result.p99_ms:>10.2f}"
            f"{errors:>9}{result.other_cpu:>11.2f}"
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
    width = max(len(figure) for figure, _, _ in checks) + 3
    target_width = max(len(target) for _, target, _ in checks) + 3
    for figure, target, ok in checks:
        print(f"{figure:<{width}}{target:<{target_width}}{verdict(ok)}")
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
    return all(ok for _, _, ok in checks)


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
    parser.add_argument("--server-cpu", type=int, default=0, help="core of the servers (0)")
    parser.add_argument("--client-cpu", type=int, default=1, help="core of wrk (1)")
    parser.add_argument(
        "--skip-life",
        action="store_true",
        help="skip the measurement of create-call with every call living its life",
    )
    parser.add_argument("--verbose", action="store_true", help="print wrk's own output")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, database)")
    parser.add_argument(
        "--check", action="store_true", help="exit with status 1 when a target fails"
    )
    args = parser.parse_args(argv)
    if args.duration < 1 or args.warmup < 0 or args.connections < 1 or args.calls < 0:
        parser.error("durations, connections and calls must be positive")
    if args.fill_timeout < 1:
        parser.error("--fill-timeout must be positive")
    return Options(
        duration=args.duration,
        warmup=args.warmup,
        connections=args.connections,
        calls=args.calls,
        fill_timeout=args.fill_timeout,
        server_cpu=args.server_cpu,
        client_cpu=args.client_cpu,
        verbose=args.verbose,
        skip_life=args.skip_life,
        keep=args.keep,
        check=args.check,
    )


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    try:
        check_environment(options)
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started ignoring it
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGHUP, _raise_interrupt)
    processes = Processes()
    work = Path(tempfile.mkdtemp(prefix="switchboard-bench-"))
    started = time.monotonic()
    try:
        results = run(options, processes, work)
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    finally:
        processes.stop_all()
        if options.keep:
            progress(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    passed = report(options, results)
    print(
        f"({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, "
        f"bench took {time.monotonic() - started:.0f} s)"
    )
    return 1 if options.check and not passed else 0


if __name__ == "__main__":
    sys.exit(main())
