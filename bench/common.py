"""The harness every benchmark is built on: processes, servers, configs, wrk, CPU and options.

Not a benchmark itself. Each script runs as `python bench/<name>.py`, so this directory is on
sys.path and `common` imports as a plain module. Only the standard library is imported at the
top: bench/hello_app.py, the baseline server, imports this module too, and should load no
more than the stack it measures (aiohttp is imported only where the callbacks are followed).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import resource
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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TypeVar

if TYPE_CHECKING:
    import asyncio

    import aiohttp

HOST = "127.0.0.1"
BENCH_DIR = Path(__file__).resolve().parent
WEBHOOK_APP = BENCH_DIR / "webhook_app.py"
HELLO_APP = BENCH_DIR / "hello_app.py"
HELLO_PATH = "/hello"  # its Starlette route
HELLO_RAW_PATH = "/hello-raw"  # its raw ASGI answer, in front of the same Starlette app
HELLO_INSERT_PATH = "/hello-insert"  # the raw answer after one durable call insert (the floor)
LOG_LEVEL = "warning"  # the same for every server

# The benchmark account, in every config written by write_config.
ACCOUNT_ID = "9900001"
USERNAME = "bench"
APPLICATION_ID = "7fc9698a-b04a-468b-9e8f-91238c0d0086"
FROM_NUMBER = "+15555551212"
# The seed's `to`: the simulated network's default phone unless a `[simulator]` sets it.
CALLEE = "+15555551313"
CALLS_PATH = f"/api/v2/accounts/{ACCOUNT_ID}/calls"

# Bandwidth's default limits (a few calls per second) would refuse most of the load with a 429;
# raised so that every call is admitted (the limiter's check still runs for every call).
UNLIMITED = 1_000_000_000
UNLIMITED_LIMITS = f"  calls_per_second = {UNLIMITED}\n  concurrent_calls = {UNLIMITED}"

OTHER_CPU_LIMIT = 0.10  # cores used by others during a measurement before we call it disturbed
STOP_TIMEOUT_S = 10.0
START_TIMEOUT_S = 30.0
WRK_GRACE_S = 20.0  # on top of a wrk run's own duration, before it is killed
RESULT_MARK = "SWITCHBOARD-BENCH"

T = TypeVar("T")
OptionsT = TypeVar("OptionsT", bound="RunOptions")


class BenchError(Exception):
    """The benchmark could not run; the message says why (printed without a traceback)."""


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def print_checks(checks: Sequence[tuple[str, str, bool]], target_width: int | None = None) -> bool:
    """One line per (figure, target, ok), the columns aligned; True when every check passed.
    The target column is as wide as its longest entry plus 3 unless `target_width` is given."""
    width = max(len(figure) for figure, _, _ in checks) + 3
    if target_width is None:
        target_width = max(len(target) for _, target, _ in checks) + 3
    for figure, target, ok in checks:
        print(f"{figure:<{width}}{target:<{target_width}}{verdict(ok)}")
    return all(ok for _, _, ok in checks)


def basic_auth(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def api_headers(password: str) -> dict[str, str]:
    """The headers of a JSON request to the API as the benchmark account's user."""
    return {"Content-Type": "application/json", "Authorization": basic_auth(USERNAME, password)}


def call_request(
    to: str = CALLEE, app: str | None = None, tag: str | None = None
) -> dict[str, str]:
    """The seed's create-call request (../shared/seed/create-call.txt), from the benchmark
    account's number to `to`. Its answer webhook goes to a closed port (9), or with `app` (a
    base URL) to `app`/answer, and the disconnect webhook to `app`/disconnect."""
    request = {
        "from": FROM_NUMBER,
        "to": to,
        "answerUrl": "http://127.0.0.1:9/hello" if app is None else f"{app}/answer",
        "applicationId": APPLICATION_ID,
    }
    if app is not None:
        request["disconnectUrl"] = f"{app}/disconnect"
    if tag is not None:
        request["tag"] = tag
    return request


def call_body(to: str = CALLEE) -> str:
    """call_request(to) as the compact JSON that wrk and hello_app send."""
    return json.dumps(call_request(to), separators=(",", ":"))


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (share in 0..1); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(share * len(ordered) + 0.5)))
    return ordered[rank - 1]


