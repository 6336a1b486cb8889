"""Complete <Transfer> flows per second on the simulated network, against bench/call_flow.py's
complete calls per second in the same run (issue 12).

    .venv/bin/python bench/transfer.py [--rounds 3] [--calls 5000]   (or: make bench-transfer)

One complete transfer flow, the transfer guide's (bxml/transfer.mdx, transferGuide.mdx):
POST /api/v2/accounts/{id}/calls (A, answerUrl /transfer/answer) -> A's phone answers ->
`answer` webhook -> <Transfer transferCompleteUrl> with one <PhoneNumber transferAnswerUrl
transferDisconnectUrl> -> the target B (a call of its own, parentCallId = A) rings and answers
-> `transferAnswer` webhook -> an empty answer (no whisper): A and B are joined -> B hangs up
--talk seconds later -> `transferDisconnect` (B's end, cause hangup) and `transferComplete` (on
A, cause hangup) -> <Hangup/> -> A's `disconnect` (cause hangup). Five webhooks and two calls
(two rows, two runners) per flow, where call_flow's call has three webhooks and one call. A flow
is complete when both calls' end events, A's disconnect and B's transferDisconnect, have reached
the application, whichever comes first.

The application is bench/webhook_app.py in mode "flow", the very app call_flow runs against: it
answers `answer` on a path under /transfer/ with the <Transfer> above (ringing TRANSFER_TARGET),
`transferAnswer` with an empty body and `transferComplete` with <Hangup/>; everything else as
for call_flow. The driver is call_flow's (call_flow.Driver: a fixed number alive at once, a
new one when one completes, one flow by hand, then --warmup, then --calls measured), with the
create request's answerUrl moved under /transfer/ and a flow settled by its two end events.
It keeps --flows-in-flight (300) flows alive, where call_flow keeps --in-flight (100) calls: a
flow lives longer (two rings, the talk, five webhooks), and 100 flows left the server idle part
of the time (389/s at 0.97 of a core against 458/s with 200, in one quiet run).

Why --talk is 40 s of call time (400 ms of wall time at time_scale 0.01): the target hangs up
that long after it answered, whether or not it has been joined yet, and under load the way from
its answer to the join (its answered row written, A told, transferAnswer and its response, A
told again) waits its turn on a saturated server: 110 ms p50, 200-300 ms p99 of wall time with
300-400 flows in flight while other processes took part of the server's core (from the
targets' timelines; the bench prints it). With 2 s (20 ms) almost every target hung up before
it was joined, with 5 s (50 ms) most of them, with 20 s (200 ms) 2.7% in a disturbed run.
Such a flow still ends with two hangups, but it is not the flow measured: a measurement counts
only when every flow's target got its transferAnswer and A its transferComplete, and the run only
when every original call's timeline (read from the server's database after the rounds) says its
target was joined. The longer the flows talk, the more must be in flight to keep the server
busy, hence 300.

What runs, all on 127.0.0.1: the server (`switchboard serve`, pinned to --server-cpu, a temp data
dir, `[simulator] time_scale` --time-scale, limits raised so that no call or target is refused),
with call_flow's [simulator.default] (A's phone rings 2 s, then answers) and one
[[simulator.phones]] for TRANSFER_TARGET (answers after --target-answer-after s, hangs up
--talk s after answering); the webhook application and this driver on --client-cpu. Each round
measures call_flow's calls (exactly its driver, the baseline) and transfer flows back to back on
the same server, the order alternating between rounds so that neither always runs on the fuller
database.

Figures: complete flows/s = flows whose two end events (both cause hangup) arrived / wall time
from the first create request to the last of them; server CPU per flow (its whole life: both
calls, five webhooks, every row), and from it the flows/s one fully busy core would carry; the
ratio to call_flow's calls/s in the same round. The verdict is on the median of the rounds'
flows/s per fully busy server core (the server is one process on one core; the CPU-normalised
figure is the one other processes on a shared machine disturb least), target >= 300.
Every process is stopped by its PID, also on error or Ctrl-C; the temp dir is removed.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import orjson
import uvloop

from call_flow import Batch, Driver, Result
from call_flow import Options as FlowOptions
from common import (
    UNLIMITED_LIMITS,
    Callback,
    Processes,
    Server,
    add_run_arguments,
    bench_main,
    call_request,
    options_from,
    percentile,
    progress,
    read_rows,
    start_switchboard,
    start_webhook_app,
    verdict,
    write_config,
)
from webhook_app import TRANSFER_PREFIX, TRANSFER_TARGET

TARGET_FLOWS_PER_CORE = 300.0  # issue 12: complete transfer flows/s per core
TAG_MARK = "T"  # the transfer driver's tags, so that a call_flow call's callback is never taken


@dataclass(frozen=True, slots=True)
class Options:
    calls: int
    warmup: int
    in_flight: int
    connections: int
    time_scale: float
    timeout: float
    rounds: int
    flows_in_flight: int
    target_answer_after: float
    talk: float
    server_cpu: int
    client_cpu: int
    keep: bool
    check: bool

    def flow(self, in_flight: int | None = None) -> FlowOptions:
        """call_flow's options for the same figures (its driver reads these), with
        `in_flight` calls or flows alive at once (--in-flight unless given)."""
        return FlowOptions(
            calls=self.calls,
            warmup=self.warmup,
            in_flight=self.in_flight if in_flight is None else in_flight,
            connections=self.connections,
            time_scale=self.time_scale,
            timeout=self.timeout,
            server_cpu=self.server_cpu,
            client_cpu=self.client_cpu,
            keep=self.keep,
            check=self.check,
        )


def simulator_config(options: Options) -> str:
    """call_flow.run's [simulator], unchanged (A's phone rings 2 s of call time, then answers;
    any phone presses 1 as soon as a Gather listens), plus the transfer target's phone."""
    return (
        f"[simulator]\ntime_scale = {options.time_scale}\n"
        '[simulator.default]\nanswer_after = 2.0\ndigits = "1"\ndigit_delay = 0.0\n'
        "[[simulator.phones]]\n"
        f'number = "{TRANSFER_TARGET}"\n'
        f"answer_after = {options.target_answer_after}\n"
        f"hangup_after = {options.talk}\n"
    )


