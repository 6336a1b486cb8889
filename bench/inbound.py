"""Inbound calls per second against bench/call_flow.py's outbound calls, in the same run (issue 11).

    .venv/bin/python bench/inbound.py [--rounds 3] [--calls 5000]   (or: make bench-inbound)

One complete inbound call: a virtual phone dials one of the account's numbers
(POST /switchboard/v1/phones/{from}/calls {"to"} -> 201 {"callId"}) -> `initiate` webhook to the
number's application -> <SpeakSentence> (which answers the call) + <Gather gatherUrl
maxDigits="1"> + <Hangup/> -> the caller presses 1 -> `gather` webhook -> <Hangup/> ->
`disconnect` webhook (cause hangup). It is bench/call_flow.py's outbound call turned around: the
same webhook application (bench/webhook_app.py, mode "flow", answers `initiate` with the document
it answers `answer` with), the same phone settings, the same driver (call_flow.Driver, whose
create request becomes the dial request here), the same count of calls in flight, and the same
figure: complete calls/s = calls whose disconnect (cause hangup) arrived / wall time from the
first request to the last disconnect.

How the load is made, and why: by the dial API over HTTP, one authenticated request per call,
closed loop (a new call when one's disconnect reaches the application). call_flow pays one
authenticated createCall request per call and runs closed loop with --in-flight calls alive;
dialing the same way keeps both sides' work per call the same shape (an API request, then the
call's life), so the ratio compares the two call paths and not two ways of making load.
`[[simulator.calls]]` would start calls from a timer inside the server, with no request at
all: inbound would skip a cost outbound pays, and its fixed rate (open loop) measures whether
the server keeps up with that rate rather than how fast it goes. `--load scripted` measures it
anyway, as a second figure: scripted calls offered at --offer times the outbound rate just
measured, on a fresh server with the same config plus the script.

What runs, all on 127.0.0.1: the server (`switchboard serve`, pinned to --server-cpu, a temp
data dir, `[simulator] time_scale` --time-scale, limits raised so no call is refused) with the
benchmark account, whose number +15555551212 rings a second application whose
call_initiated_callback_url and call_status_callback_url are the webhook application's; the
webhook application and this driver on --client-cpu. Each round measures outbound (exactly
call_flow's driver) and inbound back to back on the same server, the order alternating between
rounds so that neither always runs on the fuller database; each measurement has its own one
call by hand and --warmup calls first. The verdict is on the median of the rounds' ratios.
Every process is stopped by its PID, also on error or Ctrl-C; the temp dir is removed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import orjson
import uvloop

from call_flow import Batch, Driver, Result
from call_flow import Options as FlowOptions
from common import (
    FROM_NUMBER,
    UNLIMITED_LIMITS,
    Callback,
    CpuMeter,
    Processes,
    Server,
    add_run_arguments,
    bench_main,
    follow_callbacks,
    options_from,
    percentile,
    progress,
    start_switchboard,
    start_webhook_app,
    verdict,
    write_config,
)

TARGET_RATIO = 0.90  # issue 11: inbound within 10% of call_flow's complete calls/s
INBOUND_APPLICATION_ID = "5c1f0d0e-3b7a-4c55-9d7e-2f9a4be0a111"
OUR_NUMBER = FROM_NUMBER  # the account's number; it rings the inbound application
CALLER = "+15555550123"  # a virtual phone with [simulator.default]'s settings


@dataclass(frozen=True, slots=True)
class Options:
    calls: int
    warmup: int
    in_flight: int
    connections: int
    time_scale: float
    timeout: float
    rounds: int
    load: str
    offer: float
    server_cpu: int
    client_cpu: int
    keep: bool
    check: bool

    def flow(self) -> FlowOptions:
        """call_flow's options for the same figures (its driver reads these)."""
        return FlowOptions(
            calls=self.calls,
            warmup=self.warmup,
            in_flight=self.in_flight,
            connections=self.connections,
            time_scale=self.time_scale,
            timeout=self.timeout,
            server_cpu=self.server_cpu,
            client_cpu=self.client_cpu,
            keep=self.keep,
            check=self.check,
        )