def stamp(started: float) -> str:
    return (
        f"({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, "
        f"bench took {time.monotonic() - started:.0f} s)"
    )


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

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        """SIGKILL by PID: no shutdown code runs (a crash, for the fault benchmarks)."""
        with suppress(ProcessLookupError):
            process.kill()
        process.wait(STOP_TIMEOUT_S)
        self.stop(process)  # already dead: only forgets it

    def stop_all(self) -> None:
        for process in reversed(list(self._running)):
            self.stop(process)


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

    def check_running(self, when: str = "during the run") -> None:
        if self.process.poll() is not None:
            raise BenchError(f"the {self.name} died {when}:\n{self.log_tail()}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def tcp_listening(port: int) -> bool:
    with suppress(OSError), socket.create_connection((HOST, port), timeout=0.2):
        return True
    return False


def answers_ok(url: str) -> bool:
    """A GET of `url` answers 200 (a readiness probe)."""
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:  # refused, or an HTTPError (503 while starting)
        return False


def start_server(
    processes: Processes,
    name: str,
    argv: list[str],
    port: int,
    cpu: int | None,
    log: Path,
    ready: Callable[[], bool] | None = None,
) -> Server:
    """Start `argv` (pinned to `cpu` with taskset unless None) and wait until `ready()`, by
    default until it accepts a TCP connection on `port`."""
    pinned = argv if cpu is None else ["taskset", "-c", str(cpu), *argv]
    process = processes.start(pinned, log)
    server = Server(name, process, port, log)
    is_ready = ready or (lambda: tcp_listening(port))
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(
                f"{name} exited with status {process.returncode} while starting:\n"
                + server.log_tail()
            )
        if is_ready():
            return server
        time.sleep(0.02)  # another process is starting
    raise BenchError(f"{name} was not ready on {HOST}:{port} in {START_TIMEOUT_S:.0f} s")


def switchboard_argv(config: Path, port: int) -> list[str]:
    script = Path(sys.executable).parent / "switchboard"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "switchboard.cli"]
    return [*command, "serve", "--config", str(config), "--port", str(port)]


def start_switchboard(
    processes: Processes, config: Path, cpu: int, work: Path, name: str = "switchboard"
) -> Server:
    port = free_port()
    argv = switchboard_argv(config, port)
    return start_server(processes, name, argv, port, cpu, work / "switchboard.log")


def start_webhook_app(processes: Processes, mode: str, cpu: int, work: Path) -> Server:
    port = free_port()
    return start_server(
        processes,
        "webhook app",
        [sys.executable, str(WEBHOOK_APP), "--port", str(port), "--mode", mode],
        port,
        cpu,
        work / "webhook_app.log",
    )


def start_hello(processes: Processes, cpu: int, log: Path, data_dir: Path | None = None) -> Server:
    """bench/hello_app.py, the stack's hello-world; with `data_dir`, also its durable insert."""
    port = free_port()
    argv = [sys.executable, str(HELLO_APP), "--port", str(port), "--log-level", LOG_LEVEL]
    if data_dir is not None:  # only then has the server a store (and its threads)
        argv += ["--data-dir", str(data_dir)]
    return start_server(processes, "hello-world", argv, port, cpu, log)


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
    more tables after them (`[simulator]`, `[network]`, `[webhooks]`...), all as TOML text; more
    `[server]` keys in `server`. Every benchmark writes its server's config here."""
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


def read_rows(database: Path, sql: str, parameters: Sequence[object] = ()) -> list[tuple[Any, ...]]:
    """Rows of `sql` on a read-only connection of its own (the server keeps writing)."""
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
    try:
        return connection.execute(sql, parameters).fetchall()
    finally:
        connection.close()


def proc_status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024  # the kernel reports kB
    raise BenchError(f"/proc/{pid}/status has no {field}")


def post(
    url: str, headers: dict[str, str], expect: int, body: str | None = None
) -> tuple[float, bytes]:
    """One request by hand (the seed's call unless `body`): checks that the server answers as
    the load will expect."""
    data = (call_body() if body is None else body).encode()
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, answer = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, answer = error.code, error.read()
    except OSError as error:
        raise BenchError(f"POST {url} failed: {error}") from None
    elapsed_ms = (time.perf_counter() - started) * 1000
    if status != expect:
        raise BenchError(f"POST {url} answered {status}, expected {expect}: {answer[:500]!r}")
    return elapsed_ms, answer


# -- CPU accounting -------------------------------------------------------------------------
def _machine_busy() -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    first = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, first[1:9])
    return (user + nice + system + irq + softirq + steal) / ticks


def _process_cpu(pid: int) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    try:
        # utime and stime are the 12th and 13th fields after the name.
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / ticks


