"""SIP rooms: how many bridged call pairs one server core relays with its RTP on time (issue 12).

    .venv/bin/python bench/sip_bridge.py [--ladder 100,200,300,400] [--measure 20]

What runs, all on 127.0.0.1:
- the server, `switchboard serve` with `[network] kind = "sip"` and the account's limits
  raised, pinned to --server-cpu (CPU 0);
- sipp (UAS, on --client-cpu), which answers every INVITE with PCMU + telephone-event whose
  media address is the talker's socket, and waits for our BYE;
- this process (uvloop, on --client-cpu): the webhook application, the load driver, and the
  talker, one UDP socket standing in for every phone's media. It starts a 20 ms PCMU stream to
  each RTP port of the server it hears from (what a phone does once media flows), each packet's
  payload stamped with the port it went to and when it left; a stamped payload that comes back
  from another port was relayed by a room, and its age is the relay's end-to-end delay.

A pair is one call: createCall to sipp, whose answer BXML is <Transfer> to sipp again (a SIP
URI); the target's transferAnswer answers an empty document, so the two legs are joined at once.
For each N of --ladder: N pairs are created at --rate/s; once every target has answered and the
talker gets relayed audio on all 2N legs, after --settle s, the window of --measure s: the delta
of the server's RTP send-lateness histogram (switchboard_rtp_send_lateness_seconds, every packet
of every leg: here every leg is in a room, so this is the relay's lateness against the 20 ms
tick that sent it), the frames the talker got back relayed (expected: 2N x 50 a second), their
end-to-end delay, and CPU. Then every pair is hung up (updateCall completed on the call that
ran the transfer, which ends its target) and the next N starts once no RTP session is left.

A step passes when all N pairs were joined, the talker got at least 98% of the expected relayed
frames, the lateness p99 is under 5 ms and no packet was later than 20 ms. The result is the
largest N passing; the target is N >= 300 pairs (600 legs). The end-to-end delay is reported,
not judged: by design a frame waits for its leg's next tick (0-20 ms, per pair a fixed phase),
plus that tick's lateness and both ends' loops. Every process is stopped by its PID.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import struct
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
    progress,
    start_server,
    start_switchboard,
    verdict,
    write_config,
)
from sip_concurrency import (
    LATE_S,
    SIP_NETWORK,
    TARGET_P99_S,
    MediaMetrics,
    Window,
    free_even_udp_port,
)
from switchboard.media.stats import SendStats

TARGET_PAIRS = 300
FRAME_S = 0.020
HTTP_CONNECTIONS = 32
XML = "application/xml"
MAGIC = b"SWBRIDGE"
_STAMP = struct.Struct("!8sHd")  # magic, the server port it was sent to, when (loop time)
_HEADER = struct.Struct("!BBHII")
PAYLOAD_PAD = bytes(160 - _STAMP.size)
PHASES = 4  # the talker's streams are spread over 4 slots of 5 ms, as the server's are

SCENARIO = """\
<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<!-- bench/sip_bridge.py's callee: answers any INVITE with PCMU whose media goes to the
     talker's socket ({talker}), then waits for our BYE. -->
