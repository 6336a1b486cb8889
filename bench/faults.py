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
import json
import os
import random
import secrets
import sys
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from common import (
    CALLS_PATH,
    HOST,
    UNLIMITED_LIMITS,
    USERNAME,
    Processes,
    Server,
    add_run_arguments,
    answers_ok,
    basic_auth,
    call_request,
    free_port,
    options_from,
    progress,
    read_rows,
    run_bench,
    start_server,
    switchboard_argv,
    verdict,
    write_config,
)

TO_NUMBER = "+15555550501"
BXML = "<Response><SpeakSentence>hi</SpeakSentence><Hangup/></Response>"

# The non-default delivery setting that makes the promise hold across receiver restarts.
RETRIES = 8
BACKOFF_SECONDS = 0.2
MAX_BACKOFF_SECONDS = 2.0
TIME_SCALE = 0.01

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
# Neither is pinned to a core: the promise is about faults, not speed. Each is restarted on
# the port it had, so the URLs the calls were given stay good.
@dataclass
class Receiver:
    processes: Processes
    work: Path
    port: int
    fail_rate: float
    seed: int
    server: Server | None = None
    generation: int = 0

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"

    def start(self) -> None:
        self.generation += 1
        argv = [sys.executable, str(Path(__file__).resolve()), "receiver"]
        argv += ["--port", str(self.port), "--log", str(deliveries_log(self.work))]
        argv += ["--fail-rate", str(self.fail_rate), "--seed", str(self.seed + self.generation)]
        log = self.work / f"receiver-{self.generation}.log"
        self.server = start_server(self.processes, "receiver", argv, self.port, None, log)

    def restart(self) -> float:
        assert self.server is not None
        began = time.monotonic()
        self.processes.kill(self.server.process)
        self.start()
        return time.monotonic() - began


def deliveries_log(work: Path) -> Path:
    return work / "deliveries.jsonl"


def deliveries(work: Path) -> list[dict[str, Any]]:
    """Every request the receiver recorded, across its restarts."""
    if not deliveries_log(work).exists():
        return []
    text = deliveries_log(work).read_text()
    return [json.loads(line) for line in text.splitlines() if line.endswith("}")]


@dataclass
class Switchboard:
    processes: Processes
    work: Path
    port: int
    server: Server | None = None
    generation: int = 0

    @property
    def database(self) -> Path:
        return self.work / "data" / "switchboard.db"

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"

    def start(self) -> None:
        """Start it on its config, and wait until it is ready (its calls resumed)."""
        self.generation += 1
        argv = switchboard_argv(self.work / "switchboard.toml", self.port)
        log = self.work / f"switchboard-{self.generation}.log"
        ready = self.url("/readyz")
        self.server = start_server(
            self.processes, "switchboard", argv, self.port, None, log, lambda: answers_ok(ready)
        )

    def kill(self) -> None:
        assert self.server is not None
        self.processes.kill(self.server.process)

    def stop(self) -> None:
        if self.server is not None:
            self.processes.stop(self.server.process)

    def settled(self) -> bool:
        """Every call ended, and its disconnect event is marked (delivered or failed)."""
        ((unfinished,),) = self.query(
            "SELECT (SELECT count(*) FROM calls WHERE state != 'disconnected') + "
            "(SELECT count(*) FROM outbox WHERE event_type = 'disconnect' AND status = 'pending')"
        )
        return int(unfinished) == 0

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        return read_rows(self.database, sql)


# -- the run --------------------------------------------------------------------------------
def delivered_disconnects(receiver: Receiver, created: set[str]) -> Counter[str]:
    """callId -> how many disconnects the receiver answered 2xx, for the calls we created."""
    return Counter(
        line["c"]
        for line in deliveries(receiver.work)
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
    body = call_request(TO_NUMBER, app=receiver.url(""))
    url = switchboard.url(CALLS_PATH)
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
    write_config(
        work,
        password,
        limits=UNLIMITED_LIMITS,
        server="drain_seconds = 1",
        # The non-default delivery setting the promise needs, and a scaled clock.
        simulator=(
            f"[webhooks]\nretries = {RETRIES}\nbackoff_seconds = {BACKOFF_SECONDS}\n"
            f"max_backoff_seconds = {MAX_BACKOFF_SECONDS}\n\n"
            f"[simulator]\ntime_scale = {TIME_SCALE}\n"
        ),
    )
    receiver = Receiver(processes, work, free_port(), options.fail_rate, options.seed)
    switchboard = Switchboard(processes, work, free_port())
    receiver.start()
    headers = {"Authorization": basic_auth(USERNAME, password)}
    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=CREATE_CONCURRENCY)
    session = aiohttp.ClientSession(headers=headers, timeout=timeout, connector=connector)
    async with session:
        await asyncio.to_thread(switchboard.start)
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
        await asyncio.to_thread(switchboard.start)
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
                url = switchboard.url(f"{CALLS_PATH}/{call_id}")
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
        f"owed == delivered: {verdict(all_delivered)} ({len(delivered)} of {owed}); "
        f"every call ended: {verdict(all_ended)}; "
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
    add_run_arguments(parser, None)
    args = parser.parse_args(argv)
    if args.calls < 4 or args.rate <= 0 or not 0 <= args.fail_rate < 1 or args.timeout <= 0:
        parser.error("--calls >= 4, --rate > 0, 0 <= --fail-rate < 1, --timeout > 0")
    return options_from(Options, args)


def run(options: Options, processes: Processes, work: Path) -> tuple[Run, list[dict[str, Any]]]:
    run = Run()
    asyncio.run(drive(options, processes, work, run))
    return run, deliveries(work)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["receiver"]:
        return receiver_main(argv[1:])
    options = parse_options(argv)
    return run_bench(
        lambda processes, work: run(options, processes, work),
        lambda result: report(options, *result),
        keep=options.keep,
        check=options.check,
        time_limit=int(options.timeout) + 10,  # a hard bound, whatever hangs (10 s to clean up)
    )


if __name__ == "__main__":
    sys.exit(main())