def _own_cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # finished ones only (wrk)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@dataclass(frozen=True, slots=True)
class CpuShare:
    """CPU use over one measurement, in cores (1.0 = one core busy the whole time)."""

    seconds: float
    by_process: dict[str, float]
    other: float  # neither our processes nor this one: other users, the hypervisor's steal

    @property
    def disturbed(self) -> bool:
        return self.other > OTHER_CPU_LIMIT


class CpuMeter:
    """CPU seconds of named processes, this process, and the whole machine, between two marks."""

    def __init__(self, processes: dict[str, int]) -> None:
        self.processes = processes
        self._wall = time.monotonic()
        self._machine = _machine_busy()
        self._own = _own_cpu()
        self._cpu = {name: _process_cpu(pid) for name, pid in processes.items()}

    def stop(self) -> CpuShare:
        elapsed = max(1e-9, time.monotonic() - self._wall)
        machine = _machine_busy() - self._machine
        by_process = {
            name: (_process_cpu(pid) - self._cpu[name]) / elapsed
            for name, pid in self.processes.items()
        }
        by_process["bench"] = (_own_cpu() - self._own) / elapsed
        ours = sum(by_process.values()) * elapsed
        return CpuShare(elapsed, by_process, max(0.0, machine - ours) / elapsed)


# -- wrk ------------------------------------------------------------------------------------
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
    # CPU over the measurement (Wrk.measure): "other" above ~0.1 core and the figures are
    # disturbed.
    cpu: CpuShare | None = None

    @property
    def rate(self) -> float:
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def errors(self) -> int:
        return self.status_errors + self.socket_errors

    @property
    def other_cpu(self) -> float:
        return self.cpu.other if self.cpu is not None else 0.0


def wrk_script(
    headers: dict[str, str], stop_after: int | None = None, body: str | None = None
) -> str:
    """wrk's Lua: POST the body (the seed's call unless given) with the headers; report the
    figures on one parseable line."""
    body = call_body() if body is None else body
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


@dataclass(frozen=True, slots=True)
class Wrk:
    """wrk as every benchmark runs it: one thread, pinned to `cpu`, `connections` open."""

    processes: Processes
    cpu: int
    connections: int
    verbose: bool = False  # print wrk's own output

    @contextmanager
    def running(self, url: str, script: Path, seconds: int) -> Iterator[subprocess.Popen[bytes]]:
        argv = ["taskset", "-c", str(self.cpu), "wrk", "--threads", "1"]
        argv += ["--connections", str(self.connections), "--duration", f"{seconds}s"]
        argv += ["--timeout", "5s", "--latency", "--script", str(script), url]
        process = self.processes.start(argv)
        try:
            yield process
        finally:
            self.processes.stop(process)

    def finish(self, process: subprocess.Popen[bytes], seconds: int) -> WrkResult:
        assert process.stdout is not None
        try:
            output, _ = process.communicate(timeout=seconds + WRK_GRACE_S)
        except subprocess.TimeoutExpired:
            raise BenchError(f"wrk did not finish within {seconds + WRK_GRACE_S:.0f} s") from None
        text = output.decode(errors="replace")
        if self.verbose:
            print(text, file=sys.stderr)
        if process.returncode != 0:
            raise BenchError(f"wrk exited with status {process.returncode}:\n{text[-2000:]}")
        return parse_wrk(text)

    def load(self, url: str, script: Path, seconds: int) -> WrkResult:
        with self.running(url, script, seconds) as process:
            return self.finish(process, seconds)

    def measure(
        self, server: Server, path: str, script: Path, duration: int, warmup: int
    ) -> WrkResult:
        """`warmup` seconds of load, then `duration` measured, with the server's CPU."""
        url = server.url(path)
        if warmup > 0:
            progress(f"{server.name}: warm-up {warmup} s")
            self.load(url, script, warmup)
        progress(f"{server.name}: measuring {duration} s at {self.connections} connections")
        meter = CpuMeter({"server": server.process.pid})
        result = self.load(url, script, duration)
        cpu = meter.stop()
        server.check_running("under load")
        return replace(result, cpu=cpu)


# -- the webhook application's stream of callbacks ---------------------------------------
class Callback(NamedTuple):
    """One callback that reached bench/webhook_app.py."""

    event_type: str
    tag: str
    call_id: str
    arrival_ns: int  # CLOCK_MONOTONIC (time.monotonic_ns() here is the same clock)
    extra: str  # digits (gather, dtmf) or cause (disconnect)