<scenario name="UAS: answer to the talker, wait for BYE">
  <recv request="INVITE" crlf="true"/>
  <send><![CDATA[
      SIP/2.0 100 Trying
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]></send>
  <send retrans="500"><![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpBridge[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:load@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=load 53655765 2353687637 IN IP4 127.0.0.1
      s=-
      c=IN IP4 127.0.0.1
      t=0 0
      m=audio {talker} RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
    ]]></send>
  <recv request="ACK" crlf="true"/>
  <recv request="BYE"/>
  <send><![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]></send>
  <timewait milliseconds="1000"/>
</scenario>
"""


@dataclass(frozen=True, slots=True)
class Options:
    ladder: tuple[int, ...]
    measure: float
    settle: float
    rate: float
    rtp_base: int
    step_timeout: float
    server_cpu: int
    client_cpu: int
    keep: bool
    check: bool


# -- the talker: every phone's media ------------------------------------------------------
class Talker(asyncio.DatagramProtocol):
    """One socket for every phone: streams PCMU to each server RTP port it hears from, and
    measures the stamped frames that come back through a room."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.DatagramTransport | None = None
        self.streams: dict[int, list[int]] = {}  # server port -> [ssrc, sequence, timestamp]
        self.slots: list[list[int]] = [[] for _ in range(PHASES)]
        self.relaying: set[int] = set()  # server ports that sent us relayed audio
        self.relayed = 0
        self.foreign = 0  # stamped frames that came back from the port they went to (no relay)
        self.delay = SendStats()
        self._handle: asyncio.TimerHandle | None = None
        self._origin = 0.0
        self._tick = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def datagram_received(self, data: bytes, addr: tuple[str | bytes, int]) -> None:
        port = addr[1]
        if port not in self.streams:
            stream = [secrets.randbits(32), 0, 0]
            self.streams[port] = stream
            self.slots[port // 2 % PHASES].append(port)
        if len(data) != 12 + 160 or data[12:20] != MAGIC:
            return  # silence, or something we did not send
        _, to, sent = _STAMP.unpack_from(data, 12)
        if to == port:
            self.foreign += 1
            return
        self.relayed += 1
        self.relaying.add(port)
        self.delay.record(self.loop.time() - sent)

    def error_received(self, exc: Exception) -> None:
        pass  # a port whose session closed: its stream is dropped at the end of the step

    def start(self) -> None:
        self._origin = self.loop.time()
        self._handle = self.loop.call_at(self._origin, self._run)

    def _run(self) -> None:
        now = self.loop.time()
        transport = self.transport
        assert transport is not None
        due = int((now - self._origin) / (FRAME_S / PHASES))
        while self._tick <= due:
            slot = self.slots[self._tick % PHASES]
            for port in slot:
                stream = self.streams[port]
                header = _HEADER.pack(0x80, 0, stream[1] & 0xFFFF, stream[2], stream[0])
                payload = _STAMP.pack(MAGIC, port, self.loop.time()) + PAYLOAD_PAD
                transport.sendto(header + payload, (HOST, port))
                stream[1] += 1
                stream[2] = (stream[2] + 160) & 0xFFFFFFFF
            self._tick += 1
        self._handle = self.loop.call_at(self._origin + self._tick * FRAME_S / PHASES, self._run)

    def forget(self) -> None:
        """Every call ended: no stream is left to send to."""
        self.streams.clear()
        self.slots = [[] for _ in range(PHASES)]
        self.relaying.clear()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        if self.transport is not None:
            self.transport.close()


# -- results --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Step:
    pairs: int
    joined: int
    create_errors: dict[str, int]
    ended_early: int
    window: Window
    relayed: int
    foreign: int
    delay: SendStats
    cpu: CpuShare
    ramp_s: float

    @property
    def expected_frames(self) -> float:
        return 2 * self.pairs * self.cpu.seconds / FRAME_S

    @property
    def relayed_share(self) -> float:
        return self.relayed / self.expected_frames if self.expected_frames else 0.0

    @property
    def complete(self) -> bool:
        return (
            self.joined == self.pairs
            and not self.create_errors
            and not self.ended_early
            and self.relayed_share >= 0.98
        )

    @property
    def passed(self) -> bool:
        return self.complete and self.window.p99_under_target and self.window.late == 0


@dataclass(frozen=True, slots=True)
class Result:
    options: Options
    steps: list[Step]


# -- the application (in this process) ------------------------------------------------------
@dataclass(slots=True)
class Pairs:
    prefix: str
    size: int
    ids: dict[int, str] = field(default_factory=dict)
    targets: set[str] = field(default_factory=set)  # parents whose target answered
    ended: set[int] = field(default_factory=set)
    targets_ended: set[str] = field(default_factory=set)
    create_errors: Counter[str] = field(default_factory=Counter)
    all_joined: asyncio.Event = field(default_factory=asyncio.Event)
    all_ended: asyncio.Event = field(default_factory=asyncio.Event)

    def settle(self) -> None:
        failed = sum(self.create_errors.values())
        if len(self.targets) + failed >= self.size:
            self.all_joined.set()
        if len(self.ended) + failed >= self.size and len(self.targets_ended) >= len(self.targets):
            self.all_ended.set()


class Application:
    def __init__(self, callee: str) -> None:
        self.callee = callee
        self.url = ""
        self.steps: dict[str, Pairs] = {}
        self.parents: dict[str, Pairs] = {}  # callId of a pair's first call -> its step

    def pairs_of(self, tag: str) -> tuple[Pairs, int] | None:
        prefix, _, index = tag.rpartition("-")
        pairs = self.steps.get(prefix)
        if pairs is None or not index.isdigit():
            return None
        return pairs, int(index)

    def transfer(self) -> bytes:
        return (
            '<?xml version="1.0" encoding="UTF-8"?><Response><Transfer>'
            f'<SipUri transferAnswerUrl="{self.url}/transfer-answer" '
            f'transferDisconnectUrl="{self.url}/transfer-disconnect">{self.callee}</SipUri>'
            "</Transfer></Response>"
        ).encode()

    async def callback(self, request: web.Request) -> web.Response:
        payload = orjson.loads(await request.read())
        event_type = str(payload.get("eventType", ""))
        if event_type in ("transferAnswer", "transferDisconnect"):
            pairs = self.parents.get(str(payload.get("parentCallId", "")))
            if pairs is not None:
                parent = str(payload["parentCallId"])
                (pairs.targets if event_type == "transferAnswer" else pairs.targets_ended).add(
                    parent
                )
                pairs.settle()
            if event_type == "transferAnswer":  # an empty document: join now
                return web.Response(body=b"<Response/>", content_type=XML)
            return web.Response(status=200)
        found = self.pairs_of(str(payload.get("tag") or ""))
        if found is not None and event_type == "disconnect":
            found[0].ended.add(found[1])
            found[0].settle()
        if event_type == "answer":
            return web.Response(body=self.transfer(), content_type=XML)
        return web.Response(status=200)

    async def start(self) -> web.AppRunner:
        app = web.Application()
        app.router.add_route("POST", "/{path:.*}", self.callback)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, HOST, port, backlog=1024).start()
        self.url = f"http://{HOST}:{port}"
        return runner


# -- the driver -----------------------------------------------------------------------------
class Driver:
    def __init__(
        self, options: Options, server: Server, sipp_port: int, password: str, pids: dict[str, int]
    ) -> None:
        self.options = options
        self.server = server
        self.password = password
        self.pids = pids
        self.app = Application(f"sip:load@{HOST}:{sipp_port}")

    async def metrics(self, session: aiohttp.ClientSession) -> MediaMetrics:
        for attempt in (1, 2):  # a GET: once more if a pooled connection closed under it
            try:
                async with session.get(self.server.url("/metrics")) as response:
                    return MediaMetrics.parse(await response.text())
            except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError):
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def create(self, session: aiohttp.ClientSession, pairs: Pairs, index: int) -> None:
        request = call_request(self.app.callee, self.app.url, f"{pairs.prefix}-{index}")
        try:
            async with session.post(
                self.server.url(CALLS_PATH), data=orjson.dumps(request)
            ) as response:
                data = await response.read()
                if response.status != 201:
                    pairs.create_errors[f"HTTP {response.status}"] += 1
                else:
                    call_id = orjson.loads(data)["callId"]
                    pairs.ids[index] = call_id
                    self.app.parents[call_id] = pairs
        except (aiohttp.ClientError, TimeoutError) as error:
            pairs.create_errors[type(error).__name__] += 1
        pairs.settle()

    async def wait(self, what: str, ready: object, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not ready():  # type: ignore[operator]
            if time.monotonic() > deadline:
                raise BenchError(f"waited {seconds:.0f} s for {what}")
            await asyncio.sleep(0.1)

    async def place(self, session: aiohttp.ClientSession, pairs: Pairs, talker: Talker) -> float:
        """Create the pairs at --rate; wait until every target answered and every leg relays."""
        self.app.steps[pairs.prefix] = pairs
        started = time.monotonic()
        tasks = []
        for index in range(pairs.size):
            tasks.append(asyncio.create_task(self.create(session, pairs, index)))
            delay = started + (index + 1) / self.options.rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        await asyncio.gather(*tasks)
        try:
            await asyncio.wait_for(pairs.all_joined.wait(), self.options.step_timeout)
        except TimeoutError:
            progress(f"only {len(pairs.targets)} of {pairs.size} targets answered")
        legs = 2 * len(pairs.targets)
        await self.wait(
            f"relayed audio on {legs} legs",
            lambda: len(talker.relaying) >= legs,
            self.options.step_timeout,
        )
        return time.monotonic() - started

    async def end(self, session: aiohttp.ClientSession, pairs: Pairs, talker: Talker) -> None:
        async def hang_up(call_id: str) -> None:
            url = self.server.url(f"{CALLS_PATH}/{call_id}")
            try:
                async with session.post(url, data=b'{"state":"completed"}') as response:
                    await response.read()
            except (aiohttp.ClientError, TimeoutError):
                pass  # the wait for its disconnect says whether it ended

        await asyncio.gather(*(hang_up(call_id) for call_id in pairs.ids.values()))
        try:
            await asyncio.wait_for(pairs.all_ended.wait(), self.options.step_timeout)
        except TimeoutError as error:
            raise BenchError(
                f"{pairs.size - len(pairs.ended)} of {pairs.size} pairs did not end within "
                f"{self.options.step_timeout:.0f} s of their hangup"
            ) from error
        deadline = time.monotonic() + self.options.step_timeout
        while (await self.metrics(session)).sessions > 0:
            if time.monotonic() > deadline:
                raise BenchError("RTP sessions are left after every call ended")
            await asyncio.sleep(0.2)
        talker.forget()

    async def step(self, session: aiohttp.ClientSession, size: int, talker: Talker) -> Step:
        options = self.options
        pairs = Pairs(f"p{size}-{len(self.app.steps)}", size)
        progress(f"N = {size} pairs: creating them at {options.rate:.0f}/s")
        ramp_s = await self.place(session, pairs, talker)
        await asyncio.sleep(options.settle)
        ended_before = len(pairs.ended)
        progress(f"N = {size}: {len(pairs.targets)} joined; measuring {options.measure:.0f} s")
        before = await self.metrics(session)
        relayed, foreign = talker.relayed, talker.foreign
        talker.delay = SendStats()
        meter = CpuMeter(self.pids)
        await asyncio.sleep(options.measure)
        after = await self.metrics(session)
        cpu = meter.stop()
        result = Step(
            pairs=size,
            joined=len(pairs.targets),
            create_errors=dict(pairs.create_errors),
            ended_early=len(pairs.ended) - ended_before,
            window=Window.between(before, after),
            relayed=talker.relayed - relayed,
            foreign=talker.foreign - foreign,
            delay=talker.delay,
            cpu=cpu,
            ramp_s=ramp_s,
        )
        await self.end(session, pairs, talker)
        return result

    async def run(self, talker_port: int) -> Result:
        runner = await self.app.start()
        loop = asyncio.get_running_loop()
        _, talker = await loop.create_datagram_endpoint(Talker, local_addr=(HOST, talker_port))
        talker.start()
        connector = aiohttp.TCPConnector(limit=HTTP_CONNECTIONS, keepalive_timeout=2.0)
        try:
            async with aiohttp.ClientSession(
                connector=connector,
                headers=api_headers(self.password),
                timeout=aiohttp.ClientTimeout(total=30),
            ) as session:
                progress("warm-up: one pair")
                first = Pairs("w", 1)
                await self.place(session, first, talker)
                await self.end(session, first, talker)
                steps = []
                for size in self.options.ladder:
                    steps.append(await self.step(session, size, talker))
                    report_step(steps[-1])
                    await asyncio.sleep(1.0)
        finally:
            talker.stop()
            await runner.cleanup()
        return Result(self.options, steps)


# -- processes ------------------------------------------------------------------------------
HOST_HEX = socket.inet_aton(HOST)[::-1].hex().upper()


def _udp_listening(port: int) -> bool:
    wanted = f"{HOST_HEX}:{port:04X}"
    return any(
        line.split()[1] == wanted for line in Path("/proc/net/udp").read_text().splitlines()[1:]
    )


def start_sipp(processes: Processes, options: Options, work: Path, talker_port: int) -> Server:
    scenario = work / "sipp_bridge_uas.xml"
    scenario.write_text(SCENARIO.format(talker=talker_port))
    port, media_port = free_even_udp_port(), free_even_udp_port()
    argv = [
        "sipp",
        "-sf",
        str(scenario),
        "-i",
        HOST,
        "-p",
        str(port),
        "-mi",
        HOST,
        "-mp",
        str(media_port),
        "-t",
        "u1",
        "-nostdin",
        "-trace_err",
        "-error_file",
        str(work / "sipp_errors.log"),
    ]
    return start_server(
        processes,
        "sipp",
        argv,
        port,
        options.client_cpu,
        work / "sipp.log",
        lambda: _udp_listening(port),
    )


def run(options: Options, processes: Processes, work: Path) -> Result:
    os.sched_setaffinity(0, {options.client_cpu})
    password = secrets.token_hex(16)
    high = options.rtp_base + 8 * max(options.ladder) + 200  # two legs a pair, even ports
    config = write_config(
        work,
        password,
        limits=UNLIMITED_LIMITS,
        simulator=SIP_NETWORK.format(low=options.rtp_base, high=min(high, 65534)),
    )
    talker_port = free_even_udp_port()
    sipp = start_sipp(processes, options, work, talker_port)
    server = start_switchboard(processes, config, options.server_cpu, work)
    pids = {"server": server.process.pid, "sipp": sipp.process.pid}
    driver = Driver(options, server, sipp.port, password, pids)
    try:
        result = uvloop.run(driver.run(talker_port))
    except BenchError as error:
        server.check_running(f"during the run ({error})")
        raise
    server.check_running()
    return result


# -- the report -----------------------------------------------------------------------------
HEADER = (
    f"{'pairs':>6}{'joined':>7}{'relayed':>10}{'of exp.':>8}{'p99 ms':>8}{'max ms':>9}"
    f"{'>20ms':>7}{'e2e p50':>8}{'e2e p99':>8}{'e2e max':>8}{'server':>7}{'%core/leg':>10}"
    f"{'sipp':>6}{'bench':>6}{'other':>6}  verdict"
)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def step_line(step: Step) -> str:
    window = step.window
    p99 = f"<={ms(window.p99_s)}" if window.p99_s != float("inf") else ">100"
    peak = ("" if window.max_exact else "<=") + ms(window.max_s)
    cpu = step.cpu.by_process
    return (
        f"{step.pairs:>6}{step.joined:>7}{step.relayed:>10,}{step.relayed_share:>8.1%}{p99:>8}"
        f"{peak:>9}{window.late:>7,.0f}{ms(step.delay.percentile(0.5)):>8}"
        f"{ms(step.delay.p99):>8}{ms(step.delay.max_lateness):>8}{cpu['server']:>7.2f}"
        f"{cpu['server'] / (2 * step.pairs) * 100:>10.3f}{cpu['sipp']:>6.2f}{cpu['bench']:>6.2f}"
        f"{step.cpu.other:>6.2f}  {verdict(step.passed)}"
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
        f"Server on CPU {options.server_cpu}; sipp, the talker, the application and the driver "
        f"on CPU {options.client_cpu}; pairs created at {options.rate:.0f}/s, measured "
        f"{options.measure:.0f} s after {options.settle:.0f} s of settling"
    )
    print()
    print(HEADER)
    print("-" * len(HEADER))
    for step in result.steps:
        print(step_line(step))
    print(
        "(p99/max/>20ms: the server's send lateness over the window, every leg in a room,\n"
        " '<=' = bucket bound; relayed: stamped frames the talker got back from the other leg,\n"
        " of 2N x 50/s expected; e2e: their age on arrival (the wait for the leg's next tick,\n"
        " 0-20 ms by design, plus lateness and both loops); CPU in cores)"
    )
    for step in result.steps:
        notes = []
        if step.create_errors:
            notes.append(f"create errors {step.create_errors}")
        if step.ended_early:
            notes.append(f"{step.ended_early} pairs ended during the window")
        if step.window.skipped:
            notes.append(f"{step.window.skipped:.0f} media clock ticks skipped")
        if step.foreign:
            notes.append(f"{step.foreign} frames came back unrelayed")
        if notes:
            print(f"N = {step.pairs}: " + "; ".join(notes))
    passing = [step.pairs for step in result.steps if step.passed]
    best = max(passing, default=0)
    ok = best >= TARGET_PAIRS
    print()
    print(
        f"largest N passing (p99 < {TARGET_P99_S * 1000:.0f} ms, none > {LATE_S * 1000:.0f} ms): "
        f"{best if passing else 'none'} pairs   target >= {TARGET_PAIRS}   {verdict(ok)}"
    )
    if any(step.cpu.disturbed for step in result.steps):
        print(
            "other processes used more than 0.1 core during some windows: those figures are "
            "disturbed; rerun on a quiet machine"
        )
    return ok


def parse_options(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(description="Bridged SIP call pairs relaying RTP.")
    parser.add_argument("--ladder", default="100,200,300,400", help="pair counts, comma-separated")
    parser.add_argument("--measure", type=float, default=20.0, help="window per N (20 s)")
    parser.add_argument("--settle", type=float, default=3.0, help="wait before it (3 s)")
    parser.add_argument("--rate", type=float, default=50.0, help="pairs created per second (50)")
    parser.add_argument(
        "--rtp-base", type=int, default=46000, help="first RTP port of the server (46000)"
    )
    parser.add_argument(
        "--step-timeout", type=float, default=60.0, help="longest wait for joins/ends (60 s)"
    )
    add_run_arguments(parser, "sipp + talker + app + driver")
    args = parser.parse_args(argv)
    try:
        ladder = tuple(int(part) for part in args.ladder.split(",") if part.strip())
    except ValueError:
        parser.error("--ladder must be comma-separated positive integers")
    if not ladder or min(ladder) < 1:
        parser.error("--ladder must be comma-separated positive integers")
    if min(args.measure, args.rate, args.step_timeout) <= 0 or args.settle < 0:
        parser.error("--measure, --rate and --step-timeout must be positive")
    if not 1024 <= args.rtp_base <= 60000:
        parser.error("--rtp-base must be in 1024-60000")
    return options_from(Options, args, ladder=ladder)


def main(argv: list[str] | None = None) -> int:
    tools = [("sipp", "apt-get install sip-tester (make test installs it)")]
    return bench_main(parse_options(argv), run, report, tools=tools)


if __name__ == "__main__":
    sys.exit(main())
