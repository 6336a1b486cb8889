"""SIP concurrency: how many real calls, each playing speech, the server carries (issue 6).

    .venv/bin/python bench/sip_concurrency.py [--ladder 50,100,200,300,400,600,800] [--measure 20]
    (or: make bench-sip ARGS="...")

What runs, all on 127.0.0.1:
- the server, `switchboard serve --config <temp> --port <free>` with `[network] kind = "sip"`,
  a temporary data dir and the account's limits raised so that no call is refused or queued,
  pinned to --server-cpu (CPU 0);
- the callee, one sipp process in UAS mode (bench/sipp_uas_load.xml) that answers every call
  with PCMU and waits for our BYE; with -rtp_echo (the default; --no-echo turns it off) it
  sends every RTP packet back, so the server receives as much media as it sends, as on a real
  call; on --client-cpu (CPU 1);
- the application and the load driver, this process (aiohttp server and client on uvloop), also
  on --client-cpu. The application answers every call with --sentences identical long
  <SpeakSentence> verbs (espeak-ng, synthesised once and cached), minutes of speech.

Steps: one call by hand (the slow password hash, the synthesis of the speech), hung up; the
server's RSS then is "idle". Then for each N of --ladder: N calls are created at --rate calls/s,
every one answered (its answer webhook arrived) and sending (/metrics shows N RTP sessions);
after --settle s, the measurement window of --measure s: the delta over the window of the
server's own RTP send-lateness histogram (switchboard_rtp_send_lateness_seconds: how late each
packet left after its 20 ms deadline, on the server's loop clock, recorded by the media clock
for every packet), the count of packets later than 20 ms, CPU of every process (from /proc)
and the server's RSS. Then every call is hung up (updateCall state=completed; the server
sends BYE) and the next N starts once all have ended.

A step passes when all N calls were answered and sent their frames through the window, the
lateness p99 is under 5 ms and no packet was later than 20 ms. The result is the largest N
that passes; the target is N >= 200. CPU per call = server cores over the window / N; memory
per call = (RSS with N calls - RSS right before the step) / N. Every process is stopped by its
PID, also on error or Ctrl-C; the temp dir is removed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import socket
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import orjson
import uvloop
from aiohttp import web

from common import (
    BENCH_DIR,
    CALLS_PATH,
    HOST,
    UNLIMITED_LIMITS,
    BenchError,
    CpuMeter,
    CpuShare,
    Processes,
    Server,
    add_run_arguments,
    api_headers,
    bench_main,
    call_request,
    free_port,
    options_from,
    proc_status_mb,
    progress,
    start_server,
    start_switchboard,
    verdict,
    write_config,
)

TARGET_CALLS = 200
TARGET_P99_S = 0.005
LATE_S = 0.020
FRAME_S = 0.020
SCENARIO = BENCH_DIR / "sipp_uas_load.xml"
HTTP_CONNECTIONS = 32
XML = "application/xml"

# About 20 s of espeak-ng speech; --sentences of them make each call's prompt.
SPEECH = (
    "Thank you for calling Switchboard. This call is part of a benchmark of real phone calls. "
    "Every caller hears these words, spoken by a speech synthesizer, twenty milliseconds at a "
    "time, in packets that must leave on time. Please stay on the line while we count how "
    "late each of them was. Your call is important to us, and so is every one of its packets. "
    "The next available packet will be with you shortly."
)

SIP_NETWORK = """\
[network]
kind = "sip"

