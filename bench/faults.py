"""Benchmark of issue 5's promise: no disconnect event lost to a failing receiver or a crash.

    .venv/bin/python bench/faults.py [--calls 1000] [--check]          (or: make bench-faults)

What it does, all on 127.0.0.1:
1. Starts a webhook receiver (this file, `receiver` mode: aiohttp, its own process) that answers
   30% of requests with HTTP 500 at random, answers the rest (answer events with
   <SpeakSentence>hi</SpeakSentence><Hangup/>), and appends one JSON line per request to a file,
   so its counts survive its restarts; a 2xx disconnect is written once its answer is sent.
2. Starts `switchboard serve` (temporary data dir, one account with raised limits, a scaled
   clock, and `[webhooks] retries` on: the documented non-default setting this promise needs).
3. Creates `--calls` calls at `--rate` per second, each with an answerUrl and a disconnectUrl
   on the receiver. At 25% and 50% of them the receiver is killed (SIGKILL) and started again on
   the same port; at 75% Switchboard is killed (SIGKILL) with calls live and events in flight
   (no create request is in flight: each one sent got its answer), and started again on the
   same data; the rest of the calls go to the new process.
4. Waits (bounded) until every call's disconnect event has reached the receiver, reads every
   call's state through the API, and prints calls created, calls ended, disconnect events owed
   (one per call given a 201) and delivered (distinct callIds whose disconnect the receiver
   answered 2xx). Owed must equal delivered; `--check` exits with status 1 when it does not
   (or when a call did not end).

Every process is stopped by its PID at the end, on error or on Ctrl-C; the temporary directory is
removed unless `--keep`. The whole run is bounded by `--timeout` (170 s).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import aiohttp
from aiohttp import web

from common import HOST, BenchError, Processes, free_port, progress, switchboard_argv

ACCOUNT_ID = "9900005"
USERNAME = "faults"
APPLICATION_ID = "7fc9698a-b04a-468b-9e8f-91238c0d0005"
FROM_NUMBER = "+15555550500"
TO_NUMBER = "+15555550501"
BXML = "<Response><SpeakSentence>hi</SpeakSentence><Hangup/></Response>"
UNLIMITED = 1_000_000

# The non-default delivery setting that makes the promise hold across receiver restarts.
RETRIES = 8
BACKOFF_SECONDS = 0.2
MAX_BACKOFF_SECONDS = 2.0
TIME_SCALE = 0.01

START_TIMEOUT_S = 30.0
CREATE_CONCURRENCY = 32
RECEIVER_RESTARTS_AT = (0.25, 0.50)  # shares of the calls created
SWITCHBOARD_KILL_AT = 0.75


@dataclass(frozen=True, slots=True)
class Options:
    calls: int
    rate: float
    fail_rate: float
    seed: int
    timeout: float
    keep: bool
    check: bool


@dataclass
class Run:
    """What happened, for the report."""

    created: list[str] = field(default_factory=list)
    refused: Counter[int] = field(default_factory=Counter)  # create requests not answered 201
    receiver_downtimes: list[float] = field(default_factory=list)
    kill_snapshot: dict[str, int] = field(default_factory=dict)
    switchboard_restart_s: float = 0.0
    states: Counter[str] = field(default_factory=Counter)
    causes: Counter[str] = field(default_factory=Counter)
    outbox: Counter[str] = field(default_factory=Counter)
    wait_s: float = 0.0
    elapsed_s: float = 0.0


# -- the receiver (its own process) ---------------------------------------------------------
def receiver_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="faults.py receiver")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--fail-rate", type=float, required=True)
    parser.add_argument("--seed", type=int, required=True)
    args = parser.parse_args(argv)
    chance = random.Random(args.seed)
    # O_APPEND and one os.write per line: each line reaches the kernel whole, at once, so a
    # SIGKILL loses no line already written.
    log = os.open(args.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def record(event: dict[str, Any], status: int) -> None:
        line = {"t": event.get("eventType"), "c": event.get("callId"), "s": status}
        if event.get("eventType") == "disconnect":
            line["cause"] = event.get("cause")
        os.write(log, json.dumps(line).encode() + b"\n")

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            event = json.loads(await request.read())
        except ValueError:
            event = {}
        if chance.random() < args.fail_rate:
            record(event, 500)
            return web.Response(status=500, text="injected failure")
        if event.get("eventType") == "answer":
            record(event, 200)
            return web.Response(text=BXML, content_type="application/xml")
        response = web.Response(status=200)
        await response.prepare(request)
        await response.write_eof()
        record(event, 200)  # the 2xx has been written: this event counts as delivered
        return response

    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", handle)
    web.run_app(app, host=HOST, port=args.port, print=None, access_log=None, reuse_address=True)
    return 0


# -- processes ------------------------------------------------------------------------------
def wait_listening(process: subprocess.Popen[bytes], port: int, name: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"{name} exited while starting:\n{tail(log)}")
        with socket.socket() as probe:
            probe.settimeout(0.2)
            if probe.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.02)  # another process is starting
    raise BenchError(f"{name} did not listen on {HOST}:{port} in {START_TIMEOUT_S:.0f} s")


def tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def kill(processes: Processes, process: subprocess.Popen[bytes]) -> None:
    """SIGKILL by PID: no shutdown code runs."""
    process.kill()
    process.wait(10)
    processes.stop(process)  # already dead: only forgets it


@dataclass
class Receiver:
    processes: Processes
    work: Path
    port: int
    fail_rate: float
    seed: int
    process: subprocess.Popen[bytes] | None = None
    generation: int = 0

    @property
    def deliveries(self) -> Path:
        return self.work / "deliveries.jsonl"

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"

    def start(self) -> None:
        self.generation += 1
        log = self.work / f"receiver-{self.generation}.log"
        argv = [sys.executable, str(Path(__file__).resolve()), "receiver"]
        argv += ["--port", str(self.port), "--log", str(self.deliveries)]
        argv += ["--fail-rate", str(self.fail_rate), "--seed", str(self.seed + self.generation)]
        self.process = self.processes.start(argv, log)
        wait_listening(self.process, self.port, "the receiver", log)

    def restart(self) -> float:
        assert self.process is not None
        began = time.monotonic()
        kill(self.processes, self.process)
        self.start()
        return time.monotonic() - began

    def lines(self) -> list[dict[str, Any]]:
        if not self.deliveries.exists():
            return []
        text = self.deliveries.read_text()
        return [json.loads(line) for line in text.splitlines() if line.endswith("}")]


@dataclass
class Switchboard:
    processes: Processes
    work: Path
    port: int
    password: str
    process: subprocess.Popen[bytes] | None = None
    generation: int = 0

    @property
    def database(self) -> Path:
        return self.work / "data" / "switchboard.db"

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"

    def log(self) -> Path:
        return self.work / f"switchboard-{self.generation}.log"

    def write_config(self) -> Path:
        config = self.work / "switchboard.toml"
        config.write_text(
            f"""\
