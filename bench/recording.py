"""Recorded SIP calls: how many concurrent calls, each recorded both ways, one server core
carries with its RTP on time (issue 13).

    .venv/bin/python bench/recording.py [--ladder 100,200,300,400] [--measure 20]

bench/sip_concurrency.py with two changes, everything else (server on --server-cpu, sipp, the
application and the driver on --client-cpu, the ladder, the window, the verdict) its own:
- every call is recorded: the answer BXML is <StartRecording/> then the --sentences long
  <SpeakSentence> verbs, so each call's tap (network/sip_tap.py) gathers every packet sent and
  received, decodes it every 100 ms, runs the voice activity detector on what the far end
  sends, and the recorder keeps it all; when the step's calls are hung up, each recording is
  encoded and written, and the next step waits for every recordingAvailable (that work is
  reported, not measured);
- the far end talks: sipp answers with its media address at bench/sip_bridge.py's talker, one
  socket in this process that sends a 20 ms PCMU stream to every server RTP port it hears from,
  so each call receives 50 packets a second that the tap must take (sipp's -rtp_echo would send
  the server's own packets back, which a session drops before any tap sees them).

A step passes, as in sip_concurrency, when every call was answered and sent its frames through
the window, the send lateness p99 is under 5 ms and no packet was later than 20 ms; the target
is N >= 300 recorded calls. Every process is stopped by its PID; the temp dir is removed.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import time
from pathlib import Path

import aiohttp
import uvloop

import sip_bridge
import sip_concurrency
from common import (
    HOST,
    UNLIMITED_LIMITS,
    BenchError,
    Processes,
    Server,
    bench_main,
    progress,
    write_config,
)
from sip_concurrency import SIP_NETWORK, Application, Calls, Driver, Options, Result

TARGET_CALLS = 300
# sip_concurrency.report reads its module's target when it prints the verdict.
sip_concurrency.TARGET_CALLS = TARGET_CALLS


class RecordingApplication(Application):
    """sip_concurrency's application, with every call recorded from its answer."""

    def __init__(self, sentences: int) -> None:
        super().__init__(sentences)
        start = b'<StartRecording recordingAvailableUrl="/recording-available"/>'
        self.answer = self.answer.replace(b"<Response>", b"<Response>" + start, 1)
        assert start in self.answer


class RecordingDriver(Driver):
    def __init__(
        self,
        options: Options,
        server: Server,
        sipp_port: int,
        password: str,
        pids: dict[str, int],
        talker_port: int,
    ) -> None:
        super().__init__(options, server, sipp_port, password, pids)
        self.app = RecordingApplication(options.sentences)
        self.talker_port = talker_port
        self.talker: sip_bridge.Talker | None = None
        self.recorded = 0  # calls answered so far, each of which leaves a recording

    async def run(self) -> Result:
        loop = asyncio.get_running_loop()
        _, talker = await loop.create_datagram_endpoint(
            sip_bridge.Talker, local_addr=(HOST, self.talker_port)
        )
        self.talker = talker
        talker.start()
        try:
            return await super().run()
        finally:
            talker.stop()

    async def end(self, session: aiohttp.ClientSession, calls: Calls) -> float:
        started = time.monotonic()
        seconds = await super().end(session, calls)
        if self.talker is not None:
            self.talker.forget()  # every call ended: its ports may serve other calls next
        # Each recording is encoded and written after its call ended: wait for all of them
        # (their recordingAvailable), or that work would land in the next step's window.
        self.recorded += len(calls.answered)
        deadline = started + self.options.step_timeout
        while self.app.counts["recordingAvailable"] < self.recorded:
            if time.monotonic() > deadline:
                raise BenchError(
                    f"{self.recorded - self.app.counts['recordingAvailable']} recordings were "
                    f"not available within {self.options.step_timeout:.0f} s of the hangups"
                )
            await asyncio.sleep(0.1)
        progress(
            f"{len(calls.answered)} recordings saved {time.monotonic() - started:.1f} s "
            "after the hangups began"
        )
        return seconds


def run(options: Options, processes: Processes, work: Path) -> Result:
    os.sched_setaffinity(0, {options.client_cpu})
    password = secrets.token_hex(16)
    high = options.rtp_base + 4 * max(options.ladder) + 200
    config = write_config(
        work,
        password,
        limits=UNLIMITED_LIMITS,
        simulator=SIP_NETWORK.format(low=options.rtp_base, high=min(high, 65534)),
    )
    talker_port = sip_concurrency.free_even_udp_port()
    sipp = sip_bridge.start_sipp(processes, options, work, talker_port)  # type: ignore[arg-type]
    server = sip_concurrency.start_switchboard(processes, config, options.server_cpu, work)
    pids = {"server": server.process.pid, "sipp": sipp.process.pid}
    driver = RecordingDriver(options, server, sipp.port, password, pids, talker_port)
    try:
        result = uvloop.run(driver.run())
    except BenchError as error:
        server.check_running(f"during the run ({error})")
        raise
    server.check_running()
    progress(f"recordings written: {count_recordings(work)}")
    return result


def count_recordings(work: Path) -> int:
    return sum(1 for path in work.rglob("r-*.wav") if path.is_file())


def main(argv: list[str] | None = None) -> int:
    options = sip_concurrency.parse_options(
        ["--ladder", "100,200,300,400", "--no-echo", *(sys.argv[1:] if argv is None else argv)]
    )
    tools = [
        ("sipp", "apt-get install sip-tester (make test installs it)"),
        ("espeak-ng", "apt-get install espeak-ng (make test installs it)"),
    ]
    return bench_main(options, run, sip_concurrency.report, tools=tools)


if __name__ == "__main__":
    sys.exit(main())