def simulator_config(time_scale: float) -> str:
    """call_flow.run's [simulator], unchanged: the callee rings 2 s (call time) before it
    answers; any phone presses 1 as soon as a Gather listens. An inbound call's caller is a
    phone of the same settings (its answer_after means nothing: the application answers)."""
    return (
        f"[simulator]\ntime_scale = {time_scale}\n"
        '[simulator.default]\nanswer_after = 2.0\ndigits = "1"\ndigit_delay = 0.0\n'
    )


def inbound_application(app: Server) -> str:
    """A second application of the benchmark account (write_config's `accounts` text lands in
    the account's table), ringing on OUR_NUMBER with its webhooks at the webhook app."""
    return f"""\
  [[accounts.applications]]
  id = "{INBOUND_APPLICATION_ID}"
  name = "Inbound benchmark"
  call_initiated_callback_url = "{app.url("/initiate")}"
  call_status_callback_url = "{app.url("/disconnect")}"
  numbers = ["{OUR_NUMBER}"]
"""


class InboundDriver(Driver):
    """call_flow's driver with the create request replaced by a dial request. Inbound calls
    carry no tag, so callbacks are matched by callId, learnt from the dial's 201; a callback
    may reach the application before the driver has read that 201, and waits for it."""

    def __init__(self, options: FlowOptions, server: Server, app: Server, password: str) -> None:
        super().__init__(options, server, app, password)
        self.dial_url = server.url(f"/switchboard/v1/phones/{CALLER}/calls")
        self.dial_body = orjson.dumps({"to": OUR_NUMBER})
        self.calls: dict[str, tuple[Batch, int]] = {}
        self.early: dict[str, list[Callback]] = {}

    def on_callback(self, callback: Callback) -> None:
        if callback.tag or callback.event_type not in ("gather", "disconnect"):
            return  # an outbound call's (tagged), or an initiate
        owner = self.calls.get(callback.call_id)
        if owner is None:
            self.early.setdefault(callback.call_id, []).append(callback)
            return
        self._count(owner[0], owner[1], callback)

    def _count(self, batch: Batch, index: int, callback: Callback) -> None:
        if callback.event_type == "gather":
            batch.gathers[callback.extra] += 1
        elif index not in batch.ended_ns:
            batch.ended_ns[index] = callback.arrival_ns
            batch.causes[callback.extra] += 1
            self._settle(batch)

    async def create(self, session: aiohttp.ClientSession, batch: Batch, index: int) -> None:
        sent = time.monotonic_ns()
        batch.sent_ns[index] = sent
        try:
            async with session.post(self.dial_url, data=self.dial_body) as response:
                answer = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as error:
            batch.create_errors[type(error).__name__] += 1
            self._settle(batch)
            return
        batch.create_ms.append((time.monotonic_ns() - sent) / 1e6)
        if status != 201:
            batch.create_errors[f"HTTP {status}"] += 1
            self._settle(batch)
            return
        call_id = orjson.loads(answer)["callId"]
        self.calls[call_id] = (batch, index)
        for callback in self.early.pop(call_id, ()):
            self._count(batch, index, callback)


# -- [[simulator.calls]]: the calls start inside the server ---------------------------------
@dataclass(slots=True)
class ScriptedWatch:
    """What the application saw of the scripted calls (all untagged): in order of initiate."""

    expected: int
    initiated_ns: dict[str, int] = field(default_factory=dict)
    ended_ns: dict[str, int] = field(default_factory=dict)
    causes: dict[str, str] = field(default_factory=dict)
    gathers: dict[str, str] = field(default_factory=dict)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def on_callback(self, callback: Callback) -> None:
        if callback.tag:
            return
        if callback.event_type == "initiate":
            self.initiated_ns.setdefault(callback.call_id, callback.arrival_ns)
        elif callback.event_type == "gather":
            self.gathers[callback.call_id] = callback.extra
        elif callback.event_type == "disconnect" and callback.call_id not in self.ended_ns:
            self.ended_ns[callback.call_id] = callback.arrival_ns
            self.causes[callback.call_id] = callback.extra
            if len(self.ended_ns) >= self.expected:
                self.done.set()