[network.sip]
local_address = "127.0.0.1:0"
rtp_ports = "{low}-{high}"
"""


@dataclass(frozen=True, slots=True)
class Options:
    ladder: tuple[int, ...]
    measure: float
    settle: float
    rate: float
    sentences: int
    echo: bool
    rtp_base: int
    step_timeout: float
    profile_calls: int
    profile_file: Path
    server_cpu: int
    client_cpu: int
    keep: bool
    check: bool


# -- /metrics -------------------------------------------------------------------------------
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$", re.MULTILINE)
_LE = re.compile(r'le="([^"]+)"')


@dataclass(frozen=True, slots=True)
class MediaMetrics:
    """The server's RTP metrics at one moment."""

    sessions: int
    buckets: tuple[tuple[float, float], ...]  # (upper bound s, cumulative count), +Inf last
    count: float
    late: float
    max_lateness: float
    skipped: float

    @staticmethod
    def parse(text: str) -> MediaMetrics:
        values: dict[str, float] = {}
        buckets: list[tuple[float, float]] = []
        for match in _SAMPLE.finditer(text):
            name, labels, value = match.group(1), match.group(2) or "", float(match.group(3))
            if name == "switchboard_rtp_send_lateness_seconds_bucket":
                le = _LE.search(labels)
                if le is not None:
                    buckets.append((float(le.group(1)), value))
            else:
                values[name] = value
        if "switchboard_rtp_sessions" not in values:
            raise BenchError("the server's /metrics has no switchboard_rtp_sessions (SIP off?)")
        return MediaMetrics(
            sessions=int(values["switchboard_rtp_sessions"]),
            buckets=tuple(sorted(buckets)),
            count=values.get("switchboard_rtp_send_lateness_seconds_count", 0.0),
            late=values.get("switchboard_rtp_frames_late_total", 0.0),
            max_lateness=values.get("switchboard_rtp_send_lateness_max_seconds", 0.0),
            skipped=values.get("switchboard_rtp_ticks_skipped_total", 0.0),
        )


@dataclass(frozen=True, slots=True)
class Window:
    """What the RTP metrics moved by over a measurement window."""

    frames: float
    p99_s: float  # upper bound of the histogram bucket holding the 99th percentile
    p99_under_target: bool  # exact: at least 99% of the window's packets under 5 ms
    max_s: float
    max_exact: bool  # False: the window's max is only known to be at most max_s
    late: float
    skipped: float

    @staticmethod
    def between(before: MediaMetrics, after: MediaMetrics) -> Window:
        frames = after.count - before.count
        delta = [
            (bound, count - previous)
            for (bound, count), (_, previous) in zip(after.buckets, before.buckets, strict=True)
        ]
        p99_s = next((bound for bound, count in delta if count >= 0.99 * frames), float("inf"))
        under = next((count for bound, count in delta if bound >= TARGET_P99_S), 0.0)
        if after.max_lateness > before.max_lateness:
            max_s, exact = after.max_lateness, True  # a new high: it happened in the window
        else:  # at most the first bound below which every packet of the window was sent
            max_s = next((bound for bound, count in delta if count >= frames), float("inf"))
            max_s, exact = min(max_s, after.max_lateness), False
        return Window(
            frames=frames,
            p99_s=p99_s,
            p99_under_target=frames > 0 and under >= 0.99 * frames,
            max_s=max_s,
            max_exact=exact,
            late=after.late - before.late,
            skipped=after.skipped - before.skipped,
        )


# -- results --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Step:
    calls: int
    answered: int
    create_errors: dict[str, int]
    ended_early: int
    window: Window
    cpu: CpuShare
    rss_mb: float
    idle_rss_mb: float
    rss_before_mb: float  # right before this step's calls (the earlier steps' calls ended)
    ramp_s: float
    hangup_s: float

    @property
    def expected_frames(self) -> float:
        return self.calls * self.cpu.seconds / FRAME_S

    @property
    def media_complete(self) -> bool:
        # Every call sent (nearly) every frame of the window: 2% for the scrapes' own timing.
        return self.window.frames >= 0.98 * self.expected_frames

    @property
    def complete(self) -> bool:
        return (
            self.answered == self.calls
            and not self.create_errors
            and not self.ended_early
            and self.media_complete
        )

    @property
    def passed(self) -> bool:
        return self.complete and self.window.p99_under_target and self.window.late == 0

    @property
    def cpu_per_call(self) -> float:
        return self.cpu.by_process["server"] / self.calls

    @property
    def kb_per_call(self) -> float:
        """RSS growth from right before the step to N live calls, per call."""
        return (self.rss_mb - self.rss_before_mb) * 1024 / self.calls