@dataclass(slots=True)
class Legs:
    """What the application saw of one batch's flows, beyond call_flow's Batch."""

    a_ended: dict[int, tuple[int, str]] = field(default_factory=dict)  # disconnect
    b_ended: dict[int, tuple[int, str]] = field(default_factory=dict)  # transferDisconnect
    answers: int = 0  # transferAnswer
    completes: Counter[str] = field(default_factory=Counter)  # transferComplete, by cause
    b_causes: Counter[str] = field(default_factory=Counter)


class TransferDriver(Driver):
    """call_flow's driver, its calls running the transfer flow: a flow is settled when A's
    disconnect and B's transferDisconnect have both arrived. B's events carry A's tag (the
    target inherits the tag of the call that ran <Transfer>), which is how they are matched."""

    def __init__(self, options: FlowOptions, server: Server, app: Server, password: str) -> None:
        super().__init__(options, server, app, password)
        self.legs: dict[str, Legs] = {}

    def body(self, tag: str) -> bytes:
        # answerUrl /transfer/answer: the application answers it with the <Transfer>.
        base = self.app.url(TRANSFER_PREFIX.rstrip("/"))
        return orjson.dumps(call_request(app=base, tag=TAG_MARK + tag))

    def on_callback(self, callback: Callback) -> None:
        if not callback.tag.startswith(TAG_MARK):
            return
        tag = callback.tag[len(TAG_MARK) :]
        batch = self.batches.get(tag[:1])
        if batch is None or not tag[1:].isdigit():
            return
        index = int(tag[1:])
        legs = self.legs.setdefault(batch.prefix, Legs())
        match callback.event_type:
            case "transferAnswer":
                legs.answers += 1
            case "transferComplete":
                legs.completes[callback.extra] += 1
            case "disconnect":
                legs.a_ended.setdefault(index, (callback.arrival_ns, callback.extra))
                self._complete(batch, legs, index)
            case "transferDisconnect":
                if index not in legs.b_ended:
                    legs.b_ended[index] = (callback.arrival_ns, callback.extra)
                    legs.b_causes[callback.extra] += 1
                self._complete(batch, legs, index)

    def _complete(self, batch: Batch, legs: Legs, index: int) -> None:
        """Settle the flow once both end events are in. Its cause is "hangup" when both calls
        ended with hangup (call_flow's Result counts those as its complete calls)."""
        if index in batch.ended_ns or index not in legs.a_ended or index not in legs.b_ended:
            return
        (a_ns, a_cause), (b_ns, b_cause) = legs.a_ended[index], legs.b_ended[index]
        batch.ended_ns[index] = max(a_ns, b_ns)
        batch.causes[a_cause if a_cause == b_cause else f"{a_cause}/{b_cause}"] += 1
        self._settle(batch)