async def follow_callbacks(
    session: aiohttp.ClientSession,
    url: str,
    on_callback: Callable[[Callback], None],
    ready: asyncio.Event,
) -> None:
    """Read the application's GET /stream until cancelled, calling `on_callback` for each."""
    import aiohttp  # here, not at the top: see the module's docstring

    async with session.get(url, timeout=aiohttp.ClientTimeout()) as response:
        ready.set()
        async for raw in response.content:
            event_type, tag, call_id, arrival, extra = raw.decode().rstrip("\n").split("\t")
            on_callback(Callback(event_type, tag, call_id, int(arrival), extra))


# -- options and the run --------------------------------------------------------------------
def check_cpus(server_cpu: int, client_cpu: int) -> None:
    if shutil.which("taskset") is None:
        raise BenchError("taskset (util-linux) is not installed")
    allowed = os.sched_getaffinity(0)
    for cpu in (server_cpu, client_cpu):
        if cpu not in allowed:
            raise BenchError(f"CPU {cpu} is not available here (allowed: {sorted(allowed)})")
    if server_cpu == client_cpu:
        raise BenchError("the server and the load generator need different CPUs")


class RunOptions(Protocol):
    """The options every benchmark run takes (see add_run_arguments)."""

    @property
    def server_cpu(self) -> int: ...

    @property
    def client_cpu(self) -> int: ...

    @property
    def keep(self) -> bool: ...

    @property
    def check(self) -> bool: ...


def add_run_arguments(parser: argparse.ArgumentParser, client: str | None) -> None:
    """--server-cpu, --client-cpu (the core of `client`; neither when None: nothing is
    pinned), --keep and --check, the same in every benchmark."""
    if client is not None:
        parser.add_argument("--server-cpu", type=int, default=0, help="core of the server (0)")
        parser.add_argument("--client-cpu", type=int, default=1, help=f"core of {client} (1)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, database)")
    parser.add_argument(
        "--check", action="store_true", help="exit with status 1 when a target fails"
    )


def options_from(cls: Callable[..., T], args: argparse.Namespace, **given: object) -> T:
    """A benchmark's Options dataclass from its parsed arguments: each field from the argument
    of the same name, unless `given` (a value the arguments only lead to)."""
    names = [field.name for field in fields(cls)]  # type: ignore[arg-type]
    return cls(**{name: given[name] if name in given else getattr(args, name) for name in names})


WRK = ("wrk", "sudo scripts/install-bench-deps.sh")  # a tool for bench_main


def bench_main(
    options: OptionsT,
    run: Callable[[OptionsT, Processes, Path], T],
    report: Callable[[T], bool],
    *,
    tools: Sequence[tuple[str, str]] = (),
) -> int:
    """Check the CPUs and the `(tool, how to install it)` pairs the run needs, then
    `run(options, processes, work)` under run_bench."""
    try:
        check_cpus(options.server_cpu, options.client_cpu)
        for tool, install in tools:
            if shutil.which(tool) is None:
                raise BenchError(f"{tool} is not installed: {install}")
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    return run_bench(
        lambda processes, work: run(options, processes, work),
        report,
        keep=options.keep,
        check=options.check,
    )


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run_bench(
    body: Callable[[Processes, Path], T],
    report: Callable[[T], bool],
    *,
    keep: bool,
    check: bool,
    time_limit: int | None = None,
) -> int:
    """Run `body` with a temp dir and a process list that are cleaned up whatever happens (also
    on Ctrl-C or SIGTERM), then `report` its result. With `time_limit`, a hard bound in seconds
    on `body`, whatever hangs. Exit status: 0, or 1 when `check` is set and a target failed, 2
    when the benchmark could not run, 130 when interrupted."""
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started ignoring it
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGHUP, _raise_interrupt)
    if time_limit is not None:

        def out_of_time(signum: int, frame: FrameType | None) -> None:
            raise BenchError(f"the run took longer than {time_limit} s")

        signal.signal(signal.SIGALRM, out_of_time)
        signal.alarm(time_limit)
    processes = Processes()
    work = Path(tempfile.mkdtemp(prefix="switchboard-bench-"))
    started = time.monotonic()
    try:
        result = body(processes, work)
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    finally:
        signal.alarm(0)
        processes.stop_all()
        if keep:
            progress(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    passed = report(result)
    print(stamp(started))
    return 1 if check and not passed else 0