@dataclass(frozen=True, slots=True)
class Result:
    options: Options
    steps: list[Step]
    idle_rss_mb: float
    idle_cpu: float
    final_rss_mb: float  # after the last step, every call ended


# -- the application (in this process) ------------------------------------------------------
@dataclass(slots=True)
class Calls:
    """What the application saw of one step's calls (by tag)."""

    prefix: str
    size: int
    ids: dict[int, str] = field(default_factory=dict)
    answered: set[int] = field(default_factory=set)
    ended: dict[int, str] = field(default_factory=dict)
    create_errors: Counter[str] = field(default_factory=Counter)
    all_answered: asyncio.Event = field(default_factory=asyncio.Event)
    all_ended: asyncio.Event = field(default_factory=asyncio.Event)

    def settle(self) -> None:
        failed = sum(self.create_errors.values())
        if len(self.answered) + failed >= self.size:
            self.all_answered.set()
        if len(self.ended) + failed >= self.size:
            self.all_ended.set()


class Application:
    def __init__(self, sentences: int) -> None:
        speak = f"<SpeakSentence>{SPEECH}</SpeakSentence>".encode()
        self.answer = (
            b'<?xml version="1.0" encoding="UTF-8"?><Response>' + speak * sentences + b"</Response>"
        )
        self.steps: dict[str, Calls] = {}
        self.counts: Counter[str] = Counter()

    def calls_of(self, tag: str) -> tuple[Calls, int] | None:
        prefix, _, index = tag.rpartition("-")
        calls = self.steps.get(prefix)
        if calls is None or not index.isdigit():
            return None
        return calls, int(index)

    async def callback(self, request: web.Request) -> web.Response:
        payload = orjson.loads(await request.read())
        event_type = str(payload.get("eventType", ""))
        self.counts[event_type] += 1
        found = self.calls_of(str(payload.get("tag") or ""))
        if found is not None:
            calls, index = found
            if event_type == "answer":
                calls.answered.add(index)
            elif event_type == "disconnect":
                calls.ended[index] = str(payload.get("cause", ""))
            calls.settle()
        if event_type == "answer":
            return web.Response(body=self.answer, content_type=XML)
        return web.Response(status=200)

    async def start(self) -> tuple[web.AppRunner, int]:
        app = web.Application()
        app.router.add_route("POST", "/{path:.*}", self.callback)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, HOST, port, backlog=1024).start()
        return runner, port


