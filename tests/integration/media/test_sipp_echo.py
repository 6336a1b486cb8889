"""Our RTP against a real peer: sipp's RTP echo sends our packets back, which we must ignore."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
from collections.abc import Iterator

import pytest

from switchboard.media.rtp import RtpSession
from switchboard.media.sdp import MediaDescription

pytestmark = pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp is not installed")


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def echo_answers(media_port: int, timeout: float) -> bool:
    """Whether sipp's RTP echo is bound yet: a probe sent to it comes back."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        probe.settimeout(timeout)
        probe.sendto(b"probe", ("127.0.0.1", media_port))
        try:
            return probe.recv(64) == b"probe"
        except OSError:  # timed out, or ICMP port unreachable before sipp binds
            return False


def start_sipp_echo() -> tuple[subprocess.Popen[bytes], int] | None:
    """Starts sipp and waits (up to 10 s) until its echo answers; None if it exits first."""
    media_port = free_port(socket.SOCK_DGRAM) & ~1
    process = subprocess.Popen(
        [
            "sipp",
            "-sn",
            "uas",
            "-i",
            "127.0.0.1",
            "-p",
            str(free_port(socket.SOCK_DGRAM)),
            "-mi",
            "127.0.0.1",
            "-mp",
            str(media_port),
            "-rtp_echo",
            "-m",
            "1",
            "-nostdin",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(50):
        if echo_answers(media_port, 0.2):
            return process, media_port
        if process.poll() is not None:
            return None  # e.g. the media port was taken between probing and binding
    process.terminate()
    process.wait(timeout=5)
    return None


@pytest.fixture
def sipp_echo() -> Iterator[int]:
    """sipp's built-in answering scenario, whose RTP echo runs from start, without a call.

    The test starts sending only once the echo has answered a probe: on a busy CI machine sipp
    can take over a second to bind, and RTP sent before that is simply lost.
    """
    for _ in range(3):
        started = start_sipp_echo()
        if started is not None:
            break
    else:
        pytest.fail("sipp's RTP echo did not come up in three attempts")
    process, media_port = started
    try:
        yield media_port
    finally:
        process.terminate()
        process.wait(timeout=5)


async def test_echoed_stream_comes_back_and_our_own_tones_are_not_heard(sipp_echo: int) -> None:
    heard: list[str] = []
    session = await RtpSession.open("127.0.0.1", (33000, 33999), heard.append)
    try:
        # No telephone-event: digits go in-band, and the echoed tones must not become digits.
        session.start(MediaDescription("127.0.0.1", sipp_echo, "PCMU", 0, None))
        done = asyncio.get_running_loop().create_future()
        session.send_dtmf("12#", 100, 60, lambda: done.set_result(None))
        await asyncio.wait_for(done, 5)
        for _ in range(50):  # the echo of the last frames is in flight for a moment
            if session.packets_received >= session.stats.count - 2:
                break
            await asyncio.sleep(0.02)
        assert session.packets_received >= session.stats.count - 2 > 15
        assert heard == []
    finally:
        session.close()