SCRIPT_START_S = 3.0  # wall seconds from the server's start to the first scripted call


def scripted_calls(options: Options, rate: float) -> str:
    """The warm-up and measured calls, one every 1/rate wall seconds ([[simulator.calls]]'s
    `at` and `every` are engine seconds, which time_scale shrinks)."""
    return (
        "[[simulator.calls]]\n"
        f"at = {SCRIPT_START_S / options.time_scale}\n"
        f"every = {1 / (rate * options.time_scale)}\n"
        f"count = {options.warmup + options.calls}\n"
        f'from = "{CALLER}"\nto = "{OUR_NUMBER}"\n'
    )


async def watch_scripted(
    options: Options, app: Server, processes: dict[str, int], rate: float
) -> Result:
    """Follow the scripted calls to their ends; the first --warmup (by initiate) are warm-up,
    and the CPU is metered from the first measured call's initiate."""
    watch = ScriptedWatch(options.warmup + options.calls)
    async with aiohttp.ClientSession() as session:
        ready = asyncio.Event()
        follower = asyncio.create_task(
            follow_callbacks(session, app.url("/stream"), watch.on_callback, ready)
        )
        await asyncio.wait_for(ready.wait(), 10)
        try:
            while len(watch.initiated_ns) < options.warmup + 1:
                await asyncio.sleep(0.001)  # a poll: the meter starts within 1 ms
                if follower.done():
                    follower.result()
            meter = CpuMeter(processes)
            progress(f"scripted calls: measuring {options.calls} at {rate:,.0f}/s offered")
            try:
                await asyncio.wait_for(watch.done.wait(), options.timeout)
            except TimeoutError:
                progress(f"timed out: {len(watch.ended_ns)} of {watch.expected} calls ended")
            cpu = meter.stop()
            async with session.get(app.url("/stats")) as response:
                app_counts = orjson.loads(await response.read())
        finally:
            follower.cancel()
    ordered = sorted(watch.initiated_ns, key=watch.initiated_ns.__getitem__)
    measured = ordered[options.warmup :]
    ended = [call for call in measured if call in watch.ended_ns]
    first = watch.initiated_ns[measured[0]] if measured else 0
    last = max((watch.ended_ns[call] for call in ended), default=first)
    durations = [(watch.ended_ns[c] - watch.initiated_ns[c]) / 1e6 for c in ended]
    return Result(
        options=options.flow(),
        calls=options.calls,
        completed=len(ended),
        hangups=sum(1 for call in ended if watch.causes[call] == "hangup"),
        wall_s=(last - first) / 1e9,
        create_p50_ms=0.0,  # no request: the call starts inside the server
        create_p99_ms=0.0,
        call_p50_ms=percentile(durations, 0.50),
        call_p99_ms=percentile(durations, 0.99),
        causes=dict(Counter(watch.causes[call] for call in ended)),
        gathers=dict(Counter(watch.gathers[c] for c in measured if c in watch.gathers)),
        create_errors={},
        cpu=cpu,
        app_counts=app_counts,
    )


# -- the run --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Round:
    outbound: Result
    inbound: Result
    inbound_first: bool
    scripted: Result | None = None
    offered: float = 0.0

    @property
    def ratio(self) -> float:
        return self.inbound.rate / self.outbound.rate if self.outbound.rate else 0.0


@dataclass(frozen=True, slots=True)
class Comparison:
    options: Options
    rounds: list[Round]