# -- the run --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Round:
    baseline: Result  # call_flow's calls
    transfer: Result  # transfer flows (a "call" of the Result is a flow)
    legs: Legs
    transfer_first: bool

    @property
    def ratio(self) -> float:
        return self.transfer.rate / self.baseline.rate if self.baseline.rate else 0.0


@dataclass(frozen=True, slots=True)
class Comparison:
    options: Options
    rounds: list[Round]
    flows: int  # transfer flows started in all rounds (by hand, warm-up and measured)
    joined: int  # of them, original calls whose timeline says their target was joined
    join_ms: list[float]  # each joined target's answer to its join, in wall milliseconds


JOINED_SQL = """
SELECT count(*) FROM call_timeline JOIN calls USING (call_id)
WHERE call_timeline.kind = 'transfer' AND json_extract(call_timeline.data, '$.event') = 'joined'
  AND calls.to_number != ?
"""  # the original calls' "joined" entries (each target notes one too)
JOIN_LATENCY_SQL = """
SELECT answered.at, joined.at FROM calls
JOIN call_timeline AS answered ON answered.call_id = calls.call_id
JOIN call_timeline AS joined ON joined.call_id = calls.call_id
WHERE calls.to_number = ?
  AND answered.kind = 'network' AND json_extract(answered.data, '$.event') = 'answered'
  AND joined.kind = 'transfer' AND json_extract(joined.data, '$.event') = 'joined'
"""  # each target's answer and its join, on the engine's (scaled) clock
JOINED_WAIT_S = 5.0  # the last runners' timelines are written as they finish


def count_joined(database: Path, expected: int, time_scale: float) -> tuple[int, list[float]]:
    """The original calls whose target was joined to them, read from the server's database
    after the rounds (a target that hung up before the join ends the flow the same way, with
    the same webhooks: only the timeline tells), and each joined target's answer-to-join
    time in wall milliseconds (timeline times are engine times: time_scale shrinks them)."""
    deadline = time.monotonic() + JOINED_WAIT_S
    while True:
        ((joined,),) = read_rows(database, JOINED_SQL, (TRANSFER_TARGET,))
        if joined >= expected or time.monotonic() > deadline:
            break
        time.sleep(0.1)  # a poll of another process's database, after the measurements
    join_ms = [
        (datetime.fromisoformat(at_join) - datetime.fromisoformat(at_answer)).total_seconds()
        * time_scale
        * 1000
        for at_answer, at_join in read_rows(database, JOIN_LATENCY_SQL, (TRANSFER_TARGET,))
    ]
    return int(joined), join_ms


def run(options: Options, processes: Processes, work: Path) -> Comparison:
    os.sched_setaffinity(0, {options.client_cpu})
    password = secrets.token_hex(16)
    config = write_config(
        work, password, limits=UNLIMITED_LIMITS, simulator=simulator_config(options)
    )
    server = start_switchboard(processes, config, options.server_cpu, work)
    app = start_webhook_app(processes, "flow", options.client_cpu, work)
    pids = {"server": server.process.pid, "app": app.process.pid}
    calls_options, flows_options = options.flow(), options.flow(options.flows_in_flight)
    rounds = []
    for number in range(options.rounds):
        transfer_first = number % 2 == 1
        order = ("transfer", "call_flow") if transfer_first else ("call_flow", "transfer")
        measured: dict[str, Result] = {}
        legs = Legs()
        for kind in order:
            progress(f"round {number + 1} of {options.rounds}: {kind}")
            if kind == "transfer":
                driver: Driver = TransferDriver(flows_options, server, app, password)
            else:
                driver = Driver(calls_options, server, app, password)
            measured[kind] = uvloop.run(driver.run(pids))
            if isinstance(driver, TransferDriver):
                legs = driver.legs.get("m", Legs())
            server.check_running()
            app.check_running()
        rounds.append(Round(measured["call_flow"], measured["transfer"], legs, transfer_first))
    flows = options.rounds * (1 + options.warmup + options.calls)
    database = work / "data" / "switchboard.db"
    joined, join_ms = count_joined(database, flows, options.time_scale)
    return Comparison(options, rounds, flows, joined, join_ms)