# -- the driver -----------------------------------------------------------------------------
class Driver:
    def __init__(
        self, options: Options, server: Server, sipp_port: int, password: str, pids: dict[str, int]
    ) -> None:
        self.options = options
        self.server = server
        self.callee = f"sip:load@{HOST}:{sipp_port}"
        self.password = password
        self.pids = pids
        self.app = Application(options.sentences)
        self.app_url = ""
        self.profiler: asyncio.subprocess.Process | None = None

    async def metrics(self, session: aiohttp.ClientSession) -> MediaMetrics:
        for attempt in (1, 2):  # a GET: once more if a pooled connection closed under it
            try:
                async with session.get(self.server.url("/metrics")) as response:
                    return MediaMetrics.parse(await response.text())
            except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError):
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def wait_sessions(
        self, session: aiohttp.ClientSession, wanted: int, at_least: bool, seconds: float
    ) -> MediaMetrics:
        """Poll /metrics until the RTP sessions reach `wanted` (or fall to it)."""
        deadline = time.monotonic() + seconds
        while True:
            metrics = await self.metrics(session)
            if (metrics.sessions >= wanted) if at_least else (metrics.sessions <= wanted):
                return metrics
            if time.monotonic() > deadline:
                raise BenchError(
                    f"the server has {metrics.sessions} RTP sessions, waited {seconds:.0f} s "
                    f"for {wanted}"
                )
            await asyncio.sleep(0.2)

    async def create(self, session: aiohttp.ClientSession, calls: Calls, index: int) -> None:
        body = orjson.dumps(call_request(self.callee, self.app_url, f"{calls.prefix}-{index}"))
        try:
            async with session.post(self.server.url(CALLS_PATH), data=body) as response:
                data = await response.read()
                if response.status != 201:
                    calls.create_errors[f"HTTP {response.status}"] += 1
                else:
                    calls.ids[index] = orjson.loads(data)["callId"]
        except (aiohttp.ClientError, TimeoutError) as error:
            calls.create_errors[type(error).__name__] += 1
        calls.settle()

    async def hang_up(self, session: aiohttp.ClientSession, call_id: str) -> None:
        url = self.server.url(f"{CALLS_PATH}/{call_id}")
        try:
            async with session.post(url, data=b'{"state":"completed"}') as response:
                await response.read()
        except (aiohttp.ClientError, TimeoutError):
            pass  # the wait for its disconnect says whether it ended

    async def profile(self) -> asyncio.subprocess.Process:
        """py-spy on the server over the window (--nonblocking: it never stops the server),
        on --client-cpu, writing collapsed stacks."""
        py_spy = Path(sys.executable).parent / "py-spy"
        if not py_spy.exists():
            raise BenchError("--profile-calls needs py-spy: .venv/bin/pip install py-spy")
        process = await asyncio.create_subprocess_exec(
            "taskset",
            "-c",
            str(self.options.client_cpu),
            str(py_spy),
            "record",
            "--nonblocking",
            "--format",
            "raw",
            "--rate",
            "250",
            "--duration",
            str(round(self.options.measure)),
            "--pid",
            str(self.pids["server"]),
            "--output",
            str(self.options.profile_file),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        self.profiler = process
        return process

    async def profiled(self, process: asyncio.subprocess.Process) -> None:
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            process.kill()  # by its PID: the py-spy this driver started
            await process.wait()
        progress(f"py-spy profile of the window: {self.options.profile_file}")

    async def place(self, session: aiohttp.ClientSession, calls: Calls) -> float:
        """Create the calls at --rate; wait until all are answered and sending. Seconds."""
        self.app.steps[calls.prefix] = calls
        started = time.monotonic()
        tasks = []
        for index in range(calls.size):
            tasks.append(asyncio.create_task(self.create(session, calls, index)))
            # Absolute pacing: a slow request does not shift the later ones.
            delay = started + (index + 1) / self.options.rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        await asyncio.gather(*tasks)
        try:
            await asyncio.wait_for(calls.all_answered.wait(), self.options.step_timeout)
        except TimeoutError:
            progress(f"only {len(calls.answered)} of {calls.size} calls were answered")
        answered = len(calls.answered)
        if answered:
            await self.wait_sessions(session, answered, True, self.options.step_timeout)
        return time.monotonic() - started

    async def end(self, session: aiohttp.ClientSession, calls: Calls) -> float:
        """Hang up every call of the step; wait until all ended and no RTP session is left."""
        started = time.monotonic()
        await asyncio.gather(*(self.hang_up(session, call_id) for call_id in calls.ids.values()))
        try:
            await asyncio.wait_for(calls.all_ended.wait(), self.options.step_timeout)
        except TimeoutError as error:
            raise BenchError(
                f"{calls.size - len(calls.ended)} of {calls.size} calls did not end within "
                f"{self.options.step_timeout:.0f} s of their hangup"
            ) from error
        await self.wait_sessions(session, 0, False, self.options.step_timeout)
        return time.monotonic() - started

    async def step(self, session: aiohttp.ClientSession, size: int, idle_rss: float) -> Step:
        options = self.options
        calls = Calls(f"n{size}-{len(self.app.steps)}", size)
        rss_before = proc_status_mb(self.pids["server"], "VmRSS")
        progress(f"N = {size}: creating the calls at {options.rate:.0f}/s")
        ramp_s = await self.place(session, calls)
        await asyncio.sleep(options.settle)
        ended_before = len(calls.ended)
        progress(f"N = {size}: {len(calls.answered)} answered; measuring {options.measure:.0f} s")
        before = await self.metrics(session)
        meter = CpuMeter(self.pids)
        profiler = await self.profile() if size == options.profile_calls else None
        await asyncio.sleep(options.measure)
        after = await self.metrics(session)
        cpu = meter.stop()
        if profiler is not None:
            await self.profiled(profiler)
        rss = proc_status_mb(self.pids["server"], "VmRSS")
        ended_early = len(calls.ended) - ended_before
        hangup_s = await self.end(session, calls)
        return Step(
            calls=size,
            answered=len(calls.answered),
            create_errors=dict(calls.create_errors),
            ended_early=ended_early,
            window=Window.between(before, after),
            cpu=cpu,
            rss_mb=rss,
            idle_rss_mb=idle_rss,
            rss_before_mb=rss_before,
            ramp_s=ramp_s,
            hangup_s=hangup_s,
        )

    async def run(self) -> Result:
        runner, port = await self.app.start()
        self.app_url = f"http://{HOST}:{port}"
        # Idle connections are dropped before uvicorn's own 5 s keep-alive timeout would close
        # them under a request.
        connector = aiohttp.TCPConnector(limit=HTTP_CONNECTIONS, keepalive_timeout=2.0)
        headers = api_headers(self.password)
        try:
            async with aiohttp.ClientSession(
                connector=connector, headers=headers, timeout=aiohttp.ClientTimeout(total=30)
            ) as session:
                # One call by hand: the password's slow hash, the speech's synthesis.
                progress("warm-up: one call")
                first = Calls("w", 1)
                await self.place(session, first)
                if len(first.answered) != 1:
                    raise BenchError(
                        f"the warm-up call was not answered: create errors "
                        f"{dict(first.create_errors)}, ended {first.ended}"
                    )
                before = await self.metrics(session)
                await asyncio.sleep(2.0)
                if (await self.metrics(session)).count - before.count < 50:
                    raise BenchError("the warm-up call sends no RTP")
                await self.end(session, first)
                await asyncio.sleep(1.0)
                idle_rss = proc_status_mb(self.pids["server"], "VmRSS")
                meter = CpuMeter(self.pids)
                await asyncio.sleep(3.0)
                idle_cpu = meter.stop().by_process["server"]
                steps = []
                for size in self.options.ladder:
                    steps.append(await self.step(session, size, idle_rss))
                    report_step(steps[-1])
                    await asyncio.sleep(1.0)
                final_rss = proc_status_mb(self.pids["server"], "VmRSS")
        finally:
            if self.profiler is not None and self.profiler.returncode is None:
                self.profiler.kill()  # by its PID, on error or Ctrl-C
                await self.profiler.wait()
            await runner.cleanup()
        return Result(self.options, steps, idle_rss, idle_cpu, final_rss)


# -- processes ------------------------------------------------------------------------------
def _udp_listening(port: int) -> bool:
    wanted = f"{HOST_HEX}:{port:04X}"
    for table in ("/proc/net/udp",):
        for line in Path(table).read_text().splitlines()[1:]:
            if line.split()[1] == wanted:
                return True
    return False


HOST_HEX = socket.inet_aton(HOST)[::-1].hex().upper()


def free_even_udp_port() -> int:
    """A free UDP port, even (sipp's media port, RTP on even ports), for a moment."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind((HOST, 0))
            port: int = probe.getsockname()[1]
        if port % 2 == 0 and port < 65000:
            return port


def start_sipp(processes: Processes, options: Options, work: Path) -> Server:
    """sipp as the UAS of every call, on --client-cpu; its port is its SIP port."""
    port, media_port = free_even_udp_port(), free_even_udp_port()
    argv = [
        "sipp",
        "-sf",
        str(SCENARIO),
        "-i",
        HOST,
        "-p",
        str(port),
        "-mi",
        HOST,
        "-mp",
        str(media_port),
        "-t",
        "u1",  # one UDP socket for every call
        "-nostdin",
        "-trace_err",
        "-error_file",
        str(work / "sipp_errors.log"),
        *(["-rtp_echo"] if options.echo else []),
    ]
    log = work / "sipp.log"
    return start_server(
        processes, "sipp", argv, port, options.client_cpu, log, lambda: _udp_listening(port)
    )


def run(options: Options, processes: Processes, work: Path) -> Result:
    os.sched_setaffinity(0, {options.client_cpu})
    password = secrets.token_hex(16)
    # Two ports a call (RTP on even ports), and room for ports other programs hold.
    high = options.rtp_base + 4 * max(options.ladder) + 200
    config = write_config(
        work,
        password,
        limits=UNLIMITED_LIMITS,  # no call is refused or queued
        simulator=SIP_NETWORK.format(low=options.rtp_base, high=min(high, 65534)),
    )
    sipp = start_sipp(processes, options, work)
    server = start_switchboard(processes, config, options.server_cpu, work)
    pids = {"server": server.process.pid, "sipp": sipp.process.pid}
    driver = Driver(options, server, sipp.port, password, pids)
    try:
        result = uvloop.run(driver.run())
    except BenchError as error:
        server.check_running(f"during the run ({error})")
        raise
    server.check_running()
    return result


# -- the report -----------------------------------------------------------------------------
HEADER = (
    f"{'N':>5}{'answered':>9}{'frames':>10}{'of exp.':>8}{'p99 ms':>8}{'max ms':>10}"
    f"{'>20ms':>8}{'server':>7}{'%core/call':>11}{'RSS before':>11}{'RSS MB':>8}{'KB/call':>8}"
    f"{'sipp':>6}{'driver':>7}{'other':>6}  verdict"
)


def step_line(step: Step) -> str:
    window = step.window
    p99 = f"<={window.p99_s * 1000:.1f}" if window.p99_s != float("inf") else ">100"
    peak = ("" if window.max_exact else "<=") + f"{window.max_s * 1000:.1f}"
    cpu = step.cpu.by_process
    share = window.frames / step.expected_frames if step.expected_frames else 0.0
    return (
        f"{step.calls:>5}{step.answered:>9}{window.frames:>10,.0f}{share:>8.1%}{p99:>8}"
        f"{peak:>10}{window.late:>8,.0f}{cpu['server']:>7.2f}{step.cpu_per_call * 100:>11.3f}"
        f"{step.rss_before_mb:>11.1f}{step.rss_mb:>8.1f}{step.kb_per_call:>8.1f}"
        f"{cpu['sipp']:>6.2f}{cpu['bench']:>7.2f}{step.cpu.other:>6.2f}  {verdict(step.passed)}"
        + ("" if step.complete else " (incomplete)")
        + (" (disturbed)" if step.cpu.disturbed else "")
    )


def report_step(step: Step) -> None:
    progress(HEADER.strip())
    progress(step_line(step).strip())


def report(result: Result) -> bool:
    options = result.options
    print()
    print(
        f"Server on CPU {options.server_cpu}; sipp (UAS, RTP echo "
        f"{'on' if options.echo else 'off'}), application and load driver on CPU "
        f"{options.client_cpu}; calls created at {options.rate:.0f}/s, measured "
        f"{options.measure:.0f} s after {options.settle:.0f} s of settling"
    )
    print(
        f"idle server: RSS {result.idle_rss_mb:.1f} MB, CPU {result.idle_cpu:.3f} cores "
        f"(after the warm-up call); RSS {result.final_rss_mb:.1f} MB after the last step"
    )
    print()
    print(HEADER)
    print("-" * len(HEADER))
    for step in result.steps:
        print(step_line(step))
    print(
        "(p99/max: send lateness over the window from the server's histogram, '<=' = bucket "
        "bound;\n >20ms: packets later than 20 ms; CPU columns in cores; %core/call = server "
        "CPU / N;\n KB/call = (RSS with N calls - RSS before the step) / N)"
    )
    for step in result.steps:
        notes = []
        if step.create_errors:
            notes.append(f"create errors {step.create_errors}")
        if step.ended_early:
            notes.append(f"{step.ended_early} calls ended during the window")
        if step.window.skipped:
            notes.append(f"{step.window.skipped:.0f} media clock ticks skipped")
        if not step.media_complete:
            notes.append(
                f"{step.window.frames:,.0f} frames sent of {step.expected_frames:,.0f} expected"
            )
        if notes:
            print(f"N = {step.calls}: " + "; ".join(notes))
    passing = [step.calls for step in result.steps if step.passed]
    best = max(passing, default=0)
    ok = best >= TARGET_CALLS
    print()
    print(
        f"largest N passing (p99 < {TARGET_P99_S * 1000:.0f} ms, none > {LATE_S * 1000:.0f} ms): "
        f"{best if passing else 'none'}   target >= {TARGET_CALLS}   {verdict(ok)}"
    )
    if any(step.cpu.disturbed for step in result.steps):
        print(
            "other processes used more than 0.1 core during some windows: those figures are "
            "disturbed; rerun on a quiet machine"
        )
    return ok


def parse_options(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(description="Concurrent SIP calls playing speech.")
    parser.add_argument(
        "--ladder", default="50,100,200,300,400,600,800", help="call counts, comma-separated"
    )
    parser.add_argument("--measure", type=float, default=20.0, help="window per N (20 s)")
    parser.add_argument("--settle", type=float, default=3.0, help="wait before it (3 s)")
    parser.add_argument("--rate", type=float, default=50.0, help="calls created per second (50)")
    parser.add_argument(
        "--sentences", type=int, default=20, help="SpeakSentence verbs per call, ~20 s each (20)"
    )
    parser.add_argument("--no-echo", action="store_true", help="sipp does not echo the RTP")
    parser.add_argument(
        "--rtp-base", type=int, default=46000, help="first RTP port of the server (46000)"
    )
    parser.add_argument(
        "--step-timeout", type=float, default=60.0, help="longest wait for answers/ends (60 s)"
    )
    parser.add_argument(
        "--profile-calls", type=int, default=0, help="py-spy the server's window at this N"
    )
    parser.add_argument(
        "--profile-file", type=Path, default=Path("sip-profile.txt"), help="py-spy raw output"
    )
    add_run_arguments(parser, "sipp + app + driver")
    args = parser.parse_args(argv)
    try:
        ladder = tuple(int(part) for part in args.ladder.split(",") if part.strip())
    except ValueError:
        parser.error("--ladder must be comma-separated positive integers")
    if not ladder or min(ladder) < 1:
        parser.error("--ladder must be comma-separated positive integers")
    if min(args.measure, args.rate, args.step_timeout) <= 0 or args.settle < 0:
        parser.error("--measure, --rate and --step-timeout must be positive")
    if args.sentences < 1 or not 1024 <= args.rtp_base <= 60000:
        parser.error("--sentences must be positive and --rtp-base in 1024-60000")
    return options_from(
        Options,
        args,
        ladder=ladder,
        echo=not args.no_echo,
        profile_file=args.profile_file.resolve(),
    )


def main(argv: list[str] | None = None) -> int:
    tools = [
        ("sipp", "apt-get install sip-tester (make test installs it)"),
        ("espeak-ng", "apt-get install espeak-ng (make test installs it)"),
    ]
    return bench_main(parse_options(argv), run, report, tools=tools)


if __name__ == "__main__":
    sys.exit(main())