def run(options: Options, processes: Processes, work: Path) -> Comparison:
    os.sched_setaffinity(0, {options.client_cpu})
    password = secrets.token_hex(16)
    # The app first: the config names its URL.
    app = start_webhook_app(processes, "flow", options.client_cpu, work)
    simulator = simulator_config(options.time_scale)
    accounts = inbound_application(app)
    config = write_config(
        work, password, limits=UNLIMITED_LIMITS, accounts=accounts, simulator=simulator
    )
    server = start_switchboard(processes, config, options.server_cpu, work)
    pids = {"server": server.process.pid, "app": app.process.pid}
    flow = options.flow()
    rounds = []
    for number in range(options.rounds):
        inbound_first = number % 2 == 1
        measured: dict[str, Result] = {}
        for direction in ("inbound", "outbound") if inbound_first else ("outbound", "inbound"):
            progress(f"round {number + 1} of {options.rounds}: {direction}")
            kind = InboundDriver if direction == "inbound" else Driver
            measured[direction] = uvloop.run(kind(flow, server, app, password).run(pids))
            server.check_running()
            app.check_running()
        rounds.append(Round(measured["outbound"], measured["inbound"], inbound_first))
    if options.load == "scripted":
        processes.stop(server.process)  # one server on its core at a time
        rounds = [scripted_round(options, processes, work, app, r, password) for r in rounds]
    return Comparison(options, rounds)


def scripted_round(
    options: Options, processes: Processes, work: Path, app: Server, done: Round, password: str
) -> Round:
    """The round's scripted figure: a fresh server, the same config plus [[simulator.calls]]
    offered at --offer times the round's outbound rate."""
    offered = options.offer * done.outbound.rate
    directory = work / f"scripted-{len(list(work.glob('scripted-*')))}"
    directory.mkdir()
    config = write_config(
        directory,
        password,
        limits=UNLIMITED_LIMITS,
        accounts=inbound_application(app),
        simulator=simulator_config(options.time_scale) + scripted_calls(options, offered),
    )
    # data_dir = "data" is relative: the server runs where its config is.
    server = start_switchboard(processes, config, options.server_cpu, directory)
    pids = {"server": server.process.pid, "app": app.process.pid}
    try:
        result = uvloop.run(watch_scripted(options, app, pids, offered))
        server.check_running()
    finally:
        processes.stop(server.process)
    return Round(done.outbound, done.inbound, done.inbound_first, result, offered)


# -- the report -----------------------------------------------------------------------------
def complete(result: Result) -> bool:
    """Every measured call ended with hangup and gathered the digit 1, with no failed request."""
    pressed = result.gathers.get("1", 0)
    return result.hangups == result.calls == pressed and not result.create_errors


def row(label: str, result: Result, requests: bool = True) -> str:
    cpu = result.cpu.by_process
    other = f"{result.cpu.other:.2f}" + (" !" if result.cpu.disturbed else "")
    request = (
        f"{result.create_p50_ms:>9.2f}{result.create_p99_ms:>8.2f}" if requests else f"{'-':>17}"
    )
    return (
        f"{label:<24}{result.hangups:>9,}{result.wall_s:>8.2f}{result.rate:>9,.0f}"
        f"{request}{result.call_p50_ms:>10.1f}"
        f"{result.call_p99_ms:>8.1f}{cpu['server']:>8.2f}{result.server_ms_per_call:>9.2f}"
        f"{cpu['app']:>6.2f}{cpu['bench']:>8.2f}{other:>8}"
    )