# -- the report -----------------------------------------------------------------------------
def per_core(result: Result) -> float:
    """Complete calls (or flows) per second one fully busy server core would carry."""
    ms = result.server_ms_per_call
    return 1000 / ms if ms else 0.0


def baseline_complete(result: Result) -> bool:
    """call_flow's own rule: every call ended with hangup and gathered the digit 1."""
    pressed = result.gathers.get("1", 0)
    return result.hangups == result.calls == pressed and not result.create_errors


def transfer_complete(done: Round) -> bool:
    """Every flow: both calls ended with hangup, B answered, A heard transferComplete (hangup)."""
    result, legs = done.transfer, done.legs
    return (
        result.hangups == result.calls == legs.answers == legs.completes.get("hangup", 0)
        and not result.create_errors
    )


def row(label: str, result: Result) -> str:
    cpu = result.cpu.by_process
    other = f"{result.cpu.other:.2f}" + (" !" if result.cpu.disturbed else "")
    return (
        f"{label:<20}{result.hangups:>9,}{result.wall_s:>8.2f}{result.rate:>8,.0f}"
        f"{result.create_p50_ms:>9.2f}{result.create_p99_ms:>8.2f}{result.call_p50_ms:>10.1f}"
        f"{result.call_p99_ms:>8.1f}{cpu['server']:>8.2f}{result.server_ms_per_call:>8.2f}"
        f"{per_core(result):>9,.0f}{cpu['app']:>6.2f}{cpu['bench']:>8.2f}{other:>8}"
    )


def spread(values: list[float], digits: int = 0) -> str:
    text = ", ".join(f"{value:,.{digits}f}" for value in values)
    if len(values) > 1:
        text += f" (median {statistics.median(values):,.{digits}f}, spread "
        text += f"{min(values):,.{digits}f}-{max(values):,.{digits}f})"
    return text


