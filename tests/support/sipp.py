"""Real sipp processes for SIP tests: one scenario, one call, on free ports of 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

SCENARIOS = Path(__file__).resolve().parent.parent / "sip_scenarios"
HOST = "127.0.0.1"
START_DEADLINE = 10.0


def require_sipp() -> str:
    path = shutil.which("sipp")
    if path is None:
        pytest.skip("sipp is not on PATH (Debian package sip-tester; `make test` installs it)")
    return path


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    """A port free for both UDP and TCP right now (sipp binds it a moment later)."""
    while True:
        with socket.socket(socket.AF_INET, kind) as probe:
            probe.bind((HOST, 0))
            port = int(probe.getsockname()[1])
        # Media ports are used in pairs (RTP, RTCP) and sipp wants them even.
        if port % 2 == 0 and port < 65000:
            return port


def _listening(port: int, transport: str) -> bool:
    table = Path(f"/proc/net/{transport}")
    if table.exists():
        wanted = f":{port:04X}"
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            # For TCP only sockets in state 0A (LISTEN) accept calls.
            if fields[1].endswith(wanted) and (transport == "udp" or fields[3] == "0A"):
                return True
        return False
    # No /proc: a bind that fails means someone holds the port.
    kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as probe:
        try:
            probe.bind((HOST, port))
        except OSError:
            return True
    return False


def sipp_args(
    scenario: str, port: int, media_port: int, transport: str, extra: Sequence[str]
) -> list[str]:
    """One call of `scenario` as a UAS on 127.0.0.1, bounded by sipp's own 30 s timeout."""
    return [
        "-sf",
        str(SCENARIOS / scenario),
        "-i",
        HOST,
        "-p",
        str(port),
        "-mi",
        HOST,
        "-mp",
        str(media_port),
        "-m",
        "1",
        "-nostdin",
        "-trace_err",
        "-timeout",
        "30s",
        "-timeout_error",
        "-t",
        "u1" if transport == "udp" else "t1",
        *extra,
    ]


def sipp_errors(workdir: Path) -> str:
    """sipp's error log and output, for assertion messages."""
    parts = []
    for path in [*sorted(workdir.glob("*errors.log")), workdir / "stderr.txt"]:
        if path.exists():
            parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-4000:]}")
    return "\n".join(parts)


@dataclass
class Sipp:
    process: asyncio.subprocess.Process
    port: int
    media_port: int
    workdir: Path

    @property
    def uri(self) -> str:
        return f"sip:service@{HOST}:{self.port}"

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    async def wait(self, seconds: float = 15.0) -> int:
        """sipp's exit status: 0 means the scenario, every step of it, completed."""
        return await asyncio.wait_for(self.process.wait(), seconds)

    def messages(self) -> str:
        """The message log sipp writes with -trace_msg."""
        return "".join(
            path.read_text(errors="replace") for path in self.workdir.glob("*_messages.log")
        )

    def errors(self) -> str:
        """sipp's error log and output, for assertion messages."""
        return sipp_errors(self.workdir)

    async def stop(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()  # by its PID: only the process this test started
        await self.process.wait()


@contextlib.asynccontextmanager
async def run_sipp(
    scenario: str, workdir: Path, *, transport: str = "udp", extra: Sequence[str] = ()
) -> AsyncIterator[Sipp]:
    """Start sipp as a UAS with tests/sip_scenarios/`scenario`; kill it on the way out."""
    sipp = require_sipp()
    port = free_port()
    media_port = free_port()
    args = sipp_args(scenario, port, media_port, transport, extra)
    stdout = (workdir / "stdout.txt").open("wb")
    stderr = (workdir / "stderr.txt").open("wb")
    try:
        process = await asyncio.create_subprocess_exec(
            sipp, *args, cwd=workdir, stdin=asyncio.subprocess.DEVNULL, stdout=stdout, stderr=stderr
        )
    finally:
        stdout.close()
        stderr.close()
    running = Sipp(process, port, media_port, workdir)
    try:
        deadline = time.monotonic() + START_DEADLINE
        while not _listening(port, transport):
            if process.returncode is not None:
                raise RuntimeError(f"sipp exited with {process.returncode}:\n{running.errors()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"sipp did not listen on {port} within {START_DEADLINE}s")
            # Polling the socket table: sipp has no readiness signal of its own.
            await asyncio.sleep(0.02)
        yield running
    finally:
        await running.stop()


@dataclass
class SippProcess:
    """sipp for synchronous tests (a Switchboard server in its thread, the SDK as client)."""

    process: subprocess.Popen[bytes]
    port: int
    media_port: int
    workdir: Path

    def uri(self, user: str = "+15557654321") -> str:
        return f"sip:{user}@{HOST}:{self.port}"

    def wait(self, seconds: float = 20.0) -> int:
        """sipp's exit status: 0 means the scenario, every step of it, completed."""
        return self.process.wait(seconds)

    def errors(self) -> str:
        return sipp_errors(self.workdir)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()  # by its PID: only the process this test started
        self.process.wait(10)


def start_sipp(scenario: str, workdir: Path, *, extra: Sequence[str] = ()) -> SippProcess:
    """Start sipp as a UAS (UDP) with tests/sip_scenarios/`scenario`, once it listens."""
    sipp = require_sipp()
    port, media_port = free_port(), free_port()
    args = [sipp, *sipp_args(scenario, port, media_port, "udp", extra)]
    with (workdir / "stdout.txt").open("wb") as stdout, (workdir / "stderr.txt").open("wb") as err:
        process = subprocess.Popen(
            args, cwd=workdir, stdin=subprocess.DEVNULL, stdout=stdout, stderr=err
        )
    running = SippProcess(process, port, media_port, workdir)
    deadline = time.monotonic() + START_DEADLINE
    while not _listening(port, "udp"):
        if process.poll() is not None:
            raise RuntimeError(f"sipp exited with {process.returncode}:\n{running.errors()}")
        if time.monotonic() > deadline:
            running.stop()
            raise TimeoutError(f"sipp did not listen on {port} within {START_DEADLINE}s")
        time.sleep(0.02)  # polling the socket table: sipp has no readiness signal of its own
    return running