def report(comparison: Comparison) -> bool:
    options = comparison.options
    print()
    print(
        f"Server on CPU {options.server_cpu}; webhook app and driver on CPU {options.client_cpu}; "
        f"{options.calls:,} calls per measurement after {options.warmup} warm-up, "
        f"{options.in_flight} in flight, time_scale {options.time_scale}"
    )
    print()
    header = (
        f"{'round / direction':<24}{'complete':>9}{'wall s':>8}{'calls/s':>9}{'req p50':>9}"
        f"{'p99 ms':>8}{'call p50':>10}{'p99 ms':>8}{'server':>8}{'ms/call':>9}{'app':>6}"
        f"{'driver':>8}{'other':>8}"
    )
    print(header)
    print("-" * len(header))
    all_complete = True
    for number, done in enumerate(comparison.rounds, 1):
        pair = [("outbound", done.outbound), ("inbound (dial API)", done.inbound)]
        for direction, result in reversed(pair) if done.inbound_first else pair:
            print(row(f"{number} {direction}", result))
            all_complete = all_complete and complete(result)
        if done.scripted is not None:
            print(row(f"{number} inbound (scripted)", done.scripted, requests=False))
    print(
        "(req = the createCall or dial request; call = that request (scripted: the initiate's "
        "arrival) to the disconnect's arrival; "
        "CPU in cores over the measurement; ms/call = server CPU per complete call; "
        "! = disturbed: other processes used more than 0.1 core)"
    )
    for number, done in enumerate(comparison.rounds, 1):
        for label, result in (("outbound", done.outbound), ("inbound", done.inbound)):
            if not complete(result):
                print(
                    f"round {number} {label}: of {result.calls:,} calls {result.hangups:,} ended "
                    f"with hangup, gathers {result.gathers}, causes {result.causes}, request "
                    f"errors {result.create_errors}: the measurement does not count"
                )
    ratios = [done.ratio for done in comparison.rounds]
    median = statistics.median(ratios)
    print()
    print(
        "inbound / outbound complete calls/s by round: "
        + ", ".join(f"{ratio:.3f}" for ratio in ratios)
        + (f" (spread {min(ratios):.3f}-{max(ratios):.3f})" if len(ratios) > 1 else "")
    )
    # Less noisy than the rates when other processes take the server's core: the calls one
    # fully busy core would carry, inbound against outbound.
    per_core = [
        done.outbound.server_ms_per_call / done.inbound.server_ms_per_call
        for done in comparison.rounds
        if done.inbound.server_ms_per_call
    ]
    if per_core:
        print(
            "server CPU per complete call, outbound / inbound by round: "
            + ", ".join(f"{ratio:.3f}" for ratio in per_core)
            + f" (median {statistics.median(per_core):.3f})"
        )
    ok = median >= TARGET_RATIO and all_complete
    print(
        f"inbound / outbound (median of {len(ratios)}): {median:.3f}   "
        f"target >= {TARGET_RATIO:.2f}   {verdict(ok)}"
    )
    scripted = [done for done in comparison.rounds if done.scripted is not None]
    for number, done in enumerate(scripted, 1):
        assert done.scripted is not None
        print(
            f"scripted round {number}: offered {done.offered:,.0f}/s "
            f"({options.offer:.2f} x outbound), completed {done.scripted.rate:,.0f}/s "
            f"({done.scripted.hangups:,} of {done.scripted.calls:,} with hangup; "
            f"{done.scripted.rate / done.outbound.rate:.3f} x outbound), "
            f"server {done.scripted.server_ms_per_call:.2f} ms/call against "
            f"{done.outbound.server_ms_per_call:.2f} outbound"
        )
    if any(r.cpu.disturbed for d in comparison.rounds for r in (d.outbound, d.inbound)):
        print("some measurements were disturbed by other processes: rerun on a quiet machine")
    return ok


def parse_options(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        description="Inbound complete calls per second against call_flow's outbound ones."
    )
    parser.add_argument("--calls", type=int, default=5000, help="calls per measurement (5000)")
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
    parser.add_argument(
        "--rounds", type=int, default=3, help="outbound + inbound pairs, order alternating (3)"
    )
    parser.add_argument(
        "--load",
        choices=("dial", "scripted"),
        default="dial",
        help="dial: inbound by the dial API only; scripted: also [[simulator.calls]] (dial)",
    )
    parser.add_argument(
        "--offer",
        type=float,
        default=1.2,
        help="scripted calls/s offered, times the round's outbound rate (1.2)",
    )
    add_run_arguments(parser, "app + driver")
    args = parser.parse_args(argv)
    if min(args.calls, args.in_flight, args.connections, args.rounds) < 1 or args.warmup < 0:
        parser.error("calls, in-flight, connections and rounds must be positive")
    if not 0 < args.time_scale <= 1 or args.timeout <= 0 or args.offer <= 0:
        parser.error("--time-scale must be in (0, 1]; --timeout and --offer positive")
    return options_from(Options, args)


def main(argv: list[str] | None = None) -> int:
    return bench_main(parse_options(argv), run, report)


if __name__ == "__main__":
    sys.exit(main())