[server]
data_dir = "data"
log_level = "warning"
drain_seconds = 1

[webhooks]
retries = {RETRIES}
backoff_seconds = {BACKOFF_SECONDS}
max_backoff_seconds = {MAX_BACKOFF_SECONDS}

[simulator]
time_scale = {TIME_SCALE}

[[accounts]]
id = "{ACCOUNT_ID}"
name = "Faults"
numbers = ["{FROM_NUMBER}"]
  [[accounts.users]]
  username = "{USERNAME}"
  password = "{self.password}"
  [[accounts.applications]]
  id = "{APPLICATION_ID}"
  name = "Faults"
  [accounts.limits]
  calls_per_second = {UNLIMITED}
  concurrent_calls = {UNLIMITED}
"""
        )
        return config

    async def start(self, session: aiohttp.ClientSession) -> None:
        self.generation += 1
        argv = switchboard_argv(self.work / "switchboard.toml", self.port)
        self.process = self.processes.start(argv, self.log())
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"Switchboard exited while starting:\n{tail(self.log())}")
            try:
                async with session.get(self.url("/readyz")) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)  # another process is starting
        raise BenchError(f"Switchboard was not ready in {START_TIMEOUT_S:.0f} s")

    def kill(self) -> None:
        assert self.process is not None
        kill(self.processes, self.process)

    def stop(self) -> None:
        if self.process is not None:
            self.processes.stop(self.process)

    def settled(self) -> bool:
        """Every call ended, and its disconnect event is marked (delivered or failed)."""
        ((unfinished,),) = self.query(
            "SELECT (SELECT count(*) FROM calls WHERE state != 'disconnected') + "
            "(SELECT count(*) FROM outbox WHERE event_type = 'disconnect' AND status = 'pending')"
        )
        return int(unfinished) == 0

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        connection = sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=30)
        try:
            return connection.execute(sql).fetchall()
        finally:
            connection.close()


# -- the run --------------------------------------------------------------------------------
def delivered_disconnects(receiver: Receiver, created: set[str]) -> Counter[str]:
    """callId -> how many disconnects the receiver answered 2xx, for the calls we created."""
    return Counter(
        line["c"]
        for line in receiver.lines()
        if line["t"] == "disconnect" and line["s"] == 200 and line["c"] in created
    )


async def create_calls(
    session: aiohttp.ClientSession,
    switchboard: Switchboard,
    receiver: Receiver,
    options: Options,
    run: Run,
    count: int,
    milestones: Mapping[int, Callable[[], Coroutine[Any, Any, None]]] | None = None,
) -> None:
    """Create `count` calls at the paced rate; return once every request has its answer and
    every milestone (run in the background once that many calls were created) has finished."""
    milestones = dict(milestones or {})
    background: list[asyncio.Task[None]] = []
    body = {
        "from": FROM_NUMBER,
        "to": TO_NUMBER,
        "answerUrl": receiver.url("/answer"),
        "disconnectUrl": receiver.url("/disconnect"),
        "applicationId": APPLICATION_ID,
    }
    url = switchboard.url(f"/api/v2/accounts/{ACCOUNT_ID}/calls")
    slots = asyncio.Semaphore(CREATE_CONCURRENCY)

    async def create() -> None:
        try:
            async with session.post(url, json=body) as response:
                if response.status == 201:
                    run.created.append(str((await response.json())["callId"]))
                    action = milestones.pop(len(run.created), None)
                    if action is not None:
                        background.append(asyncio.create_task(action()))
                else:
                    run.refused[response.status] += 1
        except aiohttp.ClientError:
            run.refused[0] += 1
        finally:
            slots.release()

    began = time.monotonic()
    tasks = []
    for index in range(count):
        await asyncio.sleep(max(0.0, began + index / options.rate - time.monotonic()))  # pacing
        await slots.acquire()
        tasks.append(asyncio.create_task(create()))
    await asyncio.gather(*tasks)
    await asyncio.gather(*background)


async def drive(options: Options, processes: Processes, work: Path, run: Run) -> None:
    password = secrets.token_hex(16)
    receiver = Receiver(processes, work, free_port(), options.fail_rate, options.seed)
    switchboard = Switchboard(processes, work, free_port(), password)
    switchboard.write_config()
    receiver.start()
    token = base64.b64encode(f"{USERNAME}:{password}".encode()).decode()
    headers = {"Authorization": f"Basic {token}"}
    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=CREATE_CONCURRENCY)
    session = aiohttp.ClientSession(headers=headers, timeout=timeout, connector=connector)
    async with session:
        await switchboard.start(session)
        progress(f"creating {options.calls:,} calls at {options.rate:g}/s")

        # The receiver is restarted while calls are being created, in the background.
        async def restart_receiver() -> None:
            at = len(run.created)
            downtime = await asyncio.to_thread(receiver.restart)
            run.receiver_downtimes.append(downtime)
            progress(f"receiver killed and restarted at call {at} ({downtime:.2f} s down)")

        before_kill = int(SWITCHBOARD_KILL_AT * options.calls)
        milestones = {int(at * options.calls): restart_receiver for at in RECEIVER_RESTARTS_AT}
        await create_calls(session, switchboard, receiver, options, run, before_kill, milestones)

        switchboard.kill()
        rows = switchboard.query(
            "SELECT state, count(*) FROM calls GROUP BY state "
            "UNION ALL SELECT 'outbox ' || status, count(*) FROM outbox GROUP BY status"
        )
        run.kill_snapshot = {str(key): int(value) for key, value in rows}
        progress(f"Switchboard killed at call {len(run.created)}: {run.kill_snapshot}")
        began = time.monotonic()
        await switchboard.start(session)
        run.switchboard_restart_s = time.monotonic() - began
        progress(f"Switchboard restarted ({run.switchboard_restart_s:.2f} s)")
        rest = options.calls - before_kill
        await create_calls(session, switchboard, receiver, options, run, rest)

        progress("waiting for every disconnect event")
        began = time.monotonic()
        created = set(run.created)
        deadline = run_deadline(options)
        while len(delivered_disconnects(receiver, created)) < len(created):
            if time.monotonic() > deadline:
                progress("gave up waiting: the run's time is up")
                break
            if switchboard.settled():
                progress("every call ended and no disconnect event is pending: none will come")
                break
            await asyncio.sleep(0.2)  # another process's progress
        run.wait_s = time.monotonic() - began

        # Every call's state through the API.
        slots = asyncio.Semaphore(CREATE_CONCURRENCY)

        async def state_of(call_id: str) -> None:
            async with slots:
                url = switchboard.url(f"/api/v2/accounts/{ACCOUNT_ID}/calls/{call_id}")
                async with session.get(url) as response:
                    call = await response.json() if response.status == 200 else {}
            run.states[str(call.get("state", f"HTTP {response.status}"))] += 1
            if call.get("disconnectCause"):
                run.causes[str(call["disconnectCause"])] += 1

        await asyncio.gather(*(state_of(call_id) for call_id in run.created))
        switchboard.stop()
        rows = switchboard.query(
            "SELECT status, count(*) FROM outbox WHERE event_type = 'disconnect' GROUP BY status"
        )
        run.outbox = Counter({str(status): int(count) for status, count in rows})


_started = time.monotonic()


def run_deadline(options: Options) -> float:
    return _started + options.timeout


def report(options: Options, run: Run, receiver_lines: list[dict[str, Any]]) -> bool:
    created = set(run.created)
    delivered = Counter(
        line["c"]
        for line in receiver_lines
        if line["t"] == "disconnect" and line["s"] == 200 and line["c"] in created
    )
    owed = len(created)
    ended = run.states.get("disconnected", 0)
    requests = Counter(line["s"] for line in receiver_lines)
    by_event = Counter(line["t"] for line in receiver_lines)
    duplicates = sum(count - 1 for count in delivered.values())
    rows = [
        ("calls created (201)", f"{len(run.created):,}"),
        ("calls ended (state disconnected)", f"{ended:,}"),
        ("disconnect events owed", f"{owed:,}"),
        ("disconnect events delivered (2xx)", f"{len(delivered):,}"),
        ("  of which delivered more than once", f"{sum(1 for c in delivered.values() if c > 1)}"),
        ("  extra copies received", f"{duplicates}"),
        (
            "receiver requests: total / 500 / 200",
            f"{len(receiver_lines):,} / {requests.get(500, 0):,} / {requests.get(200, 0):,}",
        ),
        (
            "  answer / disconnect requests",
            f"{by_event.get('answer', 0):,} / {by_event.get('disconnect', 0):,}",
        ),
        (
            "disconnect causes",
            ", ".join(f"{cause} {n}" for cause, n in run.causes.most_common()) or "-",
        ),
        (
            "outbox disconnect events at the end",
            ", ".join(f"{status} {n}" for status, n in run.outbox.most_common()) or "-",
        ),
    ]
    if run.refused:
        rows.append(("create requests refused", str(dict(run.refused))))
    print()
    print(
        f"Setting: [webhooks] retries = {RETRIES}, backoff_seconds = {BACKOFF_SECONDS}, "
        f"max_backoff_seconds = {MAX_BACKOFF_SECONDS}; [simulator] time_scale = {TIME_SCALE}"
    )
    downtimes = ", ".join(f"{d:.2f} s" for d in run.receiver_downtimes)
    print(
        f"Faults: the receiver answers {options.fail_rate:.0%} of requests with HTTP 500; "
        f"killed and restarted {len(run.receiver_downtimes)}x (down {downtimes}); "
        f"Switchboard killed (SIGKILL) once and restarted ({run.switchboard_restart_s:.2f} s)"
    )
    snapshot = ", ".join(f"{k} {v}" for k, v in run.kill_snapshot.items())
    print(f"At the kill, in the database: {snapshot}")
    print()
    width = max(len(name) for name, _ in rows) + 3
    print(f"{'figure':<{width}}value")
    print("-" * (width + 20))
    for name, value in rows:
        print(f"{name:<{width}}{value}")
    print()
    all_delivered = len(delivered) == owed and owed == options.calls
    all_ended = ended == owed
    print(
        f"owed == delivered: {'PASS' if all_delivered else 'FAIL'} ({len(delivered)} of {owed}); "
        f"every call ended: {'PASS' if all_ended else 'FAIL'}; "
        f"waited {run.wait_s:.1f} s after the last create"
    )
    return all_delivered and all_ended


def parse_options(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        description="Disconnect events owed vs delivered across a failing, restarting receiver "
        "and a SIGKILL of Switchboard."
    )
    parser.add_argument("--calls", type=int, default=1000, help="calls to create (1000)")
    parser.add_argument("--rate", type=float, default=150.0, help="calls created per second")
    parser.add_argument("--fail-rate", type=float, default=0.3, help="share answered 500 (0.3)")
    parser.add_argument("--seed", type=int, default=5, help="the receiver's random seed (5)")
    parser.add_argument("--timeout", type=float, default=170.0, help="bound of the run (170 s)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, database)")
    parser.add_argument("--check", action="store_true", help="exit 1 when owed != delivered")
    args = parser.parse_args(argv)
    if args.calls < 4 or args.rate <= 0 or not 0 <= args.fail_rate < 1 or args.timeout <= 0:
        parser.error("--calls >= 4, --rate > 0, 0 <= --fail-rate < 1, --timeout > 0")
    return Options(
        args.calls, args.rate, args.fail_rate, args.seed, args.timeout, args.keep, args.check
    )


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise BenchError("the run took longer than --timeout (plus 10 s to clean up)")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["receiver"]:
        return receiver_main(argv[1:])
    options = parse_options(argv)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGHUP, _raise_interrupt)
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(int(options.timeout) + 10)  # a hard bound, whatever hangs
    processes = Processes()
    work = Path(tempfile.mkdtemp(prefix="switchboard-faults-"))
    run = Run()
    try:
        asyncio.run(drive(options, processes, work, run))
        lines = Receiver(processes, work, 0, 0.0, 0).lines()
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    finally:
        signal.alarm(0)
        processes.stop_all()
        if options.keep:
            progress(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    passed = report(options, run, lines)
    run.elapsed_s = time.monotonic() - _started
    print(
        f"({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, "
        f"bench took {run.elapsed_s:.0f} s)"
    )
    return 1 if options.check and not passed else 0


if __name__ == "__main__":
    sys.exit(main())