def report(comparison: Comparison) -> bool:
    options = comparison.options
    print()
    print(
        f"Server on CPU {options.server_cpu}; webhook app and driver on CPU {options.client_cpu}; "
        f"{options.calls:,} calls or flows per measurement after {options.warmup} warm-up, "
        f"{options.in_flight} calls or {options.flows_in_flight} flows in flight, time_scale "
        f"{options.time_scale}; the target answers "
        f"after {options.target_answer_after} s and hangs up {options.talk} s later"
    )
    print()
    header = (
        f"{'round / kind':<20}{'complete':>9}{'wall s':>8}{'per s':>8}{'req p50':>9}"
        f"{'p99 ms':>8}{'flow p50':>10}{'p99 ms':>8}{'server':>8}{'ms/each':>8}{'per core':>9}"
        f"{'app':>6}{'driver':>8}{'other':>8}"
    )
    print(header)
    print("-" * len(header))
    all_complete = True
    for number, done in enumerate(comparison.rounds, 1):
        pair = [("call_flow call", done.baseline), ("transfer flow", done.transfer)]
        for label, result in reversed(pair) if done.transfer_first else pair:
            print(row(f"{number} {label}", result))
        all_complete = all_complete and baseline_complete(done.baseline)
        all_complete = all_complete and transfer_complete(done)
    print(
        "(req = the createCall request; flow = that request to the last of the call's (call_flow) "
        "or the two calls' (transfer) end events; CPU in cores over the measurement; ms/each = "
        "server CPU per complete call or flow; per core = 1000 / ms/each, what one fully busy "
        "server core would carry; ! = disturbed: other processes used more than 0.1 core)"
    )
    for number, done in enumerate(comparison.rounds, 1):
        if not baseline_complete(done.baseline):
            result = done.baseline
            print(
                f"round {number} call_flow: of {result.calls:,} calls {result.hangups:,} ended "
                f"with hangup, gathers {result.gathers}, causes {result.causes}, request errors "
                f"{result.create_errors}: the measurement does not count"
            )
        if not transfer_complete(done):
            result, legs = done.transfer, done.legs
            print(
                f"round {number} transfer: of {result.calls:,} flows {result.hangups:,} ended "
                f"with both calls' hangup; flow causes {result.causes}, target causes "
                f"{dict(legs.b_causes)}, transferAnswer {legs.answers:,}, transferComplete "
                f"{dict(legs.completes)}, request errors {result.create_errors}: the measurement "
                "does not count"
            )
    rounds = comparison.rounds
    all_joined = comparison.joined == comparison.flows
    print(
        f"flows whose target was joined to the original call (its timeline, all rounds): "
        f"{comparison.joined:,} of {comparison.flows:,}"
        + ("" if all_joined else ": the rest hung up before the join; the run does not count")
    )
    join_ms = comparison.join_ms
    print(
        f"a target's answer to its join (all rounds, wall ms): p50 {percentile(join_ms, 0.5):.0f}, "
        f"p99 {percentile(join_ms, 0.99):.0f}, max {max(join_ms, default=0.0):.0f} "
        f"(it hangs up {options.talk * options.time_scale * 1000:.0f} ms after its answer)"
    )
    print()
    print("complete transfer flows/s by round: " + spread([d.transfer.rate for d in rounds]))
    print("call_flow complete calls/s by round: " + spread([d.baseline.rate for d in rounds]))
    print(
        "transfer flows/s / call_flow calls/s by round: "
        + spread([d.ratio for d in rounds], digits=3)
    )
    print(
        "server CPU per transfer flow / per call_flow call by round: "
        + spread(
            [
                d.transfer.server_ms_per_call / d.baseline.server_ms_per_call
                for d in rounds
                if d.baseline.server_ms_per_call
            ],
            digits=2,
        )
    )
    flows_per_core = [per_core(d.transfer) for d in rounds]
    print("transfer flows/s per fully busy server core by round: " + spread(flows_per_core))
    median = statistics.median(flows_per_core)
    ok = median >= TARGET_FLOWS_PER_CORE and all_complete and all_joined
    print(
        f"transfer flows/s per core (median of {len(rounds)}): {median:,.0f}   "
        f"target >= {TARGET_FLOWS_PER_CORE:.0f}   {verdict(ok)}"
    )
    if any(r.cpu.disturbed for d in rounds for r in (d.baseline, d.transfer)):
        print("some measurements were disturbed by other processes: rerun on a quiet machine")
    return ok


def parse_options(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        description="Complete <Transfer> flows per second against call_flow's calls per second."
    )
    parser.add_argument(
        "--calls", type=int, default=5000, help="calls or flows per measurement (5000)"
    )
    parser.add_argument("--warmup", type=int, default=500, help="warm-up calls or flows (500)")
    parser.add_argument(
        "--in-flight", type=int, default=100, help="calls or flows alive at once (100)"
    )
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
        "--rounds", type=int, default=3, help="call_flow + transfer pairs, order alternating (3)"
    )
    parser.add_argument(
        "--flows-in-flight",
        type=int,
        default=300,
        help="transfer flows alive at once (300; --in-flight is call_flow's calls)",
    )
    parser.add_argument(
        "--target-answer-after",
        type=float,
        default=1.0,
        help="seconds of call time the transfer target rings before it answers (1.0)",
    )
    parser.add_argument(
        "--talk",
        type=float,
        default=40.0,
        help="seconds of call time from the target's answer to its hangup (40.0)",
    )
    add_run_arguments(parser, "app + driver")
    args = parser.parse_args(argv)
    counts = (args.calls, args.in_flight, args.flows_in_flight, args.connections, args.rounds)
    if min(counts) < 1 or args.warmup < 0:
        parser.error("calls, in-flights, connections and rounds must be positive")
    if not 0 < args.time_scale <= 1 or args.timeout <= 0:
        parser.error("--time-scale must be in (0, 1] and --timeout positive")
    if args.target_answer_after < 0 or args.talk <= 0:
        parser.error("--target-answer-after must be >= 0 and --talk positive")
    return options_from(Options, args)


def main(argv: list[str] | None = None) -> int:
    return bench_main(parse_options(argv), run, report)


if __name__ == "__main__":
    sys.exit(main())
