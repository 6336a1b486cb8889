"""What the issue 3 and 4 benchmarks share, on top of bench/create_call.py's process handling.

Not a benchmark itself. Each script runs as `python bench/<name>.py`, so this directory is on
sys.path and `create_call` and `common` import as plain modules.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import resource
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import NamedTuple, Protocol, TypeVar

import aiohttp

from create_call import (
    ACCOUNT_ID,
    APPLICATION_ID,
    FROM_NUMBER,
    HOST,
    USERNAME,
    BenchError,
    Processes,
    Server,
    free_port,
    proc_status_mb,
    progress,
    start_server,
    switchboard_argv,
    write_config,
)

__all__ = [
    "ACCOUNT_ID",
    "APPLICATION_ID",
    "FROM_NUMBER",
    "HOST",
    "USERNAME",
    "BenchError",
    "Callback",
    "CpuMeter",
    "CpuShare",
    "Processes",
    "Server",
    "basic_auth",
    "check_cpus",
    "follow_callbacks",
    "free_port",
    "percentile",
    "proc_status_mb",
    "progress",
    "run_bench",
    "stamp",
    "start_server",
    "start_switchboard",
    "start_webhook_app",
    "switchboard_argv",
    "verdict",
    "write_config",
]

BENCH_DIR = Path(__file__).resolve().parent
WEBHOOK_APP = BENCH_DIR / "webhook_app.py"
OTHER_CPU_LIMIT = 0.10  # cores used by others during a measurement before we call it disturbed

T = TypeVar("T")


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def basic_auth(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


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
    async with session.get(url, timeout=aiohttp.ClientTimeout()) as response:
        ready.set()
        async for raw in response.content:
            event_type, tag, call_id, arrival, extra = raw.decode().rstrip("\n").split("\t")
            on_callback(Callback(event_type, tag, call_id, int(arrival), extra))


# -- CPU accounting -------------------------------------------------------------------------
def _machine_busy() -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    first = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, first[1:9])
    return (user + nice + system + irq + softirq + steal) / ticks


def _process_cpu(pid: int) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / ticks


def _own_cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # finished ones only
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


# -- the server ------------------------------------------------------------------------------
def start_switchboard(processes: Processes, config: Path, cpu: int, work: Path) -> Server:
    port = free_port()
    return start_server(
        processes,
        "switchboard",
        switchboard_argv(config, port),
        port,
        cpu,
        work / "switchboard.log",
    )


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


def check_cpus(server_cpu: int, client_cpu: int) -> None:
    if shutil.which("taskset") is None:
        raise BenchError("taskset (util-linux) is not installed")
    allowed = os.sched_getaffinity(0)
    for cpu in (server_cpu, client_cpu):
        if cpu not in allowed:
            raise BenchError(f"CPU {cpu} is not available here (allowed: {sorted(allowed)})")
    if server_cpu == client_cpu:
        raise BenchError("the server and the load generator need different CPUs")


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


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


def add_run_arguments(parser: argparse.ArgumentParser, client: str) -> None:
    """--server-cpu, --client-cpu, --keep and --check, the same in every benchmark."""
    parser.add_argument("--server-cpu", type=int, default=0, help="core of the server (0)")
    parser.add_argument("--client-cpu", type=int, default=1, help=f"core of {client} (1)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, database)")
    parser.add_argument(
        "--check", action="store_true", help="exit with status 1 when a target fails"
    )


def bench_main(
    options: RunOptions,
    body: Callable[[Processes, Path], T],
    report: Callable[[T], bool],
    *,
    tools: Sequence[tuple[str, str]] = (),
) -> int:
    """Check the CPUs and the `(tool, how to install it)` pairs the run needs, then run it."""
    try:
        check_cpus(options.server_cpu, options.client_cpu)
        for tool, install in tools:
            if shutil.which(tool) is None:
                raise BenchError(f"{tool} is not installed: {install}")
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    return run_bench(body, report, keep=options.keep, check=options.check)


def run_bench(
    body: Callable[[Processes, Path], T],
    report: Callable[[T], bool],
    *,
    keep: bool,
    check: bool,
) -> int:
    """Run `body` with a temp dir and a process list that are cleaned up whatever happens (also
    on Ctrl-C or SIGTERM), then `report` its result. Exit status: 0, or 1 when `check` is set
    and a target failed, 2 when the benchmark could not run, 130 when interrupted."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGHUP, _raise_interrupt)
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
        processes.stop_all()
        if keep:
            progress(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    passed = report(result)
    print(stamp(started))
    return 1 if check and not passed else 0
